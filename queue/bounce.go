package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/spool"
	"github.com/exigo-mta/exigo/transport"
)

// Failure is one address that failed permanently, as a Bouncer reports
// it.
type Failure struct {
	// Recipient is the address that failed: an envelope recipient, or an
	// address a redirection generated from one (its Parent chain leads
	// to the envelope recipient).
	Recipient *exigo.Recipient
	// Err says why; never nil. A remote server's reply is an
	// *exigo.SMTPError in its chain.
	Err error
	// Attempt is the remote attempt that decided, when there was one.
	Attempt *transport.Attempt
	// Router and Transport name the router that handled the address and
	// the transport that failed it ("" for a routing failure).
	Router, Transport string
	// Timeout is true when the address failed because its retry time ran
	// out: Err is then the last temporary error.
	Timeout bool
}

// Reply returns the SMTP reply in Err's chain, or nil.
func (f *Failure) Reply() *exigo.SMTPError {
	var se *exigo.SMTPError
	if errors.As(f.Err, &se) {
		return se
	}
	return nil
}

// Status returns the RFC 3463 status code for the DSN: 5.4.7 for a retry
// timeout, else the enhanced code of the reply in Err (5.0.0 when it has
// none or is not a 5xx one), else 5.0.0.
func (f *Failure) Status() string {
	if f.Timeout {
		return "5.4.7"
	}
	if se := f.Reply(); se != nil && se.Code/100 == 5 {
		if c := se.EnhancedOrDefault(); c[0] == 5 {
			return c.String()
		}
	}
	return "5.0.0"
}

// ReportTo returns the address a failure report for f goes to: the
// recipient's errors_to address, or the message's sender.
func (f *Failure) ReportTo(msg *exigo.Message) string {
	if f.Recipient.ErrorsTo != "" {
		return f.Recipient.ErrorsTo
	}
	return msg.Envelope.Sender
}

// Bouncer reports permanent failures to the sender: the delivery engine
// calls Bounce once per message attempt that had failures, after the
// deliveries, and marks the failed addresses done only when Bounce
// returns nil. An error freezes the message (Exim does the same when it
// cannot create a bounce).
type Bouncer interface {
	Bounce(ctx context.Context, msg *exigo.Message, failures []Failure) error
}

// BouncerFunc adapts a function to a Bouncer.
type BouncerFunc func(ctx context.Context, msg *exigo.Message, failures []Failure) error

// Bounce calls f.
func (f BouncerFunc) Bounce(ctx context.Context, msg *exigo.Message, failures []Failure) error {
	return f(ctx, msg, failures)
}

// SimpleBouncer writes RFC 3464 delivery status notifications into a
// spool: one multipart/report message per report address (the sender,
// or a recipient's errors_to), with the null sender, holding a
// human-readable part, a message/delivery-status part and the original
// message (message/rfc822) or, for RET=HDRS or a message larger than
// ReturnSizeLimit, its header (text/rfc822-headers).
type SimpleBouncer struct {
	// Spool receives the reports.
	Spool *spool.Spool
	// Hostname is the Reporting-MTA and the domain of From and
	// Message-Id; default os.Hostname().
	Hostname string
	// From is the From field's value; default
	// "Mail Delivery System <Mailer-Daemon@Hostname>".
	From string
	// ReturnSizeLimit is the largest message returned whole (Exim's
	// bounce_return_size_limit); default 100 KiB; negative means only
	// headers are ever returned.
	ReturnSizeLimit int64
	// Now replaces time.Now.
	Now func() time.Time
	// Logger receives a line per report; nil discards.
	Logger *slog.Logger
	// OnCreated, when set, is called with the ID of each report
	// committed, e.g. to deliver it at once with (*Engine).Kick.
	OnCreated func(id string)
}

func (b *SimpleBouncer) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *SimpleBouncer) hostname() string {
	if b.Hostname != "" {
		return b.Hostname
	}
	h, _ := os.Hostname()
	if h == "" {
		h = "localhost"
	}
	return h
}

// Bounce writes one report per report address into b.Spool.
func (b *SimpleBouncer) Bounce(ctx context.Context, msg *exigo.Message, failures []Failure) error {
	if b.Spool == nil {
		return errors.New("queue: SimpleBouncer has no spool")
	}
	var order []string
	byTo := make(map[string][]Failure)
	for _, f := range failures {
		to := f.ReportTo(msg)
		if _, ok := byTo[to]; !ok {
			order = append(order, to)
		}
		byTo[to] = append(byTo[to], f)
	}
	for _, to := range order {
		if to == "" {
			return fmt.Errorf("queue: bounce of %s: no address to report to", msg.ID)
		}
		id, err := b.write(ctx, msg, to, byTo[to])
		if err != nil {
			return fmt.Errorf("queue: bounce of %s: %w", msg.ID, err)
		}
		if b.Logger != nil {
			b.Logger.LogAttrs(ctx, slog.LevelInfo, "<=", slog.String("id", id), slog.String("from", "<>"),
				slog.String("bounce_of", msg.ID), slog.String("to", to))
		}
		if b.OnCreated != nil {
			b.OnCreated(id)
		}
	}
	return nil
}

func (b *SimpleBouncer) write(ctx context.Context, msg *exigo.Message, to string, fs []Failure) (string, error) {
	d, err := b.Spool.Create(ctx)
	if err != nil {
		return "", err
	}
	defer d.Abort() // no-op after Commit
	now := b.now()
	r := &report{
		id: d.ID(), msg: msg, to: to, failures: fs, now: now,
		host: b.hostname(), from: b.From, limit: b.ReturnSizeLimit,
	}
	bw := bufio.NewWriterSize(d, 32<<10)
	cw := &countWriter{w: bw}
	if err := r.writeBody(cw); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	m := &exigo.Message{ID: d.ID(), Header: r.header(), Received: now}
	m.Envelope.AddRecipient(to)
	if cw.eightBit {
		m.Envelope.Body = exigo.Body8BitMIME
	}
	m.Envelope.SMTPUTF8 = !isASCII(to)
	m.Stats = exigo.BodyStats{Lines: cw.lines, MaxLineLength: cw.maxLine}
	if err := d.Commit(ctx, m); err != nil {
		return "", err
	}
	return d.ID(), nil
}

// report is one delivery status notification being written.
type report struct {
	id       string
	msg      *exigo.Message
	to       string
	failures []Failure
	now      time.Time
	host     string
	from     string
	limit    int64
}

const rfc5322Date = "Mon, 02 Jan 2006 15:04:05 -0700"

func (r *report) boundary() string { return r.id + "-dsn=_" }

func (r *report) returnFull() bool {
	limit := r.limit
	if limit == 0 {
		limit = 100 << 10
	}
	return r.msg.Envelope.Ret != exigo.RetHdrs && limit > 0 && r.msg.Stats.Size <= limit && r.msg.Body != nil
}

// fields returns the report's header fields in order, each raw with an
// LF line end.
func (r *report) fields() []string {
	from := r.from
	if from == "" {
		from = "Mail Delivery System <Mailer-Daemon@" + r.host + ">"
	}
	fs := []string{
		"Auto-Submitted: auto-replied\n",
		"From: " + oneLine(from) + "\n",
		"To: " + oneLine(r.to) + "\n",
	}
	if mid := strings.TrimSpace(r.msg.Header.Get("Message-Id")); mid != "" && !strings.ContainsAny(mid, "\r\n") {
		fs = append(fs, "References: "+mid+"\n")
	}
	fs = append(fs,
		"Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\""+r.boundary()+"\"\n",
		"MIME-Version: 1.0\n",
		"Subject: Mail delivery failed: returning message to sender\n",
		"Message-Id: <E"+r.id+"@"+r.host+">\n",
	)
	addrs := make([]string, len(r.failures))
	for i, f := range r.failures {
		addrs[i] = oneLine(f.Recipient.Address)
	}
	fs = append(fs, fold("X-Failed-Recipients:", addrs), "Date: "+r.now.Format(rfc5322Date)+"\n")
	return fs
}

// header returns the fields as a textproto.Header (which keeps them in
// order and raw).
func (r *report) header() textproto.Header {
	var h textproto.Header
	fs := r.fields()
	for i := len(fs) - 1; i >= 0; i-- {
		h.AddRaw([]byte(fs[i]))
	}
	return h
}

// writeBody writes the body with LF line ends, as the spool stores it.
func (r *report) writeBody(w io.Writer) error {
	ew := &errWriter{w: w}
	b := r.boundary()
	full := r.returnFull()
	charset := "us-ascii"
	human := r.humanText(full)
	if !isASCII(human) {
		charset = "utf-8"
	}
	ew.printf("This is a MIME-formatted delivery status notification (RFC 3464).\n\n")
	ew.printf("--%s\nContent-Type: text/plain; charset=%s\n", b, charset)
	if charset != "us-ascii" {
		ew.printf("Content-Transfer-Encoding: 8bit\n")
	}
	ew.printf("\n%s\n", human)
	ew.printf("--%s\nContent-Type: message/delivery-status\n\n", b)
	ew.printf("%s", r.statusText())
	ew.printf("\n--%s\n", b)
	if full {
		ew.printf("Content-Type: message/rfc822\n")
		if r.msg.Envelope.Body == exigo.Body8BitMIME || r.msg.Envelope.Body == exigo.BodyBinaryMIME {
			ew.printf("Content-Transfer-Encoding: 8bit\n")
		}
	} else {
		ew.printf("Content-Type: text/rfc822-headers\n")
	}
	ew.printf("\n")
	last := byte('\n')
	for f := r.msg.Header.Fields(); f.Next(); {
		raw, err := f.Raw()
		if err != nil {
			return fmt.Errorf("header field %q: %w", f.Key(), err)
		}
		ew.write(raw)
		if len(raw) > 0 {
			last = raw[len(raw)-1]
		}
	}
	if last != '\n' {
		ew.printf("\n")
	}
	if full {
		ew.printf("\n")
		rc, err := r.msg.Body.Open()
		if err != nil {
			return fmt.Errorf("opening the body of %s: %w", r.msg.ID, err)
		}
		tw := &tailWriter{w: ew}
		_, err = io.Copy(tw, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("reading the body of %s: %w", r.msg.ID, err)
		}
		if tw.last != '\n' && tw.n > 0 {
			ew.printf("\n")
		}
	}
	ew.printf("--%s--\n", b)
	return ew.err
}

func (r *report) humanText(full bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "This report was generated by the mail system at %s.\n\n", r.host)
	b.WriteString("Your message could not be delivered to the following address(es).\n")
	b.WriteString("The failure is permanent: no further delivery attempts will be made.\n")
	for _, f := range r.failures {
		fmt.Fprintf(&b, "\n  %s\n", oneLine(f.Recipient.Address))
		if p := f.Recipient.Root(); p != f.Recipient {
			fmt.Fprintf(&b, "    (generated from %s)\n", oneLine(p.Address))
		}
		if f.Timeout {
			b.WriteString("    retry timeout exceeded; the last error was:\n")
		}
		fmt.Fprintf(&b, "    %s\n", oneLine(f.Err.Error()))
	}
	b.WriteByte('\n')
	switch {
	case full:
		b.WriteString("The delivery report and the original message follow.\n")
	case r.msg.Envelope.Ret == exigo.RetHdrs:
		b.WriteString("The delivery report and the header of the original message follow.\n")
	default:
		b.WriteString("The delivery report and the header of the original message follow;\n")
		b.WriteString("the message was too large to be returned whole.\n")
	}
	return b.String()
}

func (r *report) statusText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\n", r.host)
	if r.msg.Envelope.EnvID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\n", oneLine(r.msg.Envelope.EnvID))
	}
	if !r.msg.Received.IsZero() {
		fmt.Fprintf(&b, "Arrival-Date: %s\n", r.msg.Received.Format(rfc5322Date))
	}
	for _, f := range r.failures {
		b.WriteByte('\n')
		if o := f.Recipient.ORCPT; o != "" {
			fmt.Fprintf(&b, "Original-Recipient: %s\n", oneLine(o))
		}
		fmt.Fprintf(&b, "Final-Recipient: rfc822;%s\n", oneLine(f.Recipient.Address))
		b.WriteString("Action: failed\n")
		fmt.Fprintf(&b, "Status: %s\n", f.Status())
		if a := f.Attempt; a != nil {
			if mta := remoteMTA(a); mta != "" {
				fmt.Fprintf(&b, "Remote-MTA: dns; %s\n", mta)
			}
			if se := f.Reply(); se != nil {
				fmt.Fprintf(&b, "Diagnostic-Code: smtp; %s\n", oneLine(se.Error()))
			}
		}
	}
	return b.String()
}

func remoteMTA(a *transport.Attempt) string {
	if a.Host.Name != "" {
		return oneLine(a.Host.Name)
	}
	if a.Remote.IsValid() {
		return "[" + a.Remote.Addr().Unmap().String() + "]"
	}
	if a.Host.Addr.IsValid() {
		return "[" + a.Host.Addr.Unmap().String() + "]"
	}
	return ""
}

// oneLine makes s safe for one line of a header or report: control
// characters become spaces, and it is cut at 900 bytes.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 900 {
		s = s[:900] + "..."
	}
	return s
}

// fold writes a header field listing items separated by commas, folded
// before an item that would take a line past 78 characters.
func fold(name string, items []string) string {
	var b strings.Builder
	b.WriteString(name)
	col := len(name)
	for i, it := range items {
		sep := " "
		if i > 0 {
			b.WriteByte(',')
			col++
		}
		if i > 0 && col+1+len(it) > 78 {
			sep = "\n\t"
			col = 0
		}
		b.WriteString(sep)
		b.WriteString(it)
		col += 1 + len(it)
	}
	b.WriteByte('\n')
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) write(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *errWriter) Write(p []byte) (int, error) {
	e.write(p)
	if e.err != nil {
		return 0, e.err
	}
	return len(p), nil
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// tailWriter remembers the last byte written.
type tailWriter struct {
	w    io.Writer
	last byte
	n    int64
}

func (t *tailWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if n > 0 {
		t.last = p[n-1]
		t.n += int64(n)
	}
	return n, err
}

// countWriter counts body lines and the longest line (without its line
// end), and notes 8-bit bytes, for the spool's body statistics.
type countWriter struct {
	w        io.Writer
	lines    int
	cur      int
	maxLine  int
	eightBit bool
}

func (c *countWriter) Write(p []byte) (int, error) {
	for _, ch := range p {
		switch {
		case ch == '\n':
			c.lines++
			c.maxLine = max(c.maxLine, c.cur)
			c.cur = 0
		default:
			c.cur++
			if ch >= 0x80 {
				c.eightBit = true
			}
		}
	}
	return c.w.Write(p)
}
