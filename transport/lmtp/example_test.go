package lmtp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/transport"
	"github.com/exigo-mta/exigo/transport/lmtp"
)

func Example() {
	dir, _ := os.MkdirTemp("", "lmtp-example")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "lmtp.sock")
	stop := startStore(sock) // an LMTP server that knows only alice
	defer stop()

	m := &exigo.Message{Body: exigo.OpenerFunc(func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("Hello.\n")), nil
	})}
	m.Header.Add("Subject", "greetings")
	d := &transport.Delivery{
		Message:    m,
		ReturnPath: "sender@example.org",
		Recipients: []*exigo.Recipient{{Address: "alice@example.com"}, {Address: "bob@example.com"}},
	}
	tr := &lmtp.Transport{Address: sock, Hostname: "mx.example"}
	st := transport.StatusMap{}
	if err := tr.Deliver(context.Background(), d, st); err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range d.Recipients {
		if res := st[r]; res.Err != nil {
			fmt.Printf("%s: %v (permanent: %v)\n", r.Address, strings.TrimPrefix(res.Err.Error(), "LMTP "+sock+": "), transport.Permanent(res.Err))
		} else {
			fmt.Printf("%s: %s\n", r.Address, res.Reply)
		}
	}
	// Output:
	// alice@example.com: 250 2.0.0 saved
	// bob@example.com: after RCPT TO:<bob@example.com>: 550 5.1.1 unknown user (permanent: true)
}

func startStore(sock string) func() {
	ln, err := net.Listen("unix", sock)
	if err != nil {
		panic(err)
	}
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		br := bufio.NewReader(nc)
		io.WriteString(nc, "220 store LMTP\r\n")
		accepted := 0
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.TrimSpace(line); {
			case strings.HasPrefix(cmd, "LHLO"):
				io.WriteString(nc, "250-store\r\n250 PIPELINING\r\n")
			case cmd == "RCPT TO:<alice@example.com>":
				accepted++
				io.WriteString(nc, "250 2.1.5 ok\r\n")
			case strings.HasPrefix(cmd, "RCPT"):
				io.WriteString(nc, "550 5.1.1 unknown user\r\n")
			case cmd == "DATA":
				io.WriteString(nc, "354 go ahead\r\n")
				for {
					if l, err := br.ReadString('\n'); err != nil || l == ".\r\n" {
						break
					}
				}
				for range accepted {
					io.WriteString(nc, "250 2.0.0 saved\r\n")
				}
			case cmd == "QUIT":
				io.WriteString(nc, "221 bye\r\n")
				return
			default:
				io.WriteString(nc, "250 ok\r\n")
			}
		}
	}()
	return func() { ln.Close() }
}
