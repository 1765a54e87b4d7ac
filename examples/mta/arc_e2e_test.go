package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo/arc"
)

// TestE2EARCSign: with -arc-sign and no key file, the mta generates a key
// and logs its DNS record; a relayed message reaches the smarthost with
// our Authentication-Results (a forged one of our ADMD removed) and an
// ARC set that verifies as pass against the logged record.
func TestE2EARCSign(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "arc", "s1.key")
	f := newFakeSMTP(t, "")
	d := startMTA(t, "", "-smarthost", f.addr(), "-arc-sign", "mta.example:s1:"+keyFile)
	rec := d.waitLog(regexp.MustCompile(`msg="generated an ARC signing key" .*publish="s1\._domainkey\.mta\.example TXT \\"(v=DKIM1; k=rsa; p=[A-Za-z0-9+/=]+)\\""`))

	c := dial(t, "127.0.0.1", d.addr)
	c.ehlo("client.example")
	c.must("MAIL FROM:<sender@example.com>", "250")
	c.must("RCPT TO:<someone@remote.example>", "250")
	id := idRE.FindStringSubmatch(c.data("Authentication-Results: mta.example; dkim=pass header.d=bank.example\n" +
		"Authentication-Results: other.example; spf=pass smtp.mailfrom=example.com\n" +
		"From: <sender@example.com>\nTo: <someone@remote.example>\nSubject: sealed\n" +
		"Message-ID: <arc-e2e@example.com>\nDate: Sat, 21 Nov 2026 12:00:00 +0000\n\nseal me\n"))[1]
	c.must("QUIT", "221")
	d.waitLog(regexp.MustCompile(`msg=Completed id=` + regexp.QuoteMeta(id) + `$`))

	_, msgs := f.received()
	if len(msgs) != 1 {
		t.Fatalf("the smarthost received %d messages, want 1", len(msgs))
	}
	data := msgs[0].Data
	head, _, _ := strings.Cut(data, "\r\n\r\n")
	for _, want := range []string{
		"ARC-Seal: a=rsa-sha256;\r\n b=",
		"\r\n cv=none; d=mta.example; i=1; s=s1\r\nARC-Message-Signature: a=rsa-sha256;\r\n b=",
		" c=relaxed/relaxed;\r\n d=mta.example; h=from:subject:date:to:message-id; i=1; s=s1\r\n" +
			"ARC-Authentication-Results: i=1; mta.example;\r\n arc=none smtp.remote-ip=127.0.0.1\r\n" +
			"Authentication-Results: mta.example;\r\n\tarc=none smtp.remote-ip=127.0.0.1\r\nReceived: from [127.0.0.1]",
		"\r\nAuthentication-Results: other.example; spf=pass smtp.mailfrom=example.com\r\nFrom: <sender@example.com>\r\n",
	} {
		if !strings.Contains(head, want) {
			t.Errorf("the relayed header lacks %q:\n%s", want, head)
		}
	}
	if strings.Contains(head, "bank.example") {
		t.Errorf("the forged Authentication-Results of our ADMD was relayed:\n%s", head)
	}
	v := &arc.Verifier{Resolver: arc.MapResolver{"s1._domainkey.mta.example": rec[1]}}
	res, err := v.Verify(context.Background(), strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != arc.Pass || res.Instances != 1 || strings.Join(res.Domains, ",") != "mta.example" || res.OldestPass != 1 {
		t.Errorf("the relayed message verifies as %+v, want pass with one instance of mta.example", res)
	}
}
