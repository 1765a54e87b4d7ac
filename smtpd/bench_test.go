package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/spool"
)

// discardStore counts the body bytes and keeps nothing.
type discardStore struct {
	bytes atomic.Int64
	msgs  atomic.Int64
}

type discardDraft struct{ st *discardStore }

func (s *discardStore) Create(context.Context) (Draft, error) { return discardDraft{s}, nil }
func (d discardDraft) ID() string                             { return "1xUm1a-0000hS-2z" }
func (d discardDraft) Write(p []byte) (int, error) {
	d.st.bytes.Add(int64(len(p)))
	return len(p), nil
}
func (d discardDraft) Body() exigo.Opener {
	return exigo.OpenerFunc(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(nil)), nil })
}
func (d discardDraft) Commit(context.Context, *exigo.Message) error { d.st.msgs.Add(1); return nil }
func (d discardDraft) Abort() error                                 { return nil }

// benchBody returns a message of about size bytes: a small header and
// 78-character lines, CRLF line ends.
func benchBody(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nTo: b@example.com\r\nSubject: benchmark\r\n\r\n")
	line := bytes.Repeat([]byte("0123456789"), 8)[:78]
	for b.Len() < size {
		b.Write(line)
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.Bytes()
}

// BenchmarkData measures a whole transaction (MAIL, RCPT, DATA, body, end
// of data, commit, 250) over loopback TCP for a 1 KB and a 10 MB body.
// With -benchmem, the allocations per message stay the same whatever the
// body size: the body is streamed, never buffered.
func BenchmarkData(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"1KB", 1 << 10}, {"10MB", 10 << 20}} {
		b.Run(bc.name, func(b *testing.B) {
			st := &discardStore{}
			benchTransactions(b, st, bc.size, st.msgs.Load)
		})
	}
}

// BenchmarkDataToSpool is BenchmarkData with the real Exim-format spool
// behind the server: every message is durably committed (group commit,
// fsync) before its 250. Memory per message must not grow with the body.
func BenchmarkDataToSpool(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"1KB", 1 << 10}, {"10MB", 10 << 20}} {
		b.Run(bc.name, func(b *testing.B) {
			sp, err := spool.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			st := StoreFunc(func(ctx context.Context) (Draft, error) {
				n.Add(1)
				return SpoolStore(sp).Create(ctx)
			})
			benchTransactions(b, st, bc.size, n.Load)
		})
	}
}

// benchTransactions runs b.N transactions with a body of about size bytes
// on one connection to a server using st; committed reports how many
// messages the store took.
func benchTransactions(b *testing.B, st Store, size int, committed func() int64) {
	s := &Server{Hostname: "mx.test.example", Store: st, Logger: slog.New(slog.DiscardHandler)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(l)
	defer s.Shutdown(context.Background())
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	readReply := func() {
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) < 4 || line[3] != '-' {
				if line[0] != '2' && line[0] != '3' {
					b.Fatalf("reply %q", line)
				}
				return
			}
		}
	}
	readReply()
	io.WriteString(conn, "EHLO bench.example\r\n")
	readReply()
	cmds := []byte("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
	body := benchBody(size)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		conn.Write(cmds)
		readReply()
		readReply()
		readReply()
		conn.Write(body)
		readReply()
	}
	b.StopTimer()
	if committed() < int64(b.N) {
		b.Fatalf("%d messages committed, want %d", committed(), b.N)
	}
}

// BenchmarkParallelSessions runs 20 sessions at once, each sending small
// messages, as smtp-source -s 20 does; the store keeps nothing, so this
// is the protocol engine's own cost per message.
func BenchmarkParallelSessions(b *testing.B) {
	st := &discardStore{}
	s := &Server{Hostname: "mx.test.example", Store: st, Logger: slog.New(slog.DiscardHandler)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(l)
	defer s.Shutdown(context.Background())
	body := benchBody(1 << 10)
	const sessions = 20
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(time.Minute))
			r := bufio.NewReader(conn)
			read := func() bool {
				for {
					line, err := r.ReadSlice('\n')
					if err != nil {
						b.Error(err)
						return false
					}
					if len(line) < 4 || line[3] != '-' {
						return true
					}
				}
			}
			read()
			io.WriteString(conn, "EHLO bench.example\r\n")
			read()
			for next.Add(1) <= int64(b.N) {
				io.WriteString(conn, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
				read()
				read()
				read()
				conn.Write(body)
				if !read() {
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
