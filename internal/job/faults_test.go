package job_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/notify"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/testtool"
)

// TestFetchMailDownThenResume: the SMTP server is down, so the archive is
// relayed but the passphrase cannot be sent. The next run sends only the mail.
func TestFetchMailDownThenResume(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 20, FileSize: 16 << 10, Faults: sim.Faults{SMTPDown: true}})
	want := w.published()
	_, err := w.fetch()
	if !errors.Is(err, notify.ErrMail) {
		t.Fatalf("with SMTP down: %v, want ErrMail", err)
	}
	if n := len(w.routed()); n != 1 {
		t.Fatalf("%d archives routed before the mail failure, want 1", n)
	}
	if n := w.stagingFiles(); n != 0 {
		t.Errorf("clear text kept after the relay: %d files", n)
	}

	w.sim.SetFaults(sim.Faults{})
	res, err := w.fetch()
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	if !res.Resumed {
		t.Error("the second run did not resume the first")
	}
	sameFiles(t, w.checkDelivered(1), want)
}

// TestFetchKilledAtEachStage kill -9s a real seftbot process as each stage
// starts and as each is recorded done; one more run must deliver every file
// exactly once, with no partial isaric-* on the drop (routed checks) and no
// clear text left behind. (Kills inside a stage: TestFetchKilledMidUpload,
// TestFetchKilledAfterPassphraseRemoved, TestFetchChromiumKilled.)
func TestFetchKilledAtEachStage(t *testing.T) {
	stages := []string{job.StageDownload, job.StageCollect, job.StageArchive, job.StageRelay,
		job.StageWipe, job.StagePassphrase, job.StageReport}
	for _, msg := range []string{"stage start", "stage done"} {
		for _, stage := range stages {
			t.Run(strings.ReplaceAll(msg, " ", "-")+"/"+stage, func(t *testing.T) {
				w := newWorld(t, sim.Options{Files: 12, FileSize: 16 << 10})
				want := w.published()
				if !w.killAtLog(msg, stage) {
					t.Fatalf("the run never logged %s %s\n%s", msg, stage, w.log)
				}
				res, err := w.fetch()
				if err != nil {
					t.Fatalf("re-run after kill -9 at %s %s: %v\n%s", msg, stage, err, w.log)
				}
				resumable := !(stage == job.StageDownload || (stage == job.StageCollect && msg == "stage start"))
				if resumable && !res.Resumed {
					t.Errorf("the re-run did not resume the killed run")
				}
				sameFiles(t, w.checkDelivered(1), want)
				if n := w.stagingFiles(); n != 0 {
					t.Errorf("%d clear-text files left in staging", n)
				}
				st := layout.State{Dir: w.options().StateDir}
				if left, _ := filepath.Glob(filepath.Join(st.Dir, ".*.tmp-*")); len(left) > 0 {
					t.Errorf("temporary files left in the state dir: %v", left)
				}
				if _, err := os.Stat(st.Passphrase()); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the kept passphrase outlived the run: %v", err)
				}
			})
		}
	}
}

// TestFetchKilledMidUpload kill -9s a real seftbot process while its
// archive is being written to the drop under a temporary name. The next run
// removes that temporary file, and delivers every file exactly once.
func TestFetchKilledMidUpload(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 30, FileSize: 1 << 20})
	want := w.published()
	drop := filepath.Join(w.sim.Dir(), "sftp")
	var left []string
	killed := w.killWhen(func() bool {
		left, _ = filepath.Glob(filepath.Join(drop, ".upload-*"))
		return len(left) > 0
	})
	if !killed {
		t.Fatalf("the run ended before its upload could be caught\n%s", w.log)
	}
	if len(w.routed()) != 0 {
		t.Fatal("the killed run handed its archive over; nothing tested")
	}
	res, err := w.fetch()
	if err != nil {
		t.Fatalf("re-run after kill -9 mid-upload: %v\n%s", err, w.log)
	}
	if !res.Resumed {
		t.Error("the re-run did not resume the killed run")
	}
	sameFiles(t, w.checkDelivered(1), want)
	for _, p := range left {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the killed run's temporary file %s is still on the drop", filepath.Base(p))
		}
	}
	if rest, _ := filepath.Glob(filepath.Join(drop, ".upload-*")); len(rest) != 0 {
		t.Errorf("temporary files left on the drop: %v", rest)
	}
}

// TestFetchKilledMidArchive kill -9s seftbot while it writes the
// encrypted archive (its temporary file exists in the outbox). The next
// run sweeps the half-written archive, builds it again from the staged
// files, and delivers every file exactly once.
func TestFetchKilledMidArchive(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 40, FileSize: 1 << 20})
	want := w.published()
	outbox := layout.State{Dir: w.options().StateDir}.Outbox()
	var left []string
	killed := w.killWhen(func() bool {
		left, _ = filepath.Glob(filepath.Join(outbox, ".*.tmp-*"))
		return len(left) > 0
	})
	if !killed {
		t.Fatalf("the run ended before its archive could be caught\n%s", w.log)
	}
	if len(w.routed()) != 0 {
		t.Fatal("the killed run relayed its archive; nothing tested")
	}
	res, err := w.fetch()
	if err != nil {
		t.Fatalf("re-run after kill -9 mid-archive: %v\n%s", err, w.log)
	}
	if !res.Resumed {
		t.Error("the re-run did not resume the killed run")
	}
	sameFiles(t, w.checkDelivered(1), want)
	if rest, _ := filepath.Glob(filepath.Join(outbox, ".*.tmp-*")); len(rest) != 0 {
		t.Errorf("half-written archives left in the outbox: %v", rest)
	}
	if n := w.stagingFiles(); n != 0 {
		t.Errorf("%d clear-text files left in staging", n)
	}
}

// TestFetchKilledInRenameGap kill -9s seftbot in the one gap README names:
// the drop has renamed the archive to its isaric-* name and routed it, but
// its reply never reached seftbot (the drop holds it), so batch.json cannot
// have recorded the relay. The re-run relays the same archive again under
// the next free name: every file arrives at most twice, each archive whole,
// one passphrase opens both, and no clear text is left.
func TestFetchKilledInRenameGap(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 12, FileSize: 16 << 10, Faults: sim.Faults{SFTPLoseRenameReply: true}})
	want := w.published()
	drop := filepath.Join(w.sim.Dir(), "sftp")
	killed := w.killWhen(func() bool {
		m, _ := filepath.Glob(filepath.Join(drop, "isaric-*"))
		return len(m) > 0
	})
	if !killed {
		t.Fatalf("the run ended without reaching the rename\n%s", w.log)
	}
	if n := len(w.routed()); n != 1 {
		t.Fatalf("%d archives routed before the kill, want 1", n)
	}
	res, err := w.fetch()
	if err != nil {
		t.Fatalf("re-run after kill -9 in the rename gap: %v\n%s", err, w.log)
	}
	if !res.Resumed {
		t.Error("the re-run did not resume the killed run")
	}
	routed := w.routed()
	secure, _ := w.mails()
	if len(routed) != 2 {
		t.Fatalf("%d archives routed, want 2 (the same archive again)", len(routed))
	}
	if routed[0].Name == routed[1].Name {
		t.Errorf("the second copy overwrote the first: %s", routed[0].Name)
	}
	if routed[0].SHA256 != routed[1].SHA256 {
		t.Errorf("the re-run sent a different archive, not the same one again")
	}
	if len(secure) != 1 {
		t.Fatalf("%d passphrase mails, want 1", len(secure))
	}
	pass := passphraseOf(t, secure[0])
	for _, r := range routed {
		_, sums := extract(t, filepath.Join(drop, filepath.Base(r.Name)), pass)
		sameFiles(t, sums, want)
	}
	if n := w.stagingFiles(); n != 0 {
		t.Errorf("%d clear-text files left in staging", n)
	}
}

// TestFetchLocked: a second run while one holds the state is refused at once.
func TestFetchLocked(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 1, FileSize: 1 << 10})
	st, err := job.Open(w.options().StateDir)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := st.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	start := time.Now()
	if _, err := w.fetch(); !errors.Is(err, job.ErrLocked) {
		t.Fatalf("second run: %v, want ErrLocked", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("the locked run waited instead of exiting at once")
	}
	if len(w.routed()) != 0 {
		t.Error("the locked run relayed something")
	}
}

// TestFetchUnderFaults: 5% HTTP 500s, 5% truncated downloads, a session that
// expires mid-run, added latency, and the SFTP connection cut mid-upload. At
// most one re-run delivers everything exactly once.
func TestFetchUnderFaults(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 40, FileSize: 64 << 10, Faults: sim.Faults{
		ErrorRate: 0.05, TruncateRate: 0.05, ExpireAfter: 25, Latency: 20 * time.Millisecond,
		SFTPDropAfter: 100 << 10,
	}})
	want := w.published()
	if _, err := w.fetch(); err != nil {
		// The re-run faces the same faults: clearing them would prove
		// only that a healthy portal works.
		t.Logf("first run under faults failed (%v); one re-run is allowed", err)
		if _, err := w.fetch(); err != nil {
			t.Fatalf("re-run: %v", err)
		}
	}
	sameFiles(t, w.checkDelivered(1), want)
	if n := w.stagingFiles(); n != 0 {
		t.Errorf("%d clear-text files left in staging", n)
	}
}

// TestFetchChromiumKilled: the browser dies mid-download. The run recovers or
// fails cleanly, and at most one re-run delivers every file exactly once.
func TestFetchChromiumKilled(t *testing.T) {
	// The browser's profile directory goes under this TMPDIR, so the test
	// kills its own Chromium and no other test's.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	w := newWorld(t, sim.Options{Files: 60, FileSize: 32 << 10, Faults: sim.Faults{Latency: 40 * time.Millisecond}})
	want := w.published()
	o := w.options()
	done := make(chan error, 1)
	go func() { _, err := job.Fetch(context.Background(), o); done <- err }()

	testtool.WaitFor(t, 60*time.Second, "ten files downloaded before the kill", func() bool {
		files, _ := portal.LoadManifest(o.StateDir)
		return len(files) >= 10
	})
	killed := killBrowsers(t, tmp)
	if killed == 0 {
		t.Fatal("found no Chromium to kill")
	}
	if err := <-done; err != nil {
		t.Logf("the run with its browser killed failed (%v); one re-run is allowed", err)
		if _, err := w.fetch(); err != nil {
			t.Fatalf("re-run: %v", err)
		}
	}
	if files, _ := portal.LoadManifest(o.StateDir); len(files) == len(want) {
		t.Logf("all %d files fetched; %d browser processes were killed mid-run", len(files), killed)
	}
	sameFiles(t, w.checkDelivered(1), want)
	if n := w.stagingFiles(); n != 0 {
		t.Errorf("%d clear-text files left in staging", n)
	}
}

// killBrowsers SIGKILLs every process whose --user-data-dir is under root.
func killBrowsers(t *testing.T, root string) int {
	t.Helper()
	n := 0
	for _, pid := range portal.BrowserProcesses(root) {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

// TestFetchWrongPasswordLatched: a refused password is sent once; the report
// says the site is latched (not that the next run resumes), and the next
// night's fetch sends nothing.
func TestFetchWrongPasswordLatched(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 1, FileSize: 1 << 10})
	for night := 1; night <= 2; night++ {
		o := w.options()
		o.Portal.Password = "wrong-password-9"
		if _, err := job.Fetch(context.Background(), o); !errors.Is(err, portal.ErrLoginRejected) {
			t.Fatalf("night %d: %v, want a refused login", night, err)
		}
		if n := w.sim.State().Accounts["download"].PasswordPosts; n != 1 {
			t.Fatalf("night %d: %d password POSTs, want 1", night, n)
		}
	}
	_, other := w.mails()
	if len(other) == 0 {
		t.Fatal("no report mail")
	}
	last := other[len(other)-1].Text
	if !strings.Contains(last, "LOGIN LATCHED") || strings.Contains(last, "resumes it") {
		t.Errorf("the report does not say the login is latched:\n%s", last)
	}
}
