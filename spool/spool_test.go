package spool

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-message/textproto"

	"github.com/exigo-mta/exigo"
)

// testMessage returns a message with every kind of envelope data: DSN
// options, a TLS session, ACL variables. The header comes from hdr
// (CRLF line ends, as smtpd would parse it).
func testMessage(id string, received time.Time) *exigo.Message {
	hdr := "Received: from [192.0.2.1] (helo=client.example)\r\n\tby test.example with esmtps id " + id + ";\r\n\tSat, 21 Nov 2026 14:25:06 +0000\r\n" +
		"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nCc: carol@example.com\r\nMessage-ID: <x@example.org>\r\nSubject: hello\r\n there\r\n\r\n"
	h, err := textproto.ReadHeader(bufio.NewReader(strings.NewReader(hdr)))
	if err != nil {
		panic(err)
	}
	m := &exigo.Message{
		ID:       id,
		Header:   h,
		Received: received,
		Stats:    exigo.BodyStats{Lines: 2, MaxLineLength: 37},
		Vars:     map[string]string{"acl_m_score": "5\nlines", "acl_m0": "zero"},
		Session: &exigo.Session{
			ID:         "sess1",
			RemoteAddr: netip.MustParseAddrPort("[2001:db8::1]:4567"),
			LocalAddr:  netip.MustParseAddrPort("192.0.2.25:25"),
			HELO:       "client.example",
			ESMTP:      true,
			TLS:        &exigo.TLSInfo{Version: "TLS1.3", Cipher: "TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256", SNI: "mx.test.example", PeerDN: "CN=client", Verified: true},
			AuthMech:   "PLAIN",
			AuthID:     "alice",
			AuthSender: "alice@example.org",
			Vars:       map[string]string{"acl_c_conn": "c1"},
		},
	}
	m.Envelope.Sender = "alice@example.org"
	m.Envelope.EnvID = "env+1"
	m.Envelope.Ret = exigo.RetHdrs
	r := m.Envelope.AddRecipient("bob@example.com")
	r.Notify = exigo.NotifySuccess | exigo.NotifyFailure
	r.ORCPT = "rfc822;Bob=1@example.com"
	m.Envelope.AddRecipient("carol@example.com").Notify = exigo.NotifyNever
	m.Envelope.AddRecipient("dave@example.com")
	return m
}

const testBody = "first line\nsecond line, a little longer\n"

func commitTest(t testing.TB, s *Spool, body string) string {
	t.Helper()
	ctx := context.Background()
	d, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(d, body); err != nil {
		t.Fatal(err)
	}
	if err := d.Commit(ctx, testMessage(d.ID(), time.Unix(1795271107, 123456000))); err != nil {
		t.Fatal(err)
	}
	return d.ID()
}

func TestCommitAndRead(t *testing.T) {
	t.Parallel()
	for _, split := range []bool{false, true} {
		t.Run(fmt.Sprint("split=", split), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s, err := Open(dir, WithSplit(split), WithOriginator("mail", 8, 12))
			if err != nil {
				t.Fatal(err)
			}
			id := commitTest(t, s, testBody)
			rel := "input"
			if split {
				rel = "input/" + id[5:6]
			}
			d, err := os.ReadFile(filepath.Join(dir, rel, id+"-D"))
			if err != nil || string(d) != id+"-D\n"+testBody {
				t.Fatalf("-D file %q %v", d, err)
			}
			hb, err := os.ReadFile(filepath.Join(dir, rel, id+"-H"))
			if err != nil {
				t.Fatal(err)
			}
			info, _ := ParseID(id)
			want := fmt.Sprintf("%s-H\nmail 8 12\n<alice@example.org>\n%d 0\n-received_time_usec .%06d\n", id, info.Time.Unix(), info.Time.Nanosecond()/1000) +
				"-received_time_complete 1795271107.123456\n" +
				"--helo_name client.example\n" +
				"-host_address [2001:db8::1]:4567\n" +
				"-host_auth PLAIN\n" +
				"-interface_address [192.0.2.25]:25\n" +
				"-received_protocol esmtpsa\n" +
				"-aclc _conn 2\nc1\n" +
				"-aclm 0 4\nzero\n" +
				"-aclm _score 7\n5\nlines\n" +
				"-body_linecount 2\n" +
				"-max_received_linelength 37\n" +
				"--auth_id alice\n" +
				"--auth_sender alice@example.org\n" +
				"-deliver_firsttime\n" +
				"-tls_certificate_verified\n" +
				"-tls_cipher TLS1.3:ECDHE_X25519__RSA_PSS_RSAE_SHA256__AES_256_GCM:256\n" +
				"--tls_peerdn CN=client\n" +
				"--tls_sni mx.test.example\n" +
				"-tls_resumption B\n" +
				"-tls_ver TLS1.3\n" +
				"-dsn_envid env+2B1\n" +
				"-dsn_ret 2\n" +
				"-exigo_session sess1\n" +
				"XX\n3\n" +
				"bob@example.com rfc822;Bob+3D1@example.com 26,12  0,-1#3\n" +
				"carol@example.com  0,2  0,-1#3\n" +
				"dave@example.com\n\n" +
				"109P Received: from [192.0.2.1] (helo=client.example)\n\tby test.example with esmtps id " + id + ";\n\tSat, 21 Nov 2026 14:25:06 +0000\n" +
				"032F From: Alice <alice@example.org>\n" +
				"020T To: bob@example.com\n" +
				"022C Cc: carol@example.com\n" +
				"028I Message-ID: <x@example.org>\n" +
				"022  Subject: hello\n there\n"
			rcvd := "Received: from [192.0.2.1] (helo=client.example)\n\tby test.example with esmtps id " + id + ";\n\tSat, 21 Nov 2026 14:25:06 +0000\n"
			want = strings.Replace(want, "109P", fmt.Sprintf("%03dP", len(rcvd)), 1)
			if string(hb) != want {
				t.Fatalf("-H file:\n%s\nwant:\n%s", hb, want)
			}

			e, err := s.Read(id)
			if err != nil {
				t.Fatal(err)
			}
			m := e.Message
			orig := testMessage(id, time.Unix(1795271107, 123456000))
			if e.Dir != rel || e.BodySize != int64(len(testBody)) || m.Stats.Size != e.HeaderSize()+1+int64(len(testBody)) {
				t.Errorf("entry %s %d %d", e.Dir, e.BodySize, m.Stats.Size)
			}
			if m.Envelope.Sender != orig.Envelope.Sender || m.Envelope.EnvID != "env+1" || m.Envelope.Ret != exigo.RetHdrs {
				t.Errorf("envelope %+v", m.Envelope)
			}
			for i, r := range m.Envelope.Recipients {
				o := orig.Envelope.Recipients[i]
				if r.Address != o.Address || r.ORCPT != o.ORCPT || r.Notify != o.Notify {
					t.Errorf("recipient %d: %+v", i, r)
				}
			}
			ss, os_ := m.Session, orig.Session
			if ss.RemoteAddr != os_.RemoteAddr || ss.LocalAddr != os_.LocalAddr || ss.HELO != os_.HELO || !ss.ESMTP || *ss.TLS != *os_.TLS ||
				ss.AuthMech != "PLAIN" || ss.AuthID != "alice" || ss.AuthSender != "alice@example.org" || ss.Vars["acl_c_conn"] != "c1" || ss.ID != "sess1" ||
				ss.Protocol() != "esmtpsa" {
				t.Errorf("session %+v", ss)
			}
			if !maps2Equal(m.Vars, orig.Vars) || !m.Received.Equal(orig.Received) || m.Stats.Lines != 2 || m.Stats.MaxLineLength != 37 {
				t.Errorf("vars %v received %v stats %+v", m.Vars, m.Received, m.Stats)
			}
			if m.Header.Get("Subject") != "hello there" || m.Header.Get("Cc") != "carol@example.com" {
				t.Errorf("header %v", m.Header.Map())
			}
			rc, err := m.Body.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != testBody {
				t.Errorf("body %q", b)
			}
			ids, err := s.List(context.Background())
			if err != nil || !slices.Equal(ids, []string{id}) {
				t.Errorf("List = %v, %v", ids, err)
			}
		})
	}
}

func maps2Equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestDraftBodyAbortAndErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, WithIDFormat(IDShort))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.ID()) != 16 {
		t.Fatalf("short ID %q", d.ID())
	}
	io.WriteString(d, "part one\n")
	rc, err := d.Body().Open()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "part one\n" {
		t.Errorf("Body before commit: %q", b)
	}
	// A message ID mismatch aborts.
	if err := d.Commit(ctx, testMessage("1xUm1a-0000hS-2z", time.Now())); err == nil || !strings.Contains(err.Error(), "is not the draft's") {
		t.Errorf("Commit with wrong ID: %v", err)
	}
	if _, err := d.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after abort: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "input"))
	if len(ents) != 0 {
		t.Errorf("files left after abort: %v", ents)
	}
	// A cancelled context commits nothing.
	d, _ = s.Create(ctx)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.Commit(cctx, testMessage(d.ID(), time.Now())); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit with cancelled ctx: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "input")); len(ents) != 0 {
		t.Errorf("files left after cancelled commit: %v", ents)
	}
	// A header that cannot be written aborts.
	d, _ = s.Create(ctx)
	m := testMessage(d.ID(), time.Now())
	m.Envelope.Sender = "a\nb"
	if err := d.Commit(ctx, m); err == nil || err.Error() != "spool: writing "+d.ID()+"-H: newline or NUL in sender" {
		t.Errorf("Commit with bad sender: %v", err)
	}
	if _, err := s.Read("1xUm1a-0000hS-2z"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Read missing: %v", err)
	}
	if _, err := s.Read("../../etc"); !errors.Is(err, ErrBadID) {
		t.Errorf("Read bad id: %v", err)
	}
}

// TestCrashLeftovers: files a crash leaves (temporary ones, a -D without
// -H, a torn -H) are never listed as messages; a torn -H is an error.
func TestCrashLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	s, err := Open(dir, WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	id := commitTest(t, s, testBody)
	in := filepath.Join(dir, "input")
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(in, name), []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(filepath.Join(in, name), now.Add(-time.Hour), now.Add(-time.Hour))
	}
	write("1xUm1b-0000000000A-0000-D.tmp", "1xUm1b-0000000000A-0000-D\nbody")
	write("1xUm1b-0000000000A-0000-H.tmp", "1xUm1b-0000000000A-0000-H\nroot 0 0\n")
	write("1xUm1c-0000000000A-0000-D", "1xUm1c-0000000000A-0000-D\nbody")
	ids, err := s.List(context.Background())
	if err != nil || !slices.Equal(ids, []string{id}) {
		t.Fatalf("List = %v, %v", ids, err)
	}
	removed, err := s.Tidy(context.Background(), 30*time.Minute)
	slices.Sort(removed)
	if err != nil || strings.Join(removed, " ") != "input/1xUm1b-0000000000A-0000-D.tmp input/1xUm1b-0000000000A-0000-H.tmp input/1xUm1c-0000000000A-0000-D" {
		t.Errorf("Tidy = %v, %v", removed, err)
	}
	// A -H cut short is rejected with its file and line.
	hb, _ := os.ReadFile(filepath.Join(in, id+"-H"))
	os.WriteFile(filepath.Join(in, id+"-H"), hb[:len(hb)-10], 0o640)
	line := strings.Count(string(hb[:strings.Index(string(hb), "022  Subject")]), "\n") + 1
	if _, err := s.Read(id); err == nil || err.Error() != fmt.Sprintf("spool: input/%s-H line %d: unexpected end of file", id, line) {
		t.Errorf("Read torn -H: %v", err)
	}
	os.WriteFile(filepath.Join(in, id+"-H"), hb, 0o640)
	os.WriteFile(filepath.Join(in, id+"-D"), nil, 0o640)
	if _, err := s.Read(id); err == nil || err.Error() != "spool: input/"+id+"-D line 1: first line is not "+id+"-D" {
		t.Errorf("Read empty -D: %v", err)
	}
}

func TestLockJournalRewrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := commitTest(t, s, testBody)
	lk, err := s.Lock(id)
	if err != nil {
		t.Fatal(err)
	}
	// A second Lock, in this process or through another Spool, fails.
	s2, _ := Open(dir)
	if _, err := s2.Lock(id); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock: %v", err)
	}
	if err := lk.AddDelivered("bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := lk.AddDelivered("bad\naddr"); err == nil {
		t.Error("AddDelivered accepted a newline")
	}
	j, _ := os.ReadFile(filepath.Join(dir, "input", id+"-J"))
	if string(j) != "bob@example.com\n" {
		t.Errorf("-J = %q", j)
	}
	e, err := s.Read(id)
	if err != nil || !e.Delivered("bob@example.com") || e.Delivered("carol@example.com") || !slices.Equal(e.Journal, []string{"bob@example.com"}) {
		t.Fatalf("Read with journal: %+v %v", e, err)
	}
	e, err = lk.FoldJournal()
	if err != nil || !slices.Equal(e.NonRecipients, []string{"bob@example.com"}) || e.Journal != nil {
		t.Fatalf("FoldJournal: %+v %v", e, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "input", id+"-J")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("-J still there: %v", err)
	}
	e.Warnings = 1
	e.DelVar("deliver_firsttime")
	e.Freeze(time.Unix(1795271200, 0))
	if err := lk.Rewrite(e.HeaderFile); err != nil {
		t.Fatal(err)
	}
	e2, err := s.Read(id)
	if err != nil {
		t.Fatal(err)
	}
	if fr, at := e2.Frozen(); !fr || at.Unix() != 1795271200 || e2.Warnings != 1 || e2.Has("deliver_firsttime") || !e2.Delivered("bob@example.com") {
		t.Errorf("after rewrite: %+v", e2.HeaderFile)
	}
	var a, b strings.Builder
	e.WriteTo(&a)
	e2.WriteTo(&b)
	if a.String() != b.String() {
		t.Errorf("rewrite not byte-identical")
	}
	if err := lk.Remove(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "input")); len(ents) != 0 {
		t.Errorf("files left after Remove: %v", ents)
	}
	// The lock went with the message; a new message can be locked twice
	// in a row once the first is released.
	id = commitTest(t, s, testBody)
	lk, _ = s.Lock(id)
	lk.Unlock()
	lk, err = s2.Lock(id)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	lk.Unlock()
}

func TestConcurrentCommits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(dir, WithSplit(true))
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = commitTest(t, s, strings.Repeat(fmt.Sprintf("line %d\n", i), i))
		}()
	}
	wg.Wait()
	got, err := s.List(context.Background())
	if err != nil || len(got) != n {
		t.Fatalf("List: %d ids, %v", len(got), err)
	}
	for i, id := range ids {
		e, err := s.Read(id)
		if err != nil || e.BodySize != int64(i*len(fmt.Sprintf("line %d\n", i))) {
			t.Errorf("message %d: %v", i, err)
		}
	}
	if b := Batches(s); b >= n {
		t.Errorf("%d batches for %d commits: no group commit", b, n)
	}
	t.Logf("%d commits in %d batches", n, Batches(s))
}

func TestSortIDs(t *testing.T) {
	ids := []string{"1xUm1b-0000hS-00", "1xUm1a-0000hT-01", "1xUm1a-0000hS-02", "1xUm1a-0000000000Z-0400", "0zzzzz-0000hS-00"}
	SortIDs(ids)
	// Same second: by fraction (01 = 500 µs, 0400 = 248 ms, 02 = 1 ms).
	want := "0zzzzz-0000hS-00 1xUm1a-0000hT-01 1xUm1a-0000hS-02 1xUm1a-0000000000Z-0400 1xUm1b-0000hS-00"
	if got := strings.Join(ids, " "); got != want {
		t.Errorf("SortIDs = %s", got)
	}
}
