package redirect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/router"
)

// Errors of [Router.Route]; the chain defers the address on them.
var (
	// ErrNotAllowed: the data holds :fail:, :defer: or :blackhole: and
	// the router does not allow it.
	ErrNotAllowed = errors.New("redirect: item not permitted")
	// ErrUnsupported: the data holds a pipe, a file or an :include:,
	// which this router does not deliver to.
	ErrUnsupported = errors.New("redirect: item not supported")
)

// Source returns the redirection data for an address; "" (or only white
// space) makes the router decline. An error defers the address.
type Source func(ctx context.Context, a *router.Address) (string, error)

// ByLocalPart returns a source that looks the local part up in l (Exim's
// data = ${lookup{$local_part}...}); the local part is in lower case
// unless the chain entry sets CasefulLocalPart.
func ByLocalPart(l lookup.Lookup) Source {
	return func(ctx context.Context, a *router.Address) (string, error) {
		v, _, err := l.Lookup(ctx, a.LocalPart)
		return v, err
	}
}

// ByAddress returns a source that looks the whole address,
// "localpart@domain", up in l.
func ByAddress(l lookup.Lookup) Source {
	return func(ctx context.Context, a *router.Address) (string, error) {
		v, _, err := l.Lookup(ctx, a.LocalPart+"@"+a.Domain)
		return v, err
	}
}

// Router is Exim's redirect router for non-filter data (Exim
// specification, chapter 22): it replaces the address by the addresses
// its data lists, fails or defers it (:fail:, :defer:), discards it
// (:blackhole:) or declines (:unknown:, empty data). The data syntax is
// described at [Parse]. A Router is safe for concurrent use when its
// Source is.
type Router struct {
	// Data gives the redirection data; required.
	Data Source
	// AllowFail permits :fail: (allow_fail); AllowDefer permits :defer:
	// (allow_defer). When not permitted, the item is an error.
	AllowFail, AllowDefer bool
	// ForbidBlackhole makes :blackhole: an error (forbid_blackhole).
	ForbidBlackhole bool
	// ForbidSMTPCode ignores an SMTP code at the start of a :fail: or
	// :defer: text (forbid_smtp_code).
	ForbidSMTPCode bool
	// Qualify is the domain added to unqualified addresses; "" means the
	// domain of the address being redirected (Exim's
	// qualify_preserve_domain). Addresses written "\local" always get
	// the incoming domain.
	Qualify string
	// SkipSyntaxErrors skips malformed items, logging them, instead of
	// deferring the address (skip_syntax_errors).
	SkipSyntaxErrors bool
	// Logger receives skipped syntax errors (Warn) and decisions
	// (Debug); nil discards.
	Logger *slog.Logger
}

func (r *Router) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return discardLogger
}

var discardLogger = slog.New(slog.DiscardHandler)

// Route implements [router.Router]. Children are made with
// (*exigo.Recipient).Child, so they link to the redirected address and
// inherit its attributes; the chain routes them from its top (or the
// entry's RedirectRouter) and applies loop detection.
func (r *Router) Route(ctx context.Context, a *router.Address) (router.Result, error) {
	if r.Data == nil {
		return router.Result{}, errors.New("redirect: no data source")
	}
	data, err := r.Data(ctx, a)
	if err != nil {
		return router.Result{}, fmt.Errorf("redirect: looking up data: %w", err)
	}
	if strings.TrimSpace(data) == "" {
		return router.Declined(), nil
	}
	items, err := r.parse(data)
	if err != nil {
		return router.Result{}, fmt.Errorf("error in redirect data: %w", err)
	}
	blackhole := false
	var addrs []string
	for _, it := range items {
		switch it.Kind {
		case KindFail:
			if !r.AllowFail {
				return router.Result{}, fmt.Errorf("%w: :fail: (allow_fail is not set)", ErrNotAllowed)
			}
			return router.Result{Outcome: router.Fail, Reply: r.reply(550, it.Value)}, nil
		case KindDefer:
			if !r.AllowDefer {
				return router.Result{}, fmt.Errorf("%w: :defer: (allow_defer is not set)", ErrNotAllowed)
			}
			return router.Result{Outcome: router.Defer, Reply: r.reply(451, it.Value)}, nil
		case KindUnknown:
			return router.Declined(), nil
		case KindBlackhole:
			if r.ForbidBlackhole {
				return router.Result{}, fmt.Errorf("%w: :blackhole: (forbid_blackhole is set)", ErrNotAllowed)
			}
			blackhole = true
		case KindPipe, KindFile, KindInclude:
			return router.Result{}, fmt.Errorf("%w: %s %q", ErrUnsupported, it.Kind, it.Value)
		case KindAddress:
			addr := it.Value
			if strings.IndexByte(addr, '@') < 0 {
				dom := r.Qualify
				if dom == "" || it.NoRedirect {
					dom = a.Domain
				}
				addr += "@" + dom
			}
			addrs = append(addrs, addr)
		}
	}
	if blackhole {
		return router.Result{Outcome: router.Discard}, nil
	}
	if len(addrs) == 0 {
		return router.Declined(), nil
	}
	children := make([]*exigo.Recipient, len(addrs))
	for i, addr := range addrs {
		children[i] = a.Recipient.Child(addr)
	}
	r.logger().Debug("redirect: generated", "address", a.Recipient.Address, "children", addrs)
	return router.Redirected(children...), nil
}

// parse parses data, skipping malformed items when asked.
func (r *Router) parse(data string) ([]Item, error) {
	if !r.SkipSyntaxErrors {
		return Parse(data)
	}
	return parse(data, func(err error) {
		r.logger().Warn("redirect: syntax error skipped", "err", err)
	})
}

// reply builds the reply for :fail: (code 550) or :defer: (451). A text
// starting with a reply code of the same class, and optionally an
// enhanced code, uses them (unless ForbidSMTPCode is set).
func (r *Router) reply(code int, text string) *exigo.SMTPError {
	e := &exigo.SMTPError{Code: code, Message: text}
	if r.ForbidSMTPCode || len(text) < 4 || text[3] != ' ' || !isDigits(text[:3]) || int(text[0]-'0') != code/100 {
		return e
	}
	e.Code, _ = strconv.Atoi(text[:3])
	rest := strings.TrimLeft(text[4:], " ")
	if sp := strings.IndexByte(rest, ' '); sp > 0 {
		if ec, ok := parseEnhanced(rest[:sp], code/100); ok {
			e.Enhanced = ec
			rest = strings.TrimLeft(rest[sp+1:], " ")
		}
	}
	e.Message = rest
	return e
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseEnhanced parses "c.n.n" with c the reply class.
func parseEnhanced(s string, class int) (exigo.EnhancedCode, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return exigo.EnhancedCode{}, false
	}
	var ec exigo.EnhancedCode
	for i, p := range parts {
		if !isDigits(p) || len(p) > 3 {
			return exigo.EnhancedCode{}, false
		}
		ec[i], _ = strconv.Atoi(p)
	}
	if ec[0] != class {
		return exigo.EnhancedCode{}, false
	}
	return ec, true
}
