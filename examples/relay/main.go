// Command relay is the smallest useful assembly of exigo's packages: an
// SMTP relay on 127.0.0.1:2525 that spools in Exim format and forwards
// everything to a smarthost. The README shows it.
package main

import (
	"context"
	"log"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/queue"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/router/manualroute"
	"github.com/exigo-mta/exigo/smtpd"
	"github.com/exigo-mta/exigo/spool"
	"github.com/exigo-mta/exigo/transport"
	"github.com/exigo-mta/exigo/transport/smtp"
)

func main() {
	sp, err := spool.Open("relay-spool")
	must(err)
	smarthost, err := manualroute.Smarthost("smtp", "mail.example.net:587")
	must(err)
	chain, err := router.NewChain([]router.Entry{{Name: "smarthost", Router: smarthost}})
	must(err)
	engine := &queue.Engine{Spool: sp, Router: chain,
		Transports: map[string]transport.Transport{"smtp": &smtp.Transport{}}}
	localOnly := acl.Must(acl.ParseHostList("<; 127.0.0.1 ; ::1", nil))
	srv := &smtpd.Server{Store: smtpd.SpoolStore(sp),
		ACL:        smtpd.ACLs{Rcpt: acl.List{{Verb: acl.Accept, Conditions: []acl.Condition{acl.Hosts(localOnly)}}}},
		OnReceived: func(_ context.Context, m *exigo.Message) { engine.Kick(m.ID) }}
	go engine.Run(context.Background(), time.Minute) // retries deferred mail
	log.Fatal(srv.ListenAndServe("127.0.0.1:2525"))
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
