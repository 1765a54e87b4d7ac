package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/queue"
	"github.com/exigo-mta/exigo/router"
	"github.com/exigo-mta/exigo/router/redirect"
	"github.com/exigo-mta/exigo/srs"
	"github.com/exigo-mta/exigo/transport"
	"github.com/exigo-mta/exigo/transport/smtp"
)

// Forwarding: aliases (-aliases) and the Sender Rewriting Scheme
// (-srs-secret), wired as in Exim's sample SRS configuration:
//
//   - routers inbound_srs and inbound_srs_failure (bounces to SRS
//     addresses of the local domains go to the original sender; invalid
//     ones fail with "Invalid SRS recipient address"), then aliases (a
//     redirect router over the lsearch file, for the local domains), in
//     front of the local delivery router;
//   - addresses a redirection made that route to the remote transport go
//     to remote_smtp_srs instead: the smtp transport with max_rcpt 1
//     whose return path is ${srs_encode {SECRET}{$return_path}{DOMAIN}},
//     DOMAIN being -srs-domain or, by default, the domain of the address
//     that was forwarded (Exim's $original_domain), which is always one of
//     the local domains;
//   - at RCPT time, a bounce to an SRS local part of a local domain that
//     does not verify is refused with 550 5.1.1 "Invalid SRS recipient
//     address" (the two SRS routers run in verify mode), so forged
//     bounces are never accepted, even from the relay-from hosts; one
//     that verifies is accepted (whatever bytes its local part holds).
//
// As in Exim's sample, mail with a non-null sender to an SRS-looking
// local part is not treated specially: it is delivered like any other
// local part.

// srsTransport is the transport for forwarded mail when SRS is on.
const srsTransport = "remote_smtp_srs"

// forwardConfig holds the forwarding flags.
type forwardConfig struct {
	aliases   string
	srsSecret string
	srsDomain string
	srsScheme string
}

// register defines the forwarding flags on fs.
func (f *forwardConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&f.aliases, "aliases", "", "lsearch `file` of \"local-part: address, ...\" lines redirecting local parts of the local domains\n(remote addresses are forwarded; :fail: text and :blackhole: work as in Exim)")
	fs.StringVar(&f.srsSecret, "srs-secret", "", "turn SRS on with this `secret`: forwarded mail leaves with an SRS0 return path; bounces (sender <>)\nto valid SRS addresses of the local domains go back to the original sender, invalid ones are refused")
	fs.StringVar(&f.srsDomain, "srs-domain", "", "`domain` of the SRS return paths, one of the local domains (default: the domain of the forwarded address)")
	fs.StringVar(&f.srsScheme, "srs-scheme", "native", "SRS `flavour`: native (Exim's built-in SRS, HMAC-MD5, nests SRS0) or full (libsrs2/postsrsd, HMAC-SHA1, SRS1)")
}

// forwarding is what the forwarding flags add to the MTA.
type forwarding struct {
	aliases *lookup.File // nil without -aliases
	scheme  srs.Scheme   // nil without -srs-secret
	local   *acl.DomainList
	logger  *slog.Logger
}

// newForwarding checks the forwarding flags and loads the aliases file.
func newForwarding(cfg config, local *acl.DomainList, logger *slog.Logger) (*forwarding, error) {
	f := &forwarding{local: local, logger: logger}
	if cfg.fwd.aliases != "" {
		f.aliases = lookup.LSearch(cfg.fwd.aliases)
		if err := f.aliases.Load(context.Background()); err != nil {
			return nil, fmt.Errorf("aliases: %w", err)
		}
	}
	var err error
	f.scheme, err = f.newScheme(cfg.fwd)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// newScheme returns the SRS scheme the flags ask for, nil when SRS is
// off.
func (f *forwarding) newScheme(fc forwardConfig) (srs.Scheme, error) {
	if fc.srsSecret == "" {
		if fc.srsDomain != "" {
			return nil, errors.New("-srs-domain needs -srs-secret")
		}
		return nil, nil
	}
	var scheme srs.Scheme
	switch fc.srsScheme {
	case "native", "":
		scheme = srs.Native{Secret: fc.srsSecret}
	case "full":
		scheme = &srs.SRS{Secrets: []string{fc.srsSecret}}
	default:
		return nil, fmt.Errorf("-srs-scheme %q: want native or full", fc.srsScheme)
	}
	if fc.srsDomain != "" {
		if !f.isLocal(fc.srsDomain) {
			return nil, fmt.Errorf("-srs-domain %q is not one of the local domains: bounces to it would not come back", fc.srsDomain)
		}
		scheme = fixedDomain{Scheme: scheme, domain: fc.srsDomain}
	}
	return scheme, nil
}

// isLocal reports whether domain is one of the local domains.
func (f *forwarding) isLocal(domain string) bool {
	ok, _, err := f.local.Match(context.Background(), domain)
	return err == nil && ok
}

// routers returns the chain entries to put in front of entries (the
// local delivery and remote routers): the SRS routers and the aliases.
// With SRS on, every router of the result sends the remote addresses a
// redirection made to remote_smtp_srs.
func (f *forwarding) routers(entries []router.Entry) []router.Entry {
	var out []router.Entry
	if f.scheme != nil {
		out = append(out, f.srsEntries()...)
	}
	if f.aliases != nil {
		out = append(out, router.Entry{
			Name:    "aliases",
			Router:  &redirect.Router{Data: redirect.ByLocalPart(f.aliases), AllowFail: true, AllowDefer: true, Logger: f.logger},
			Domains: f.local,
		})
	}
	out = append(out, entries...)
	if f.scheme != nil {
		for i := range out {
			out[i].Router = forwarded(out[i].Router)
		}
	}
	return out
}

// srsEntries are the routers of Exim's sample: inbound_srs and
// inbound_srs_failure, for bounces to the local domains.
func (f *forwarding) srsEntries() []router.Entry {
	return []router.Entry{
		{Name: "inbound_srs", Router: &srs.Router{Scheme: f.scheme, Domains: f.isLocal}},
		{Name: "inbound_srs_failure", Router: &srs.FailRouter{Domains: f.isLocal}},
	}
}

// forwarded wraps r so that a remote delivery of a generated address (a
// forward) uses remote_smtp_srs.
func forwarded(r router.Router) router.Router {
	return router.RouterFunc(func(ctx context.Context, a *router.Address) (router.Result, error) {
		res, err := r.Route(ctx, a)
		if err == nil && res.Outcome == router.Accept && res.Transport == remoteTransport && a.Parent() != nil {
			res.Transport = srsTransport
		}
		return res, err
	})
}

// addTransports adds remote_smtp_srs to ts when SRS is on: like
// remote_smtp, with one recipient per transaction (the sample's
// max_rcpt = 1) and the return path rewritten.
func (f *forwarding) addTransports(ts map[string]transport.Transport, cfg config) {
	if f.scheme == nil {
		return
	}
	inner := &smtp.Transport{
		Hostname:       cfg.hostname,
		Logger:         f.logger,
		MaxIdlePerHost: cmp.Or(cfg.parallelism, queue.DefaultParallelism),
		MaxRcpt:        1,
	}
	ts[srsTransport] = srsSMTP{Transport: srs.ReturnPath(inner, f.scheme, nil), inner: inner}
}

// srsSMTP is remote_smtp_srs; Close ends the idle connections of the
// smtp transport inside.
type srsSMTP struct {
	transport.Transport
	inner *smtp.Transport
}

func (s srsSMTP) Close() error { return s.inner.Close() }

// srsRCPTRules returns the RCPT ACL rules refusing bounces to SRS
// addresses of the local domains that do not verify (none with SRS off).
// They go first, before the relay-from hosts are accepted: a forged bounce
// is refused whoever sends it.
func srsRCPTRules(cfg config, logger *slog.Logger) (acl.List, error) {
	local, err := acl.NewDomainList(nil, items(cfg.localDomains)...)
	if err != nil {
		return nil, fmt.Errorf("local-domains: %w", err)
	}
	f := &forwarding{local: local, logger: logger}
	if f.scheme, err = f.newScheme(cfg.fwd); err != nil {
		return nil, err
	}
	return f.rcptRules()
}

func (f *forwarding) rcptRules() (acl.List, error) {
	if f.scheme == nil {
		return nil, nil
	}
	entries := append(f.srsEntries(), router.Entry{
		Name:   "other",
		Router: router.RouterFunc(func(context.Context, *router.Address) (router.Result, error) { return router.Accepted(""), nil }),
	})
	chain, err := router.NewChain(entries, router.WithLogger(f.logger))
	if err != nil {
		return nil, err
	}
	srsLocal, err := acl.NewLocalPartList(nil, acl.Item{Pattern: `^(?i)srs[01][-=+]`})
	if err != nil {
		return nil, err
	}
	bounce := acl.ConditionFunc(func(_ context.Context, tx *acl.Tx) (bool, error) {
		return tx.Message != nil && tx.Message.Envelope.Sender == "", nil
	})
	return acl.List{
		// The text is the failing router's; the enhanced code says the
		// mailbox does not exist (the ACL's default for deny is 5.7.1).
		{Verb: acl.Deny, Message: "550 5.1.1 " + srs.InvalidText, Conditions: []acl.Condition{
			acl.Domains(f.local), acl.LocalParts(srsLocal), acl.Not(acl.VerifyRecipient(chain)),
		}},
		// A bounce to a valid SRS address is accepted before the check
		// for restricted characters in local parts: full SRS hashes are
		// base64, with '/' and '+'.
		{Verb: acl.Accept, Conditions: []acl.Condition{acl.Domains(f.local), acl.LocalParts(srsLocal), bounce}},
	}, nil
}

// fixedDomain is a scheme that forwards through one domain (-srs-domain)
// whatever the forwarded address's domain.
type fixedDomain struct {
	srs.Scheme
	domain string
}

func (f fixedDomain) Forward(ctx context.Context, sender, _ string, now time.Time) (string, error) {
	return f.Scheme.Forward(ctx, sender, f.domain, now)
}
