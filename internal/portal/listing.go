package portal

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/isaric/seftbot/internal/retry"
)

// listing is what the file list shows now.
type listing struct {
	Rows []struct {
		Name string `json:"name"`
		Size string `json:"size"`
	} `json:"rows"`
	More bool `json:"more"` // the control for more rows is there and enabled
	// MoreEvidence, when More is false, is a sign the list goes on anyway
	// (a next link, "page 1 of 3", "160 files"), else "".
	MoreEvidence string `json:"more_evidence"`
}

// listingRead is site.js's answer to "listing" and "changed".
type listingRead struct {
	Ready   bool      `json:"ready"`
	State   pageState `json:"state"`
	Listing listing   `json:"listing"`
	Sig     string    `json:"sig"`
}

// maxPages stops a walk over a listing whose "more" never ends.
const maxPages = 1000

// where is how to show a part of the listing again: load url, then use the
// "more" control clicks times (in place or append modes; navigate mode
// moves url instead).
type where struct {
	url    string
	clicks int
}

// walk reads every page of the listing and hands each page's entries to
// onPage as soon as it is read.
func (r *run) walk(ctx context.Context, t *tab, onPage func([]*entry)) error {
	_, err := r.walkPages(ctx, t, func(t *tab, page []*entry, _ int) (*tab, bool, error) {
		onPage(page)
		return t, true, nil
	})
	return err
}

// walkPages is walk for a caller that may also click on each page while it
// is open in tab t: onPage gets the page's entries and the login generation
// from before the page was loaded, and returns the tab to go on in (a
// replacement, if t died) and whether it is still on the page (if not, the
// page is shown again before going on). An error from onPage ends the
// walk. walkPages returns the tab it ended in.
func (r *run) walkPages(ctx context.Context, t *tab, onPage func(*tab, []*entry, int) (*tab, bool, error)) (*tab, error) {
	f := r.o.Profile.Files
	seen := map[string]int{}
	at := where{url: r.o.siteURL(f.Path)}
	gen := r.sess.generation()
	l, err := r.openListing(t, at)
	if err != nil {
		return t, err
	}
	handed := 0 // append mode: rows already handed out
	for page := 1; ; page++ {
		var entries []*entry
		onThis := map[string]int{}
		for i, row := range l.Rows {
			nth := onThis[row.Name]
			onThis[row.Name]++
			if f.More.Mode == MoreAppend && i < handed {
				continue
			}
			size, tol := parseSize(row.Size)
			e := &entry{name: row.Name, ordinal: seen[row.Name], pageNth: nth, size: size, sizeTol: tol, at: at}
			seen[row.Name]++
			entries = append(entries, e)
		}
		handed = len(l.Rows)
		r.b.KeepDebug(t, "listing-page-"+strconv.Itoa(page), nil)
		nt, intact, err := onPage(t, entries, gen)
		if nt == nil {
			return t, err // t is closed; no replacement could be opened
		}
		t = nt
		if err != nil {
			return t, err
		}
		if !l.More || f.More.Mode == MoreNone {
			if page == 1 && f.More.Mode != MoreNone && len(l.Rows) > 0 && l.MoreEvidence != "" {
				// The control no longer matches, and the page shows the
				// list goes on: files are being missed. Without such
				// evidence the list simply fits on one page.
				r.o.Log.Warn("the listing ended on its first page, but the page shows more: files.more.control no longer matches",
					"control", f.More.Control.String(), "rows", len(l.Rows), "evidence", l.MoreEvidence)
				r.mu.Lock()
				r.res.Warnings = append(r.res.Warnings, fmt.Sprintf("the file list ended on its first page (%d rows), but the page shows %s and files.more.control %s never matched: files are being missed", len(l.Rows), l.MoreEvidence, f.More.Control))
				r.mu.Unlock()
			}
			return t, nil
		}
		if page >= maxPages {
			return t, fmt.Errorf("%w: the listing has more than %d pages", ErrPortal, maxPages)
		}
		if ctx.Err() != nil {
			return t, context.Cause(ctx)
		}
		gen = r.sess.generation()
		if !intact {
			r.screens.set(t, nil)
			if _, err := r.openListing(t, at); err != nil {
				return t, err
			}
		}
		var nl *listing
		if at, nl, err = r.nextPage(t, at, l); err != nil {
			return t, err
		}
		if nl == nil { // append: no new rows arrived, the list is complete
			return t, nil
		}
		l = nl
		r.screens.set(t, &shown{at: at, l: l, gen: gen})
	}
}

// nextPage uses the "more" control on the listing shown at cur (showing l)
// and reads what it shows; after a transient failure it shows cur again
// (once per attempt: loops do not nest) and tries again. A nil listing
// means nothing more arrived (append mode).
func (r *run) nextPage(t *tab, cur where, l *listing) (where, *listing, error) {
	// Each attempt is one page operation, the click or the reload before
	// it, so the budget is twice the page policy's: a reload that fails
	// does not use up the clicks (it had a loop of its own before).
	p := r.o.pagePolicy()
	p.Attempts *= 2
	var next where
	var nl *listing
	final := false
	err := p.Do(t.Ctx(), func(attempt int) error {
		if attempt > 1 {
			ol, again, err := r.openOnce(t, cur)
			if err != nil {
				if !again {
					final = true
					return retry.Stop(err)
				}
				return err
			}
			l = ol
		}
		gen := r.sess.generation()
		n, x, again, err := r.more(t, cur, l, gen)
		if again {
			return err
		}
		if err != nil {
			final = true
			return retry.Stop(err)
		}
		next, nl = n, x
		return nil
	}, nil)
	switch {
	case err == nil:
		return next, nl, nil
	case final:
		return cur, nil, err
	case t.Ctx().Err() != nil:
		return cur, nil, t.Ctx().Err()
	}
	return cur, nil, fmt.Errorf("%w: could not show more of the listing after %d attempts: %w", ErrPortal, p.Attempts, err)
}

// more uses the "more" control once, by the profile's mode.
func (r *run) more(t *tab, cur where, l *listing, gen int) (where, *listing, bool, error) {
	m := r.o.Profile.Files.More
	at, err := r.b.Locate(t, "files.more.control", r.o.Profile.InList(m.Control), "click", r.o.StepTimeout)
	if err != nil {
		return cur, nil, true, err
	}
	if !at.OK {
		return cur, nil, true, fmt.Errorf("%w: the control %s is %s", errTransient, m.Control, at.Why)
	}
	if m.Mode == MoreNavigate {
		t.DrainLoads()
		t.TakeNavOrigins()
		if err := t.Step(mouseClick(at)); err != nil {
			return cur, nil, true, err
		}
		if err := t.WaitLoad(); err != nil {
			return cur, nil, true, err
		}
		u, nl, retry, err := r.readPage(t, gen)
		if err == nil && r.o.noteDetour(t.TakeNavOrigins(), redactURL(u)) && sameRows(l, nl) {
			// Renewed on the way, and back on the page it left (a
			// portal's default page after a sign-on): not the next page.
			return cur, nil, true, fmt.Errorf("%w: the session was renewed on the way to the next page, which showed the same rows; showing it again", errTransient)
		}
		return where{url: u}, nl, retry, err
	}
	sig, count := "", 0
	for _, row := range l.Rows {
		sig += row.Name + "\n"
	}
	if m.Mode == MoreAppend {
		count = len(l.Rows)
	} else {
		sig = sig[:max(0, len(sig)-1)]
	}
	// What the page said before the click (an error left in a row by an
	// earlier download) is not an answer to it.
	before, err := listState(t, r.o.Profile)
	if err != nil {
		return cur, nil, true, err
	}
	if err := t.Step(mouseClick(at)); err != nil {
		return cur, nil, true, err
	}
	var p listingRead
	if err := AwaitList(t, r.o.Profile, "changed", map[string]any{"sig": sig, "count": count, "before": before}, r.o.StepTimeout, &p); err != nil {
		return cur, nil, true, err
	}
	if before.Transient != "" {
		p.State.Transient = ""
	}
	if err := r.checkPage(t, p.State, gen); err != nil {
		return cur, nil, errors.Is(err, errTransient), err
	}
	next := where{url: cur.url, clicks: cur.clicks + 1}
	switch {
	case m.Mode == MoreAppend && len(p.Listing.Rows) <= count:
		if p.Listing.More {
			// The control is still offered: the portal may only have
			// been slow. The list is taken as complete, and the report
			// says so rather than leave it unsaid.
			w := fmt.Sprintf("the file list's control %s was still shown after %d rows, but no more rows came within %s of clicking it: the list was taken as complete, and files may be missing", m.Control, count, r.o.StepTimeout)
			r.o.Log.Warn("no more rows came although the list's control is still shown; taking the list as complete", "control", m.Control.String(), "rows", count, "waited", r.o.StepTimeout)
			if r.res != nil {
				r.mu.Lock()
				r.res.Warnings = append(r.res.Warnings, w)
				r.mu.Unlock()
			}
		}
		return cur, nil, false, nil // nothing new arrived: the end
	case m.Mode == MoreInPlace && p.Sig == sig:
		return cur, nil, true, fmt.Errorf("%w: the rows did not change after %s", errTransient, m.Control)
	}
	return next, &p.Listing, false, r.checkListing(p.State, &p.Listing)
}

// show makes tab t show the part of the listing at. A tab that already
// shows an earlier part of the same list (append or in-place modes, same
// login) goes on from there with the "more" control, instead of loading
// the list again and paging from its start: the cost of script-drawn lists.
func (r *run) show(t *tab, at where) error {
	mode := r.o.Profile.Files.More.Mode
	if sh := r.screens.of(t); sh != nil && (mode == MoreAppend || mode == MoreInPlace) &&
		sh.at.url == at.url && sh.at.clicks <= at.clicks && sh.gen == r.sess.generation() {
		cur, l := sh.at, sh.l
		var err error
		for cur.clicks < at.clicks && err == nil {
			var nl *listing
			var retry bool
			cur, nl, retry, err = r.more(t, cur, l, sh.gen)
			if err == nil && nl == nil {
				err, retry = fmt.Errorf("%w: the listing is shorter than before", errTransient), true
			}
			_ = retry
			l = nl
		}
		if err == nil {
			r.screens.set(t, &shown{at: cur, l: l, gen: sh.gen})
			return nil
		}
		r.o.Log.Debug("going on from the page shown failed; loading the list again", "err", err)
	}
	_, err := r.openListing(t, at)
	return err
}

// shown is the part of the listing a tab shows, as far as it knows.
type shown struct {
	at  where
	l   *listing
	gen int // the login it was drawn for
}

// screens is what each tab shows of the listing, as far as the run knows.
// One goroutine uses a tab at a time; the map itself is shared.
type screens struct {
	mu sync.Mutex
	m  map[*tab]*shown
}

func (s *screens) of(t *tab) *shown {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[t]
}

func (s *screens) set(t *tab, sh *shown) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh == nil {
		delete(s.m, t)
		return
	}
	if s.m == nil {
		s.m = map[*tab]*shown{}
	}
	s.m[t] = sh
}

// openListing shows a part of the listing, signing in again if the session
// expired, retrying transient failures by the page policy.
func (r *run) openListing(t *tab, at where) (*listing, error) {
	p := r.o.pagePolicy()
	var l *listing
	final := false
	err := p.Do(t.Ctx(), func(int) error {
		ol, again, err := r.openOnce(t, at)
		if err != nil && !again {
			final = true
			return retry.Stop(err)
		}
		l = ol
		return err
	}, nil)
	switch {
	case err == nil || final:
		return l, err
	case t.Ctx().Err() != nil:
		return nil, t.Ctx().Err()
	}
	r.screens.set(t, nil)
	return nil, fmt.Errorf("%w: %w after %d attempts: %w", ErrPortal, errPageBudget, p.Attempts, err)
}

// openOnce is one attempt of openListing; again says a failure is
// transient, worth another attempt.
func (r *run) openOnce(t *tab, at where) (l *listing, again bool, err error) {
	gen := r.sess.generation()
	r.screens.set(t, nil)
	t.TakeNavOrigins()
	if err := navigate(t, at.url); err != nil {
		if t.IsDead() {
			return nil, false, errTabDead
		}
		return nil, true, err
	}
	u, l, again, err := r.readPage(t, gen)
	if err == nil && r.o.noteDetour(t.TakeNavOrigins(), redactURL(at.url)) && !samePage(u, at.url) {
		// Signed in again elsewhere, and sent to another page (the
		// portal's default after a sign-on): load the one asked for.
		return nil, true, fmt.Errorf("%w: the session was renewed on the way to %s, which ended on %s; loading it again", errTransient, redactURL(at.url), redactURL(u))
	}
	for i := 0; err == nil && i < at.clicks; i++ {
		var nl *listing
		_, nl, again, err = r.more(t, where{url: at.url, clicks: i}, l, gen)
		if err == nil && nl == nil {
			err, again = fmt.Errorf("%w: the listing is shorter than before", errTransient), true
		}
		l = nl
	}
	if again {
		return nil, true, err
	}
	r.screens.set(t, nil)
	if err == nil {
		r.screens.set(t, &shown{at: at, l: l, gen: gen})
	}
	return l, false, err
}

// sameRows reports whether two readings of the list show the same rows.
func sameRows(a, b *listing) bool {
	if a == nil || b == nil || len(a.Rows) != len(b.Rows) {
		return false
	}
	for i := range a.Rows {
		if a.Rows[i] != b.Rows[i] {
			return false
		}
	}
	return true
}

// samePage reports whether u is the page want (its path and query; the
// fragment aside).
func samePage(u, want string) bool {
	a, err1 := url.Parse(u)
	b, err2 := url.Parse(want)
	return err1 == nil && err2 == nil && a.Host == b.Host && strings.TrimSuffix(a.Path, "/") == strings.TrimSuffix(b.Path, "/") && a.RawQuery == b.RawQuery
}

// readPage waits until the page shows the listing (rows, or the empty-list
// text) or says something else, checks it, and reads the rows. retry says
// the failure is transient and the caller may try again.
func (r *run) readPage(t *tab, gen int) (url string, l *listing, retry bool, err error) {
	var p listingRead
	if err := AwaitList(t, r.o.Profile, "listing", map[string]any{}, r.o.StepTimeout, &p); err != nil {
		if errors.Is(err, ErrProfile) {
			return "", nil, false, err
		}
		return "", nil, true, err
	}
	st := p.State
	if err := r.checkPage(t, st, gen); err != nil {
		return "", nil, errors.Is(err, errTransient), err
	}
	return st.URL, &p.Listing, false, r.checkListing(st, &p.Listing)
}

// checkPage classifies a page that should be a signed-in page. An expired
// session is renewed (and reported as transient, so the caller reloads).
func (r *run) checkPage(t *tab, st pageState, gen int) error {
	switch {
	case st.Interstitial:
		// A notice shown again (say, its acceptance failed): deal with it
		// as after sign-in, then show the page again.
		if err := r.b.afterSignIn(t, nil); err != nil {
			return err
		}
		return fmt.Errorf("%w: a notice was shown again", errTransient)
	case st.Transient != "":
		// Also on a signed-in page: a list that failed to load says so.
		return fmt.Errorf("%w: %s", errTransient, describe(st))
	case st.SignedIn:
		return nil
	case st.Expired || st.LoginForm:
		if _, err := r.b.relogin(t, r.sess, gen, signedOutCause("reading the list", st)); err != nil {
			return err
		}
		return fmt.Errorf("%w: session expired", errTransient)
	default:
		return fmt.Errorf("%w: unexpected page %s: not signed in (no %s), and no login form; run seftbot probe",
			ErrProfile, describe(st), r.o.Profile.Login.Outcomes.SignedIn)
	}
}

// checkListing tells an empty listing from a page the profile cannot read.
func (r *run) checkListing(st pageState, l *listing) error {
	if len(l.Rows) == 0 && st.Empty == "" {
		where := redactURL(st.URL)
		if f := r.o.Profile.Files.Frame; !f.Empty() {
			where = fmt.Sprintf("%s, in the frame %s (files.frame)", where, f)
		}
		return fmt.Errorf("%w: no file rows (%s) and no empty-listing text on %s after %s; run seftbot probe",
			ErrProfile, r.o.Profile.Files.Row, where, r.o.StepTimeout)
	}
	return nil
}
