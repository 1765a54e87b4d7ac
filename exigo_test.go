package exigo

import (
	"net/netip"
	"testing"
)

func TestAttrs(t *testing.T) {
	k1 := NewKey[int]("n")
	k2 := NewKey[int]("n") // same name, different key
	var a Attrs
	if _, ok := Get(&a, k1); ok {
		t.Fatal("zero Attrs has a value")
	}
	Set(&a, k1, 1)
	Set(&a, k2, 2)
	if v, ok := Get(&a, k1); !ok || v != 1 {
		t.Errorf("k1 = %d %v", v, ok)
	}
	if v, ok := Get(&a, k2); !ok || v != 2 {
		t.Errorf("k2 = %d %v", v, ok)
	}
	c := a.Clone()
	Set(&c, k1, 10)
	if v, _ := Get(&a, k1); v != 1 {
		t.Errorf("clone shares its map: %d", v)
	}
	Delete(&a, k1)
	if _, ok := Get(&a, k1); ok || a.Len() != 1 {
		t.Errorf("after Delete: len %d", a.Len())
	}
	if k1.String() != "n" {
		t.Errorf("String %q", k1.String())
	}
}

func TestRecipientChild(t *testing.T) {
	k := NewKey[string]("v")
	r := &Recipient{Address: "a@x", ORCPT: "rfc822;a@x", Notify: NotifyDelay}
	Set(&r.Attrs, k, "spam")
	c := r.Child("b@y").Child("c@z")
	if c.Root() != r || c.Parent.Parent != r || c.ORCPT != "rfc822;a@x" || c.Notify != NotifyDelay {
		t.Errorf("child %+v", c)
	}
	if v, _ := Get(&c.Attrs, k); v != "spam" {
		t.Errorf("inherited %q", v)
	}
	Set(&c.Attrs, k, "ham")
	if v, _ := Get(&r.Attrs, k); v != "spam" {
		t.Errorf("child changed its parent: %q", v)
	}
}

func TestSMTPError(t *testing.T) {
	cases := []struct {
		e    SMTPError
		want string
		temp bool
	}{
		{SMTPError{Code: 550, Enhanced: EnhancedCode{5, 1, 1}, Message: "no such user"}, "550 5.1.1 no such user", false},
		{SMTPError{Code: 451, Message: "try\nlater"}, "451 4.0.0 try later", true},
		{SMTPError{Code: 354}, "354", false},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want || c.e.Temporary() != c.temp {
			t.Errorf("%+v: %q %v, want %q %v", c.e, got, c.e.Temporary(), c.want, c.temp)
		}
	}
	if got := Errorf(421, EnhancedCode{4, 3, 2}, "%s shutting down", "mx").Error(); got != "421 4.3.2 mx shutting down" {
		t.Errorf("Errorf: %q", got)
	}
}

func TestNotifyAndRet(t *testing.T) {
	cases := map[Notify]string{
		0:                                        "",
		NotifyNever:                              "NEVER",
		NotifySuccess | NotifyFailure:            "SUCCESS,FAILURE",
		NotifyFailure | NotifyDelay | DSNLastHop: "FAILURE,DELAY",
	}
	for n, want := range cases {
		if got := n.String(); got != want {
			t.Errorf("Notify(%#x) = %q, want %q", uint8(n), got, want)
		}
	}
	if RetFull.String() != "FULL" || RetHdrs.String() != "HDRS" || RetUnset.String() != "" {
		t.Error("DSNRet strings")
	}
}

func TestSessionProtocol(t *testing.T) {
	cases := []struct {
		s    Session
		want string
	}{
		{Session{}, "smtp"},
		{Session{ESMTP: true}, "esmtp"},
		{Session{ESMTP: true, TLS: &TLSInfo{}}, "esmtps"},
		{Session{ESMTP: true, AuthID: "u"}, "esmtpa"},
		{Session{ESMTP: true, TLS: &TLSInfo{}, AuthID: "u"}, "esmtpsa"},
	}
	for _, c := range cases {
		if got := c.s.Protocol(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.s, got, c.want)
		}
	}
	s := Session{RemoteAddr: netip.MustParseAddrPort("[::ffff:192.0.2.1]:25")}
	if got := s.RemoteIP().String(); got != "192.0.2.1" {
		t.Errorf("RemoteIP %q", got)
	}
	if (&Session{}).RemoteIP() != nil {
		t.Error("RemoteIP of no address")
	}
}

func TestSplitAddress(t *testing.T) {
	for in, want := range map[string][2]string{
		"user@example.com":  {"user", "example.com"},
		`"a@b"@example.com`: {`"a@b"`, "example.com"},
		"postmaster":        {"postmaster", ""},
		"":                  {"", ""},
	} {
		l, d := SplitAddress(in)
		if l != want[0] || d != want[1] {
			t.Errorf("SplitAddress(%q) = %q, %q", in, l, d)
		}
	}
}
