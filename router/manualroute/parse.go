package manualroute

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/router/dnslookup"
)

// HostItem is one item of a host list (Exim specification, section 20.5
// "Format of one host item").
type HostItem struct {
	// Name is the host name, "" when Addr is set.
	Name string
	// Addr is the host's IP address when the item is an address.
	Addr netip.Addr
	// Port overrides the transport's port; 0 means the transport's.
	Port int
	// MX makes the item stand for the MX hosts of Name ("name/MX").
	MX bool
	// Plus marks the "+" item: a boundary between groups of hosts that
	// are randomised separately. It has no other fields.
	Plus bool
}

// String returns the item in the form ParseHost reads.
func (h HostItem) String() string {
	if h.Plus {
		return "+"
	}
	var s string
	switch {
	case h.Addr.IsValid() && h.Port != 0:
		s = "[" + h.Addr.String() + "]"
	case h.Addr.IsValid():
		s = h.Addr.String()
	default:
		s = h.Name
		if h.MX {
			s += "/MX"
		}
	}
	if h.Port != 0 {
		s += ":" + strconv.Itoa(h.Port)
	}
	return s
}

// ParseHost parses one host item: "host", "host:port", "host/MX",
// "host/MX:port", an IPv4 or IPv6 address, "[address]" or
// "[address]:port", or "+". Here a single colon introduces the port: in a
// colon-separated list it is written doubled, which [ParseHosts] undoes.
func ParseHost(s string) (HostItem, error) {
	s = strings.TrimSpace(s)
	if s == "+" {
		return HostItem{Plus: true}, nil
	}
	if s == "" {
		return HostItem{}, errors.New("manualroute: empty host item")
	}
	bad := func(why string) (HostItem, error) {
		return HostItem{}, fmt.Errorf("manualroute: host item %q: %s", s, why)
	}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return bad("missing ]")
		}
		ip, err := netip.ParseAddr(s[1:end])
		if err != nil || ip.Zone() != "" {
			return bad("not an IP address in brackets")
		}
		h := HostItem{Addr: ip.Unmap()}
		rest := s[end+1:]
		if rest == "" {
			return h, nil
		}
		if rest[0] != ':' {
			return bad("unexpected text after ]")
		}
		p, err := parsePort(rest[1:])
		if err != nil {
			return bad(err.Error())
		}
		h.Port = p
		return h, nil
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		if ip.Zone() != "" {
			return bad("IPv6 zones are not allowed")
		}
		return HostItem{Addr: ip.Unmap()}, nil
	}
	h := HostItem{}
	name := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		p, err := parsePort(s[i+1:])
		if err != nil {
			return bad(err.Error())
		}
		h.Port = p
		name = s[:i]
	}
	if len(name) > 3 && strings.EqualFold(name[len(name)-3:], "/mx") {
		h.MX = true
		name = name[:len(name)-3]
	}
	name = strings.TrimSuffix(name, ".")
	if _, err := netip.ParseAddr(name); err == nil {
		if h.MX {
			return bad("/MX needs a host name")
		}
		return bad("an IP address with a port must be in brackets")
	}
	if !dnslookup.ValidDomain(name) {
		return bad("invalid host name")
	}
	h.Name = strings.ToLower(name)
	return h, nil
}

func parsePort(s string) (int, error) {
	if s == "" || len(s) > 5 {
		return 0, fmt.Errorf("invalid port %q", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("invalid port %q", s)
		}
	}
	p, _ := strconv.Atoi(s)
	if p < 1 || p > 65535 {
		return 0, fmt.Errorf("port %d out of range", p)
	}
	return p, nil
}

// ParseHosts parses a host list (section 20.4): items separated by
// colons, a port after a doubled colon ("host::25") or after a bracketed
// address ("[::1]:25" — in a colon list written "[::::1]::25", so change
// the separator: "<; [::1]:25 ; host:25"), "+" group boundaries.
func ParseHosts(s string) ([]HostItem, error) {
	var out []HostItem
	for _, it := range acl.SplitList(s) {
		if it == "" {
			continue
		}
		h, err := ParseHost(it)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// ParseRouteList parses Exim's route_list (section 20.2): routing rules
// separated by semicolons (";;" for a literal one, or another separator
// chosen with "<"), each "pattern hosts options" separated by white
// space, where the domain pattern and the host list may be enclosed in
// double quotes (with backslash escapes). The pattern is one domain list
// item, built with cfg. Empty rules are ignored.
func ParseRouteList(s string, cfg *acl.ListConfig) ([]Rule, error) {
	t := strings.TrimLeft(s, " \t\r\n")
	if !strings.HasPrefix(t, "<") {
		t = "<;" + t
	}
	var rules []Rule
	for _, item := range acl.SplitList(t) {
		words, err := splitWords(item)
		if err != nil {
			return nil, fmt.Errorf("manualroute: rule %q: %w", item, err)
		}
		if len(words) == 0 {
			continue
		}
		dl, err := acl.NewDomainList(cfg, acl.Item{Pattern: words[0]})
		if err != nil {
			return nil, fmt.Errorf("manualroute: rule %q: %w", item, err)
		}
		r, err := parseRuleData(words[1:])
		if err != nil {
			return nil, fmt.Errorf("manualroute: rule %q: %w", item, err)
		}
		r.Domains = dl
		r.Pattern = words[0]
		rules = append(rules, r)
	}
	return rules, nil
}

// ParseRouteData parses the value of route_data (section 20.3): a host
// list, optionally quoted, and options.
func ParseRouteData(s string) (Rule, error) {
	words, err := splitWords(s)
	if err != nil {
		return Rule{}, fmt.Errorf("manualroute: route data %q: %w", s, err)
	}
	r, err := parseRuleData(words)
	if err != nil {
		return Rule{}, fmt.Errorf("manualroute: route data %q: %w", s, err)
	}
	return r, nil
}

// parseRuleData reads the host list and the options of a rule.
func parseRuleData(words []string) (Rule, error) {
	var r Rule
	if len(words) == 0 {
		return r, nil
	}
	hosts, err := ParseHosts(words[0])
	if err != nil {
		return r, err
	}
	r.Hosts = hosts
	for _, w := range words[1:] {
		switch w {
		case "randomize":
			r.Randomize = Yes
		case "no_randomize":
			r.Randomize = No
		case "byname":
			r.ByName = true
		case "bydns":
			r.ByName = false
		case "ipv4_only":
			r.IPv4Only = true
		case "ipv4_prefer":
			r.IPv4Prefer = true
		default:
			if r.Transport != "" {
				return r, fmt.Errorf("unknown option %q (transport already %q)", w, r.Transport)
			}
			if !validTransportName(w) {
				return r, fmt.Errorf("invalid option or transport name %q", w)
			}
			r.Transport = w
		}
	}
	return r, nil
}

func validTransportName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// splitWords splits s at white space; a word may be a double-quoted
// string with backslash escapes (\\ \" \n \t and others kept literally).
func splitWords(s string) ([]string, error) {
	var out []string
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		if s[i] == '"' {
			var b strings.Builder
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '"' {
					closed = true
					i++
					break
				}
				if c == '\\' && i+1 < len(s) {
					i++
					switch s[i] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					default:
						b.WriteByte(s[i])
					}
					i++
					continue
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return nil, errors.New("unterminated quoted string")
			}
			if i < len(s) && !isSpace(s[i]) {
				return nil, errors.New("text after a quoted string")
			}
			out = append(out, b.String())
			continue
		}
		j := i
		for j < len(s) && !isSpace(s[j]) {
			j++
		}
		out = append(out, s[i:j])
		i = j
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
