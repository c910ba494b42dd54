package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/testtool"
)

// The hostile-input harness: cohort files, settings, state files and
// mailbox contents chosen as a hostile operator or an unlucky disk would.
// Each case runs the real seftbot binary and asserts its exit code, that
// the error names the line, field or file, that no value is echoed, that
// no state was written (the run's own record and metrics apart), that it
// ended by itself (SIGTERM is sent after 20 s, a hang even on a loaded
// machine, and must end it within 2 s more), and its peak RSS.

const (
	project  = "NIC-402963-P0Y5D"
	canary   = "HOSTILE-CANARY-7c1e" // a value that must never be echoed
	peakRSS  = 300 << 20             // bytes, the bound for every case
	grace    = 20 * time.Second      // how long a case may run before SIGTERM: a hang, not a slow machine
	termWait = 2 * time.Second       // how long SIGTERM may take
)

type result struct {
	code           int
	stdout, stderr string
	maxRSS         int64 // bytes
	termed         bool  // still running after grace: SIGTERM was sent
	took           time.Duration
}

// runSeftbot runs the seftbot binary with only env (and PATH, HOME), stdin
// from in (nil: empty), SIGTERM after grace and SIGKILL (a failed test)
// termWait later. started, if set, is called with the running process.
func runSeftbot(t *testing.T, env []string, in io.Reader, args ...string) result {
	t.Helper()
	exe, err := exec.LookPath("seftbot") // testscript.Main put this test binary there as seftbot
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	cmd.Stdin = in
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The child's peak RSS counts what this process held when it forked:
	// give back what setting up the case used first.
	debug.FreeOSMemory()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var r result
	var werr error
	select {
	case werr = <-done:
	case <-time.After(grace):
		r.termed = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case werr = <-done:
		case <-time.After(termWait):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("seftbot %v outlived SIGTERM by %s\nstderr: %.2000s", args, termWait, stderr.String())
		}
	}
	r.took = time.Since(start)
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		t.Fatal(werr)
	}
	r.code = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss << 10 // KiB on Linux
	}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

// snapshot fingerprints every file under dir but the run's own record,
// the metrics and the lock, which every run writes.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		switch d.Name() {
		case "runs.jsonl", "runs.jsonl.1", "metrics.prom", "lock":
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		sum := ""
		if fi.Mode().IsRegular() && fi.Size() < 1<<20 {
			b, _ := os.ReadFile(p)
			sum = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		out[p] = fmt.Sprintf("%v %d %s", fi.Mode(), fi.Size(), sum)
		return nil
	})
	return out
}

type hostileCase struct {
	name  string
	setup func(t *testing.T, dir, state string) (env []string, in io.Reader, args []string)
	code  int
	want  []string // in stderr
	// runs.jsonl may grow by at most this much (0: 64 KiB)
	maxOut int // stdout+stderr bytes (0: 64 KiB)
	// termOK: the case is a wait that only SIGTERM ends (exit 130)
	termOK bool
}

// baseEnv logs in plain text, as on a terminal, so the checks read the
// messages as an operator does.
func baseEnv(state string, extra ...string) []string {
	return append([]string{"SEFTBOT_PROJECT_ID=" + project, "SEFTBOT_STATE_DIR=" + state, "SEFTBOT_LOG_FORMAT=text"}, extra...)
}

func writeFile(t *testing.T, path, s string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mkfifo(t *testing.T, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// endless is an input that never ends by itself: b repeated.
type endless struct{ b []byte }

func (e endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], e.b)
	}
	return n, nil
}

func TestHostileInputs(t *testing.T) {
	cases := []hostileCase{
		{name: "5,000,000 bad lines", code: ExitUsage,
			want: []string{"5000000 problems found", "line 2, column NHS_NO: NHS number must be exactly 10 digits", "and 4999900 more"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				p := writeRepeat(t, filepath.Join(dir, "bad.txt"), "", "x\n", 5_000_000, "")
				return baseEnv(state), nil, []string{"cohort", "add", p}
			}},
		{name: "a value is never echoed", code: ExitUsage,
			want: []string{"line 2, column FAMILY_NAME: contains a double quote", "line 3: looks like data"[:0] + "line 3, column FAMILY_NAME: starts with \"=\""},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				p := writeFile(t, filepath.Join(dir, "c.csv"), "NHS_NO,FAMILY_NAME\n9434765919,A\""+canary+"\n9434765870,="+canary+"\n")
				return baseEnv(state), nil, []string{"cohort", "add", p}
			}},
		{name: "data as the header is not echoed", code: ExitUsage, want: []string{"line 1: looks like data, not a header row"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				p := writeFile(t, filepath.Join(dir, "c.csv"), "9434765919,"+canary+"\n")
				return baseEnv(state), nil, []string{"cohort", "add", p}
			}},
		{name: "an unknown column that may be data is not echoed", code: ExitUsage, want: []string{"line 1: field 2 names no template column"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				p := writeFile(t, filepath.Join(dir, "c.csv"), "NHS_NO,"+strings.ToLower(canary)+"\n9434765919,x\n")
				return baseEnv(state), nil, []string{"cohort", "add", p}
			}},
		{name: "a FIFO as the cohort file", code: ExitUsage, want: []string{"is a FIFO (named pipe)", "fifo.csv"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				return baseEnv(state), nil, []string{"cohort", "add", mkfifo(t, filepath.Join(dir, "fifo.csv"))}
			}},
		{name: "/dev/zero as the cohort file", code: ExitUsage, want: []string{"the cohort file /dev/zero is a character device"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				return baseEnv(state), nil, []string{"cohort", "replace", "/dev/zero"}
			}},
		{name: "a directory as the cohort file", code: ExitUsage, want: []string{"is a directory"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				return baseEnv(state), nil, []string{"cohort", "import-held", dir}
			}},
		{name: "an endless line on standard input", code: ExitUsage, want: []string{"line 1 is longer than 64 KiB"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				return baseEnv(state), endless{[]byte(canary)}, []string{"cohort", "add", "-"}
			}},
		{name: "endless valid rows on standard input", code: ExitUsage, want: []string{"the input holds more rows than seftbot keeps in memory"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				return baseEnv(state), io.MultiReader(strings.NewReader("NHS_NO,FAMILY_NAME\n"), endless{[]byte("9434765919," + canary + "\n")}),
					[]string{"cohort", "add", "-"}
			}},
		{name: "a FIFO as the header template", code: ExitUsage, want: []string{"the header template", "is a FIFO"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				p := writeFile(t, filepath.Join(dir, "c.txt"), "9434765919\n")
				return baseEnv(state, "SEFTBOT_COHORT_HEADER_FILE="+mkfifo(t, filepath.Join(dir, "header.csv"))), nil, []string{"cohort", "add", p}
			}},
		{name: "/dev/zero as the header template", code: ExitUsage, want: []string{"the header template /dev/zero is a character device", "SEFTBOT_COHORT_HEADER_FILE"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				return baseEnv(state, "SEFTBOT_COHORT_HEADER_FILE=/dev/zero"), nil, []string{"cohort", "status"}
			}},
		{name: "a project ID that is a path", code: ExitUsage, want: []string{"project ID is missing or not a plain name"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				p := writeFile(t, filepath.Join(dir, "c.txt"), "9434765919\n")
				return []string{"SEFTBOT_STATE_DIR=" + state, "SEFTBOT_PROJECT_ID=../../" + canary}, nil, []string{"cohort", "add", p}
			}},
		{name: "a FIFO as the state directory", code: ExitUsage, want: []string{"state directory"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				p := writeFile(t, filepath.Join(dir, "c.txt"), "9434765919\n")
				return baseEnv(mkfifo(t, filepath.Join(dir, "statefifo"))), nil, []string{"cohort", "add", p}
			}},
		{name: "a FIFO as the env file", code: ExitUsage, want: []string{"the env file", "is a FIFO"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				return baseEnv(state), nil, []string{"--env-file", mkfifo(t, filepath.Join(dir, "env")), "cohort", "status"}
			}},
		{name: "a FIFO as a secret file", code: ExitUsage, want: []string{"the secret file", "is a FIFO", "SEFTBOT_DOWNLOAD_PASSWORD_FILE"[:0] + "check the *_FILE setting"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				return baseEnv(state, "SEFTBOT_PASSPHRASE_FILE="+mkfifo(t, filepath.Join(dir, "pass"))), nil,
					[]string{"archive", "--in", dir, "--out", filepath.Join(dir, "a.7z")}
			}},
		{name: "/dev/zero as the ledger", code: ExitUsage, want: []string{"the cohort ledger", "ledger.json is a character device"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				os.MkdirAll(filepath.Join(state, "cohort"), 0o700)
				os.Symlink("/dev/zero", filepath.Join(state, "cohort", "ledger.json"))
				return baseEnv(state), nil, []string{"cohort", "status"}
			}},
		{name: "a ledger past its size bound", code: ExitUsage, want: []string{"ledger.json is larger than 96 MiB"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				os.MkdirAll(filepath.Join(state, "cohort"), 0o700)
				f, err := os.Create(filepath.Join(state, "cohort", "ledger.json"))
				if err != nil {
					t.Fatal(err)
				}
				f.Truncate(100 << 20) // sparse: costs no disk
				f.Close()
				return baseEnv(state), nil, []string{"cohort", "status"}
			}},
		{name: "a FIFO as batch.json", code: ExitUsage, want: []string{"the pending batch", "batch.json is a FIFO"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				mkfifo(t, filepath.Join(state, "batch.json"))
				return baseEnv(state), nil, []string{"status"}
			}},
		{name: "a 16 MiB record in runs.jsonl", code: ExitOK, want: []string{"skipped run records too large to read", "cohort add", "exit=2"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				writeRepeat(t, filepath.Join(state, "runs.jsonl"),
					`{"verb":"cohort add","exit_code":2,"run_id":"r1","outcome":"failed"}`+"\n"+`{"verb":"fetch","run_id":"r2","error":"`,
					canary, 16<<20/len(canary), `"}`+"\n")
				return baseEnv(state), nil, []string{"status"}
			}},
		{name: "a FIFO as the manifest", code: ExitUsage, want: []string{"the manifest", "manifest.json is a FIFO"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				mkfifo(t, filepath.Join(state, "manifest.json"))
				return baseEnv(state, "SEFTBOT_DOWNLOAD_URL=https://127.0.0.1:1/", "SEFTBOT_DOWNLOAD_USER=u", "SEFTBOT_DOWNLOAD_PASSWORD="+canary,
					"SEFTBOT_STAGING_DIR="+filepath.Join(dir, "staging")), nil, []string{"download"}
			}},
		{name: "/dev/zero as a login latch", code: ExitUsage, want: []string{"the login latch", "login-latch-download.json is a character device"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				os.Symlink("/dev/zero", filepath.Join(state, "login-latch-download.json"))
				return baseEnv(state), nil, []string{"login-latch", "show", "--site", "download"}
			}},
		{name: "a FIFO as the inbox state", code: ExitUsage, want: []string{"the inbox state", "inbox.json is a FIFO"},
			setup: func(t *testing.T, dir, state string) ([]string, io.Reader, []string) {
				mkfifo(t, filepath.Join(state, "inbox.json"))
				return baseEnv(state, "SEFTBOT_IMAP_HOST=127.0.0.1", "SEFTBOT_IMAP_USER=u", "SEFTBOT_IMAP_PASSWORD="+canary), nil, []string{"cohort", "status"}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, "state")
			if err := os.Mkdir(state, 0o700); err != nil {
				t.Fatal(err)
			}
			env, in, args := tc.setup(t, dir, state)
			before := snapshot(t, state)
			runsBefore := fileSize(filepath.Join(state, "runs.jsonl"))
			r := runSeftbot(t, env, in, args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstderr: %.3000s", r.code, tc.code, r.stderr)
			}
			if r.termed {
				t.Errorf("needed SIGTERM after %s to end", grace)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stdout+r.stderr, w) {
					t.Errorf("output lacks %q\nstderr: %.3000s", w, r.stderr)
				}
			}
			if strings.Contains(r.stdout+r.stderr, canary) || strings.Contains(strings.ToUpper(r.stdout+r.stderr), canary) {
				t.Errorf("a value was echoed")
			}
			if n := len(r.stdout) + len(r.stderr); n > max(tc.maxOut, 64<<10) {
				t.Errorf("printed %d bytes, want at most %d", n, max(tc.maxOut, 64<<10))
			}
			if r.maxRSS > peakRSS {
				t.Errorf("peak RSS %d MB, want under %d MB", r.maxRSS>>20, peakRSS>>20)
			}
			if g := fileSize(filepath.Join(state, "runs.jsonl")) - runsBefore; g > 64<<10 {
				t.Errorf("runs.jsonl grew by %d bytes, want under 64 KiB", g)
			}
			after := snapshot(t, state)
			for p, v := range after {
				if before[p] != v {
					t.Errorf("%s was written", p)
				}
			}
			if u, err := safeio.Lock(context.Background(), filepath.Join(state, "lock"), "the state lock", 0); err != nil {
				t.Errorf("state lock not released: %v", err)
			} else {
				u()
			}
			t.Logf("exit %d in %s, peak RSS %d MB, %d bytes printed", r.code, r.took.Round(time.Millisecond), r.maxRSS>>20, len(r.stdout)+len(r.stderr))
		})
	}
}

// writeRepeat writes head, n times rep, then tail, without holding it all.
func writeRepeat(t *testing.T, path, head, rep string, n int, tail string) string {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(head)
	for range n {
		w.WriteString(rep)
	}
	w.WriteString(tail)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return path
}

func fileSize(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// startSimMail starts seftsim with an OAuth-only mailbox and signs seftbot
// in with the device flow; it returns the environment for seftbot.
func startSimMail(t *testing.T) (*sim.Sim, []string) {
	t.Helper()
	// seftsim's portal is not used, but sim.Start wants Chromium, as simstart does.
	testtool.Need(t, "scripts/install-deps.sh installs it", "chromium")
	s, err := sim.Start(context.Background(), sim.Options{Dir: t.TempDir(), Files: 0, SMTPAuth: "xoauth2", OAuthAutoApprove: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	env := []string{"SEFTBOT_OAUTH_FLOW=device", "SEFTBOT_OAUTH_CLIENT_SECRET=", "SEFTBOT_LOG_FORMAT=json"}
	if r := runSeftbot(t, env, nil, "--env-file", s.EnvFile(), "mail", "login"); r.code != 0 {
		t.Fatalf("mail login: exit %d\n%s", r.code, r.stderr)
	}
	return s, env
}

// TestHeldTokenLockEndsOnSIGTERM: a token cache lock held by another
// process used to block inbox for ever with the state lock held. seftbot
// now waits in a way SIGTERM ends at once: exit 130 within 2 s, the state
// lock released.
func TestHeldTokenLockEndsOnSIGTERM(t *testing.T) {
	s, env := startSimMail(t)
	state := filepath.Join(s.Dir(), "state")
	hold, err := safeio.Lock(context.Background(), filepath.Join(state, "oauth-token.json.lock"), "held by the test", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	exe, err := exec.LookPath("seftbot")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "--env-file", s.EnvFile(), "inbox")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Wait until it has the token cache lock's file open: it is then in
	// the wait (the state lock is taken before).
	lockPath := filepath.Join(state, "oauth-token.json.lock")
	for deadline := time.Now().Add(30 * time.Second); !hasOpen(cmd.Process.Pid, lockPath); {
		select {
		case err := <-done:
			t.Fatalf("inbox ended before waiting on the lock: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("inbox never opened the token cache lock")
		}
	}
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(termWait):
		cmd.Process.Kill()
		<-done
		t.Fatalf("inbox outlived SIGTERM by %s while waiting on a held token cache lock", termWait)
	}
	t.Logf("inbox ended %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	if c := cmd.ProcessState.ExitCode(); c != ExitInterrupted {
		t.Errorf("exit %d, want %d\n%s", c, ExitInterrupted, stderr.String())
	}
	if u, err := safeio.Lock(context.Background(), filepath.Join(state, "lock"), "the state lock", 0); err != nil {
		t.Errorf("state lock not released: %v", err)
	} else {
		u()
	}
}

// hasOpen says whether process pid has path open.
func hasOpen(pid int, path string) bool {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == path {
			return true
		}
	}
	return false
}

// TestHostileMailbox: notices too large to read, and notices full of NHS
// numbers, from NHS England's sender: inbox reads past them within its
// memory bound and echoes no identifier; the ledger is not touched.
func TestHostileMailbox(t *testing.T) {
	s, env := startSimMail(t)
	const nhs = "9434765919"
	mail := filepath.Join(s.Dir(), "mail")
	os.MkdirAll(mail, 0o700)
	head := func(subject string) string {
		return "From: seft-noreply@nhs.example\r\nTo: operator@isaric.example\r\nX-Envelope-To: operator@isaric.example\r\n" +
			"Date: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + subject[:4] + "@nhs.test>\r\nSubject: " + subject + "\r\n\r\n"
	}
	writeRepeat(t, filepath.Join(mail, "901.eml"), head("huge: there was a problem processing your file "+nhs), nhs+" "+canary+"\r\n", 400_000, "")
	writeRepeat(t, filepath.Join(mail, "902.eml"), head("new data "+nhs+" "+canary), nhs+" ", 50_000, "\r\n")
	writeFile(t, filepath.Join(mail, "903.eml"), head("SEFT file processing: "+canary)+strings.Repeat("\xff\x00=?utf-8?b?", 1000)+"\r\n")
	ledger := filepath.Join(s.Dir(), "state", "cohort", "ledger.json")
	before := fileSize(ledger)
	r := runSeftbot(t, env, nil, "--env-file", s.EnvFile(), "inbox")
	if r.code != 0 {
		t.Errorf("exit %d, want 0\n%.3000s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "new message(s)") {
		t.Errorf("stdout %q does not report the read", r.stdout)
	}
	if out := r.stdout + r.stderr; strings.Contains(out, nhs) || strings.Contains(out, canary) {
		t.Errorf("an identifier or a mail's text was echoed:\n%.3000s", out)
	}
	if r.maxRSS > peakRSS {
		t.Errorf("peak RSS %d MB", r.maxRSS>>20)
	}
	if r.termed {
		t.Error("inbox needed SIGTERM")
	}
	if fileSize(ledger) != before {
		t.Error("the ledger was written")
	}
	t.Logf("inbox: exit %d in %s, peak RSS %d MB; %s", r.code, r.took.Round(time.Millisecond), r.maxRSS>>20, strings.TrimSpace(r.stdout))
}

// TestHeldStateLockNamesHolder: a second run exits 4 at once and names the
// process that holds the state lock.
func TestHeldStateLockNamesHolder(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	os.Mkdir(state, 0o700)
	hold, err := safeio.Lock(context.Background(), filepath.Join(state, "lock"), "held by the test", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer hold()
	p := writeFile(t, filepath.Join(t.TempDir(), "ids.txt"), "9434765919\n")
	r := runSeftbot(t, baseEnv(state), nil, "cohort", "add", p)
	if r.code != ExitLocked || !strings.Contains(r.stderr, fmt.Sprintf("held by process %d", os.Getpid())) || r.termed {
		t.Fatalf("exit %d (termed %v), want %d naming pid %d\n%s", r.code, r.termed, ExitLocked, os.Getpid(), r.stderr)
	}
}
