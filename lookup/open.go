package lookup

import (
	"context"
	"fmt"
	"strings"
)

// Open returns the lookup that Exim writes as "kind;arg" (or
// "${lookup{key}kind{arg}}"): kind is one of lsearch, wildlsearch,
// nwildlsearch, iplsearch and dsearch, optionally followed by
// comma-separated options: "ret=key" (all types: the result is the key),
// "ret=full" and "filter=file|dir|subdir" (dsearch) and "cache=no_rd"
// (accepted and ignored here: see [Spec.NoCacheRead] and [Cache]). opts
// apply to the file types. The prefixes and suffixes of Exim's lookup
// types ("partial-", "*", "*@") are not part of kind: [Spec] and
// [Registry] implement them over the Lookup that Open returns, and the
// "net-" prefix of host lists belongs to package acl.
//
// Open's signature fits acl.ListConfig.OpenLookup. Unlike Exim, which
// ignores options it does not know, Open rejects them.
func Open(kind, arg string, opts ...Option) (Lookup, error) {
	name, optText, _ := strings.Cut(kind, ",")
	name = strings.TrimSpace(name)
	var (
		retKey, retFull bool
		filter          EntryType
		filterSet       bool
	)
	if optText != "" {
		for _, o := range strings.Split(optText, ",") {
			o = strings.TrimSpace(o)
			k, v, _ := strings.Cut(o, "=")
			switch {
			case o == "":
			case k == "cache" && v == "no_rd":
			case k == "ret" && v == "key":
				retKey = true
			case k == "ret" && v == "full" && name == "dsearch":
				retFull = true
			case k == "filter" && name == "dsearch":
				switch v {
				case "file":
					filter = FileEntry
				case "dir":
					filter = DirEntry
				case "subdir":
					filter = SubdirEntry
				default:
					return nil, fmt.Errorf("lookup: %s: bad option %q", name, o)
				}
				filterSet = true
			default:
				return nil, fmt.Errorf("lookup: %s: %w: option %q", name, ErrUnsupported, o)
			}
		}
	}
	var l Lookup
	switch name {
	case "lsearch":
		l = LSearch(arg, opts...)
	case "wildlsearch":
		l = WildLSearch(arg, opts...)
	case "nwildlsearch":
		l = NWildLSearch(arg, opts...)
	case "iplsearch":
		l = IPLSearch(arg, opts...)
	case "dsearch":
		var do []DSearchOption
		if retFull {
			do = append(do, ReturnFull())
		}
		if filterSet {
			do = append(do, Filter(filter))
		}
		l = DSearch(arg, do...)
	default:
		return nil, fmt.Errorf("lookup: %w: lookup type %q", ErrUnsupported, name)
	}
	if retKey {
		l = retKeyLookup{l}
	}
	return l, nil
}

// retKeyLookup implements ret=key: a found key is its own result.
type retKeyLookup struct{ l Lookup }

func (r retKeyLookup) Lookup(ctx context.Context, key string) (string, bool, error) {
	_, ok, err := r.l.Lookup(ctx, key)
	if !ok || err != nil {
		return "", ok, err
	}
	return key, true, nil
}
