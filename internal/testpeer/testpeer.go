// Package testpeer finds the real peers (Exim, swaks, Postfix tools, ...)
// that interop tests run against. A test asks for a peer with [Need]: when
// the peer is missing the test is skipped with a one-line reason, unless
// EXIGO_REQUIRE_PEERS=1 (set by ./scripts/test), where a missing peer fails
// the test.
package testpeer

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether missing peers are failures (EXIGO_REQUIRE_PEERS=1).
func Required() bool { return os.Getenv("EXIGO_REQUIRE_PEERS") == "1" }

// Need returns the path of the named program, looked up in PATH and in the
// extra directories given. When it is missing it skips the test, or fails it
// when peers are required. pkg names the Debian package that provides it.
func Need(t testing.TB, program, pkg string, dirs ...string) string {
	t.Helper()
	for _, d := range dirs {
		p := d + "/" + program
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	Missing(t, program+" not installed (Debian package "+pkg+")")
	return ""
}

// Missing skips (or fails, when peers are required) with the reason.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("peer missing: %s", reason)
	}
	t.Skip("peer missing: " + reason)
}
