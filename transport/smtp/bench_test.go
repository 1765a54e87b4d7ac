package smtp

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/transport"
)

// sink is a fast in-process SMTP server that accepts everything, answers
// pipelined commands in one write, and discards the data.
func sink(tb testing.TB, chunking bool) transport.Host {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	ehlo := "250-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 100000000\r\n"
	if chunking {
		ehlo += "250-CHUNKING\r\n"
	}
	ehlo += "250 ENHANCEDSTATUSCODES\r\n"
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSink(nc, ehlo)
		}
	}()
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	return transport.Host{Name: "sink.test", Addr: ap.Addr(), Port: int(ap.Port())}
}

func serveSink(nc net.Conn, ehlo string) {
	defer nc.Close()
	br := bufio.NewReaderSize(nc, 64<<10)
	bw := bufio.NewWriter(nc)
	bw.WriteString("220 sink ESMTP\r\n")
	bw.Flush()
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(string(line[:min(4, len(line))]))
		switch verb {
		case "EHLO":
			bw.WriteString(ehlo)
		case "DATA":
			bw.WriteString("354 go\r\n")
			bw.Flush()
			for {
				l, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(l) == 3 && l[0] == '.' {
					break
				}
			}
			bw.WriteString("250 2.0.0 ok\r\n")
		case "BDAT":
			f := strings.Fields(string(line))
			n, _ := strconv.Atoi(f[1])
			if _, err := br.Discard(n); err != nil {
				return
			}
			bw.WriteString("250 2.0.0 ok\r\n")
		case "QUIT":
			bw.WriteString("221 bye\r\n")
			bw.Flush()
			return
		default:
			bw.WriteString("250 2.0.0 ok\r\n")
		}
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
	}
}

// benchMessage is a 4 KB message with LF line ends as the spool stores it.
func benchMessage(tb testing.TB) *exigo.Message {
	var body bytes.Buffer
	for i := 0; body.Len() < 3600; i++ {
		if i%10 == 0 {
			body.WriteString(".")
		}
		body.WriteString("The quick brown fox jumps over the lazy dog, line ")
		body.WriteString(strconv.Itoa(i))
		body.WriteString(" of the benchmark.\n")
	}
	header := "Received: from client.example ([192.0.2.1])\n\tby mx.example with esmtp id 1xUm1a-0000hS-2z;\n\tSat, 21 Nov 2026 14:25:06 +0000\n" +
		"From: Sender <sender@example.org>\nTo: Rcpt <rcpt@example.com>\nSubject: benchmark\nMessage-ID: <bench@example.org>\n" +
		"Date: Sat, 21 Nov 2026 14:25:06 +0000\nMIME-Version: 1.0\nContent-Type: text/plain\n"
	m := newMsg(tb, header, body.String())
	b := body.Bytes()
	m.Body = exigo.OpenerFunc(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	return m
}

// BenchmarkDeliver relays a 4 KB message to one host again and again over
// a reused connection.
func BenchmarkDeliver(b *testing.B) {
	for _, mode := range []string{"DATA", "BDAT", "BDAT-parallel"} {
		b.Run(mode, func(b *testing.B) {
			host := sink(b, mode != "DATA")
			tr := &Transport{Hostname: "client.test", MaxIdlePerHost: 64, MaxMessagesPerConnection: 1 << 30}
			defer tr.Close()
			m := benchMessage(b)
			b.SetBytes(m.Stats.Size)
			b.ReportAllocs()
			one := func() {
				d := &transport.Delivery{Message: m, Hosts: []transport.Host{host}, ReturnPath: "sender@example.org",
					Recipients: []*exigo.Recipient{{Address: "rcpt@example.com"}}}
				st := transport.StatusMap{}
				if err := tr.Deliver(b.Context(), d, st); err != nil {
					b.Fatal(err)
				}
				if res := st[d.Recipients[0]]; res.Err != nil {
					b.Fatal(res.Err)
				}
			}
			if mode == "BDAT-parallel" {
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						one()
					}
				})
			} else {
				for b.Loop() {
					one()
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
