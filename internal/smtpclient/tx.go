package smtpclient

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/emersion/go-message/textproto"
	"github.com/exigo-mta/exigo/internal/msgio"
)

// Tx is one mail transaction.
type Tx struct {
	// Mail is the MAIL command line and Rcpts the RCPT command lines,
	// without CRLF.
	Mail  string
	Rcpts []string
	// The message: Prepend holds raw header fields put in front (each
	// ending with a line end), Header the message's header fields, Body
	// the body in stored form (LF line ends). The client converts line
	// ends to CRLF and, for DATA, dot-stuffs.
	Prepend []byte
	Header  *textproto.Header
	Body    io.Reader
	// Chunking selects BDAT (RFC 3030) instead of DATA; the caller checks
	// that the server offers CHUNKING. ChunkSize is the largest chunk
	// (default 128 KiB).
	Chunking  bool
	ChunkSize int
}

// TxResult is what the server said during a transaction. A nil reply was
// not received (see Err).
type TxResult struct {
	// Reset is the reply to the RSET sent in front of a transaction on a
	// connection that had one before.
	Reset *Reply
	Mail  *Reply
	Rcpt  []*Reply // one per Tx.Rcpts
	// Data is the reply that refused the data: a reply to DATA other than
	// 354, or a negative reply to a BDAT that was not the last.
	Data *Reply
	// Final holds the replies to the end of the data: one for SMTP, one
	// per accepted recipient (in order) for LMTP.
	Final []*Reply
	// Err is the I/O, protocol or body-reading error that ended the
	// transaction early; the connection is then broken.
	Err error
	// DataSent is true once the end of the data was written: from then
	// on a lost reply may mean the message was delivered.
	DataSent bool
	// Stale is true when a connection reused from an earlier transaction
	// failed before MAIL was answered: nothing was accepted and the
	// transaction may be tried again on a new connection.
	Stale bool
}

// Accepted returns the number of recipients with a 2xx reply.
func (r *TxResult) Accepted() int {
	n := 0
	for _, rr := range r.Rcpt {
		if rr.Positive() {
			n++
		}
	}
	return n
}

// BodyError is an error reading the message body; the transaction was
// abandoned.
type BodyError struct{ Err error }

func (e *BodyError) Error() string { return "reading message body: " + e.Err.Error() }
func (e *BodyError) Unwrap() error { return e.Err }

// errStop ends body streaming when the server refused the transaction.
var errStop = errors.New("transaction refused")

// Send runs a mail transaction. On a connection that had a transaction
// before, RSET goes first. With PIPELINING, RSET, MAIL, all RCPTs and DATA
// (or the first BDAT chunk with its data) go out in one write.
func (c *Client) Send(tx *Tx) *TxResult {
	res := &TxResult{Rcpt: make([]*Reply, len(tx.Rcpts))}
	pipe := c.Has("PIPELINING")
	reset := c.Transactions > 0
	c.Transactions++
	c.deadline(c.T.Command)
	if reset {
		c.bw.WriteString("RSET\r\n")
	}
	c.bw.WriteString(tx.Mail)
	c.bw.WriteString("\r\n")
	if !pipe {
		if !c.lockstepEnvelope(tx, res, reset) {
			return res
		}
	} else {
		for _, l := range tx.Rcpts {
			c.bw.WriteString(l)
			c.bw.WriteString("\r\n")
		}
	}
	if tx.Chunking {
		c.sendChunked(tx, res, pipe, reset)
		return res
	}
	c.bw.WriteString("DATA\r\n")
	if err := c.bw.Flush(); err != nil {
		res.Err = c.ioErr(err)
		res.Stale = reset && pipe
		return res
	}
	if pipe && !c.readEnvelope(res, reset) {
		return res
	}
	r, err := c.readReply(c.T.Command)
	if err != nil {
		res.Err = err
		return res
	}
	if r.Code != 354 {
		if r.Positive() {
			c.broken = true
			res.Err = fmt.Errorf("%w: %s in reply to DATA", ErrMalformed, r)
			return res
		}
		res.Data = r
		return res
	}
	if !res.Mail.Positive() || res.Accepted() == 0 {
		// A server that asks for data with no transaction open (RFC
		// 2920 section 3.1): end it at once.
		c.deadline(c.T.Command)
		c.bw.WriteString(".\r\n")
		if err := c.bw.Flush(); err != nil {
			res.Err = c.ioErr(err)
			return res
		}
		if _, err := c.readReply(c.T.Final); err != nil {
			res.Err = err
		}
		return res
	}
	c.deadline(c.T.Data)
	if err := c.writeMessage(c.bw, tx, true); err != nil {
		res.Err = c.dataErr(err)
		return res
	}
	c.bw.WriteString(".\r\n")
	if err := c.bw.Flush(); err != nil {
		res.Err = c.ioErr(err)
		return res
	}
	res.DataSent = true
	c.readFinal(res)
	return res
}

// lockstepEnvelope sends RSET (already buffered), MAIL and RCPT one at a
// time. It reports whether to go on to the data.
func (c *Client) lockstepEnvelope(tx *Tx, res *TxResult, reset bool) bool {
	if reset {
		// RSET and MAIL are buffered: take them apart again.
		c.bw.Reset(c.nc)
		r, err := c.Cmd("RSET")
		res.Reset = r
		if err != nil || !r.Positive() {
			res.Err, res.Stale = err, true
			if err == nil {
				c.broken = true
				res.Err = fmt.Errorf("RSET refused: %s", r)
			}
			return false
		}
		c.bw.WriteString(tx.Mail)
		c.bw.WriteString("\r\n")
	}
	if err := c.bw.Flush(); err != nil {
		res.Err = c.ioErr(err)
		return false
	}
	r, err := c.readReply(c.T.Command)
	res.Mail = r
	if err != nil {
		res.Err = err
		return false
	}
	if !r.Positive() {
		return false
	}
	for i, l := range tx.Rcpts {
		if res.Rcpt[i], res.Err = c.Cmd(l); res.Err != nil {
			return false
		}
	}
	return res.Accepted() > 0
}

// readEnvelope reads the replies to a pipelined RSET, MAIL and RCPTs.
func (c *Client) readEnvelope(res *TxResult, reset bool) bool {
	var err error
	if reset {
		if res.Reset, err = c.readReply(c.T.Command); err != nil {
			res.Err, res.Stale = err, true
			return false
		}
		if !res.Reset.Positive() {
			c.broken = true
			res.Stale = true
		}
	}
	if res.Mail, err = c.readReply(c.T.Command); err != nil {
		res.Err, res.Stale = err, res.Stale || reset && res.Reset == nil
		return false
	}
	for i := range res.Rcpt {
		if res.Rcpt[i], err = c.readReply(c.T.Command); err != nil {
			res.Err = err
			return false
		}
	}
	if res.Stale {
		res.Err = fmt.Errorf("RSET refused: %s", res.Reset)
		return false
	}
	return true
}

// readFinal reads the replies to the end of the data.
func (c *Client) readFinal(res *TxResult) {
	n := 1
	if c.LMTP {
		n = res.Accepted()
	}
	for range n {
		r, err := c.readReply(c.T.Final)
		if err != nil {
			res.Err = err
			return
		}
		res.Final = append(res.Final, r)
	}
}

func (c *Client) dataErr(err error) error {
	var be *BodyError
	if errors.As(err, &be) {
		// The data cannot be ended without sending a truncated message:
		// the connection must be dropped.
		c.broken = true
		return err
	}
	return c.ioErr(err)
}

// writeMessage writes the message in wire form (CRLF, dot-stuffed when
// stuff) to dst.
func (c *Client) writeMessage(dst io.Writer, tx *Tx, stuff bool) error {
	mw := &c.mw
	mw.Reset(dst)
	mw.EOL, mw.Stuff = msgio.CRLF, stuff
	if len(tx.Prepend) > 0 {
		if _, err := mw.Write(tx.Prepend); err != nil {
			return err
		}
	}
	if tx.Header != nil {
		if err := msgio.WriteHeader(mw, tx.Header); err != nil {
			return &BodyError{Err: err}
		}
	}
	if !mw.AtLineStart() {
		mw.Write(msgio.LF)
	}
	if _, err := mw.Write(msgio.LF); err != nil {
		return err
	}
	if tx.Body != nil {
		if c.rbuf == nil {
			c.rbuf = make([]byte, 32<<10)
		}
		for {
			n, err := tx.Body.Read(c.rbuf)
			if n > 0 {
				c.deadline(c.T.Data)
				if _, werr := mw.Write(c.rbuf[:n]); werr != nil {
					return werr
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return &BodyError{Err: err}
			}
		}
	}
	return mw.Close()
}

// chunker cuts the wire form of the message into BDAT chunks.
type chunker struct {
	c       *Client
	tx      *Tx
	res     *TxResult
	pipe    bool
	reset   bool
	size    int
	synced  bool // the envelope replies were read
	pending int  // BDAT replies outstanding
}

func (k *chunker) Write(p []byte) (int, error) {
	n := len(p)
	c := k.c
	for len(p) > 0 {
		room := k.size - len(c.chunk)
		if room == 0 {
			if err := k.emit(false); err != nil {
				return 0, err
			}
			continue
		}
		t := min(room, len(p))
		c.chunk = append(c.chunk, p[:t]...)
		p = p[t:]
	}
	return n, nil
}

// emit sends the buffered chunk and reads what replies are due.
func (k *chunker) emit(last bool) error {
	c := k.c
	c.bw.WriteString("BDAT ")
	c.bw.WriteString(strconv.Itoa(len(c.chunk)))
	if last {
		c.bw.WriteString(" LAST")
	}
	c.bw.WriteString("\r\n")
	c.bw.Write(c.chunk)
	c.chunk = c.chunk[:0]
	k.pending++
	if err := c.bw.Flush(); err != nil {
		if !k.synced {
			k.res.Stale = k.reset
		}
		return c.ioErr(err)
	}
	if last {
		k.res.DataSent = true
	}
	if !k.synced {
		k.synced = true
		if !c.readEnvelope(k.res, k.reset) {
			return errStop
		}
		if !k.res.Mail.Positive() || k.res.Accepted() == 0 {
			// The server must still read the chunk and refuse it.
			k.res.DataSent = false
			r, err := c.readReply(c.T.Data)
			if err != nil {
				return err
			}
			if r.Positive() {
				// Nothing to deliver to, yet the data was taken.
				c.broken = true
			}
			return errStop
		}
	}
	keep := 1 // replies left outstanding to keep the pipe full
	if last || !k.pipe {
		keep = 0
	}
	for k.pending > keep {
		d := c.T.Data
		if last && k.pending == 1 {
			d = c.T.Final
		}
		r, err := c.readReply(d)
		if err != nil {
			return err
		}
		k.pending--
		if last && k.pending == 0 {
			k.res.Final = append(k.res.Final, r)
			break
		}
		if !r.Positive() && k.res.Data == nil {
			k.res.Data = r
		}
	}
	if k.res.Data != nil {
		// A chunk was refused: the transaction is over. Read the replies
		// still due, then stop (the next transaction starts with RSET).
		for ; k.pending > 0; k.pending-- {
			if _, err := c.readReply(c.T.Data); err != nil {
				return err
			}
		}
		if last {
			k.res.Final = nil
		}
		return errStop
	}
	return nil
}

func (c *Client) sendChunked(tx *Tx, res *TxResult, pipe, reset bool) {
	k := &chunker{c: c, tx: tx, res: res, pipe: pipe, reset: reset, size: tx.ChunkSize, synced: !pipe}
	if k.size <= 0 {
		k.size = 128 << 10
	}
	if c.chunk == nil {
		c.chunk = make([]byte, 0, min(k.size, 64<<10))
	}
	c.chunk = c.chunk[:0]
	if !pipe {
		// The envelope was answered already; nothing is buffered.
		c.deadline(c.T.Data)
	}
	err := c.writeMessage(k, tx, false)
	if err == nil {
		err = k.emit(true)
	}
	c.chunk = c.chunk[:0]
	if err == nil || errors.Is(err, errStop) {
		return
	}
	var be *BodyError
	if errors.As(err, &be) && k.synced {
		// Between chunks the transaction can be abandoned cleanly: read
		// the replies still due; the next transaction starts with RSET.
		for ; k.pending > 0; k.pending-- {
			if _, rerr := c.readReply(c.T.Data); rerr != nil {
				res.Err = rerr
				return
			}
		}
		res.Err = err
		return
	}
	res.Err = c.dataErr(err)
}
