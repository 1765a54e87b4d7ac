package mailtest_test

import (
	"crypto/x509"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/mailtest"
)

func TestSelfSignedCert(t *testing.T) {
	t.Parallel()
	cert, pool, err := mailtest.SelfSignedCert("mx.example.com", "192.0.2.1", "2001:db8::1", "*.example.net")
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if leaf.Subject.CommonName != "mx.example.com" || !slices.Equal(leaf.DNSNames, []string{"mx.example.com", "*.example.net"}) ||
		len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.ParseIP("192.0.2.1")) || !leaf.IPAddresses[1].Equal(net.ParseIP("2001:db8::1")) {
		t.Errorf("certificate for CN %q, names %q, addresses %v", leaf.Subject.CommonName, leaf.DNSNames, leaf.IPAddresses)
	}
	if d := time.Until(leaf.NotAfter); d < 23*time.Hour || d > 24*time.Hour {
		t.Errorf("valid for another %v", d)
	}
	for _, name := range []string{"mx.example.com", "192.0.2.1", "2001:db8::1", "a.example.net"} {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("verify %s for %v: %v", name, usage, err)
			}
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.example.com", Roots: pool}); err == nil {
		t.Error("verified for another name")
	}

	def, defPool, err := mailtest.SelfSignedCert()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(def.Leaf.DNSNames, []string{"localhost"}) || len(def.Leaf.IPAddresses) != 2 {
		t.Errorf("default names %q, addresses %v", def.Leaf.DNSNames, def.Leaf.IPAddresses)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "mx.example.com", Roots: defPool}); err == nil {
		t.Error("one certificate's pool trusts another")
	}

	if _, _, err := mailtest.SelfSignedCert("bücher.example"); err == nil || !strings.HasPrefix(err.Error(), `mailtest: certificate for ["bücher.example"]: `) {
		t.Errorf("non-ASCII name: %v", err)
	}
}
