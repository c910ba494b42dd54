package job_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/staging"
)

// download runs what `seftbot download [--out dir] [--all]` runs.
func (w *world) download(out string, all bool) *portal.DownloadResult {
	w.t.Helper()
	o := w.options()
	po := o.Portal
	po.StateDir, po.All = o.StateDir, all
	if out != "" {
		po.StagingDir = out
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := portal.Download(ctx, po)
	if err != nil {
		w.t.Fatalf("download: %v", err)
	}
	return res
}

// TestManualDownloadElsewhereDoesNotHide: files fetched by hand into
// another directory are still fetched and relayed by the nightly job (they
// used to be recorded as had, so fetch said "nothing new" and they expired).
func TestManualDownloadElsewhereDoesNotHide(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 3, FileSize: 8 << 10})
	want := w.published()
	if res := w.download(t.TempDir(), false); len(res.New) != 3 {
		t.Fatalf("manual download fetched %d, want 3", len(res.New))
	}
	res, err := w.fetch()
	if err != nil {
		t.Fatalf("fetch after a manual download elsewhere: %v\n%s", err, w.log)
	}
	if res.Record.Files != 3 {
		t.Errorf("fetch delivered %d files, want 3", res.Record.Files)
	}
	sameFiles(t, w.checkDelivered(1), want)
	checkLogLines(t, w.log.String())
}

// checkLogLines: every line is one JSON object, and the mail lines are
// there with the run's id (they used to go to the package-level logger).
func checkLogLines(t *testing.T, logs string) {
	t.Helper()
	mails := 0
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if m["msg"] == "mail sent" {
			mails++
			if m["run_id"] == nil {
				t.Errorf("mail line without run_id: %q", line)
			}
		}
	}
	if mails == 0 {
		t.Error("no \"mail sent\" line in the run's log")
	}
}

// TestDownloadAllDoesNotResend: `download --all` after a delivery fetches
// everything again into staging, and the next fetch does not send the
// delivered files a second time; `fetch --resend` does.
func TestDownloadAllDoesNotResend(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 5, FileSize: 8 << 10})
	want := w.published()
	if _, err := w.fetch(); err != nil {
		t.Fatalf("night 1: %v", err)
	}
	if res := w.download("", true); len(res.New) != 5 {
		t.Fatalf("download --all fetched %d, want 5", len(res.New))
	}
	res, err := w.fetch()
	if !errors.Is(err, job.ErrNothingNew) {
		t.Fatalf("fetch after download --all: %v (%+v), want nothing new", err, res)
	}
	sameFiles(t, w.checkDelivered(1), want)
	if n := w.stagingFiles(); n != 5 {
		t.Errorf("%d files kept in staging, want the 5 fetched again", n)
	}
	o := w.options()
	o.Resend = true
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if res, err := job.Fetch(ctx, o); err != nil || res.Record.Files != 5 {
		t.Fatalf("fetch --resend: %v %+v", err, res)
	}
	if n := len(w.routed()); n != 2 {
		t.Errorf("%d archives routed, want 2 (one resent)", n)
	}
}

// TestDownloadTakesTheLock: `seftbot download` while a run holds the state
// exits 4 at once and fetches nothing.
func TestDownloadTakesTheLock(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 2, FileSize: 1 << 10})
	st, err := job.Open(w.options().StateDir)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := st.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	cmd := exec.Command(seftbotBinary(t), "--env-file", w.sim.EnvFile(), "download")
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Fatalf("download under the lock: %v, want exit 4\n%s", err, out)
	}
	if files, _ := staging.LoadManifest(w.options().StateDir); len(files) != 0 {
		t.Errorf("download under the lock fetched %d files", len(files))
	}
}

// TestFetchKilledAfterPassphraseRemoved: the run stops the instant after the
// kept passphrase was removed, before the stage is recorded (a kill there
// used to wedge every later run with "internal error"). The next run
// finishes, sends no second passphrase mail, and later nights work.
func TestFetchKilledAfterPassphraseRemoved(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 4, FileSize: 8 << 10})
	want := w.published()
	o := w.options()
	job.SetPassphraseRemoved(&o, runtime.Goexit) // the run dies here
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = w.fetchWith(o)
	}()
	<-done
	if _, err := os.Stat(layout.State{Dir: w.options().StateDir}.Passphrase()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the kept passphrase is still there (%v): the run did not stop where the wedge was", err)
	}
	res, err := w.fetch()
	if err != nil {
		t.Fatalf("the run after the kill: %v\n%s", err, w.log)
	}
	if !res.Resumed {
		t.Error("the run after the kill did not resume the killed one")
	}
	sameFiles(t, w.checkDelivered(1), want)
	if _, err := w.sim.Publish(2, 4<<10); err != nil {
		t.Fatal(err)
	}
	if res, err := w.fetch(); err != nil || res.Record.Files != 2 {
		t.Fatalf("the next night: %v %+v", err, res)
	}
}

// TestPassphraseLostIsIntegrity: a kept passphrase that vanished before it
// was sent is an integrity failure (exit 13), not a bug.
func TestPassphraseLostIsIntegrity(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 2, FileSize: 4 << 10, Faults: sim.Faults{SMTPDown: true}})
	if _, err := w.fetch(); err == nil {
		t.Fatal("the run with SMTP down succeeded")
	}
	if err := os.Remove(layout.State{Dir: w.options().StateDir}.Passphrase()); err != nil {
		t.Fatal(err)
	}
	w.sim.SetFaults(sim.Faults{})
	_, err := w.fetch()
	if !errors.Is(err, layout.ErrIntegrity) {
		t.Fatalf("resume without the kept passphrase: %v, want layout.ErrIntegrity", err)
	}
}

// TestResumedRunAlsoFetchesNew: a run that finishes yesterday's
// interrupted batch also delivers what was published since, the same night.
func TestResumedRunAlsoFetchesNew(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 6, FileSize: 8 << 10, Faults: sim.Faults{SMTPDown: true}})
	if _, err := w.fetch(); err == nil {
		t.Fatal("the run with SMTP down succeeded")
	}
	if _, err := w.sim.Publish(4, 8<<10); err != nil {
		t.Fatal(err)
	}
	all := w.published()
	w.sim.SetFaults(sim.Faults{})
	res, err := w.fetch()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, w.log)
	}
	if !res.Resumed || res.Previous == nil || res.Record.Files != 4 {
		t.Fatalf("resume did not go on to the new files: resumed=%v previous=%v record=%+v", res.Resumed, res.Previous, res.Record)
	}
	sameFiles(t, w.checkDelivered(2), all)
	// A resume with nothing new after it is a success, not "nothing new".
	w.sim.SetFaults(sim.Faults{SMTPDown: true})
	if _, err := w.sim.Publish(1, 1<<10); err != nil {
		t.Fatal(err)
	}
	if _, err := w.fetch(); err == nil {
		t.Fatal("the run with SMTP down succeeded")
	}
	w.sim.SetFaults(sim.Faults{})
	if res, err := w.fetch(); err != nil || !res.Resumed || res.Previous != nil {
		t.Fatalf("resume with nothing new after it: %v %+v", err, res)
	}
}

var _ = filepath.Join
