package arc

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exigo-mta/exigo/internal/testpeer"
)

// mailDKIMScript drives Mail::DKIM's ARC verifier and signer with DNS
// replaced by a records file (Mail::DKIM::DNS::query overridden).
const mailDKIMScript = `
use strict; use warnings;
use Mail::DKIM::ARC::Verifier; use Mail::DKIM::ARC::Signer; use Net::DNS;
my ($mode, $dnsfile, @rest) = @ARGV;
my %recs;
open(my $fh, '<', $dnsfile) or die "$dnsfile: $!";
while (my $l = <$fh>) { chomp $l; next unless length $l; my ($n, $v) = split / /, $l, 2; $recs{lc $n} = $v; }
{
  no warnings 'redefine';
  *Mail::DKIM::DNS::query = sub {
    my ($name, $type) = @_;
    my $v = $recs{lc $name};
    return () unless defined $v && $type eq 'TXT';
    my @chunks; while (length $v) { push @chunks, substr($v, 0, 255, ''); }
    return (Net::DNS::RR->new(name => $name, type => 'TXT', txtdata => [@chunks]));
  };
}
binmode STDIN; binmode STDOUT;
my $msg = do { local $/; <STDIN> };
$msg =~ s/\r?\n/\r\n/g;
if ($mode eq 'verify') {
  my $v = Mail::DKIM::ARC::Verifier->new();
  $v->PRINT($msg); $v->CLOSE;
  print $v->result, "\n", ($v->result_detail // ''), "\n";
} else {
  my ($keyfile, $sel, $dom, $srv) = @rest;
  my $s = Mail::DKIM::ARC::Signer->new(Algorithm => 'rsa-sha256', Chain => 'ar',
    Domain => $dom, SrvId => $srv, Selector => $sel, KeyFile => $keyfile,
    Headers => 'from:to:subject:date:message-id');
  $s->PRINT($msg); $s->CLOSE;
  die "Mail::DKIM did not seal: " . $s->result . " " . ($s->result_detail // '') . "\n"
    unless $s->result eq 'sealed';
  my $h = $s->as_string; $h =~ s/\r?\n/\r\n/g; $h .= "\r\n" unless $h =~ /\r\n$/;
  print $h, $msg;
}
`

func mailDKIM(t testing.TB, stdin []byte, args ...string) string {
	t.Helper()
	perl := testpeer.Need(t, "perl", "libmail-dkim-perl", "/usr/bin")
	if err := exec.Command(perl, "-MMail::DKIM::ARC::Verifier", "-MNet::DNS", "-e", "1").Run(); err != nil {
		testpeer.Missing(t, "perl module Mail::DKIM::ARC missing (Debian package libmail-dkim-perl)")
	}
	script := filepath.Join(t.TempDir(), "arc.pl")
	if err := os.WriteFile(script, []byte(mailDKIMScript), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(perl, append([]string{script}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Mail::DKIM %s: %v\n%s", args[0], err, stderr.String())
	}
	return string(out)
}

func mailDKIMVerify(t *testing.T, msg []byte) string {
	t.Helper()
	out := mailDKIM(t, msg, "verify", writeDNSFile(t, keysOnce().records))
	res, detail, _ := strings.Cut(out, "\n")
	t.Logf("Mail::DKIM: %s %s", res, strings.TrimSpace(detail))
	return res
}

func mailDKIMSign(t *testing.T, msg []byte, admd, key string) []byte {
	t.Helper()
	kf := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(kf, keysOnce().rsaPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	msg = withAR(admd, mailDKIMVerify(t, msg), msg)
	return []byte(mailDKIM(t, msg, "sign", writeDNSFile(t, keysOnce().records), kf, key, admd, admd))
}

// TestInteropMailDKIM chains sets made by exigo, Mail::DKIM and dkimpy
// (rsa-sha256: Mail::DKIM's ARC signer supports nothing else) and checks
// that all three see pass, and fail after a change.
func TestInteropMailDKIM(t *testing.T) {
	vs := map[string]verifier{"exigo": exigoVerify, "dkimpy": dkimpyVerify, "maildkim": mailDKIMVerify}
	signers := map[string]signer{"exigo": exigoSign, "dkimpy": dkimpySign, "maildkim": mailDKIMSign}
	for _, order := range [][]string{
		{"maildkim"}, {"maildkim", "maildkim"},
		{"exigo", "maildkim", "exigo"}, {"maildkim", "exigo", "maildkim"},
		{"exigo", "dkimpy", "maildkim"}, {"maildkim", "dkimpy", "exigo"},
	} {
		t.Run(strings.Join(order, "-"), func(t *testing.T) {
			t.Parallel()
			runChain(t, order, "rsa", signers, vs)
		})
	}
	t.Run("exigo", func(t *testing.T) {
		t.Parallel()
		runChain(t, []string{"exigo"}, "rsa", signers, map[string]verifier{"maildkim": mailDKIMVerify})
	})
}
