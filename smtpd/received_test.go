package smtpd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
)

func TestRcvHost(t *testing.T) {
	t.Parallel()
	ap := netip.MustParseAddrPort("192.0.2.1:4567")
	ap6 := netip.MustParseAddrPort("[2001:db8::1]:25")
	mapped := netip.AddrPortFrom(netip.MustParseAddr("::ffff:192.0.2.1"), 25)
	for _, tc := range []struct {
		s    exigo.Session
		want string
	}{
		{exigo.Session{RemoteAddr: ap}, "[192.0.2.1]"},
		{exigo.Session{RemoteAddr: ap, HELO: "client.example"}, "[192.0.2.1] (helo=client.example)"},
		{exigo.Session{RemoteAddr: ap, HELO: "client.example", Ident: "root"}, "[192.0.2.1] (helo=client.example ident=root)"},
		{exigo.Session{RemoteAddr: ap, Ident: "root"}, "[192.0.2.1] (ident=root)"},
		{exigo.Session{RemoteAddr: ap, HELO: "[192.0.2.1]"}, "[192.0.2.1]"},
		{exigo.Session{RemoteAddr: ap, HELO: "[192.0.2.2]"}, "[192.0.2.1] (helo=[192.0.2.2])"},
		{exigo.Session{RemoteAddr: mapped, HELO: "[IPv4:192.0.2.1]"}, "[192.0.2.1]"},
		{exigo.Session{RemoteAddr: ap6, HELO: "[IPv6:2001:DB8:0::1]"}, "[2001:db8::1]"},
		{exigo.Session{RemoteAddr: ap6, HELO: "x"}, "[2001:db8::1] (helo=x)"},
		{exigo.Session{RemoteAddr: ap, HostName: "mail.example", HELO: "MAIL.example"}, "mail.example ([192.0.2.1])"},
		{exigo.Session{RemoteAddr: ap, HostName: "mail.example", HELO: "other.example"}, "mail.example ([192.0.2.1] helo=other.example)"},
		{exigo.Session{RemoteAddr: ap, HostName: "mail.example", HELO: "other.example", Ident: "u"}, "mail.example\n\t([192.0.2.1] helo=other.example ident=u)"},
		{exigo.Session{RemoteAddr: ap, HostName: "mail.example", Ident: "u"}, "mail.example ([192.0.2.1] ident=u)"},
		{exigo.Session{RemoteAddr: ap, HostName: "mail.example"}, "mail.example ([192.0.2.1])"},
		{exigo.Session{RemoteAddr: ap, HELO: "bad\nhelo"}, "[192.0.2.1] (helo=bad?helo)"},
		{exigo.Session{HELO: "x"}, ""},
	} {
		if got := rcvHost(&tc.s); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
}

func TestReceivedField(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 1, 9, 5, 6, 0, time.FixedZone("", -5*3600))
	// The TLS form is the one Exim 4.96 writes (observed), with exigo's
	// product name and the IANA suite name.
	s := &exigo.Session{
		RemoteAddr: netip.MustParseAddrPort("127.0.0.1:41968"),
		HELO:       "client.example",
		ESMTP:      true,
		TLS:        &exigo.TLSInfo{Version: "TLS1.3", Cipher: "TLS1.3:TLS_AES_256_GCM_SHA384:256"},
	}
	want := "Received: from [127.0.0.1] (helo=client.example)\n" +
		"\tby test.example with esmtps  (TLS1.3) tls TLS_AES_256_GCM_SHA384\n" +
		"\t(exigo)\n" +
		"\t(envelope-from <s@x.example>)\n" +
		"\tid 1xUm5r-0001zn-25\n" +
		"\tfor a@b.example;\n" +
		"\tSun, 01 Nov 2026 09:05:06 -0500\n"
	if got := receivedField("test.example", s, "s@x.example", "1xUm5r-0001zn-25", "a@b.example", at); got != want {
		t.Errorf("TLS:\n%s\nwant\n%s", got, want)
	}
	s = &exigo.Session{HELO: "client.example", Ident: "root", AuthID: "user"}
	want = "Received: from root (helo=client.example)\n" +
		"\tby test.example with smtpa (exigo)\n" +
		"\tid 1xUm5r-0001zn-25;\n" +
		"\tSun, 01 Nov 2026 09:05:06 -0500\n"
	if got := receivedField("test.example", s, "", "1xUm5r-0001zn-25", "", at); got != want {
		t.Errorf("no address:\n%s\nwant\n%s", got, want)
	}
}
