package lmtp

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exigo-mta/exigo"
	"github.com/exigo-mta/exigo/internal/testpeer"
)

// TestDovecot delivers to a real Dovecot LMTP server over a unix socket
// and reads the messages back from the Maildirs Dovecot wrote.
func TestDovecot(t *testing.T) {
	t.Parallel()
	bin := testpeer.Need(t, "dovecot", "dovecot-core", "/usr/sbin")
	testpeer.Need(t, "lmtp", "dovecot-lmtpd", "/usr/lib/dovecot")
	if os.Geteuid() != 0 {
		testpeer.Missing(t, "dovecot needs root to run as a test server")
	}
	dir := t.TempDir()
	// Dovecot's delivery process runs as nobody: it must reach dir.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		os.Chmod(d, 0o755)
	}
	mail := filepath.Join(dir, "mail")
	os.Mkdir(mail, 0o755)
	os.Chown(mail, 65534, 65534)
	sock := filepath.Join(dir, "lmtp.sock")
	conf := filepath.Join(dir, "dovecot.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = lmtp
ssl = no
listen = 127.0.0.1
mail_location = maildir:%[1]s/mail/%%n/Maildir
first_valid_uid = 1
userdb {
  driver = static
  args = uid=65534 gid=65534 home=%[1]s/mail/%%n allow_all_users=yes
}
passdb {
  driver = static
  args = nopassword=y
}
service lmtp {
  unix_listener %[2]s {
    mode = 0666
  }
}
service anvil {
  chroot =
}
`, dir, sock)), 0o644)
	cmd := exec.Command(bin, "-F", "-c", conf)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 100 {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Fatalf("dovecot did not start: %s %s", out.String(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}

	tr := &Transport{Address: sock, Hostname: "mx.example"}
	d := newDelivery(t, "alice@example.com", "bob@example.com")
	d.Message.Envelope.Body = exigo.Body8BitMIME
	got, st := outcomes(t, tr, d)
	for i, g := range got {
		if !strings.HasPrefix(g, "ok 250 2.0.0 <"+d.Recipients[i].Address+"> ") || !strings.HasSuffix(g, " Saved") {
			t.Errorf("outcome %q", g)
		}
	}
	if a := st[d.Recipients[0]].Attempt; a == nil || !strings.Contains(a.Greeting, "Dovecot") {
		t.Errorf("attempt %+v", a)
	}
	for _, user := range []string{"alice", "bob"} {
		files, _ := filepath.Glob(filepath.Join(mail, user, "Maildir", "new", "*"))
		if len(files) != 1 {
			t.Fatalf("%s: %d messages", user, len(files))
		}
		b, _ := os.ReadFile(files[0])
		// Dovecot adds Return-Path and its Received: field (and no
		// Delivered-To for a transaction with several recipients).
		if !strings.HasPrefix(string(b), "Return-Path: <sender@example.org>\nReceived: from mx.example\n") || !strings.HasSuffix(string(b), "\nSubject: hi\n\nhello\n.dot\n") {
			t.Errorf("%s: message %q", user, b)
		}
	}
}
