package testpeer

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Exim is a private Exim installation for one test: a spool directory
// and a configuration file in a temporary directory, used through
// `exim -C Conf`. Exim accepts a -C file only when it is owned by root
// and not writable by group or others, so NewExim needs root (as the
// project's CI has) and skips, or fails when peers are required,
// otherwise.
type Exim struct {
	Bin   string // the exim binary
	Dir   string // the temporary directory holding everything
	Spool string // spool_directory (Dir/spool)
	Conf  string // the configuration file (Dir/exim.conf)
	t     testing.TB
}

// NewExim writes a configuration with the main options a test needs —
// spool_directory, exim_user and exim_group root, primary_hostname
// test.example, logs under the spool, an empty keep_environment — followed
// by extraConfig verbatim (more main options, then any "begin acl",
// "begin routers" ... sections), and returns the installation. Nothing
// runs until Run.
func NewExim(t testing.TB, extraConfig string) *Exim {
	t.Helper()
	bin := Need(t, "exim", "exim4-daemon-heavy", "/usr/sbin")
	if os.Geteuid() != 0 {
		Missing(t, "exim -C needs a root-owned configuration: run the tests as root")
	}
	dir := t.TempDir()
	e := &Exim{Bin: bin, Dir: dir, Spool: filepath.Join(dir, "spool"), Conf: filepath.Join(dir, "exim.conf"), t: t}
	// Exim's delivery processes can outlive the command that started
	// them by a moment and still write to the spool: retry the removal
	// (for up to 5 s) before t.TempDir's own cleanup runs.
	t.Cleanup(func() {
		for range 100 {
			if os.RemoveAll(e.Spool) == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	if err := os.MkdirAll(filepath.Join(e.Spool, "log"), 0o750); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`spool_directory = %s
exim_user = root
exim_group = root
primary_hostname = test.example
log_file_path = %s/log/%%slog
keep_environment =
%s
`, e.Spool, e.Spool, extraConfig)
	if err := os.WriteFile(e.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// WriteFile honours the umask; make the mode exactly what Exim wants.
	if err := os.Chmod(e.Conf, 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// Run runs `exim -C Conf args...` with stdin and returns its standard
// output. A non-zero exit or anything unexpected yields an error that
// includes the standard error output.
func (e *Exim) Run(stdin string, args ...string) (string, error) {
	e.t.Helper()
	cmd := exec.Command(e.Bin, append([]string{"-C", e.Conf}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TZ=UTC"}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("exim %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// SMTP feeds an SMTP session script to `exim -bs` as if it came from
// the client address ip.port (Exim's -oMa), with messages queued, not
// delivered (-odq). Lines of script end with LF; they are sent with CRLF.
// It returns Exim's replies.
func (e *Exim) SMTP(clientIPPort, script string, args ...string) (string, error) {
	e.t.Helper()
	s := strings.ReplaceAll(strings.ReplaceAll(script, "\r\n", "\n"), "\n", "\r\n")
	return e.Run(s, append([]string{"-bs", "-odq", "-oMa", clientIPPort}, args...)...)
}

// MailDir returns a directory that Exim's appendfile transport, which
// never runs as root and so runs as nobody, can write to: a world-writable
// sticky subdirectory of a test temp directory whose parents it can
// traverse.
func MailDir(t testing.TB) string {
	t.Helper()
	base := t.TempDir()
	mail := filepath.Join(base, "mail")
	if err := os.MkdirAll(mail, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{mail, base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
	}
	return mail
}

// LocalDeliveryConfig is the routing part of an Exim configuration (to
// append to NewExim's extraConfig): addresses at local.example are
// appended to mailDir/mbox as nobody, every other address is deferred,
// and retries are every hour for a day.
func LocalDeliveryConfig(mailDir string) string {
	return `
begin routers
local:
  driver = accept
  domains = local.example
  transport = tofile
rest:
  driver = redirect
  allow_defer
  data = :defer: try later

begin transports
tofile:
  driver = appendfile
  file = ` + mailDir + `/mbox
  user = nobody

begin retry
*  *  F,1d,1h
`
}
