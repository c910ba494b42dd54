package testtool

import (
	"os"
	"os/exec"
	"testing"
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
