package spool_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/spool"
)

// Receive a message into the spool, then read it back as a queue runner
// would: lock it, record a delivery in the journal, fold the journal into
// the -H file, and list the queue like exim -bp.
func Example() {
	dir, err := os.MkdirTemp("", "spool-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := spool.Open(dir, spool.WithIDFormat(spool.IDShort), spool.WithOriginator("mail", 8, 8))
	if err != nil {
		log.Fatal(err)
	}
	d, err := s.Create(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Abort() // no-op after a successful Commit
	io.WriteString(d, "Hello Bob.\n")

	m := &exigo.Message{ID: d.ID(), Received: time.Now(), Stats: exigo.BodyStats{Lines: 1, MaxLineLength: 14}}
	m.Envelope.Sender = "alice@example.org"
	m.Envelope.AddRecipient("bob@example.com")
	m.Envelope.AddRecipient("carol@example.com").Notify = exigo.NotifyFailure
	var h textproto.Header
	h.Add("Subject", "hi")
	h.Add("From", "alice@example.org")
	m.Header = h
	if err := d.Commit(ctx, m); err != nil {
		log.Fatal(err)
	}

	lk, err := s.Lock(d.ID())
	if err != nil {
		log.Fatal(err)
	}
	if err := lk.AddDelivered("bob@example.com"); err != nil {
		log.Fatal(err)
	}
	e, err := lk.FoldJournal()
	if err != nil {
		log.Fatal(err)
	}
	lk.Unlock()
	fmt.Println("non-recipients:", e.NonRecipients)
	fmt.Println("subject:", e.Message.Header.Get("Subject"))

	var out strings.Builder
	e.WriteListing(&out, e.ReceivedTime())
	fmt.Print(strings.Replace(out.String(), d.ID(), "<id>", 1))
	// Output:
	// non-recipients: [bob@example.com]
	// subject: hi
	//  0m    48 <id> <alice@example.org>
	//         D bob@example.com
	//           carol@example.com
}
