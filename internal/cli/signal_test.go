package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCohortAddSIGTERM sends SIGTERM to `seftbot cohort add -` while it is
// still reading standard input: it must stop at once with exit 130 and plan
// nothing, even though its input never ends, and then once it ends.
func TestCohortAddSIGTERM(t *testing.T) {
	exe, err := exec.LookPath("seftbot") // testscript.Main put this test binary there as seftbot
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cmd := exec.Command(exe, "cohort", "add", "-")
	cmd.Env = append(os.Environ(), "SEFTBOT_PROJECT_ID=NIC-402963-P0Y5D", "SEFTBOT_STATE_DIR="+state)
	cmd.Stdin = pr
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// Valid rows, then wait until seftbot has read them all: it is then
	// inside the plan, with its signal handler installed.
	if _, err := pw.WriteString("NHS_NO\n9990000018\n9990000077\n"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		n, err := unix.IoctlGetInt(int(pw.Fd()), unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("seftbot never read its input")
		}
		select {
		case err := <-done:
			t.Fatalf("seftbot exited before the signal: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var werr error
	select {
	case werr = <-done:
	case <-time.After(30 * time.Second):
		// Still reading: end the input, so the test shows what it then does.
		pw.Close()
		werr = <-done
		t.Errorf("seftbot went on reading standard input after SIGTERM")
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() != ExitInterrupted {
		t.Errorf("exit %v, want %d\n%s", werr, ExitInterrupted, stderr.String())
	}
	if b, err := os.ReadFile(filepath.Join(state, "cohort", "ledger.json")); err == nil && strings.Contains(string(b), `"S1"`) {
		t.Errorf("a plan was saved after SIGTERM:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(state, "cohort", "steps", "S1.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("step file after SIGTERM: %v", err)
	}
}
