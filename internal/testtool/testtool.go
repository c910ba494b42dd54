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
	"time"
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

// WaitFor is the tests' one way to wait for something another process or
// goroutine does without telling us (a server that starts listening, a file
// that appears): it checks cond until it holds, backing off from 5 ms to
// 100 ms, and fails the test naming what never happened once timeout has
// passed. A test that can wait on a channel or an event does that instead.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("%s: not within %s", what, timeout)
	}
}

// Poll is WaitFor for a caller that decides itself what a timeout means: it
// reports whether cond held before timeout passed.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	pause := 5 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
	return true
}
