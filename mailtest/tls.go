package mailtest

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"

	"github.com/exigo-mta/exigo/internal/testcert"
)

// SelfSignedCert makes a self-signed certificate, valid from an hour ago
// for a day, for hosts (IP addresses go into the IP address SANs, other
// names into the DNS name SANs; with no hosts: "localhost", 127.0.0.1 and
// ::1), and returns it with a pool that trusts it. The key is ECDSA
// P-256; the certificate is its own CA and may serve both as a server
// and as a client certificate. A name that cannot go into a certificate
// (e.g. one with non-ASCII characters: use its A-label) is an error.
func SelfSignedCert(hosts ...string) (tls.Certificate, *x509.CertPool, error) {
	cert, pool, err := testcert.NewWithSubject(pkix.Name{Organization: []string{"exigo mailtest"}}, hosts...)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("mailtest: %w", err)
	}
	return cert, pool, nil
}
