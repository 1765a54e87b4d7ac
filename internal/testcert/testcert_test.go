package testcert_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/internal/testcert"
)

func TestNew(t *testing.T) {
	t.Parallel()
	cert, pool := testcert.Must(t, "mx.test.example", "127.0.0.1", "::1")
	leaf := cert.Leaf
	if leaf.Subject.String() != "CN=mx.test.example" || !slices.Equal(leaf.DNSNames, []string{"mx.test.example"}) ||
		len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("subject %q, names %q, addresses %v", leaf.Subject, leaf.DNSNames, leaf.IPAddresses)
	}
	if _, ok := cert.PrivateKey.(*ecdsa.PrivateKey); !ok || !leaf.IsCA || len(cert.Certificate) != 1 {
		t.Errorf("key %T, CA %v, chain of %d", cert.PrivateKey, leaf.IsCA, len(cert.Certificate))
	}
	if d := time.Since(leaf.NotBefore); d < 59*time.Minute || d > 61*time.Minute { // encoded to the second
		t.Errorf("valid since %v ago", d)
	}
	if d := time.Until(leaf.NotAfter); d < 23*time.Hour || d > 24*time.Hour {
		t.Errorf("valid for another %v", d)
	}
	for _, name := range []string{"mx.test.example", "127.0.0.1", "::1"} {
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("verify %s for %v: %v", name, usage, err)
			}
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "other.test.example", Roots: pool}); err == nil {
		t.Error("verified for another name")
	}
	other, _ := testcert.Must(t, "mx.test.example")
	if other.Leaf.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Errorf("two certificates with serial number %v", leaf.SerialNumber)
	}
	if _, err := other.Leaf.Verify(x509.VerifyOptions{DNSName: "mx.test.example", Roots: pool}); err == nil {
		t.Error("one certificate's pool trusts another")
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	cert, _, err := testcert.New()
	if err != nil {
		t.Fatal(err)
	}
	leaf := cert.Leaf
	if leaf.Subject.CommonName != "localhost" || !slices.Equal(leaf.DNSNames, []string{"localhost"}) ||
		len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("subject %q, names %q, addresses %v", leaf.Subject, leaf.DNSNames, leaf.IPAddresses)
	}
}

func TestNewWithSubject(t *testing.T) {
	t.Parallel()
	cert, _, err := testcert.NewWithSubject(pkix.Name{Organization: []string{"exigo test"}}, "client.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := cert.Leaf.Subject.String(); got != "CN=client.example,O=exigo test" {
		t.Errorf("subject %q", got)
	}
	cert, _, err = testcert.NewWithSubject(pkix.Name{CommonName: "Test CA"}, "client.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := cert.Leaf.Subject.String(); got != "CN=Test CA" || !slices.Equal(cert.Leaf.DNSNames, []string{"client.example"}) {
		t.Errorf("subject %q, names %q", got, cert.Leaf.DNSNames)
	}
}

func TestNewBadName(t *testing.T) {
	t.Parallel()
	_, _, err := testcert.New("bücher.example")
	// The rest is crypto/x509's wording.
	const want = `certificate for ["bücher.example"]: x509: `
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v, want %q...", err, want)
	}
}
