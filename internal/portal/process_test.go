package portal

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/sim"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// seftbotBinary builds the real command once per test run.
func seftbotBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath = filepath.Join(tmpRoot, "bin", "seftbot")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/isaric/seftbot/cmd/seftbot").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return binPath
}

// seftbotCmd prepares `seftbot --env-file DIR/seftbot.env args...` with a
// clean SEFTBOT_* environment and no display.
func seftbotCmd(t *testing.T, s *sim.Sim, extraEnv []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(seftbotBinary(t), append([]string{"--env-file", s.EnvFile(), "--log-format", "json"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SEFTBOT_") && !strings.HasPrefix(kv, "DISPLAY=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "SEFTBOT_STAGING_DIR="+filepath.Join(s.Dir(), "staging"))
	cmd.Env = append(cmd.Env, extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestWrongPassword: exactly one login attempt, exit code 5, a clear
// message, and the password never printed.
func TestWrongPassword(t *testing.T) {
	s := startSim(t, sim.Options{Files: 3})
	const wrong = "not-the-password-Xy7"
	cmd, stdout, stderr := seftbotCmd(t, s, []string{"SEFTBOT_DOWNLOAD_PASSWORD=" + wrong}, "download")
	err := cmd.Run()
	if code := exitCode(err); code != 5 {
		t.Fatalf("exit code %d, want 5\nstderr: %s", code, stderr)
	}
	acct := s.State().Accounts["download"]
	if acct.FailedLogins != 1 || acct.Locked {
		t.Errorf("failed logins %d, locked %v; want exactly 1 attempt, not locked", acct.FailedLogins, acct.Locked)
	}
	if !strings.Contains(stderr.String(), "login rejected") || !strings.Contains(stderr.String(), "not retrying") {
		t.Errorf("stderr lacks a clear message:\n%s", stderr)
	}
	if strings.Contains(stderr.String()+stdout.String(), wrong) {
		t.Error("the password was printed")
	}
	checkNoLeaks(t)
}

// TestKill9ThenRerun: kill -9 in the middle of a run leaves no browser
// behind; the next run completes with only the missing files and no
// duplicates.
func TestKill9ThenRerun(t *testing.T) {
	s := startSim(t, sim.Options{Files: 40, FileSize: 500_000, Seed: 9, Faults: sim.Faults{Latency: 20 * time.Millisecond}})
	o := simOptions(t, s, SiteDownload)
	cmd, _, stderr := seftbotCmd(t, s, nil, "download")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		files, _ := LoadManifest(o.StateDir)
		if len(files) >= 8 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no progress before the kill; stderr: %s", stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// Chromium dies with its parent (Pdeathsig), children follow.
	deadline = time.Now().Add(5 * time.Second)
	for len(ourBrowsers()) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if pids := ourBrowsers(); len(pids) > 0 {
		t.Errorf("after kill -9, %d browser processes live on: %v", len(pids), pids)
	}
	had, _ := LoadManifest(o.StateDir)
	if len(had) == 40 {
		t.Fatal("the run finished before the kill; nothing tested")
	}

	cmd, stdout, stderr := seftbotCmd(t, s, nil, "download")
	if err := cmd.Run(); err != nil {
		t.Fatalf("re-run: %v\n%s", err, stderr)
	}
	want := "new " + strconv.Itoa(40-len(had)) + ", skipped " + strconv.Itoa(len(had)) + ", failed 0"
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("re-run summary %q, want %q", stdout.String(), want)
	}
	if n := checkStaging(t, s, o); n != 40 {
		t.Fatalf("staging %d, want 40", n)
	}
	checkNoLeaks(t) // also: the killed run's profile directory was swept
}

// TestSignalsNoLeak: SIGINT and SIGTERM end a run with exit code 130 and
// take the browser down with it.
func TestSignalsNoLeak(t *testing.T) {
	s := startSim(t, sim.Options{Files: 30, Faults: sim.Faults{Latency: 100 * time.Millisecond}})
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		cmd, _, stderr := seftbotCmd(t, s, nil, "download", "--all")
		started := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for len(ourBrowsers()) == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		// Signal once it is signed in and clicking (a signal during the
		// answer to the password would rightly latch the login).
		o := simOptions(t, s, SiteDownload)
		clicking := func() bool {
			files, _ := LoadManifest(o.StateDir)
			for _, f := range files {
				if f.FetchedAt.After(started) {
					return true
				}
			}
			return false
		}
		for !clicking() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		_ = cmd.Process.Signal(sig)
		err := cmd.Wait()
		if code := exitCode(err); code != 130 {
			t.Errorf("%v: exit code %d, want 130\n%s", sig, code, stderr)
		}
		checkNoLeaks(t)
	}
}
