package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
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
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/testtool"
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

// logWatch sees a running seftbot's JSON log (its stderr) line by line,
// as well as keeping it: seen(msg, n) is closed once n lines with that
// "msg" have been written. The test waits on what the run says it did,
// not on time.
type logWatch struct {
	mu      sync.Mutex
	partial []byte
	counts  map[string]int
	waits   map[string]map[int]chan struct{}
}

// watchLog tees cmd's stderr (set by seftbotCmd) into a logWatch. Call
// before cmd.Start.
func watchLog(cmd *exec.Cmd) *logWatch {
	w := &logWatch{counts: map[string]int{}, waits: map[string]map[int]chan struct{}{}}
	cmd.Stderr = io.MultiWriter(cmd.Stderr, w)
	return w
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		var line struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal(w.partial[:i], &line) == nil && line.Msg != "" {
			w.counts[line.Msg]++
			if ch := w.waits[line.Msg][w.counts[line.Msg]]; ch != nil {
				close(ch)
			}
		}
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

// seen returns a channel closed once n lines with msg have been logged.
func (w *logWatch) seen(msg string, n int) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	if w.counts[msg] >= n {
		close(ch)
		return ch
	}
	if w.waits[msg] == nil {
		w.waits[msg] = map[int]chan struct{}{}
	}
	if old := w.waits[msg][n]; old != nil {
		return old
	}
	w.waits[msg][n] = ch
	return ch
}

// startWaited starts cmd and returns a channel that gets its Wait error.
func startWaited(t *testing.T, cmd *exec.Cmd) <-chan error {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return done
}

// awaitLog waits until the run has logged msg n times. It fails the test
// if the run exits first, or after limit (a bound on a hang, not a pause).
func awaitLog(t *testing.T, cmd *exec.Cmd, done <-chan error, w *logWatch, stderr *bytes.Buffer, msg string, n int, limit time.Duration) {
	t.Helper()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-w.seen(msg, n):
	case err := <-done:
		t.Fatalf("seftbot exited (%v) before logging %q %d times\n%s", err, msg, n, stderr)
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("seftbot did not log %q %d times within %s\n%s", msg, n, limit, stderr)
	}
}

// awaitNoBrowsers polls until no browser process of ours is alive; limit
// only bounds the failure (a killed browser dies a moment after the kill).
func awaitNoBrowsers(t *testing.T, limit time.Duration) {
	t.Helper()
	testtool.WaitFor(t, limit, "no browser process of ours alive", func() bool { return len(ourBrowsers()) == 0 })
}

// TestKill9ThenRerun: kill -9 in the middle of a run leaves no browser
// behind; the next run completes with only the missing files and no
// duplicates.
func TestKill9ThenRerun(t *testing.T) {
	s := startSim(t, sim.Options{Files: 40, FileSize: 500_000, Seed: 9, Faults: sim.Faults{Latency: 20 * time.Millisecond}})
	o := simOptions(t, s, SiteDownload)
	cmd, _, stderr := seftbotCmd(t, s, nil, "download")
	w := watchLog(cmd)
	done := startWaited(t, cmd)
	// Each "fetched" line is logged once the file is in the manifest.
	awaitLog(t, cmd, done, w, stderr, "fetched", 8, 60*time.Second)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	// Chromium dies with its parent (Pdeathsig), a moment after it.
	awaitNoBrowsers(t, 5*time.Second)
	had, _ := staging.LoadManifest(o.StateDir)
	if len(had) < 8 {
		t.Fatalf("the manifest has %d files after 8 were logged as fetched", len(had))
	}
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
		w := watchLog(cmd)
		done := startWaited(t, cmd)
		// Signal once it is signed in and clicking (a signal during the
		// answer to the password would rightly latch the login).
		awaitLog(t, cmd, done, w, stderr, "fetched", 1, 30*time.Second)
		_ = cmd.Process.Signal(sig)
		err := <-done
		if code := exitCode(err); code != 130 {
			t.Errorf("%v: exit code %d, want 130\n%s", sig, code, stderr)
		}
		checkNoLeaks(t)
	}
}
