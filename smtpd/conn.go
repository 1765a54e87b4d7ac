package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/lookup"
)

// transaction is one mail transaction: from MAIL to the end of data (or
// RSET).
type transaction struct {
	msg        *exigo.Message
	edits      acl.HeaderEdits
	accepted   int  // RCPTs answered 250, discarded ones included
	discardAll bool // the MAIL ACL said discard
	bdat       bool // BDAT chunks have started
}

// conn is the state of one SMTP session.
type conn struct {
	srv  *Server
	nc   net.Conn // current connection (a *tls.Conn after STARTTLS)
	r    *bufio.Reader
	w    *bufio.Writer
	log  *slog.Logger
	sess *exigo.Session
	host string

	controls map[string]string

	mu          sync.Mutex // guards nc, dataMode, interrupted against interrupt/abort
	dataMode    bool       // reading message data: per-read deadlines, no shutdown interrupt
	interrupted bool       // ctx was cancelled

	cmdDeadline time.Time
	lineBuf     []byte

	helo          bool
	tx            *transaction
	draft         Draft
	bdatFailed    *exigo.SMTPError // reply for further BDAT chunks of a failed transaction
	errors        int
	nonmail       int
	freeHelo      bool
	freeRset      bool
	freeStartTLS  bool
	closing       bool // close once the replies are flushed
	quit          bool
	notQuitReason string

	dr   dataReader
	sink msgSink

	// lookups caches the results of decorated lookups made by the ACLs
	// of one transaction (Exim keeps lookup results until the end of a
	// message); emptied when the transaction ends.
	lookups lookup.Cache
}

// connIO is the reader and writer under the connection's bufio pair. A
// read flushes pending replies first (so pipelined replies go out in one
// write, just before the server would block) and arms the read deadline:
// the command deadline, or a fresh DataTimeout for every read of message
// data.
type connIO struct{ c *conn }

var (
	errShuttingDown = errors.New("smtpd: server shutting down")
	errInterrupted  = errors.New("smtpd: session cancelled")
	aLongTimeAgo    = time.Unix(1, 0)
)

func (x connIO) Read(p []byte) (int, error) {
	c := x.c
	if err := c.w.Flush(); err != nil {
		return 0, err
	}
	if err := c.armRead(); err != nil {
		return 0, err
	}
	return c.nc.Read(p)
}

func (x connIO) Write(p []byte) (int, error) {
	c := x.c
	if err := c.armWrite(); err != nil {
		return 0, err
	}
	return c.nc.Write(p)
}

// armWrite sets the write deadline, unless the session was cancelled
// (whose deadline in the past must stay).
func (c *conn) armWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.interrupted {
		return errInterrupted
	}
	return c.nc.SetWriteDeadline(time.Now().Add(c.srv.readTimeout()))
}

func (c *conn) armRead() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.interrupted:
		return errInterrupted
	case c.dataMode:
		return c.nc.SetReadDeadline(time.Now().Add(c.srv.dataTimeout()))
	case c.srv.closing.Load():
		return errShuttingDown
	}
	return c.nc.SetReadDeadline(c.cmdDeadline)
}

// interrupt wakes a session blocked waiting for a command (Shutdown).
// Sessions reading message data are left alone.
func (c *conn) interrupt() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.dataMode {
		c.nc.SetReadDeadline(aLongTimeAgo)
	}
}

// abort ends the session at once (context cancelled).
func (c *conn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.interrupted = true
	c.nc.SetDeadline(aLongTimeAgo)
}

func (c *conn) closeConn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nc.Close()
}

func (c *conn) setDataMode(on bool) {
	c.mu.Lock()
	c.dataMode = on
	c.mu.Unlock()
}

func (c *conn) setDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nc.SetDeadline(t)
}

// setConn switches to a new connection (after STARTTLS). Buffered input
// is discarded: it was sent before the TLS handshake.
func (c *conn) setConn(nc net.Conn) {
	c.mu.Lock()
	c.nc = nc
	c.mu.Unlock()
	c.r.Reset(connIO{c})
	c.w.Reset(connIO{c})
}

func (c *conn) flush() error { return c.w.Flush() }

// serve runs one session.
func (s *Server) serve(ctx context.Context, nc net.Conn) {
	c := &conn{
		srv:  s,
		nc:   nc,
		host: s.host,
		sess: &exigo.Session{
			RemoteAddr: addrPort(nc.RemoteAddr()),
			LocalAddr:  addrPort(nc.LocalAddr()),
			Vars:       map[string]string{},
		},
		controls:     map[string]string{},
		freeHelo:     true,
		freeRset:     true,
		freeStartTLS: true,
	}
	c.sess.ID = strconv.FormatInt(s.clock().Unix(), 36) + "-" + strconv.FormatUint(s.seq.Add(1), 36)
	c.log = s.logger().With("session", c.sess.ID, "remote", c.sess.RemoteAddr.String())
	c.r = bufio.NewReaderSize(connIO{c}, readBufferSize)
	c.w = bufio.NewWriterSize(connIO{c}, 4096)
	defer c.closeConn()

	if reply := s.admit(c); reply != nil {
		c.log.Info("connection refused", "reason", reply.Message)
		c.reply421(reply)
		c.flush()
		return
	}
	defer s.release(c)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if lookup.CacheFrom(ctx) == nil {
		// The ACLs' lookups share c.lookups, emptied at each
		// transaction's end.
		ctx = lookup.WithCache(ctx, &c.lookups)
	}
	stop := context.AfterFunc(ctx, c.abort)
	defer stop()

	defer func() {
		if p := recover(); p != nil {
			c.log.Error("smtpd: panic in session", "panic", p, "stack", string(debug.Stack()))
			c.abortDraft()
			c.w.Reset(connIO{c})
			c.reply421(&exigo.SMTPError{Code: 421, Enhanced: exigo.EnhancedCode{4, 3, 0}, Message: "Internal error - closing connection"})
			c.flush()
		}
	}()
	c.run(ctx)
}

func (c *conn) run(ctx context.Context) {
	defer c.sink.release()
	defer c.abortDraft()
	defer func() {
		c.flush()
		if !c.quit {
			if c.notQuitReason == "" {
				c.notQuitReason = "connection-lost"
			}
			c.runNotQuit(ctx)
		}
	}()
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.handshake(ctx, tc); err != nil {
			c.log.Info("TLS handshake failed", "err", err)
			c.notQuitReason = "tls-failed"
			return
		}
		c.sess.TLS = tlsInfo(tc.ConnectionState())
	}
	c.log.Debug("connection accepted")

	res := c.runACL(ctx, acl.StageConnect, c.srv.ACL.Connect, nil, nil, nil)
	switch res.Verdict {
	case acl.VerdictAccept, acl.VerdictDiscard:
	case acl.VerdictDefer:
		c.reply421(res.Reply)
		c.notQuitReason = "connection-rejected"
		return
	default:
		c.replyErr(res.Reply)
		c.notQuitReason = "connection-rejected"
		return
	}
	greeting := c.srv.Greeting
	if greeting == "" {
		greeting = "ESMTP exigo " + c.srv.clock().Format(receivedDateLayout)
	}
	c.reply(220, exigo.EnhancedCode{}, c.host+" "+greeting)

	for !c.closing {
		if c.srv.closing.Load() {
			c.reply421(replyShutdown)
			c.notQuitReason = "shutdown"
			return
		}
		line, tooLong, err := c.readLine()
		if err != nil {
			c.readFailed(err)
			return
		}
		if tooLong {
			c.syntaxError(replyLineTooLong)
			continue
		}
		c.dispatch(ctx, line)
	}
}

// readLine reads one command line, without its line end. A line longer
// than the limit is read to its end and reported as tooLong.
func (c *conn) readLine() (line []byte, tooLong bool, err error) {
	c.cmdDeadline = time.Now().Add(c.srv.readTimeout())
	limit := c.srv.commandLineLimit() + 2
	c.lineBuf = c.lineBuf[:0]
	for {
		s, err := c.r.ReadSlice('\n')
		if !tooLong {
			if len(c.lineBuf)+len(s) > limit {
				tooLong = true
				c.lineBuf = c.lineBuf[:0]
			} else {
				c.lineBuf = append(c.lineBuf, s...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		break
	}
	if tooLong {
		return nil, true, nil
	}
	l := c.lineBuf[:len(c.lineBuf)-1]
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l, false, nil
}

// readFailed handles a failed read of a command: shutdown, timeout, or
// the client went away.
func (c *conn) readFailed(err error) {
	c.closing = true
	var ne net.Error
	switch {
	case errors.Is(err, errInterrupted):
		c.notQuitReason = "cancelled"
	case errors.Is(err, errShuttingDown) || c.srv.closing.Load() && errors.As(err, &ne) && ne.Timeout():
		c.reply421(replyShutdown)
		c.notQuitReason = "shutdown"
	case errors.As(err, &ne) && ne.Timeout():
		c.reply421(replyCmdTimeout)
		c.notQuitReason = "command-timeout"
	case errors.Is(err, io.EOF):
		c.notQuitReason = "connection-lost"
	default:
		c.log.Debug("read failed", "err", err)
		c.notQuitReason = "connection-lost"
	}
}

// dataFailed handles a failed read of message data.
func (c *conn) dataFailed(err error) {
	c.abortDraft()
	c.closing = true
	var ne net.Error
	switch {
	case errors.Is(err, errInterrupted):
		c.notQuitReason = "cancelled"
	case errors.As(err, &ne) && ne.Timeout():
		c.reply421(replyDataTimeout)
		c.notQuitReason = "data-timeout"
		c.log.Info("data timeout; message discarded")
	default:
		c.notQuitReason = "connection-lost"
		c.log.Info("connection lost in message data; message discarded", "err", err)
	}
}

// Replies.
var (
	replyShutdown      = &exigo.SMTPError{Code: 421, Enhanced: exigo.EnhancedCode{4, 3, 2}, Message: "Service shutting down"}
	replyCmdTimeout    = &exigo.SMTPError{Code: 421, Enhanced: exigo.EnhancedCode{4, 4, 2}, Message: "SMTP command timeout - closing connection"}
	replyDataTimeout   = &exigo.SMTPError{Code: 421, Enhanced: exigo.EnhancedCode{4, 4, 2}, Message: "SMTP incoming data timeout - closing connection"}
	replyTooManyErrors = &exigo.SMTPError{Code: 421, Enhanced: exigo.EnhancedCode{4, 7, 0}, Message: "Too many syntax or protocol errors"}
	replyTooManyNonMl  = &exigo.SMTPError{Code: 421, Enhanced: exigo.EnhancedCode{4, 7, 0}, Message: "Too many nonmail commands"}
	replyLineTooLong   = &exigo.SMTPError{Code: 500, Enhanced: exigo.EnhancedCode{5, 5, 2}, Message: "Line too long"}
	replyUnknown       = &exigo.SMTPError{Code: 500, Enhanced: exigo.EnhancedCode{5, 5, 2}, Message: "Unrecognized command"}
	replyEmpty         = &exigo.SMTPError{Code: 500, Enhanced: exigo.EnhancedCode{5, 5, 2}, Message: "Empty command"}
	replyNeedHelo      = &exigo.SMTPError{Code: 503, Enhanced: exigo.EnhancedCode{5, 5, 1}, Message: "HELO or EHLO required"}
	replyBadHelo       = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 5, 4}, Message: "Syntactically invalid HELO/EHLO argument"}
	replySenderGiven   = &exigo.SMTPError{Code: 503, Enhanced: exigo.EnhancedCode{5, 5, 1}, Message: "Sender already given"}
	replyNoSender      = &exigo.SMTPError{Code: 503, Enhanced: exigo.EnhancedCode{5, 5, 1}, Message: "Sender not yet given"}
	replyNoRcpt        = &exigo.SMTPError{Code: 503, Enhanced: exigo.EnhancedCode{5, 5, 1}, Message: "Valid RCPT command must precede DATA"}
	replyNoParams      = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 5, 4}, Message: "No parameters allowed"}
	replyTooManyRcpts  = &exigo.SMTPError{Code: 452, Enhanced: exigo.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
	replyTempLocal     = &exigo.SMTPError{Code: 451, Enhanced: exigo.EnhancedCode{4, 3, 0}, Message: "Temporary local problem - please try later"}
	replyBare          = &exigo.SMTPError{Code: 550, Enhanced: exigo.EnhancedCode{5, 5, 2}, Message: "Message rejected: bare CR or LF line ending in message data (RFC 5321 section 2.3.8 requires CRLF)"}
	replyDataAfterBDAT = &exigo.SMTPError{Code: 503, Enhanced: exigo.EnhancedCode{5, 5, 1}, Message: "DATA not allowed after BDAT"}
	replyBDATSyntax    = &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 5, 4}, Message: "Syntax: BDAT chunk-size [LAST] - closing connection"}
	replySyncError     = &exigo.SMTPError{Code: 554, Enhanced: exigo.EnhancedCode{5, 5, 0}, Message: "SMTP synchronization error: message data sent before the 354 reply"}
	replyBDATNoTx      = &exigo.SMTPError{Code: 503, Enhanced: exigo.EnhancedCode{5, 5, 1}, Message: "BDAT requires a valid MAIL and RCPT"}
)

// writeLine writes one reply line as is.
func (c *conn) writeLine(s string) {
	c.w.WriteString(s)
	c.w.WriteString("\r\n")
}

// replyErr writes a reply; a multi-line text becomes a multi-line reply.
func (c *conn) replyErr(e *exigo.SMTPError) {
	if e == nil {
		e = replyTempLocal
	}
	c.reply(e.Code, e.EnhancedOrDefault(), e.Message)
}

// reply421 writes a 421 reply, whose text starts with the host name (RFC
// 5321 section 3.8), and marks the session for closing.
func (c *conn) reply421(e *exigo.SMTPError) {
	if e == nil {
		e = replyTempLocal
	}
	ec := e.EnhancedOrDefault()
	if ec[0] != 4 {
		ec = exigo.EnhancedCode{4, 3, 0}
	}
	c.reply(421, ec, c.host+" "+e.Message)
	c.closing = true
}

func (c *conn) reply(code int, enh exigo.EnhancedCode, text string) {
	var scratch [16]byte
	for {
		line, rest, more := strings.Cut(text, "\n")
		b := strconv.AppendInt(scratch[:0], int64(code), 10)
		if more {
			b = append(b, '-')
		} else {
			b = append(b, ' ')
		}
		c.w.Write(b)
		if enh != (exigo.EnhancedCode{}) && code >= 200 {
			c.w.WriteString(enh.String())
			if line != "" {
				c.w.WriteByte(' ')
			}
		}
		writeSafe(c.w, strings.TrimSuffix(line, "\r"))
		c.w.WriteString("\r\n")
		if !more {
			return
		}
		text = rest
	}
}

// writeSafe writes s with control characters replaced by '?'.
func writeSafe(w *bufio.Writer, s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			w.WriteString(s[start:i])
			w.WriteByte('?')
			start = i + 1
		}
	}
	w.WriteString(s[start:])
}

// syntaxError and protocolError reply and count towards MaxErrors.
func (c *conn) syntaxError(e *exigo.SMTPError)   { c.countError(e) }
func (c *conn) protocolError(e *exigo.SMTPError) { c.countError(e) }

func (c *conn) countError(e *exigo.SMTPError) {
	c.errors++
	if m := c.srv.maxErrors(); m > 0 && c.errors > m {
		c.log.Info("too many syntax or protocol errors", "last", e.Error())
		c.reply421(replyTooManyErrors)
		c.notQuitReason = "bad-commands"
		return
	}
	c.replyErr(e)
}

// countNonmail counts a non-mail command; free is the one-per-message
// allowance for the command, if it has one. It reports false when the
// session is over the limit (and has been told so).
func (c *conn) countNonmail(free *bool) bool {
	if free != nil && *free {
		*free = false
		return true
	}
	m := c.srv.maxNonmail()
	if m == 0 {
		return true
	}
	c.nonmail++
	if c.nonmail > m {
		c.log.Info("too many nonmail commands")
		c.reply421(replyTooManyNonMl)
		c.notQuitReason = "too-many-nonmail"
		return false
	}
	return true
}

func (c *conn) dispatch(ctx context.Context, line []byte) {
	cmd := parseCommand(line)
	switch cmd.verb {
	case "HELO", "EHLO":
		if !c.countNonmail(&c.freeHelo) {
			return
		}
	case "RSET":
		if !c.countNonmail(&c.freeRset) {
			return
		}
	case "STARTTLS":
		if !c.countNonmail(&c.freeStartTLS) {
			return
		}
	case "NOOP", "VRFY", "EXPN", "HELP", "ETRN":
		if !c.countNonmail(nil) {
			return
		}
	}
	switch cmd.verb {
	case "HELO":
		c.cmdHelo(ctx, cmd.arg, false)
	case "EHLO":
		c.cmdHelo(ctx, cmd.arg, true)
	case "MAIL":
		c.cmdMail(ctx, cmd.arg)
	case "RCPT":
		c.cmdRcpt(ctx, cmd.arg)
	case "DATA":
		c.cmdData(ctx, cmd.arg)
	case "BDAT":
		c.cmdBDAT(ctx, cmd.arg)
	case "RSET":
		if cmd.arg != "" {
			c.syntaxError(replyNoParams)
			return
		}
		c.endTx()
		c.reply(250, exigo.EnhancedCode{2, 0, 0}, "Reset OK")
	case "NOOP":
		c.reply(250, exigo.EnhancedCode{2, 0, 0}, "OK")
	case "QUIT":
		c.reply(221, exigo.EnhancedCode{2, 0, 0}, c.host+" closing connection")
		c.quit = true
		c.closing = true
	case "STARTTLS":
		c.cmdStartTLS(ctx, cmd.arg)
	case "AUTH":
		c.cmdAuth(ctx, cmd.arg)
	case "VRFY":
		if cmd.arg == "" {
			c.syntaxError(&exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 5, 4}, Message: "VRFY must have an address argument"})
			return
		}
		c.reply(252, exigo.EnhancedCode{2, 5, 2}, "Cannot VRFY user, but will accept message and attempt delivery")
	case "EXPN":
		c.reply(502, exigo.EnhancedCode{5, 5, 1}, "EXPN not available")
	case "ETRN":
		c.reply(502, exigo.EnhancedCode{5, 5, 1}, "ETRN not available")
	case "HELP":
		c.reply(214, exigo.EnhancedCode{2, 0, 0}, "Commands supported:\nAUTH STARTTLS HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP")
	case "":
		c.syntaxError(replyEmpty)
	default:
		c.syntaxError(replyUnknown)
	}
}

// runACL runs list at stage with a fresh acl.Tx.
func (c *conn) runACL(ctx context.Context, stage acl.Stage, list acl.List, m *exigo.Message, r *exigo.Recipient, edits *acl.HeaderEdits) acl.Result {
	if list == nil {
		return acl.Result{Verdict: acl.VerdictAccept, Rule: -1}
	}
	tx := &acl.Tx{Stage: stage, Session: c.sess, Message: m, Recipient: r, Edits: edits, Logger: c.log, Controls: c.controls}
	return list.Run(ctx, tx)
}

// replyRejected sends the reply of a deny, defer or drop verdict; drop
// closes the session.
func (c *conn) replyRejected(res acl.Result, stage acl.Stage) {
	c.log.Info("acl rejected", "stage", stage.String(), "verdict", res.Verdict.String(), "reply", res.Reply.Error())
	c.replyErr(res.Reply)
	if res.Verdict == acl.VerdictDrop {
		c.closing = true
		c.notQuitReason = "acl-drop"
	}
}

func (c *conn) runNotQuit(ctx context.Context) {
	if c.srv.ACL.NotQuit == nil {
		return
	}
	var m *exigo.Message
	if c.tx != nil {
		m = c.tx.msg
	}
	tx := &acl.Tx{Stage: acl.StageNotQuit, Session: c.sess, Message: m,
		Logger: c.log.With("notquit_reason", c.notQuitReason), Controls: c.controls}
	// The session's context may be cancelled already; the ACL is for
	// logging and gets a short context of its own.
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	c.srv.ACL.NotQuit.Run(nctx, tx)
}

// abortDraft discards a message being received.
func (c *conn) abortDraft() {
	if c.draft != nil {
		if err := c.draft.Abort(); err != nil {
			c.log.Warn("aborting draft failed", "id", c.draft.ID(), "err", err)
		}
		c.draft = nil
	}
}

// endTx ends the transaction (after the message, RSET, HELO/EHLO, or a
// failure).
func (c *conn) endTx() {
	c.abortDraft()
	c.tx = nil
	c.lookups.Reset()
	c.sess.AuthSender = ""
	c.bdatFailed = nil
}

// endMessage ends the transaction after its end of data (whatever the
// outcome) and restores the per-message free commands, as Exim does
// between messages.
func (c *conn) endMessage() {
	c.endTx()
	c.freeHelo, c.freeRset, c.freeStartTLS = true, true, true
}

// resetSession forgets everything learned from the client (after
// STARTTLS, RFC 3207 section 4.2).
func (c *conn) resetSession() {
	c.endMessage()
	c.helo = false
	c.sess.HELO = ""
	c.sess.ESMTP = false
	c.sess.AuthMech = ""
	c.sess.AuthID = ""
}

func (c *conn) cmdHelo(ctx context.Context, arg string, ehlo bool) {
	if !validHelo(arg) {
		c.syntaxError(replyBadHelo)
		return
	}
	c.endTx()
	oldHelo, oldESMTP, oldSeen := c.sess.HELO, c.sess.ESMTP, c.helo
	c.sess.HELO, c.sess.ESMTP = arg, ehlo
	res := c.runACL(ctx, acl.StageHelo, c.srv.ACL.Helo, nil, nil, nil)
	if res.Verdict != acl.VerdictAccept && res.Verdict != acl.VerdictDiscard {
		c.sess.HELO, c.sess.ESMTP, c.helo = oldHelo, oldESMTP, oldSeen
		c.replyRejected(res, acl.StageHelo)
		return
	}
	c.helo = true
	hello := c.host + " Hello " + arg
	if c.sess.RemoteAddr.IsValid() {
		hello += " [" + c.sess.RemoteAddr.Addr().Unmap().WithZone("").String() + "]"
	}
	if !ehlo {
		c.writeLine("250 " + hello)
		return
	}
	c.writeLine("250-" + hello)
	if m := c.srv.maxMessageSize(); m > 0 {
		c.writeLine("250-SIZE " + strconv.FormatInt(m, 10))
	} else {
		c.writeLine("250-SIZE")
	}
	c.writeLine("250-8BITMIME")
	c.writeLine("250-PIPELINING")
	c.writeLine("250-CHUNKING")
	c.writeLine("250-DSN")
	c.writeLine("250-SMTPUTF8")
	c.writeLine("250-ENHANCEDSTATUSCODES")
	if c.srv.TLSConfig != nil && c.sess.TLS == nil {
		c.writeLine("250-STARTTLS")
	}
	if c.srv.Auth != nil && (c.sess.TLS != nil || c.srv.AllowInsecureAuth) && c.sess.AuthID == "" {
		c.writeLine("250-AUTH PLAIN LOGIN")
	}
	if c.sess.TLS != nil {
		c.writeLine("250-REQUIRETLS")
	}
	c.writeLine("250 HELP")
}

func paramError(code int, enh exigo.EnhancedCode, format string, args ...any) *exigo.SMTPError {
	return exigo.Errorf(code, enh, format, args...)
}

func (c *conn) cmdMail(ctx context.Context, arg string) {
	switch {
	case !c.helo:
		c.protocolError(replyNeedHelo)
		return
	case c.tx != nil:
		c.protocolError(replySenderGiven)
		return
	}
	p, err := parsePath(arg, "FROM:")
	if err != nil {
		c.syntaxError(asReply(err))
		return
	}
	if len(p.params) > 0 && !c.sess.ESMTP {
		c.syntaxError(paramError(555, exigo.EnhancedCode{5, 5, 4}, "MAIL parameters are not allowed after HELO (use EHLO)"))
		return
	}
	env := exigo.Envelope{Sender: p.addr}
	authSender, hasAuth := "", false
	for _, pm := range p.params {
		switch pm.key {
		case "SIZE":
			n, ok := parseSize(pm.value)
			if !ok {
				c.syntaxError(paramError(501, exigo.EnhancedCode{5, 5, 4}, "Invalid SIZE value"))
				return
			}
			if m := c.srv.maxMessageSize(); m > 0 && n > m {
				c.replyErr(paramError(552, exigo.EnhancedCode{5, 3, 4}, "Message size exceeds fixed maximum message size (%d octets)", m))
				return
			}
			env.Size = n
		case "BODY":
			switch strings.ToUpper(pm.value) {
			case "7BIT":
				env.Body = exigo.Body7Bit
			case "8BITMIME":
				env.Body = exigo.Body8BitMIME
			case "BINARYMIME":
				// Not advertised: binary content has no lines, and the
				// line-ending checks could not apply to it.
				c.syntaxError(paramError(555, exigo.EnhancedCode{5, 5, 4}, "BODY=BINARYMIME is not supported"))
				return
			default:
				c.syntaxError(paramError(501, exigo.EnhancedCode{5, 5, 4}, "Invalid BODY value"))
				return
			}
		case "SMTPUTF8":
			if pm.hasEq {
				c.syntaxError(paramError(501, exigo.EnhancedCode{5, 5, 4}, "SMTPUTF8 takes no value"))
				return
			}
			env.SMTPUTF8 = true
		case "RET":
			switch strings.ToUpper(pm.value) {
			case "FULL":
				env.Ret = exigo.RetFull
			case "HDRS":
				env.Ret = exigo.RetHdrs
			default:
				c.syntaxError(paramError(501, exigo.EnhancedCode{5, 5, 4}, "Invalid RET value"))
				return
			}
		case "ENVID":
			v, err := decodeXtext(pm.value)
			if err != nil || v == "" || len(pm.value) > 100 {
				c.syntaxError(paramError(501, exigo.EnhancedCode{5, 5, 4}, "Invalid ENVID value"))
				return
			}
			env.EnvID = v
		case "REQUIRETLS":
			if pm.hasEq {
				c.syntaxError(paramError(501, exigo.EnhancedCode{5, 5, 4}, "REQUIRETLS takes no value"))
				return
			}
			if c.sess.TLS == nil {
				c.replyErr(paramError(530, exigo.EnhancedCode{5, 7, 10}, "REQUIRETLS needs a TLS session"))
				return
			}
			env.RequireTLS = true
		case "AUTH":
			v, err := decodeXtext(pm.value)
			if err != nil {
				c.syntaxError(paramError(501, exigo.EnhancedCode{5, 5, 4}, "Invalid AUTH value"))
				return
			}
			if v != "<>" {
				authSender = v
			}
			hasAuth = true
		default:
			c.syntaxError(paramError(555, exigo.EnhancedCode{5, 5, 4}, "Unsupported MAIL parameter %s", pm.key))
			return
		}
	}
	if !env.SMTPUTF8 && !isASCII(env.Sender) {
		c.replyErr(paramError(553, exigo.EnhancedCode{5, 6, 7}, "Non-ASCII sender address requires SMTPUTF8"))
		return
	}
	if env.Sender != "" {
		if l, d := exigo.SplitAddress(env.Sender); l == "" || d == "" {
			c.syntaxError(paramError(501, exigo.EnhancedCode{5, 1, 7}, "Sender address must contain a local part and a domain"))
			return
		}
	}
	// RFC 4954 section 5: AUTH= is kept only from an authenticated client.
	if hasAuth && c.sess.AuthID != "" {
		c.sess.AuthSender = authSender
	}
	tx := &transaction{msg: &exigo.Message{Envelope: env, Session: c.sess, Vars: map[string]string{}}}
	c.bdatFailed = nil
	res := c.runACL(ctx, acl.StageMail, c.srv.ACL.Mail, tx.msg, nil, &tx.edits)
	switch res.Verdict {
	case acl.VerdictAccept, acl.VerdictDiscard:
		tx.discardAll = res.Verdict == acl.VerdictDiscard
		c.tx = tx
		c.nonmail = 0
		if res.Reply != nil {
			c.replyErr(res.Reply)
		} else {
			c.reply(250, exigo.EnhancedCode{2, 1, 0}, "OK")
		}
	default:
		c.sess.AuthSender = ""
		c.replyRejected(res, acl.StageMail)
	}
}

// asReply turns a parser error into a reply.
func asReply(err error) *exigo.SMTPError {
	var se *exigo.SMTPError
	if errors.As(err, &se) {
		return se
	}
	return &exigo.SMTPError{Code: 501, Enhanced: exigo.EnhancedCode{5, 5, 2}, Message: "Syntax error"}
}

func (c *conn) cmdRcpt(ctx context.Context, arg string) {
	tx := c.tx
	if tx == nil {
		if !c.helo {
			c.protocolError(replyNeedHelo)
		} else {
			c.protocolError(replyNoSender)
		}
		return
	}
	p, err := parsePath(arg, "TO:")
	if err != nil {
		c.syntaxError(asReply(err))
		return
	}
	if l, d := exigo.SplitAddress(p.addr); l == "" || d == "" && !strings.EqualFold(p.addr, "postmaster") {
		c.syntaxError(paramError(501, exigo.EnhancedCode{5, 1, 3}, "Recipient address must contain a local part and a domain"))
		return
	}
	if len(p.params) > 0 && !c.sess.ESMTP {
		c.syntaxError(paramError(555, exigo.EnhancedCode{5, 5, 4}, "RCPT parameters are not allowed after HELO (use EHLO)"))
		return
	}
	rcpt := &exigo.Recipient{Address: p.addr}
	for _, pm := range p.params {
		switch pm.key {
		case "NOTIFY":
			n, ok := parseNotify(pm.value)
			if !ok {
				c.syntaxError(paramError(501, exigo.EnhancedCode{5, 5, 4}, "Invalid NOTIFY value"))
				return
			}
			rcpt.Notify |= n
		case "ORCPT":
			v, err := decodeORCPT(pm.value)
			if err != nil || len(pm.value) > 500 {
				c.syntaxError(paramError(501, exigo.EnhancedCode{5, 5, 4}, "Invalid ORCPT value"))
				return
			}
			rcpt.ORCPT = v
		default:
			c.syntaxError(paramError(555, exigo.EnhancedCode{5, 5, 4}, "Unsupported RCPT parameter %s", pm.key))
			return
		}
	}
	if !tx.msg.Envelope.SMTPUTF8 && !isASCII(rcpt.Address) {
		c.replyErr(paramError(553, exigo.EnhancedCode{5, 6, 7}, "Non-ASCII recipient address requires SMTPUTF8"))
		return
	}
	if m := c.srv.maxRecipients(); m > 0 && tx.accepted >= m {
		c.replyErr(replyTooManyRcpts)
		return
	}
	if tx.discardAll {
		tx.accepted++
		c.reply(250, exigo.EnhancedCode{2, 1, 5}, "Accepted")
		return
	}
	res := c.runACL(ctx, acl.StageRcpt, c.srv.ACL.Rcpt, tx.msg, rcpt, &tx.edits)
	switch res.Verdict {
	case acl.VerdictAccept, acl.VerdictDiscard:
		tx.accepted++
		if res.Verdict == acl.VerdictAccept {
			tx.msg.Envelope.Recipients = append(tx.msg.Envelope.Recipients, rcpt)
		} else {
			c.log.Info("recipient discarded", "rcpt", clean(rcpt.Address))
		}
		if res.Reply != nil {
			c.replyErr(res.Reply)
		} else {
			c.reply(250, exigo.EnhancedCode{2, 1, 5}, "Accepted")
		}
	default:
		c.replyRejected(res, acl.StageRcpt)
	}
}

// startMessage runs the predata ACL and creates the draft. It reports
// false (with the reply sent and the transaction ended) on failure.
func (c *conn) startMessage(ctx context.Context, bdat bool) bool {
	tx := c.tx
	res := c.runACL(ctx, acl.StagePredata, c.srv.ACL.Predata, tx.msg, nil, &tx.edits)
	if res.Verdict != acl.VerdictAccept && res.Verdict != acl.VerdictDiscard {
		c.replyRejected(res, acl.StagePredata)
		c.failTx(res.Reply)
		return false
	}
	if c.srv.Store == nil {
		c.log.Error("smtpd: Server.Store is nil")
		c.replyErr(replyTempLocal)
		c.failTx(replyTempLocal)
		return false
	}
	d, err := c.srv.Store.Create(ctx)
	if err != nil {
		c.log.Error("creating message in store failed", "err", err)
		c.replyErr(replyTempLocal)
		c.failTx(replyTempLocal)
		return false
	}
	c.draft = d
	tx.bdat = bdat
	c.sink.init(d, c.srv.BareLineEndings == NormalizeBare, c.srv.maxMessageSize(), c.srv.maxHeaderSize(), c.srv.dataLineLimit())
	c.dr.reset(&c.sink, bdat)
	return true
}

// failTx ends a failed transaction; for BDAT, later chunks of it get the
// same reply.
func (c *conn) failTx(reply *exigo.SMTPError) {
	bdat := c.tx != nil && c.tx.bdat
	c.endTx()
	if bdat || reply != nil {
		c.bdatFailed = reply
	}
}

func (c *conn) cmdData(ctx context.Context, arg string) {
	tx := c.tx
	switch {
	case arg != "":
		c.syntaxError(replyNoParams)
		return
	case tx == nil || tx.accepted == 0:
		c.protocolError(replyNoRcpt)
		return
	case tx.bdat:
		c.protocolError(replyDataAfterBDAT)
		return
	}
	if c.r.Buffered() > 0 {
		// RFC 2920 section 3.1: DATA ends a pipelined group; the client
		// must wait for 354. Text sent early would be read as commands
		// if the DATA command failed, so the session ends here, as in
		// Exim.
		c.log.Info("input sent before the 354 reply", "bytes", c.r.Buffered())
		c.replyErr(replySyncError)
		c.endTx()
		c.closing = true
		c.notQuitReason = "synchronization-error"
		return
	}
	if !c.startMessage(ctx, false) {
		c.bdatFailed = nil
		return
	}
	c.writeLine(`354 Enter message, ending with "." on a line by itself`)
	c.setDataMode(true)
	err := readDATA(c.r, &c.dr)
	c.setDataMode(false)
	if err != nil {
		c.dataFailed(err)
		return
	}
	c.finishMessage(ctx)
}

func (c *conn) cmdBDAT(ctx context.Context, arg string) {
	size, last, ok := parseBDAT(arg)
	if !ok {
		// The chunk's size is unknown, so its data cannot be skipped:
		// close rather than read message data as commands.
		c.errors++
		c.replyErr(replyBDATSyntax)
		c.closing = true
		c.notQuitReason = "bad-bdat"
		return
	}
	tx := c.tx
	if tx == nil || tx.accepted == 0 || !tx.bdat && !c.sess.ESMTP {
		reply := c.bdatFailed
		if err := c.skipChunk(size); err != nil {
			c.dataFailed(err)
			return
		}
		if reply != nil {
			c.replyErr(reply)
			if last {
				c.bdatFailed = nil
			}
			return
		}
		c.protocolError(replyBDATNoTx)
		return
	}
	if !tx.bdat {
		if !c.startMessage(ctx, true) {
			if err := c.skipChunk(size); err != nil {
				c.dataFailed(err)
				return
			}
			if last {
				c.bdatFailed = nil
			}
			return
		}
	}
	c.setDataMode(true)
	err := readChunk(c.r, &c.dr, size)
	c.setDataMode(false)
	if err != nil {
		c.dataFailed(err)
		return
	}
	if !last {
		if c.sink.fail != failNone {
			reply := c.failReply(c.sink.fail)
			c.replyErr(reply)
			c.failTx(reply)
			return
		}
		c.reply(250, exigo.EnhancedCode{2, 0, 0}, strconv.FormatInt(size, 10)+" octets received")
		return
	}
	c.dr.finishBDAT()
	c.finishMessage(ctx)
}

// skipChunk reads and discards a BDAT chunk.
func (c *conn) skipChunk(n int64) error {
	c.setDataMode(true)
	defer c.setDataMode(false)
	for n > 0 {
		k, err := c.r.Discard(int(min(n, readBufferSize)))
		n -= int64(k)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// failReply is the reply for a message that failed while being received.
func (c *conn) failReply(fail int) *exigo.SMTPError {
	switch fail {
	case failBare:
		return replyBare
	case failLineTooLong:
		return paramError(554, exigo.EnhancedCode{5, 5, 2}, "Message rejected: a line is longer than %d octets", c.srv.dataLineLimit())
	case failHeaderTooBig:
		return paramError(552, exigo.EnhancedCode{5, 3, 4}, "Message header exceeds %d octets", c.srv.maxHeaderSize())
	case failTooBig:
		return paramError(552, exigo.EnhancedCode{5, 3, 4}, "Message size exceeds maximum permitted (%d octets)", c.srv.maxMessageSize())
	}
	if c.sink.werr != nil {
		c.log.Error("writing message to store failed", "err", c.sink.werr)
	}
	return replyTempLocal
}

// finishMessage runs after the end of data: it checks the message, builds
// the header, runs the data ACL, commits the draft and replies.
func (c *conn) finishMessage(ctx context.Context) {
	tx, d := c.tx, c.draft
	if fail := c.sink.finish(); fail != failNone {
		reply := c.failReply(fail)
		c.log.Info("message rejected", "reply", reply.Error())
		c.replyErr(reply)
		c.endMessage()
		return
	}
	now := c.srv.clock()
	m := tx.msg
	m.ID = d.ID()
	m.Header = c.sink.header()
	m.Body = d.Body()
	m.Stats = exigo.BodyStats{Lines: c.sink.lines, Zeroes: c.sink.zeroes, MaxLineLength: c.sink.maxLen, Size: c.sink.size}
	m.Received = now
	var forRcpt string
	if len(m.Envelope.Recipients) == 1 {
		forRcpt = m.Envelope.Recipients[0].Address
	}
	m.Header.AddRaw([]byte(receivedField(c.host, c.sess, m.Envelope.Sender, m.ID, forRcpt, now)))
	c.applyEdits(&m.Header, &tx.edits)

	res := c.runACL(ctx, acl.StageData, c.srv.ACL.Data, m, nil, &tx.edits)
	okReply := res.Reply
	switch res.Verdict {
	case acl.VerdictAccept:
		c.applyEdits(&m.Header, &tx.edits)
	case acl.VerdictDiscard:
		c.log.Info("message discarded by data ACL", "id", m.ID)
		m.Envelope.Recipients = nil
	default:
		c.replyRejected(res, acl.StageData)
		c.endMessage()
		return
	}
	id := m.ID
	if len(m.Envelope.Recipients) == 0 {
		// Every recipient (or the message) was discarded: the client is
		// told success, nothing is stored.
		c.endMessage()
		c.replyOK(okReply, id)
		return
	}
	snap := *c.sess
	snap.Vars = make(map[string]string, len(c.sess.Vars))
	for k, v := range c.sess.Vars {
		snap.Vars[k] = v
	}
	m.Session = &snap
	if err := d.Commit(ctx, m); err != nil {
		c.log.Error("committing message failed", "id", id, "err", err)
		c.replyErr(replyTempLocal)
		c.endMessage()
		return
	}
	c.draft = nil
	c.log.Info("message accepted", "id", id, "from", clean(m.Envelope.Sender), "rcpts", len(m.Envelope.Recipients), "size", m.Stats.Size)
	if c.srv.OnReceived != nil {
		c.srv.OnReceived(ctx, m)
	}
	c.endMessage()
	c.replyOK(okReply, id)
}

func (c *conn) replyOK(custom *exigo.SMTPError, id string) {
	if custom != nil && custom.Code/100 == 2 {
		c.reply(custom.Code, custom.EnhancedOrDefault(), custom.Message+" id="+id)
		return
	}
	c.reply(250, exigo.EnhancedCode{2, 0, 0}, "OK id="+id)
}
