package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo/internal/testpeer"
)

// TestSpoolLsMatchesExim: messages spooled by a real Exim 4.96 (exim -bs
// -odq) are listed by "exigo spool ls" exactly as "exim -bp" lists them.
func TestSpoolLsMatchesExim(t *testing.T) {
	t.Parallel()
	ex := testpeer.NewExim(t, "dsn_advertise_hosts = *\nacl_smtp_rcpt = acl_rcpt\nbegin acl\nacl_rcpt:\n  warn recipients = frozen@example.com\n       control = freeze\n  accept\n")
	body := strings.Repeat("a line of the body, long enough to add up\n", 600)
	script := "EHLO client.example\n" +
		"MAIL FROM:<alice@example.org> RET=HDRS ENVID=e1\n" +
		"RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.com\n" +
		"RCPT TO:<carol@example.com>\n" +
		"DATA\nSubject: one\n\n" + body + ".\n" +
		"MAIL FROM:<>\nRCPT TO:<frozen@example.com>\nDATA\nSubject: two\n\nshort\n.\n" +
		"QUIT\n"
	if out, err := ex.SMTP("192.0.2.1.4567", script); err != nil || strings.Count(out, "250 OK id=") != 2 {
		t.Fatalf("exim -bs: %v\n%s", err, out)
	}
	want, err := ex.Run("", "-bp")
	if err != nil {
		t.Fatalf("exim -bp: %v\n%s", err, want)
	}
	if !strings.Contains(want, "*** frozen ***") || !strings.Contains(want, "<alice@example.org>") {
		t.Fatalf("unexpected exim -bp output:\n%s", want)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"spool", "ls", ex.Spool}, &out, &errb)
	if code != 0 || errb.Len() != 0 {
		t.Fatalf("exigo spool ls: exit %d, stderr %q", code, errb.String())
	}
	if out.String() != want {
		t.Errorf("exigo spool ls:\n%s\nexim -bp:\n%s", out.String(), want)
	}
}
