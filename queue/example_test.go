package queue_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/queue"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/spool"
	"github.com/exigo-mta/exigo/transport"
)

// Deliver a spooled message: a router chain sends every address to a
// transport named "local", here a function that prints what it gets; a
// queue run delivers the message and removes it from the spool.
func Example() {
	dir, err := os.MkdirTemp("", "queue-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	sp, err := spool.Open(dir)
	if err != nil {
		log.Fatal(err)
	}

	// Spool a message, as smtpd does on receipt.
	d, err := sp.Create(ctx)
	if err != nil {
		log.Fatal(err)
	}
	io.WriteString(d, "Hello Bob.\n")
	m := &exigo.Message{ID: d.ID(), Received: time.Now()}
	m.Envelope.Sender = "alice@example.org"
	m.Envelope.AddRecipient("bob@example.com")
	m.Envelope.AddRecipient("carol@example.com")
	var h textproto.Header
	h.AddRaw([]byte("Subject: hi\n"))
	m.Header = h
	if err := d.Commit(ctx, m); err != nil {
		log.Fatal(err)
	}

	chain, err := router.NewChain([]router.Entry{{Name: "local_user", Router: router.AcceptTo("local")}})
	if err != nil {
		log.Fatal(err)
	}
	rules, err := queue.ParseRetryRules("* * F,2h,15m; G,16h,1h,1.5; F,4d,6h")
	if err != nil {
		log.Fatal(err)
	}
	e := &queue.Engine{
		Spool:  sp,
		Router: chain,
		Transports: map[string]transport.Transport{
			"local": transport.Func(func(ctx context.Context, d *transport.Delivery, st transport.Status) error {
				for _, r := range d.Recipients {
					fmt.Println("delivering to", r.Address)
					st.Set(r, transport.Result{})
				}
				return nil
			}),
		},
		RetryRules: rules,
	}
	st, err := e.RunOnce(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d message, %d delivered, %d completed\n", st.Messages, st.Delivered, st.Completed)
	ids, _ := sp.List(ctx)
	fmt.Println("left in the queue:", len(ids))
	// Output:
	// delivering to bob@example.com
	// delivering to carol@example.com
	// 1 message, 2 delivered, 1 completed
	// left in the queue: 0
}
