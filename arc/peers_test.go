package arc

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/exigo-mta/exigo/internal/testpeer"
)

// testKeys are generated once per test binary: an RSA-2048 and an
// Ed25519 key with their DNS records.
type testKeys struct {
	rsa     *rsa.PrivateKey
	ed      ed25519.PrivateKey
	rsaPEM  []byte // PKCS #1
	edSeed  string // base64 seed (dkimpy's format)
	edPEM   []byte // PKCS #8
	records MapResolver
}

var keysOnce = sync.OnceValue(func() *testKeys {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	pub, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	p8, _ := x509.MarshalPKCS8PrivateKey(ek)
	k := &testKeys{
		rsa:     rk,
		ed:      ek,
		rsaPEM:  pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}),
		edSeed:  base64.StdEncoding.EncodeToString(ek.Seed()),
		edPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		records: MapResolver{},
	}
	for _, d := range []string{"hop1.example", "hop2.example", "hop3.example"} {
		k.records["rsa._domainkey."+d] = "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
		k.records["ed._domainkey."+d] = "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	return k
})

// writeDNSFile writes the records in ParseDNSFile's format.
func writeDNSFile(t testing.TB, m MapResolver) string {
	t.Helper()
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + " " + m[n] + "\n")
	}
	p := filepath.Join(t.TempDir(), "dns.txt")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const dkimpyScript = `
import sys, dkim
mode, dnsfile = sys.argv[1], sys.argv[2]
recs = {}
for line in open(dnsfile, 'rb'):
    line = line.strip()
    if line:
        n, v = line.split(b' ', 1)
        recs[n.lower().rstrip(b'.')] = v
def dnsfunc(name, timeout=5):
    if isinstance(name, str):
        name = name.encode()
    return recs.get(name.lower().rstrip(b'.'))
msg = sys.stdin.buffer.read()
if mode == 'verify':
    cv, results, comment = dkim.arc_verify(msg, dnsfunc=dnsfunc)
    sys.stdout.write(cv.decode() + '\n' + comment + '\n')
else:
    keyfile, sel, dom, srv, algo = sys.argv[3:8]
    key = open(keyfile, 'rb').read()
    a = dkim.ARC(msg, signature_algorithm=algo.encode())
    hdrs = a.sign(sel.encode(), dom.encode(), key, srv.encode(),
                  include_headers=[b'from', b'to', b'subject', b'date', b'message-id'])
    sys.stdout.buffer.write(b''.join(hdrs) + msg)
`

// dkimpy runs the Debian dkimpy (python3-dkim) with the script above.
func dkimpy(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	py := testpeer.Need(t, "python3", "python3-dkim", "/usr/bin")
	if err := exec.Command(py, "-c", "import dkim, nacl, authres").Run(); err != nil {
		testpeer.Missing(t, "python3 modules dkim, nacl or authres missing (Debian packages python3-dkim, python3-nacl, python3-authres)")
	}
	script := filepath.Join(t.TempDir(), "arcpy.py")
	if err := os.WriteFile(script, []byte(dkimpyScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{script}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dkimpy %v: %v\n%s", args[0], err, stderr.String())
	}
	return string(out)
}
