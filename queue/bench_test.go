package queue

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/hints"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/spool"
	"github.com/exigo-mta/exigo/transport"
)

// BenchmarkRunOnce is the spool and queue side of the relay benchmark
// (bench/relay.sh): one queue run over b.N spooled messages of 4 KB with
// rcpts recipients each, delivered by a transport that accepts every
// recipient at once, at the given parallelism. What it measures per
// message is the engine's own work: lock, read, route, record the
// delivery durably, remove. With partial=true one recipient of each
// message is deferred, so the delivered ones are journaled and the -H
// file rewritten.
//
//	go test -run '^$' -bench BenchmarkRunOnce -benchmem -count 5 ./queue
func BenchmarkRunOnce(b *testing.B) {
	for _, c := range []struct {
		rcpts, par int
		partial    bool
	}{{1, 1, false}, {1, 8, false}, {3, 8, false}, {3, 8, true}} {
		b.Run(fmt.Sprintf("rcpts=%d/par=%d/partial=%v", c.rcpts, c.par, c.partial), func(b *testing.B) {
			benchRunOnce(b, c.rcpts, c.par, c.partial)
		})
	}
}

func benchRunOnce(b *testing.B, rcpts, par int, partial bool) {
	ctx := context.Background()
	sp, err := spool.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 4096)
	for i := range body {
		body[i] = 'a' + byte(i%26)
		if i%64 == 63 {
			body[i] = '\n'
		}
	}
	for range b.N {
		d, err := sp.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		d.Write(body)
		m := &exigo.Message{ID: d.ID(), Received: time.Now(), Stats: exigo.BodyStats{Lines: 64, MaxLineLength: 63}}
		m.Envelope.Sender = "from@example.com"
		for i := range rcpts {
			m.Envelope.AddRecipient(fmt.Sprintf("to%d@remote.example", i))
		}
		var h textproto.Header
		h.AddRaw([]byte("Subject: bench\n"))
		h.AddRaw([]byte("From: from@example.com\n"))
		m.Header = h
		if err := d.Commit(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	smart := transport.Host{Name: "smart.example", Port: 25}
	eng := &Engine{
		Spool: sp,
		Router: RouterFunc(func(_ context.Context, _ *exigo.Message, r *exigo.Recipient) []router.Routed {
			return []router.Routed{{Recipient: r, Router: "smarthost", Result: router.Accepted("smtp", smart)}}
		}),
		Transports: map[string]transport.Transport{"smtp": transport.Func(func(ctx context.Context, d *transport.Delivery, st transport.Status) error {
			rc, err := d.Message.Body.Open()
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil {
				return err
			}
			for i, r := range d.Recipients {
				if partial && i == 0 {
					st.Set(r, transport.Result{Err: &exigo.SMTPError{Code: 451, Enhanced: exigo.EnhancedCode{4, 3, 0}, Message: "later"}})
					continue
				}
				st.Set(r, transport.Result{Reply: "250 OK"})
			}
			return nil
		})},
		Hints:       hints.NewMemory(),
		Parallelism: par,
		Hostname:    "exigo.example",
	}
	defer eng.Shutdown(ctx)
	b.ResetTimer()
	st, err := eng.RunOnce(ctx)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	want := b.N
	if partial {
		want = 0
	}
	if st.Completed != want || st.Messages != b.N {
		b.Fatalf("run: %+v, want %d messages, %d completed", st, b.N, want)
	}
}
