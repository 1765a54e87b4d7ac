package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/exigo-mta/exigo/acl"
	"github.com/exigo-mta/exigo/internal/testpeer"
)

// swaks runs Debian's swaks against addr and returns the server's replies
// as swaks shows them ("<-  " plain, "<~  " in TLS, "<** " and "<~* " for
// errors), one per line, with the prefix kept.
func swaks(t *testing.T, addr string, args ...string) []string {
	t.Helper()
	bin := testpeer.Need(t, "swaks", "swaks")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--server", addr, "--helo", "client.example", "--from", "sender@example.org"}, args...)...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("swaks timed out:\n%s", out)
	}
	_ = err // swaks exits non-zero when the server rejects; the replies tell
	var replies []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "<") {
			replies = append(replies, strings.TrimRight(l, "\r"))
		}
	}
	if len(replies) == 0 {
		t.Fatalf("no replies in swaks output:\n%s", out)
	}
	return replies
}

func checkReplies(t *testing.T, got, want []string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("replies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

var swaksEHLO = []string{
	"<-  250-mx.test.example Hello client.example [127.0.0.1]",
	"<-  250-SIZE 52428800",
	"<-  250-8BITMIME",
	"<-  250-PIPELINING",
	"<-  250-CHUNKING",
	"<-  250-DSN",
	"<-  250-SMTPUTF8",
	"<-  250-ENHANCEDSTATUSCODES",
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestSwaksPipeline(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	addr := start(t, s)
	got := swaks(t, addr, "--pipeline", "--to", "r1@example.com,r2@example.com", "--header", "Subject: piped", "--body", "line 1\n.leading dot\n")
	checkReplies(t, got, concat(
		[]string{"<-  220 mx.test.example ESMTP exigo Sat, 21 Nov 2026 14:25:06 +0000"},
		swaksEHLO,
		[]string{
			"<-  250 HELP",
			"<-  250 2.1.0 OK",
			"<-  250 2.1.5 Accepted",
			"<-  250 2.1.5 Accepted",
			`<-  354 Enter message, ending with "." on a line by itself`,
			"<-  250 2.0.0 OK id=1xUm1a-000001-2z",
			"<-  221 2.0.0 mx.test.example closing connection",
		}))
	msgs := st.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	// swaks ends the body with an empty line of its own.
	if m.Body != "line 1\n.leading dot\n\n\n" {
		t.Errorf("body %q", m.Body)
	}
	if m.Msg.Header.Get("Subject") != "piped" || len(m.Msg.Envelope.Recipients) != 2 || m.Msg.Envelope.Sender != "sender@example.org" {
		t.Errorf("message %q %+v", m.Header, m.Msg.Envelope)
	}
}

func TestSwaksTLSAndAuth(t *testing.T) {
	t.Parallel()
	cert, _ := testCert(t)
	s, st := newServer(t)
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.Auth = testAuth
	addr := start(t, s)
	got := swaks(t, addr, "--tls", "--auth", "PLAIN", "--auth-user", "user", "--auth-password", "secret", "--to", "r@example.com")
	tlsEHLO := make([]string, len(swaksEHLO))
	for i, l := range swaksEHLO {
		tlsEHLO[i] = strings.Replace(l, "<-  ", "<~  ", 1)
	}
	checkReplies(t, got, concat(
		[]string{"<-  220 mx.test.example ESMTP exigo Sat, 21 Nov 2026 14:25:06 +0000"},
		swaksEHLO,
		[]string{"<-  250-STARTTLS", "<-  250 HELP", "<-  220 2.0.0 Ready to start TLS"},
		tlsEHLO,
		[]string{
			"<~  250-AUTH PLAIN LOGIN",
			"<~  250-REQUIRETLS",
			"<~  250 HELP",
			"<~  235 2.7.0 Authentication succeeded",
			"<~  250 2.1.0 OK",
			"<~  250 2.1.5 Accepted",
			`<~  354 Enter message, ending with "." on a line by itself`,
			"<~  250 2.0.0 OK id=1xUm1a-000001-2z",
			"<~  221 2.0.0 mx.test.example closing connection",
		}))
	ss := st.messages()[0].Msg.Session
	if ss.TLS == nil || ss.TLS.Version != "TLS1.3" || ss.AuthID != "user" || ss.Protocol() != "esmtpsa" {
		t.Errorf("session %+v TLS %+v", ss, ss.TLS)
	}
}

func TestSwaksACLRejections(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	s.ACL.Rcpt = acl.List{
		{Verb: acl.Deny, Message: "550 5.1.1 unknown user", Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
			return tx.Recipient.Address == "nobody@example.com", nil
		})}},
		{Verb: acl.Accept},
	}
	s.ACL.Data = acl.List{
		{Verb: acl.Deny, Message: "554 5.7.0 spam detected, go away", Conditions: []acl.Condition{acl.ConditionFunc(func(ctx context.Context, tx *acl.Tx) (bool, error) {
			return strings.Contains(tx.Message.Header.Get("Subject"), "viagra"), nil
		})}},
		{Verb: acl.Accept},
	}
	addr := start(t, s)
	got := swaks(t, addr, "--to", "nobody@example.com")
	checkReplies(t, got[len(got)-4:], []string{
		"<-  250 HELP",
		"<-  250 2.1.0 OK",
		"<** 550 5.1.1 unknown user",
		"<-  221 2.0.0 mx.test.example closing connection",
	})
	got = swaks(t, addr, "--to", "someone@example.com", "--header", "Subject: cheap viagra")
	checkReplies(t, got[len(got)-3:], []string{
		`<-  354 Enter message, ending with "." on a line by itself`,
		"<** 554 5.7.0 spam detected, go away",
		"<-  221 2.0.0 mx.test.example closing connection",
	})
	if n := len(st.messages()); n != 0 {
		t.Errorf("%d messages stored", n)
	}
}

func TestSwaksLimits(t *testing.T) {
	t.Parallel()
	s, st := newServer(t)
	s.MaxMessageSize = 100 << 10
	s.MaxRecipients = 2
	addr := start(t, s)
	big := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(big, bytes.Repeat([]byte("attachment data\n"), 16<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	got := swaks(t, addr, "--to", "r@example.com", "--attach", big, "--suppress-data")
	checkReplies(t, got[len(got)-3:], []string{
		`<-  354 Enter message, ending with "." on a line by itself`,
		"<** 552 5.3.4 Message size exceeds maximum permitted (102400 octets)",
		"<-  221 2.0.0 mx.test.example closing connection",
	})
	got = swaks(t, addr, "--pipeline", "--to", "r1@example.com,r2@example.com,r3@example.com")
	checkReplies(t, got[len(got)-7:], []string{
		"<-  250 2.1.0 OK",
		"<-  250 2.1.5 Accepted",
		"<-  250 2.1.5 Accepted",
		"<** 452 4.5.3 Too many recipients",
		`<-  354 Enter message, ending with "." on a line by itself`,
		"<-  250 2.0.0 OK id=1xUm1a-000002-2z",
		"<-  221 2.0.0 mx.test.example closing connection",
	})
	msgs := st.messages()
	if len(msgs) != 1 || len(msgs[0].Msg.Envelope.Recipients) != 2 {
		t.Fatalf("stored %+v", msgs)
	}
}
