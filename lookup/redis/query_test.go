package redis_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/lookup"
	"github.com/exigo-mta/exigo/lookup/redis"
)

func TestSplitQuery(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{" \t\r\n\v\f", nil},
		{"GET key", []string{"GET", "key"}},
		{"  HGET\tkey \n field  ", []string{"HGET", "key", "field"}},
		{`GET my\ key`, []string{"GET", "my key"}},
		{`GET a\\b`, []string{"GET", `a\b`}},
		{`GET \a\b`, []string{"GET", "ab"}},
		{"GET a\\\tb", []string{"GET", "a\tb"}},
		{`GET \ `, []string{"GET", " "}},
		{`GET \\`, []string{"GET", `\`}},
		{`GET key\`, []string{"GET", "key"}},
		{`GET \`, []string{"GET"}},
		{"SET k caf\xc3\xa9\x00", []string{"SET", "k", "caf\xc3\xa9\x00"}},
	} {
		if got := redis.SplitQuery(tt.in); fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
			t.Errorf("SplitQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":            "",
		"plain":       "plain",
		"a b":         `a\ b`,
		`a\b`:         `a\\b`,
		"t\tn\nr\r":   "t\\\tn\\\nr\\\r",
		"v\vf\f":      "v\\\vf\\\f",
		"user@ex.com": "user@ex.com",
	} {
		if got := redis.Quote(in); got != want {
			t.Errorf("Quote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseServer(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]redis.Server{
		"127.0.0.1/10/":                     {Host: "127.0.0.1", Port: 6379, DB: 10},
		"127.0.0.1//password":               {Host: "127.0.0.1", Port: 6379, Password: "password"},
		"127.0.0.1//":                       {Host: "127.0.0.1", Port: 6379},
		"redis.example:6380/2/pw":           {Host: "redis.example", Port: 6380, DB: 2, Password: "pw"},
		"redis.example":                     {Host: "redis.example", Port: 6379},
		"redis.example:7000":                {Host: "redis.example", Port: 7000},
		"redis.example/3":                   {Host: "redis.example", Port: 6379, DB: 3},
		"h//pass/with/slashes":              {Host: "h", Port: 6379, Password: "pass/with/slashes"},
		"[::1]:6390/1/":                     {Host: "::1", Port: 6390, DB: 1},
		"[::1]/1/":                          {Host: "::1", Port: 6379, DB: 1},
		"::1/1/":                            {Host: "::1", Port: 6379, DB: 1},
		"local(/run/redis/redis.sock)/4/pw": {Host: "local", Port: 6379, Socket: "/run/redis/redis.sock", DB: 4, Password: "pw"},
		"(/tmp/r.sock)":                     {Port: 6379, Socket: "/tmp/r.sock"},
	} {
		got, err := redis.ParseServer(in)
		if err != nil || got != want {
			t.Errorf("ParseServer(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":               `"": no host`,
		"/1/pw":          `"/1/xxxxx": no host`,
		"h:0/1/":         `"h:0/1/": bad port "0"`,
		"h:x/1/":         `"h:x/1/": bad port "x"`,
		"h/x/pw":         `"h/x/xxxxx": database "x" is not a number`,
		"h/-1/":          `"h/-1/": database "-1" is not a number`,
		"h(/tmp/s/0/":    `"h(/tmp/xxxxx": unterminated socket path`,
		"h()/0/":         `"h()/0/": empty socket path`,
		"h(/s)x/0/":      `"h(/s)x/0/": text after the socket path`,
		"h(/s)/0/secret": `"h(/s)/0/xxxxx": `,
		"[::1:6379/0/":   `"[::1:6379/0/": bad address "[::1:6379"`,
		"bad host/0/":    `"bad host/0/": bad host "bad host"`,
	} {
		_, err := redis.ParseServer(in)
		if !errors.Is(err, redis.ErrBadServer) || !strings.HasPrefix(err.Error(), "lookup/redis: bad server item "+want) {
			if in == "h(/s)/0/secret" && err == nil {
				continue // valid; only its String matters
			}
			t.Errorf("ParseServer(%q): %v; want %s", in, err, want)
		}
	}
	s, _ := redis.ParseServer("h(/s)/0/secret")
	if got := s.String(); got != "h(/s)/0" {
		t.Errorf("String() = %q", got)
	}
	s, _ = redis.ParseServer("::1/2/secret")
	if got := s.String(); got != "[::1]:6379/2" {
		t.Errorf("String() = %q", got)
	}
}

// FuzzSplitQuery: splitting never panics nor gives empty arguments, and
// quoting the arguments and joining them with a space gives a query that
// splits into the same arguments.
func FuzzSplitQuery(f *testing.F) {
	for _, s := range []string{"", "GET key", `GET my\ key`, `a\\ b\`, "\\\t\\\n x", " \v\f\r", "SMEMBERS relay_from_ips", "\\", "a\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		args := redis.SplitQuery(q)
		quoted := make([]string, len(args))
		for i, a := range args {
			if a == "" {
				t.Fatalf("SplitQuery(%q) gave an empty argument: %q", q, args)
			}
			quoted[i] = redis.Quote(a)
		}
		again := redis.SplitQuery(strings.Join(quoted, " "))
		if fmt.Sprintf("%q", again) != fmt.Sprintf("%q", args) {
			t.Fatalf("SplitQuery(%q) = %q; quoted and split again: %q", q, args, again)
		}
		// Quoting a whole string makes one argument of it.
		if q != "" {
			if got := redis.SplitQuery(redis.Quote(q)); len(got) != 1 || got[0] != q {
				t.Fatalf("SplitQuery(Quote(%q)) = %q", q, got)
			}
		}
	})
}

// FuzzParseServer: no panic; a parsed item prints without its password.
func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"127.0.0.1/10/", "h:6380/2/pw", "[::1]:1/0/x", "h(/s)/0/p", "::1", "(", "h(/a/b)/", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		srv, err := redis.ParseServer(s)
		if err != nil {
			return
		}
		if srv.Port < 1 || srv.Port > 65535 || srv.DB < 0 || (srv.Host == "" && srv.Socket == "") {
			t.Fatalf("ParseServer(%q) = %+v", s, srv)
		}
		// String never depends on the password (a substring test would
		// flag a password such as "0000" that happens to be part of the
		// database number).
		noPW := srv
		noPW.Password = ""
		if srv.String() != noPW.String() {
			t.Fatalf("String() %q shows the password (without it: %q)", srv.String(), noPW.String())
		}
	})
}

// TestServerList: Exim's redis_servers lists, split with acl.SplitList.
func TestServerList(t *testing.T) {
	t.Parallel()
	for _, list := range []string{"127.0.0.1::6379/0/ : 10.0.0.2::6380/1/pw", "<; 127.0.0.1:6379/0/ ; 10.0.0.2:6380/1/pw"} {
		var got []string
		for _, item := range acl.SplitList(list) {
			s, err := redis.ParseServer(item)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, s.String()+" "+s.Password)
		}
		if want := `["127.0.0.1:6379/0 " "10.0.0.2:6380/1 pw"]`; fmt.Sprintf("%q", got) != want {
			t.Errorf("%q: %q, want %s", list, got, want)
		}
	}
}

// The Lookup quotes values put into its queries by lists (package acl).
var _ lookup.Quoter = (*redis.Lookup)(nil)
