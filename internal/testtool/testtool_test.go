package testtool

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestMissingFailsInCI runs a child test with and without CI set: a missing
// tool must fail the child in CI and skip it elsewhere.
func TestMissingFailsInCI(t *testing.T) {
	if os.Getenv("TESTTOOL_CHILD") == "1" {
		Need(t, "never installed", "seftbot-no-such-tool-anywhere")
		return
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{{"1", true}, {"", false}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingFailsInCI$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTTOOL_CHILD=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.wantFail {
			t.Errorf("CI=%q: failed=%v, want %v\n%s", tc.ci, failed, tc.wantFail, out)
		}
	}
}

func TestNeedFindsATool(t *testing.T) {
	if p := Need(t, "coreutils", "no-such-tool-xyz", "sh"); p == "" {
		t.Fatal("sh not found")
	}
}

func TestPoll(t *testing.T) {
	n := 0
	if !Poll(5*time.Second, func() bool { n++; return n == 3 }) {
		t.Fatal("a condition that holds on the third check timed out")
	}
	if n != 3 {
		t.Fatalf("checked %d times, want 3", n)
	}
	if Poll(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("a condition that never holds was reported as met")
	}
}
