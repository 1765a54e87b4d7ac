// Package testcert makes self-signed TLS certificates for tests. It is
// the one implementation behind mailtest.SelfSignedCert and the TLS tests
// of packages that mailtest itself imports (smtpd, transport/smtp), which
// cannot use mailtest.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"
)

// New makes a self-signed certificate, valid from an hour ago for a day,
// for hosts (IP addresses go into the IP address SANs, other names into
// the DNS name SANs; the first one is the subject's common name; with no
// hosts: "localhost", 127.0.0.1 and ::1), and returns it with a pool that
// trusts it. The key is ECDSA P-256; the certificate is its own CA and
// may serve both as a server and as a client certificate. A name that
// cannot go into a certificate (e.g. one with non-ASCII characters) is an
// error.
func New(hosts ...string) (tls.Certificate, *x509.CertPool, error) {
	return NewWithSubject(pkix.Name{}, hosts...)
}

// NewWithSubject is [New] with the subject's other attributes (e.g. the
// organization) from subject. An empty CommonName in subject is the first
// host.
func NewWithSubject(subject pkix.Name, hosts ...string) (tls.Certificate, *x509.CertPool, error) {
	if len(hosts) == 0 {
		hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	if subject.CommonName == "" {
		subject.CommonName = hosts[0]
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		// crypto/rand does not fail (Go 1.24 and later).
		panic("testcert: generating a key: " + err.Error())
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic("testcert: serial number: " + err.Error())
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("certificate for %q: %w", hosts, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("certificate for %q: %w", hosts, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}

// Must is [New] for a test: an error fails the test at once.
func Must(t testing.TB, hosts ...string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	cert, pool, err := New(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	return cert, pool
}
