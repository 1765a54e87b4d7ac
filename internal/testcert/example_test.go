package testcert_test

import (
	"crypto/x509"
	"fmt"

	"github.com/exigo-mta/exigo/internal/testcert"
)

func ExampleNew() {
	cert, pool, err := testcert.New("mx.test.example", "127.0.0.1")
	if err != nil {
		fmt.Println(err)
		return
	}
	// cert goes into a server's tls.Config.Certificates, pool into the
	// client's RootCAs (or the server's ClientCAs).
	leaf := cert.Leaf
	fmt.Println(leaf.Subject, leaf.DNSNames, leaf.IPAddresses)
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: "127.0.0.1", Roots: pool})
	fmt.Println("verified:", err == nil)
	// Output:
	// CN=mx.test.example [mx.test.example] [127.0.0.1]
	// verified: true
}
