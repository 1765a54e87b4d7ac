package mailtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/transport"
)

// Recorder is a [transport.Transport] that delivers nothing: it records
// every delivery it is given, with the message as it would go on the
// wire, and reports for each recipient the outcome the test scripted
// (success unless [Recorder.FailWith] or [Recorder.FailAll] said
// otherwise). The zero value is ready to use; it is safe for concurrent
// use.
type Recorder struct {
	mu         sync.Mutex
	deliveries []Delivery
	fail       map[string]error // by lower-case address
	failAll    error
	changed    chan struct{} // closed and replaced at every new delivery
}

// Delivery is a [transport.Delivery] as a [Recorder] saw it.
type Delivery struct {
	// MessageID is the message's ID.
	MessageID string
	// ReturnPath is the envelope sender the delivery was to use.
	ReturnPath string
	// Recipients are the addresses delivered to, in order.
	Recipients []string
	// Hosts are the hosts the router chose (for a remote transport).
	Hosts []transport.Host
	// Data is the message as an SMTP client would send it after DATA:
	// the header fields (raw bytes kept), a blank line and the body,
	// with CRLF line ends (every LF, CRLF or lone CR of the stored
	// message becomes one CRLF), not dot-stuffed, without the final
	// ".". A message whose body does not end with a line end gets one.
	Data []byte
	// Results are the outcomes reported, one for each recipient, in the
	// order of Recipients.
	Results []transport.Result
	// Err is what Deliver returned (the outcome of every recipient that
	// has no result of its own); nil normally.
	Err error
	// Message is a copy of the message delivered. Its Body opens the
	// body as the Recorder read it (the stored form, LF line ends).
	Message *exigo.Message
}

// RecordedReply is the reply text a [Recorder] reports for a delivered
// recipient.
const RecordedReply = "250 2.0.0 OK recorded"

// FailWith scripts the outcome for the recipient addr (compared without
// regard to case) in every later delivery: err is the recipient's error.
// An *exigo.SMTPError with a 4xx code, or any error that does not wrap
// [transport.ErrPermanent], is a temporary failure; a 5xx one, or an
// error wrapping ErrPermanent, a permanent one (see
// [transport.Permanent]). nil makes deliveries to addr succeed again.
func (r *Recorder) FailWith(addr string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := strings.ToLower(addr)
	if err == nil {
		delete(r.fail, key)
		return
	}
	if r.fail == nil {
		r.fail = make(map[string]error)
	}
	r.fail[key] = err
}

// FailAll makes every later Deliver return err without a result for any
// recipient, as a transport that cannot connect does; nil ends it.
func (r *Recorder) FailAll(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failAll = err
}

// Deliver records d and reports each recipient's scripted outcome to st.
func (r *Recorder) Deliver(ctx context.Context, d *transport.Delivery, st transport.Status) error {
	rec := Delivery{
		ReturnPath: d.ReturnPath,
		Hosts:      slices.Clone(d.Hosts),
		Recipients: make([]string, len(d.Recipients)),
	}
	for i, rc := range d.Recipients {
		rec.Recipients[i] = rc.Address
	}
	r.mu.Lock()
	failAll := r.failAll
	fails := make([]error, len(d.Recipients))
	for i, a := range rec.Recipients {
		fails[i] = r.fail[strings.ToLower(a)]
	}
	r.mu.Unlock()

	err := failAll
	if err == nil {
		err = ctx.Err()
	}
	if d.Message == nil {
		err = errors.New("mailtest: recorder: delivery without a message")
	} else {
		rec.MessageID = d.Message.ID
		header, body, rerr := readMessage(d.Message)
		if rerr != nil && err == nil {
			err = fmt.Errorf("mailtest: recorder: reading message %s: %w", d.Message.ID, rerr)
		}
		rec.Data = appendCRLF(header, body)
		rec.Message = cloneMessage(d.Message)
		rec.Message.Body = bytesOpener(body)
	}
	if err != nil {
		rec.Err = err
		rec.Results = make([]transport.Result, len(d.Recipients))
		for i := range rec.Results {
			rec.Results[i] = transport.Result{Err: err}
		}
		r.add(rec)
		return err
	}
	rec.Results = make([]transport.Result, len(d.Recipients))
	for i, rc := range d.Recipients {
		res := transport.Result{Err: fails[i]}
		if fails[i] == nil {
			res.Reply = RecordedReply
		}
		if len(d.Hosts) > 0 {
			a := &transport.Attempt{Host: d.Hosts[0]}
			var se *exigo.SMTPError
			if errors.As(fails[i], &se) {
				a.LastReply = se
			}
			res.Attempt = a
		}
		rec.Results[i] = res
		st.Set(rc, res)
	}
	r.add(rec)
	return nil
}

func (r *Recorder) add(d Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deliveries = append(r.deliveries, d)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// Deliveries returns the deliveries recorded so far, in order.
func (r *Recorder) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.deliveries)
}

// Wait waits until at least n deliveries are recorded and returns them
// all, or returns an error once timeout has passed.
func (r *Recorder) Wait(n int, timeout time.Duration) ([]Delivery, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		if len(r.deliveries) >= n {
			out := slices.Clone(r.deliveries)
			r.mu.Unlock()
			return out, nil
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch, have := r.changed, len(r.deliveries)
		r.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return nil, fmt.Errorf("mailtest: %d deliveries recorded after %v, want %d", have, timeout, n)
		}
	}
}

// readMessage returns the header of m in wire form (CRLF line ends, with
// the blank line after it) and the body as stored.
func readMessage(m *exigo.Message) (header, body []byte, err error) {
	fields := m.Header.Fields()
	for fields.Next() {
		raw, err := fields.Raw()
		if err != nil {
			return nil, nil, err
		}
		header = appendCRLF(header, raw)
	}
	header = append(header, "\r\n"...)
	if m.Body == nil {
		return header, nil, nil
	}
	rc, err := m.Body.Open()
	if err != nil {
		return header, nil, err
	}
	defer rc.Close()
	body, err = io.ReadAll(rc)
	return header, body, err
}

// appendCRLF appends src to dst with every line end (CRLF, LF or a lone
// CR) made CRLF, and a final CRLF when src is not empty and lacks one.
func appendCRLF(dst, src []byte) []byte {
	for len(src) > 0 {
		i := bytes.IndexAny(src, "\r\n")
		if i < 0 {
			dst = append(dst, src...)
			return append(dst, "\r\n"...)
		}
		dst = append(dst, src[:i]...)
		dst = append(dst, "\r\n"...)
		if src[i] == '\r' && i+1 < len(src) && src[i+1] == '\n' {
			i++
		}
		src = src[i+1:]
	}
	return dst
}

// bytesOpener opens b.
func bytesOpener(b []byte) exigo.Opener {
	return exigo.OpenerFunc(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
}

var _ transport.Transport = (*Recorder)(nil)
