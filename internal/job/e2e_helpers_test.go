package job_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/archive"
	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/notify"
	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/sim/mailsink"
	"github.com/isaric/seftbot/internal/sim/sftpdrop"
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/testtool"
)

// world is one seftsim with everything seftbot needs to run against it.
type world struct {
	t   *testing.T
	sim *sim.Sim
	src *config.Source
	log *testtool.Buffer
}

func newWorld(t *testing.T, opts sim.Options) *world {
	t.Helper()
	testtool.Need(t, "scripts/install-deps.sh installs it", "chromium")
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Seed == 0 {
		opts.Seed = 7
	}
	s, err := sim.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	src, err := config.Load(s.EnvFile(), true, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, sim: s, src: src, log: &testtool.Buffer{}}
}

// options resolves the job's options exactly as `seftbot fetch` does, with
// logs captured so the test can scan them for secrets.
func (w *world) options() job.Options {
	w.t.Helper()
	o, err := job.OptionsFromSource(w.src)
	if err != nil {
		w.t.Fatal(err)
	}
	o.Log = slog.New(slog.NewJSONHandler(w.log, nil))
	o.Portal.Log = o.Log
	return o
}

func (w *world) fetch() (*job.Result, error) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return job.Fetch(ctx, w.options())
}

// published reads seftsim's published.sha256: name -> sha256.
func (w *world) published() map[string]string {
	w.t.Helper()
	b, err := os.ReadFile(w.sim.PublishedFile())
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			w.t.Fatalf("bad published.sha256 line %q", line)
		}
		out[name] = sum
	}
	return out
}

// routed returns the archives the drop routed, checking that no isaric-*
// name was ever visible while partial.
func (w *world) routed() []sftpdrop.Routed {
	w.t.Helper()
	dir := w.sim.Dir()
	events, err := sftpdrop.ReadEvents(filepath.Join(dir, "sftp-events.jsonl"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		w.t.Fatal(err)
	}
	routed, err := sftpdrop.ReadRouted(filepath.Join(dir, "sftp-routed.jsonl"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		w.t.Fatal(err)
	}
	if bad := sftpdrop.PartialRouted(events, routed); len(bad) > 0 {
		w.t.Errorf("isaric-* names seen partial on the drop: %v", bad)
	}
	return routed
}

// mails returns the messages in the sink, split into passphrase mails and others.
func (w *world) mails() (secure, other []mailsink.Message) {
	w.t.Helper()
	msgs, err := mailsink.ReadMessages(filepath.Join(w.sim.Dir(), "mail"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		w.t.Fatal(err)
	}
	for _, m := range msgs {
		if strings.HasPrefix(strings.ToLower(m.Subject), "[secure]") {
			secure = append(secure, m)
		} else {
			other = append(other, m)
		}
	}
	return secure, other
}

func passphraseOf(t *testing.T, m mailsink.Message) string {
	t.Helper()
	for _, line := range strings.Split(m.Text, "\n") {
		if p, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), notify.PassphraseLinePrefix); ok {
			return p
		}
	}
	t.Fatalf("no %q line in the passphrase mail", notify.PassphraseLinePrefix)
	return ""
}

// extract unpacks archive with Debian's 7-Zip, the passphrase on stdin, and
// returns where, and name -> sha256 of what came out.
func extract(t *testing.T, archivePath, passphrase string) (string, map[string]string) {
	t.Helper()
	// The only check that a third party can open our archives.
	bin := testtool.Need(t, "scripts/install-deps.sh installs 7zip", "7zz", "7z")
	out := t.TempDir()
	cmd := exec.Command(bin, "x", "-o"+out, archivePath)
	cmd.Stdin = strings.NewReader(passphrase + "\n")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s x: %v\n%s", bin, err, b)
	}
	// What the analysts run: the archive's SHA256SUMS must check out.
	check := exec.Command("sha256sum", "-c", "--strict", "--quiet", archive.SumsName)
	check.Dir = out
	if b, err := check.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c %s after %s x: %v\n%s", archive.SumsName, bin, err, b)
	}
	got := map[string]string{}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if e.Name() != archive.SumsName {
			got[e.Name()] = sha256File(t, filepath.Join(out, e.Name()))
		}
	}
	return out, got
}

// stagingFiles counts the clear-text files left in staging.
func (w *world) stagingFiles() int {
	n, _ := (staging.Area{Dir: w.options().StagingDir}).Leftovers()
	return n
}

var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "seftbot-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "seftbot")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/seftbot").CombinedOutput()
	if err != nil {
		return "", errors.New(string(out))
	}
	return bin, nil
})

// seftbotBinary builds the real command once per test binary.
func seftbotBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// killAtStage runs `seftbot fetch` as a process and kill -9s it as soon as
// it logs the start of stage. It reports whether the kill happened.
func (w *world) killAtStage(stage string) bool { return w.killAtLog("stage start", stage) }

// killAtLog runs `seftbot fetch` as a process and kill -9s it as soon as it
// logs msg for stage ("stage start" or "stage done").
func (w *world) killAtLog(msg, stage string) bool {
	w.t.Helper()
	cmd := exec.Command(seftbotBinary(w.t), "--env-file", w.sim.EnvFile(), "--log-format", "json", "fetch")
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		w.log.Write([]byte(line + "\n"))
		if strings.Contains(line, `"msg":"`+msg+`"`) && strings.Contains(line, `"stage":"`+stage+`"`) {
			_ = cmd.Process.Kill() // SIGKILL
			killed = true
			break
		}
	}
	_, _ = io.Copy(w.log, stderr)
	_ = cmd.Wait()
	return killed
}

// killWhen runs `seftbot fetch` as a process and kill -9s it as soon as
// cond holds (polled every millisecond). It reports whether the kill
// happened before the run ended.
func (w *world) killWhen(cond func() bool) bool {
	w.t.Helper()
	cmd := exec.Command(seftbotBinary(w.t), "--env-file", w.sim.EnvFile(), "--log-format", "json", "fetch")
	cmd.Env = cleanEnv()
	cmd.Stderr = w.log
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			return false
		case <-tick.C:
			if cond() {
				_ = cmd.Process.Kill() // SIGKILL
				<-exited
				return true
			}
		}
	}
}

// cleanEnv is the environment without any SEFTBOT_* setting of the caller.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SEFTBOT_") {
			env = append(env, kv)
		}
	}
	return env
}
