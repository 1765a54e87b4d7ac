package smtp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/transport"
	"github.com/exigo-mta/exigo/transport/smtp"
)

func Example() {
	host, stop := startServer() // an SMTP server on 127.0.0.1 for the example
	defer stop()

	m := &exigo.Message{
		Body: exigo.OpenerFunc(func() (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("Hello.\n")), nil
		}),
	}
	m.Header.Add("Subject", "greetings")
	d := &transport.Delivery{
		Message:    m,
		ReturnPath: "sender@example.org",
		Recipients: []*exigo.Recipient{{Address: "friend@example.com"}, {Address: "nobody@example.com"}},
		Hosts:      []transport.Host{host},
	}

	tr := &smtp.Transport{Hostname: "client.example"}
	defer tr.Close()
	st := transport.StatusMap{}
	if err := tr.Deliver(context.Background(), d, st); err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range d.Recipients {
		res := st[r]
		switch {
		case res.Err == nil:
			fmt.Printf("%s: delivered: %s\n", r.Address, res.Reply)
		case transport.Permanent(res.Err):
			var e *smtp.Error
			if errors.As(res.Err, &e) {
				fmt.Printf("%s: failed after %s: %v\n", r.Address, e.After, e.Reply())
			}
		default:
			fmt.Printf("%s: deferred: %v\n", r.Address, res.Err)
		}
	}
	fmt.Println("greeting:", st[d.Recipients[0]].Attempt.Greeting)
	// Output:
	// friend@example.com: delivered: 250 2.0.0 queued
	// nobody@example.com: failed after RCPT TO:<nobody@example.com>: 550 5.1.1 no such user
	// greeting: mx.example ESMTP
}

// startServer runs a one-connection SMTP server that knows one user.
func startServer() (transport.Host, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br, w := bufio.NewReader(nc), nc
		io.WriteString(w, "220 mx.example ESMTP\r\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.TrimSpace(line); {
			case strings.HasPrefix(cmd, "EHLO"):
				io.WriteString(w, "250-mx.example\r\n250 PIPELINING\r\n")
			case cmd == "RCPT TO:<nobody@example.com>":
				io.WriteString(w, "550 5.1.1 no such user\r\n")
			case cmd == "DATA":
				io.WriteString(w, "354 go ahead\r\n")
				for {
					l, err := br.ReadString('\n')
					if err != nil || l == ".\r\n" {
						break
					}
				}
				io.WriteString(w, "250 2.0.0 queued\r\n")
			case cmd == "QUIT":
				io.WriteString(w, "221 bye\r\n")
				return
			default:
				io.WriteString(w, "250 ok\r\n")
			}
		}
	}()
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	return transport.Host{Name: "mx.example", Addr: ap.Addr(), Port: int(ap.Port())}, func() { ln.Close() }
}
