package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// arcFixture writes a fixed Ed25519 key (signatures are deterministic)
// and its DNS file.
func arcFixture(t *testing.T) (keyFile, dnsFile string) {
	t.Helper()
	dir := t.TempDir()
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	k := ed25519.NewKeyFromSeed(seed)
	p8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(dir, "key.pem")
	dnsFile = filepath.Join(dir, "dns.txt")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600)
	rec := "sel._domainkey.hop1.example v=DKIM1; k=ed25519; p=" +
		base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey)) + "\n"
	os.WriteFile(dnsFile, []byte(rec), 0o600)
	return keyFile, dnsFile
}

const arcMsg = "Authentication-Results: hop1.example; spf=pass smtp.mailfrom=a@origin.example\n" +
	"From: a@origin.example\nTo: b@hop1.example\nSubject: cli\n\nbody line\n"

func runArcCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := arcMain(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

func TestArcSignVerify(t *testing.T) {
	key, dns := arcFixture(t)
	args := []string{"sign", "--admd", "hop1.example", "--selector", "sel", "--key", key,
		"--timestamp", "1795276800", "--headers", "from:to:subject", "--dns-file", dns}
	out, errs, code := runArcCLI(t, arcMsg, args...)
	if code != 0 {
		t.Fatalf("sign: exit %d: %s", code, errs)
	}
	// Ed25519 signatures are deterministic: the whole output is fixed.
	const want = "ARC-Seal: a=ed25519-sha256;\n" +
		" b=m8hyw9IH6tEpzxmAK0FQzJIqUu1g2hIkZKkD8FLSTQ73r6w/ANwUc7eNwhYIBgd86Hj2bQ8lz+1ViQhzkNx7AQ==;\n" +
		" cv=none; d=hop1.example; i=1; s=sel; t=1795276800\n" +
		"ARC-Message-Signature: a=ed25519-sha256;\n" +
		" b=8db8bjGryJTSW+8vMeuNbuq0rJSWkyMXkGa+bZVio6x6Cyu4E6Tl6nwUWcagRciqe4hLzjI3qgn29ttzBlXIBg==;\n" +
		" bh=GVz/CG5ZsAtKynLk6yzbqFfB4F5h3X5ZmXt9rc6jZRI=; c=relaxed/relaxed;\n" +
		" d=hop1.example; h=from:to:subject; i=1; s=sel; t=1795276800\n" +
		"ARC-Authentication-Results: i=1; hop1.example;\n" +
		" spf=pass smtp.mailfrom=a@origin.example\n" + arcMsg
	if out != want {
		t.Fatalf("sign output:\n%s\nwant:\n%s", out, want)
	}
	again, _, _ := runArcCLI(t, arcMsg, args...)
	if again != out {
		t.Errorf("sign is not deterministic with --timestamp and --headers")
	}
	got, errs, code := runArcCLI(t, out, "verify", "--dns-file", dns)
	if want := "arc=pass\nreason=\ndomains=hop1.example\noldest_pass=1\n"; code != 0 || got != want {
		t.Errorf("verify: exit %d %q %s, want %q", code, got, errs, want)
	}
	crlf := strings.ReplaceAll(out, "\n", "\r\n")
	if got, _, _ := runArcCLI(t, crlf, "verify", "--dns-file", dns); !strings.HasPrefix(got, "arc=pass\n") {
		t.Errorf("verify CRLF: %q", got)
	}
	bad := strings.Replace(out, "body line", "body lime", 1)
	got, _, _ = runArcCLI(t, bad, "verify", "--dns-file", dns)
	if want := "arc=fail\nreason=i=1 ARC-Message-Signature: body hash mismatch\ndomains=\noldest_pass=0\n"; got != want {
		t.Errorf("verify tampered: %q, want %q", got, want)
	}
	got, _, _ = runArcCLI(t, arcMsg, "verify", "--dns-file", dns)
	if want := "arc=none\nreason=\ndomains=\noldest_pass=0\n"; got != want {
		t.Errorf("verify unsigned: %q, want %q", got, want)
	}
}

func TestArcSignErrors(t *testing.T) {
	key, dns := arcFixture(t)
	_, errs, code := runArcCLI(t, "From: a@b\n\nx\n", "sign", "--admd", "hop1.example",
		"--selector", "sel", "--key", key, "--dns-file", dns)
	if want := "exigo arc sign: arc: no Authentication-Results header of our ADMD (hop1.example)\n"; code != 1 || errs != want {
		t.Errorf("no A-R: exit %d %q, want 1 %q", code, errs, want)
	}
	if _, _, code := runArcCLI(t, "", "sign", "--admd", "x"); code != 2 {
		t.Errorf("missing flags: exit %d, want 2", code)
	}
	if _, _, code := runArcCLI(t, "", "frob"); code != 2 {
		t.Errorf("unknown subcommand: exit %d, want 2", code)
	}
}
