package portal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/isaric/seftbot/internal/browser"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/usererr"
)

// DownloadResult summarises a run.
type DownloadResult struct {
	New      []File
	Skipped  int      // listed files the manifest already had
	Failed   []string // names (quoted for logs) that could not be fetched
	Bytes    int64
	Duration time.Duration
	// Unavailable are listed files that files.unavailable marks as not
	// downloadable (quoted for logs): never clicked, not failures.
	Unavailable []string
	// Warnings are for the operator although the run worked: selectors
	// that only matched through a later alternative (the portal changed),
	// a listing whose "more" control never matched.
	Warnings []string
}

// entry is one row of the listing.
type entry struct {
	name     string
	ordinal  int   // n-th entry with this exact name in the listing
	pageNth  int   // n-th entry with this name on its page
	size     int64 // from the listing; -1 if it cannot be read
	sizeTol  int64 // the listing rounds sizes shown in KB/MB
	at       where // how to show its page of the listing again
	local    string
	attempts int
	lastErr  error

	unavailable bool // files.unavailable marks the row
	relisted    bool // shown again once for want of a download control
}

func (e *entry) String() string { return logName(e.name) }

// Download signs in to the download site, walks every page of the listing
// and clicks every file the manifest does not have yet (every file with
// All), verifying each and moving it atomically into StagingDir. Files that
// still fail after the retry budget are listed in the result and the error
// wraps ErrPortal; a refused login wraps ErrLoginRejected.
func Download(ctx context.Context, o Options) (res *DownloadResult, err error) {
	start := time.Now()
	res = &DownloadResult{}
	defer func() { res.Duration = time.Since(start) }()
	if o.Site == "" {
		o.Site = SiteDownload
	}
	if err := o.normalise(); err != nil {
		return res, err
	}
	if o.StateDir == "" {
		return res, usererr.Errorf("set SEFTBOT_STATE_DIR", "portal: no state directory for the manifest")
	}
	if o.StagingDir == "" {
		return res, usererr.New(errNoStaging, "set SEFTBOT_STAGING_DIR")
	}
	if err := layout.PrivateDir(o.StateDir); err != nil {
		return res, fmt.Errorf("state directory: %w", err)
	}
	m, err := o.keeper()
	if err != nil {
		return res, err
	}
	partial, err := staging.PreparePartial(o.StagingDir)
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(partial)

	b, err := startBrowser(ctx, &o, partial)
	if err != nil {
		return res, err
	}
	defer b.Close()
	r := &run{b: b, o: &o, m: m, res: res, partial: partial, sess: &session{}}
	err = r.download(ctx)
	res.Warnings = append(res.Warnings, b.driftWarnings()...)
	if w := unavailableWarning(res.Unavailable); w != "" {
		res.Warnings = append(res.Warnings, w)
	}
	return res, err
}

// run is the state of one Download.
type run struct {
	b       *browserRun
	o       *Options
	m       Keeper
	res     *DownloadResult
	partial string
	sess    *session

	mu         sync.Mutex // guards res and done
	progressMu sync.Mutex // serialises calls of Options.Progress
	done       int
	total      int
	listed     bool            // the whole listing has been read: total is final
	fail       func(error)     // ends the run with this error
	bg         sync.WaitGroup  // downloads being completed
	taken      map[string]bool // local names in use
	screens    screens         // what each tab shows of the listing
}

func (r *run) download(ctx context.Context) error {
	o := r.o
	t, err := r.b.NewTab(true)
	if err != nil {
		return err
	}
	if err := r.b.login(t); err != nil {
		return r.b.WithBundle(t, "login", err)
	}
	r.taken = r.m.LocalNames()

	// Each file gets the page policy's attempts and pauses; a page that
	// stays broken (openListing) costs each of its files one attempt.
	s := newSched(o.pagePolicy(), o.Log)
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.fail = cancel
	var wg sync.WaitGroup
	inflight := make(chan struct{}, o.Concurrency*4) // begun, not yet verified
	startWorker := func(i int, t *tab) {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					r.fail(fmt.Errorf("internal error in worker %d: %v\n%s", i, p, debug.Stack()))
				}
			}()
			if err := r.worker(rctx, s, inflight, t); err != nil {
				r.fail(err)
			}
		})
	}
	// Workers with tabs of their own start on the first page while the
	// signed-in tab still walks the rest; it joins them when the walk ends.
	s.begin() // the walk may still add work
	for i := 1; i < o.Concurrency; i++ {
		startWorker(i, nil)
	}
	// The signed-in tab clicks its own share of each page while the page is
	// open (its tokens are fresh): one page load fewer per page.
	// A tab that crashes there is replaced and the walk goes on in the new one.
	listed := 0
	t, err = r.walkPages(rctx, t, func(t *tab, page []*entry, gen int) (*tab, bool, error) {
		listed += len(page)
		if err := r.markUnavailable(t, page); err != nil { // unavailable.go
			return t, false, err
		}
		todo := r.plan(page)
		r.mu.Lock()
		r.total += len(todo)
		r.mu.Unlock()
		mine := s.addPage(todo, o.Concurrency, true)
		r.progress(0)
		if mine == nil {
			return t, true, nil
		}
		defer s.finish()
		intact, err := r.clickChunk(rctx, t, s, mine, inflight, gen)
		if errors.Is(err, errTabDead) || (err != nil && t.IsDead() && rctx.Err() == nil) {
			o.Log.Warn("browser tab died, replacing it")
			t.Close()
			nt, err := r.b.NewTab(false)
			if err != nil {
				return nil, false, err
			}
			return nt, false, nil
		}
		return t, intact, err
	})
	s.finish()
	if err != nil {
		r.fail(r.b.WithBundle(t, "listing", err))
	} else {
		r.mu.Lock()
		r.listed = true
		r.mu.Unlock()
		r.progress(0)
		o.Log.Info("listing read", "listed", listed, "to_fetch", r.total, "already_have", r.res.Skipped, "unavailable", len(r.res.Unavailable))
		startWorker(0, t)
	}
	wg.Wait()
	r.bg.Wait() // downloads still completing after a fatal error
	if err := ctx.Err(); err != nil {
		return err // the caller cancelled: SIGINT, SIGTERM, a deadline
	}
	// Only a failure cancels rctx otherwise. A browser that dies cancels
	// chromedp's contexts too, so its error may wrap context.Canceled:
	// that is a failure, not a clean end.
	if err := context.Cause(rctx); err != nil {
		if errors.Is(err, ErrPortal) || errors.Is(err, ErrLoginRejected) || errors.Is(err, ErrProfile) || errors.Is(err, ErrLoginUnknown) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrPortal, err)
	}
	for _, e := range s.failed {
		r.res.Failed = append(r.res.Failed, e.String())
		o.Log.Error("file not fetched", "name", e.String(), "attempts", e.attempts, "err", e.lastErr)
	}
	if n := len(s.failed); n > 0 {
		return r.failedBundle(fmt.Errorf("%w: fetched %d of %d new files; %d failed after %d attempts each: %s",
			ErrPortal, len(r.res.New), r.total, n, o.Retries, strings.Join(r.res.Failed, ", ")))
	}
	// Every planned file is fetched or counted as failed; anything else is a
	// run that stopped early and must not pass for a complete one.
	if len(r.res.New) != r.total {
		return fmt.Errorf("%w: fetched %d of %d new files; the run stopped early", ErrPortal, len(r.res.New), r.total)
	}
	return nil
}

// failedBundle attaches a debug bundle of the listing to a run whose files
// failed in the background, where no tab was at hand: the operator's report
// names it. Without a tab the error goes as it is.
func (r *run) failedBundle(err error) error {
	t, terr := r.b.NewTab(false)
	if terr != nil {
		return err
	}
	defer t.Close()
	_, _ = r.openListing(t, where{url: r.o.siteURL(r.o.Profile.Files.Path)})
	return r.b.WithBundle(t, "download-failed", err)
}

// plan picks the entries of one page to fetch and gives each a local name.
func (r *run) plan(entries []*entry) []*entry {
	var todo []*entry
	for _, e := range entries {
		if e.unavailable {
			r.noteUnavailable(e)
			continue
		}
		if !r.o.All && r.m.Has(e.name, e.ordinal, e.size) {
			r.mu.Lock()
			r.res.Skipped++
			r.mu.Unlock()
			continue
		}
		if old, ok := r.m.LocalNameOf(e.name, e.ordinal); ok && r.m.Has(e.name, e.ordinal, e.size) {
			e.local = old // --all: the same file again, same place
		} else {
			e.local = uniqueName(localName(e.name), r.taken)
		}
		todo = append(todo, e)
	}
	return todo
}

// progress reports to Options.Progress, one call at a time and in order,
// so that a progress bar (or a test) needs no locking of its own.
func (r *run) progress(addBytes int64) {
	r.progressMu.Lock()
	defer r.progressMu.Unlock()
	r.mu.Lock()
	r.res.Bytes += addBytes
	done, total, bytes := r.done, r.total, r.res.Bytes
	if !r.listed {
		total = -total // at least this many: later pages are not read yet
	}
	r.mu.Unlock()
	if r.o.Progress != nil {
		// The caller's code: a panic in it ends the run as an error, on
		// whichever goroutine reported progress (the listing's included).
		defer func() {
			if p := recover(); p != nil {
				r.fail(fmt.Errorf("internal error in the progress callback: %v\n%s", p, debug.Stack()))
			}
		}()
		r.o.Progress(done, total, bytes)
	}
}

// parseSize reads a listed size: "1,048,576 bytes" or "1048576" exactly, or
// "1.2 MB" with the tolerance of its rounding. -1 means unreadable.
func parseSize(s string) (size, tol int64) {
	s = strings.ToLower(strings.TrimSpace(s))
	num := strings.Map(func(r rune) rune {
		if (r >= '0' && r <= '9') || r == '.' {
			return r
		}
		if r == ',' || r == ' ' || r == '\u00a0' || r == '_' {
			return -1
		}
		return r
	}, s)
	unit := strings.TrimLeft(num, "0123456789.")
	num = strings.TrimSuffix(num, unit)
	unit = strings.TrimSuffix(strings.TrimSpace(unit), "s")
	mult := map[string]int64{"": 1, "b": 1, "byte": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30}[unit]
	if num == "" || mult == 0 {
		return -1, 0
	}
	if mult == 1 && !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return -1, 0
		}
		return n, 0
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return -1, 0
	}
	decimals := 0
	if i := strings.IndexByte(num, '.'); i >= 0 {
		decimals = len(num) - i - 1
	}
	step := float64(mult)
	for range decimals {
		step /= 10
	}
	return int64(f * float64(mult)), int64(step/2) + 1
}

// errPageBudget means a listing page stayed broken for all its attempts.
var errPageBudget = errors.New("could not open the listing")

// worker downloads chunks in tab t (nil: a new tab) until the schedule is
// done. A tab that crashes is closed and replaced by a new one; the
// browser's first tab only stops being used, since closing it would end the
// browser.
func (r *run) worker(ctx context.Context, s *sched, inflight chan struct{}, t *tab) error {
	var err error
	if t == nil {
		if t, err = r.b.NewTab(false); err != nil {
			return err
		}
	}
	defer func() {
		if t != nil { // nil when a replacement tab could not be opened
			t.Close()
		}
	}()
	for {
		c := s.next(ctx)
		if c == nil {
			return ctx.Err()
		}
		err := r.chunk(ctx, t, s, c, inflight)
		s.finish()
		switch {
		case errors.Is(err, errTabDead) || (err != nil && t.IsDead() && ctx.Err() == nil):
			r.o.Log.Warn("browser tab died, replacing it")
			t.Close()
			if t, err = r.b.NewTab(false); err != nil {
				return err
			}
		case err != nil && ctx.Err() != nil:
			return err
		case err != nil:
			return r.b.WithBundle(t, "download", err)
		}
	}
}

// chunk opens the listing page of a chunk and clicks each of its files, one
// at a time: the next click waits until the browser has begun the previous
// download (clicking earlier loses downloads). Completion is awaited in the
// background. Anything that cannot be clicked is rescheduled.
func (r *run) chunk(ctx context.Context, t *tab, s *sched, c *chunk, inflight chan struct{}) error {
	if err := r.show(t, c.entries[0].at); err != nil {
		if errors.Is(err, errTabDead) {
			s.add(&chunk{entries: c.entries})
			return err
		}
		if !errors.Is(err, errPageBudget) || ctx.Err() != nil {
			return err // refused login, re-login limit, profile mismatch: fatal
		}
		// The page stayed broken for the whole budget: every entry of the
		// chunk pays one attempt.
		for _, e := range c.entries {
			s.retry(e, err)
		}
		return nil
	}
	gen := r.sess.generation() // the login this page was rendered for
	intact, err := r.clickChunk(ctx, t, s, c, inflight, gen)
	if !intact || err != nil {
		r.screens.set(t, nil)
	}
	return err
}

// clickChunk clicks each file of c on the listing page open in t, which was
// loaded under login generation gen. Whatever cannot be clicked is
// rescheduled. intact says every file was clicked, so the tab is still on
// the page.
func (r *run) clickChunk(ctx context.Context, t *tab, s *sched, c *chunk, inflight chan struct{}, gen int) (intact bool, err error) {
	rest := c.entries
	requeueRest := func(failed *entry, why error) {
		if failed != nil {
			s.retry(failed, why)
			rest = rest[1:]
		}
		if len(rest) > 0 {
			s.add(&chunk{entries: rest})
		}
	}
	requested := map[*entry]bool{} // rows asked to prepare on this page load (rowsteps.go)
	for len(rest) > 0 {
		e := rest[0]
		if err := t.Pause(); err != nil {
			return false, err
		}
		var (
			d   *download
			st  pageState
			err error
		)
		if len(r.o.Profile.Files.DownloadSteps) > 0 {
			err = r.prepare(t, rest, requested)
			e = rest[0] // the row whose file was ready first
		}
		if err == nil {
			select {
			case inflight <- struct{}{}:
			case <-ctx.Done():
				return false, ctx.Err()
			}
			d, st, err = r.click(t, e)
			if err != nil || d == nil {
				<-inflight
			}
		}
		switch {
		case err != nil && (errors.Is(err, errTabDead) || t.IsDead()):
			requeueRest(e, err)
			return false, errTabDead
		case errors.Is(err, errNoControl):
			r.noControl(s, e, err) // listed again once, then reported
			rest = rest[1:]
			requeueRest(nil, nil)
			return false, nil
		case err != nil:
			// Not found on the page, or no reaction: try again later.
			requeueRest(e, err)
			return false, nil
		case d == nil:
			// The click led to a page instead of a download.
			var why error
			switch {
			case st.Expired || (st.LoginForm && !st.SignedIn):
				if _, err := r.b.relogin(t, r.sess, gen, signedOutCause("clicking "+e.String(), st)); err != nil {
					if !errors.Is(err, errTransient) {
						return false, err
					}
					// The sign-in failed on a transient page: the file
					// pays an attempt, the next one signs in again.
					requeueRest(e, err)
					return false, nil
				}
				why = errors.New("session expired")
			case st.LinkExpired != "":
				why = errors.New("one-time link expired")
			case st.Transient != "":
				why = fmt.Errorf("%w: %s", errTransient, describe(st))
			default:
				why = fmt.Errorf("click gave a page, not a download: %s", describe(st))
				r.b.KeepDebug(t, "unexpected-page", why)
			}
			requeueRest(e, why)
			return false, nil
		}
		rest = rest[1:]
		s.begin()
		r.bg.Add(1)
		go func() {
			defer r.bg.Done()
			defer func() { <-inflight }()
			defer s.finish()
			defer func() {
				if p := recover(); p != nil {
					r.fail(fmt.Errorf("internal error completing a download: %v\n%s", p, debug.Stack()))
				}
			}()
			if err := r.complete(ctx, e, d); errors.Is(err, ErrLocal) {
				r.fail(err) // this machine's disk: another attempt would not help
			} else if err != nil {
				s.retry(e, err)
			}
		}()
		if r.o.afterClick != nil {
			r.o.afterClick(t)
		}
	}
	return true, nil
}

// click clicks e's download control and waits for the browser to begin the
// download (d), or for the page to say something else instead (st): a page
// loaded in the tab or in a tab the click opened, or an error, an expired
// link or a signed-out dialog shown in place, seen as soon as it appears.
func (r *run) click(t *tab, e *entry) (*download, pageState, error) {
	var st pageState
	f := r.o.Profile.Files
	t.DrainLoads()
	began, popup := r.b.Expect(t.Frame(), e.name)
	defer r.b.Forget(t.Frame())
	defer r.b.ClosePopups(t.Frame()) // a download's own tab, or one that showed a page
	for _, s := range f.AfterClick {
		if s.Dialog != "" {
			t.ArmDialog(s.Dialog) // a confirm() blocks the click until answered
		}
	}
	if err := t.Pause(); err != nil {
		return nil, st, err
	}
	var c struct {
		OK     bool      `json:"ok"`
		Why    string    `json:"why"`
		Alt    int       `json:"alt"`
		Before pageState `json:"before"`
	}
	if err := t.AwaitIn(f.Frame, "rowClick", map[string]any{"name": e.name, "nth": e.pageNth, "sel": f.Download}, r.o.StepTimeout, &c, asUserGesture); err != nil {
		return nil, st, err
	}
	if !c.OK && c.Why == whyNoControl {
		return nil, st, fmt.Errorf("%w: %s on %s", errNoControl, e, redactURL(e.at.url))
	}
	if !c.OK {
		return nil, st, fmt.Errorf("%s cannot be clicked on %s: %s", e, redactURL(e.at.url), c.Why)
	}
	field := "files.download"
	if n := len(f.DownloadSteps); n > 0 {
		field = fmt.Sprintf("files.download[%d]", n-1)
	}
	r.b.NoteAlt(field, f.Download, c.Alt)
	timer := time.NewTimer(r.o.StepTimeout)
	defer timer.Stop()
	// The page is looked at while waiting, for what a script shows in
	// place; the first look comes soon, when after-click steps may be due.
	look := time.NewTimer(afterClickLook)
	defer look.Stop()
	steps := f.AfterClick
	for {
		select {
		case d := <-began:
			return r.begun(e, d), st, nil
		case <-t.Loads():
			return r.afterPage(t, e, began, "", popup) // interstitial.go
		case id := <-popup:
			return r.afterPage(t, e, began, id, popup)
		case <-look.C:
			for i, s := range steps {
				if s.Dialog != "" {
					continue
				}
				if _, err := r.b.RunStep(t, fmt.Sprintf("files.after_click[%d]", i), s, stepVars{User: r.o.User}); err != nil {
					return nil, st, err
				}
			}
			steps = nil
			st, err := listState(t, r.o.Profile)
			if err != nil && !browser.IsNavigationErr(err) {
				return nil, st, err
			}
			if err == nil && saysInstead(c.Before, st) {
				r.b.KeepDebug(t, "in-page-answer", nil)
				return nil, st, nil
			}
			look.Reset(inPageLook)
		case <-timer.C:
			return nil, st, fmt.Errorf("clicking %s started no download within %s", e, r.o.StepTimeout)
		case <-t.Dead():
			return nil, st, errTabDead
		case <-t.Ctx().Done():
			return nil, st, t.Ctx().Err()
		}
	}
}

// How soon after a download click the page is looked at (after-click
// steps, errors shown in place), and how often after that.
const (
	afterClickLook = 300 * time.Millisecond
	inPageLook     = 250 * time.Millisecond
)

// saysInstead reports whether the page, after a click, shows an answer it
// did not show before: an expired link, a transient error, a signed-out
// dialog or the login form.
func saysInstead(before, now pageState) bool {
	return (now.LinkExpired != "" && before.LinkExpired == "") ||
		(now.Transient != "" && before.Transient == "") ||
		(now.Expired && !before.Expired) ||
		(now.LoginForm && !now.SignedIn)
}

// complete waits for a download to finish, verifies it against the listed
// and announced sizes, and commits it to staging and the manifest.
func (r *run) complete(ctx context.Context, e *entry, d *download) error {
	f, err := r.receive(ctx, e, d, r.o.StagingDir)
	if err != nil {
		return err
	}
	if err := r.m.Add(f, e.ordinal); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	r.mu.Lock()
	r.res.New = append(r.res.New, f)
	r.done++
	r.mu.Unlock()
	r.progress(f.Size)
	r.o.Log.Info("fetched", "file", e.local, "bytes", f.Size)
	return nil
}

// receive waits for a download to finish, verifies it against the listed
// and announced sizes, and moves it into dir as e.local (0600, fsynced).
func (r *run) receive(ctx context.Context, e *entry, d *download, dir string) (File, error) {
	tmp := filepath.Join(r.partial, d.GUID())
	defer os.Remove(tmp) // gone already after a successful commit
	if err := r.nameCheck(e, d); err != nil {
		r.b.CancelDownload(d.GUID())
		return File{}, err
	}
	received, total, err := r.b.Wait(ctx, d, r.o.StallTimeout)
	if err != nil {
		return File{}, err
	}
	if total > 0 && received != total {
		return File{}, fmt.Errorf("%w: received %d of %d announced bytes", staging.ErrShort, received, total)
	}
	want := total
	if e.size >= 0 {
		if total > 0 && abs(total-e.size) > e.sizeTol {
			return File{}, fmt.Errorf("%w: server announced %d bytes, listing says %d", staging.ErrShort, total, e.size)
		}
		if e.sizeTol == 0 {
			want = e.size
		}
	}
	if want <= 0 && received > 0 {
		want = received
	}
	n, sum, err := r.m.Commit(tmp, dir, e.local, want)
	if err != nil {
		return File{}, err
	}
	return File{Name: e.name, LocalName: e.local, Size: n, SHA256: sum, FetchedAt: time.Now().UTC()}, nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
