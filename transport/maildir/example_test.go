package maildir_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/transport"
	"github.com/exigo-mta/exigo/transport/maildir"
)

func Example() {
	dataDir, _ := os.MkdirTemp("", "maildir-example")
	defer os.RemoveAll(dataDir)

	tr := &maildir.Transport{Path: func(r *exigo.Recipient) (string, error) {
		local, _ := exigo.SplitAddress(r.Address)
		return filepath.Join(dataDir, "mail", local, "Maildir"), nil
	}}
	m := &exigo.Message{Body: exigo.OpenerFunc(func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("Hello.\n")), nil
	})}
	m.Header.Add("Subject", "greetings")
	d := &transport.Delivery{
		Message:    m,
		ReturnPath: "sender@example.org",
		Recipients: []*exigo.Recipient{{Address: "alice@example.com"}},
	}
	st := transport.StatusMap{}
	if err := tr.Deliver(context.Background(), d, st); err != nil {
		fmt.Println(err)
		return
	}
	res := st[d.Recipients[0]]
	file := strings.TrimPrefix(res.Reply, "saved as ")
	b, _ := os.ReadFile(filepath.Join(dataDir, "mail", "alice", "Maildir", file))
	fmt.Print(string(b))
	// Output:
	// Return-Path: <sender@example.org>
	// Delivered-To: alice@example.com
	// Subject: greetings
	//
	// Hello.
}
