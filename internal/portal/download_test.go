package portal

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/staging"
)

// TestDownload160 is the nightly case: 160 files of 1 MB, byte-identical;
// then a second run fetches nothing, and a new batch fetches only itself.
func TestDownload160(t *testing.T) {
	s := startSim(t, sim.Options{Files: 160, FileSize: 1_000_000, Seed: 1})
	o := simOptions(t, s, SiteDownload)
	var calls atomic.Int64
	o.Progress = func(done, total int, bytes int64) { calls.Add(1) }

	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run 1: new=%d skipped=%d bytes=%d in %s", len(res.New), res.Skipped, res.Bytes, res.Duration)
	if len(res.New) != 160 || res.Skipped != 0 || len(res.Failed) != 0 {
		t.Fatalf("run 1: new %d, skipped %d, failed %v; want 160, 0, none", len(res.New), res.Skipped, res.Failed)
	}
	if n := checkStaging(t, s, o); n != 160 {
		t.Fatalf("staging has %d files, want 160", n)
	}
	if calls.Load() < 160 {
		t.Errorf("progress called %d times, want at least 160", calls.Load())
	}
	checkNoLeaks(t)

	res, err = Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.New) != 0 || res.Skipped != 160 {
		t.Fatalf("run 2: new %d, skipped %d; want 0, 160", len(res.New), res.Skipped)
	}

	if _, err := s.Publish(7, 30_000); err != nil {
		t.Fatal(err)
	}
	res, err = Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.New) != 7 || res.Skipped != 160 {
		t.Fatalf("run 3: new %d, skipped %d; want 7, 160", len(res.New), res.Skipped)
	}
	for _, f := range res.New {
		if f.Size > 40_000 {
			t.Errorf("run 3 fetched %s (%d bytes), an old file", f.LocalName, f.Size)
		}
	}
	if n := checkStaging(t, s, o); n != 167 {
		t.Fatalf("staging has %d files, want 167", n)
	}
	checkNoLeaks(t)
}

// TestDownloadFaults: 5% server errors, 5% truncated downloads, one session
// expiry and 200 ms latency; every file still arrives intact, nothing
// truncated is kept.
func TestDownloadFaults(t *testing.T) {
	s := startSim(t, sim.Options{Files: 160, FileSize: 30_000, Seed: 7, Faults: sim.Faults{
		ErrorRate: 0.05, TruncateRate: 0.05, ExpireAfter: 60, Latency: 200 * time.Millisecond,
	}})
	o := simOptions(t, s, SiteDownload)
	o.Concurrency = 4 // latency-bound: more tabs overlap the waits
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("new=%d failed=%v in %s", len(res.New), res.Failed, res.Duration)
	if n := checkStaging(t, s, o); n != 160 || len(res.New) != 160 {
		t.Fatalf("staging has %d files, result %d; want 160", n, len(res.New))
	}
	if st := s.State(); st.Accounts["download"].Logins < 2 {
		t.Errorf("logins = %d: the session expiry did not cause a re-login", st.Accounts["download"].Logins)
	}
	checkNoLeaks(t)
}

// TestDownloadHostileNames: traversal, slashes, control characters, an
// over-long name, non-ASCII and a duplicate name all land safely in staging,
// with the original names in the manifest.
func TestDownloadHostileNames(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2, HostileNames: true, Seed: 3})
	o := simOptions(t, s, SiteDownload)
	outside := filepath.Join(s.Dir(), "x.csv")
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	listed := listedCount(s)
	if n := checkStaging(t, s, o); n != listed || len(res.New) != listed {
		t.Fatalf("staging %d, new %d; want %d", n, len(res.New), listed)
	}
	if _, err := os.Stat(outside); err == nil {
		t.Errorf("a file was written outside staging: %s", outside)
	}
	names := map[string]bool{}
	dups := 0
	for _, f := range res.New {
		if names[f.LocalName] {
			t.Errorf("local name %q used twice", f.LocalName)
		}
		names[f.LocalName] = true
		if f.Name == "duplicate.csv" {
			dups++
		}
		if strings.ContainsAny(f.LocalName, "/\\\x00\x07\t\x1b") || strings.HasPrefix(f.LocalName, ".") || len(f.LocalName) > 200 {
			t.Errorf("unsafe local name %q for %s", f.LocalName, logName(f.Name))
		}
	}
	if dups != 2 {
		t.Errorf("duplicate.csv fetched %d times, want 2 (two different files)", dups)
	}
	var sawTraversal bool
	files, _ := staging.LoadManifest(o.StateDir)
	for _, f := range files {
		sawTraversal = sawTraversal || f.Name == "../x.csv"
	}
	if !sawTraversal {
		t.Error("manifest lost the original name ../x.csv")
	}
	checkNoLeaks(t)
}

// TestDownloadEmptyAndAll: an empty listing is fine; after publishing, --all
// fetches again what the manifest already has.
func TestDownloadEmptyAndAll(t *testing.T) {
	s := startSim(t, sim.Options{Files: 0})
	o := simOptions(t, s, SiteDownload)
	res, err := Download(context.Background(), o)
	if err != nil || len(res.New) != 0 || res.Skipped != 0 {
		t.Fatalf("empty listing: %+v, %v", res, err)
	}
	if _, err := s.Publish(3, 5000); err != nil {
		t.Fatal(err)
	}
	if _, err := Download(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	o.All = true
	res, err = Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.New) != 3 || res.Skipped != 0 {
		t.Fatalf("--all: new %d skipped %d, want 3, 0", len(res.New), res.Skipped)
	}
	if n := checkStaging(t, s, o); n != 3 {
		t.Fatalf("staging %d, want 3 (no duplicates after --all)", n)
	}
	checkNoLeaks(t)
}

// TestWalk400 reads a 16-page listing of 400 entries without downloading.
func TestWalk400(t *testing.T) {
	s := startSim(t, sim.Options{Files: 400, FileSize: 1024})
	o := simOptions(t, s, SiteDownload)
	if err := o.normalise(); err != nil {
		t.Fatal(err)
	}
	b, err := startBrowser(context.Background(), &o, "")
	if err != nil {
		t.Fatal(err)
	}
	defer checkNoLeaks(t)
	defer b.Close()
	tb, err := b.NewTab(true)
	if err != nil {
		t.Fatal(err)
	}
	r := &run{b: b, o: &o, sess: &session{}}
	if err := b.login(tb); err != nil {
		t.Fatal(err)
	}
	var entries []*entry
	pages := 0
	err = r.walk(context.Background(), tb, func(page []*entry) {
		pages++
		entries = append(entries, page...)
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages != 16 {
		t.Errorf("%d pages, want 16", pages)
	}
	files := s.Files()
	if len(entries) != len(files) {
		t.Fatalf("walk found %d entries, want %d", len(entries), len(files))
	}
	for i, e := range entries {
		if e.name != files[i].Name || e.size != files[i].Size {
			t.Fatalf("entry %d = %s %d, want %s %d", i, e.name, e.size, files[i].Name, files[i].Size)
		}
	}
}

// TestTabCrashReplaced crashes a worker tab mid-run: the tab is replaced and
// every file still arrives.
func TestTabCrashReplaced(t *testing.T) {
	s := startSim(t, sim.Options{Files: 30, Seed: 5})
	o := simOptions(t, s, SiteDownload)
	var clicks atomic.Int64
	o.afterClick = func(tb *tab) {
		if clicks.Add(1) == 5 {
			ctx, cancel := context.WithTimeout(tb.Ctx(), 2*time.Second)
			defer cancel()
			_, _ = chromedp.Call(ctx, page.Crash, cdp.Empty{})
		}
	}
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if clicks.Load() < 5 {
		t.Fatalf("only %d clicks; the crash never happened", clicks.Load())
	}
	if n := checkStaging(t, s, o); n != 30 || len(res.New) != 30 {
		t.Fatalf("staging %d, new %d; want 30", n, len(res.New))
	}
	checkNoLeaks(t)
}

// TestPanicNoLeak: a panic inside a run (here in the progress callback)
// becomes an error, and the browser is gone afterwards.
func TestPanicNoLeak(t *testing.T) {
	s := startSim(t, sim.Options{Files: 3})
	o := simOptions(t, s, SiteDownload)
	o.Progress = func(done, total int, bytes int64) {
		if done > 0 {
			panic("boom")
		}
	}
	_, err := Download(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want the panic as an error", err)
	}
	checkNoLeaks(t)
}

// TestRetryBudgetSummary: when every download is truncated, nothing is kept,
// the error says what was and was not fetched, and a debug bundle is kept
// and named.
func TestRetryBudgetSummary(t *testing.T) {
	s := startSim(t, sim.Options{Files: 3, Faults: sim.Faults{TruncateRate: 1}})
	o := simOptions(t, s, SiteDownload)
	o.Retries = 2
	res, err := Download(context.Background(), o)
	if !errors.Is(err, ErrPortal) || !strings.Contains(err.Error(), "fetched 0 of 3 new files; 3 failed") {
		t.Fatalf("err = %v", err)
	}
	// The failure keeps a debug bundle of the listing, for the report.
	dir := DebugBundle(err)
	if dir == "" || !strings.Contains(err.Error(), "(debug bundle: "+dir+")") {
		t.Fatalf("no debug bundle named in %v", err)
	}
	if b, rerr := os.ReadFile(filepath.Join(dir, "error.txt")); rerr != nil || !strings.Contains(string(b), "3 failed") {
		t.Errorf("bundle error.txt: %q %v", b, rerr)
	}
	if len(res.Failed) != 3 || len(res.New) != 0 {
		t.Errorf("result: new %d, failed %v", len(res.New), res.Failed)
	}
	if n := checkStaging(t, s, o); n != 0 {
		t.Errorf("%d truncated files kept", n)
	}
	checkNoLeaks(t)
}

// TestReloginBounded: a portal that keeps expiring the session gets a
// bounded number of re-logins, then a clear error.
func TestReloginBounded(t *testing.T) {
	s := startSim(t, sim.Options{Files: 40, Faults: sim.Faults{ExpireAfter: 8}})
	o := simOptions(t, s, SiteDownload)
	o.MaxRelogins = 2
	o.Concurrency = 1
	// Re-arm the expiry after every login, from the bot's own next click:
	// seftsim's expiry fires once, and a re-arm on a timer would race the
	// bot's requests.
	var seen atomic.Int64
	seen.Store(1)
	o.afterClick = func(*tab) {
		if n := int64(s.State().Accounts["download"].Logins); n > seen.Load() {
			seen.Store(n)
			if err := s.SetFaults(sim.Faults{ExpireAfter: 8}); err != nil {
				t.Error(err)
			}
		}
	}
	_, err := Download(context.Background(), o)
	if !errors.Is(err, ErrPortal) || !strings.Contains(err.Error(), "session expired 3 times") {
		t.Fatalf("err = %v, want the re-login limit", err)
	}
	if n := s.State().Accounts["download"].Logins; n != 3 {
		t.Errorf("%d logins, want 1 + 2 re-logins", n)
	}
	checkNoLeaks(t)
}

// hookWriter passes log lines to w and calls on for each line that holds
// msg, synchronously: before the logging code goes on.
type hookWriter struct {
	w   io.Writer
	msg string
	on  func()
}

func (h hookWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), h.msg) {
		h.on()
	}
	return h.w.Write(p)
}

// TestReloginDoesNotNest: a sign-in after an expired session is one
// attempt inside the loop that found the expiry, never a retrying loop of
// its own inside it (that nesting multiplied the tries). The session
// expires, and the portal goes into maintenance the moment seftbot signs
// in again: no sign-in retries itself, and the run ends as a portal
// failure.
func TestReloginDoesNotNest(t *testing.T) {
	s := startSim(t, sim.Options{Files: 3, Faults: sim.Faults{ExpireAfter: 4}})
	o := simOptions(t, s, SiteDownload)
	o.Concurrency = 1
	o.Retries = 3
	var logs bytes.Buffer
	var mu sync.Mutex
	out := io.MultiWriter(&logs, testWriter{t})
	o.Log = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: hookWriter{w: out, msg: "session expired, signing in again", on: func() {
		if err := s.SetFaults(sim.Faults{Maintenance: true}); err != nil {
			t.Error(err)
		}
	}}}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	_, err := Download(context.Background(), o)
	if !errors.Is(err, ErrPortal) {
		t.Fatalf("err = %v, want a portal failure", err)
	}
	mu.Lock()
	l := logs.String()
	mu.Unlock()
	if !strings.Contains(l, "session expired, signing in again") {
		t.Fatal("the session never expired: the test proved nothing")
	}
	if n := strings.Count(l, "sign-in did not complete, will retry"); n != 0 {
		t.Errorf("a re-login retried itself %d times inside the loop that called it", n)
	}
	checkNoLeaks(t)
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestProgressTotalFromListing: the total a meter shows comes from the
// whole listing. While later pages are still unread it is reported as
// "at least" (negative), so a bar never reads 100% (5/5) with 12 to go.
func TestProgressTotalFromListing(t *testing.T) {
	s := startSim(t, sim.Options{Files: 12, PageSize: 5})
	o := simOptions(t, s, SiteDownload)
	o.Concurrency = 1
	type call struct{ done, total int }
	var calls []call
	o.Progress = func(done, total int, bytes int64) { calls = append(calls, call{done, total}) } // serialised by Download
	res, err := Download(context.Background(), o)
	if err != nil || len(res.New) != 12 {
		t.Fatalf("new %d: %v", len(res.New), err)
	}
	partial := 0
	for _, c := range calls {
		switch {
		case c.total < 0:
			partial++
			if c.done > -c.total {
				t.Errorf("%d done of at least %d", c.done, -c.total)
			}
		case c.total != 12:
			t.Errorf("a final total of %d, want 12 (calls %v)", c.total, calls)
		}
	}
	if partial == 0 {
		t.Errorf("no call while the listing was being read: nothing was checked (%v)", calls)
	}
	if last := calls[len(calls)-1]; last != (call{12, 12}) {
		t.Errorf("last call %v, want 12 of 12", last)
	}
}
