// Package testtool is how a test asks for what it cannot run without (a
// system tool, root): on a developer's machine a missing one skips the test
// with the reason, but where CI is set it fails it, because CI installs
// everything (scripts/install-deps.sh) and a skip there would hide a broken
// setup behind a green run.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Missing stops the test: Fatal in CI, Skip elsewhere.
func Missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why + " (CI is set, so this is a broken setup, not a reason to skip)")
	}
	t.Skip(why)
}

// Need returns the path of the first of names found on PATH (or given as an
// absolute path that exists), and stops the test through Missing when none is.
func Need(t testing.TB, hint string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	Missing(t, names[0]+" is not installed ("+hint+")")
	return ""
}

// NeedRoot stops the test through Missing unless it runs as root.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root: "+why)
	}
}
