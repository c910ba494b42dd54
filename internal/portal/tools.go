package portal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/isaric/seftbot/internal/browser"
	"github.com/isaric/seftbot/internal/retry"
	"github.com/isaric/seftbot/internal/staging"
)

// What the authoring tools (internal/authoring: probe, record, check) use
// of the site: a session's sign-in with its latch and guard, the page's
// state, and the listing walked and a file fetched as a download run does.

// Session is one run's browser on one site.
type Session = browserRun

// StartSession starts the engine for o's site (see Options.Normalise);
// downloadDir may be "" for a session that downloads nothing.
func StartSession(ctx context.Context, o *Options, downloadDir string) (*Session, error) {
	return startBrowser(ctx, o, downloadDir)
}

// Normalise fills o's defaults and checks what a run cannot do without.
func (o *Options) Normalise() error { return o.normalise() }

// SiteURL resolves a profile path against the site URL.
func (o *Options) SiteURL(rel string) string { return o.siteURL(rel) }

// SignIn signs in within t, as a run does: latch, guard and all.
func (b *browserRun) SignIn(t *browser.Tab) error { return b.login(t) }

// AllowSecret is the password guard: nil when the password may be sent
// now (see allowSecret).
func (b *browserRun) AllowSecret() error { return b.allowSecret() }

// Latch records why the password must not be sent again, and returns the
// run's error.
func (b *browserRun) Latch(kind, reason string, cause error) error {
	return b.latch(kind, reason, cause)
}

// StepErr classifies a failed step before the password was sent.
func (b *browserRun) StepErr(err error) error { return b.stepErr(err) }

// CheckLatch refuses to go on when o's site is latched for its password.
func CheckLatch(o *Options) error { return checkLatch(o) }

// DefaultOutcomeTimeout is how long the answer to a password may take.
const DefaultOutcomeTimeout = defaultOutcomeTimeout

// PageState is what a page says about itself, read through the profile.
type PageState = pageState

// ReadState reads what the page in t says about itself.
func ReadState(t *browser.Tab) (PageState, error) { return readState(t) }

// Navigate loads u in t; a refused certificate is ErrCertificate.
func Navigate(t *browser.Tab, u string) error { return navigate(t, u) }

// LogName is how a server-supplied name appears in logs and messages.
func LogName(s string) string { return logName(s) }

// ListingRead is what site.js reads of a listing page.
type ListingRead = listingRead

// PrepareStaging makes a private staging directory with an empty partial
// directory inside, and returns the partial directory.
func PrepareStaging(dir string) (string, error) { return staging.PreparePartial(dir) }

// Entry is one row of the listing.
type Entry struct {
	Name string
	Size int64 // -1 when the listing shows none
	e    *entry
}

// Walker walks a site's listing and fetches single files, as a download
// run does, for the profile check.
type Walker struct{ r *run }

// Walker makes a walker whose downloads land in partial (the browser's
// download directory).
func (b *browserRun) Walker(partial string) *Walker {
	return &Walker{r: &run{b: b, o: b.o, m: noManifest{}, res: &DownloadResult{}, sess: &session{}, partial: partial}}
}

// Walk calls onPage with the entries of every page of the listing.
func (w *Walker) Walk(ctx context.Context, t *browser.Tab, onPage func([]Entry)) error {
	return w.r.walk(ctx, t, func(es []*entry) {
		out := make([]Entry, len(es))
		for i, e := range es {
			out[i] = Entry{Name: e.name, Size: e.size, e: e}
		}
		onPage(out)
	})
}

// FetchOne downloads e as a download run does (show its page, click its
// control, wait for the browser to finish, verify the sizes) into dir,
// and returns what it got. An answer that says the profile is wrong (the
// control cannot be clicked, starts no download, or leads to some other
// page) wraps ErrProfile; a portal that fails or a session that ends is
// retried like any download, and after the budget wraps ErrPortal.
func (w *Walker) FetchOne(ctx context.Context, t *browser.Tab, e Entry, dir string) (File, error) {
	r := w.r
	e.e.local = localName(e.e.name)
	p := r.o.pagePolicy()
	var got File
	final := false
	stop := func(err error) error { final = true; return retry.Stop(err) }
	err := p.Do(ctx, func(int) error {
		gen := r.sess.generation()
		if err := r.show(t, e.e.at); err != nil {
			return stop(err)
		}
		var (
			d   *download
			st  pageState
			err error
		)
		if len(r.o.Profile.Files.DownloadSteps) > 0 {
			err = r.prepare(t, []*entry{e.e}, map[*entry]bool{})
			if errors.Is(err, errPrepare) || errors.Is(err, errRowSays) {
				r.screens.set(t, nil) // the row starts again on a fresh listing
				return err            // the portal was slow or failed: another attempt
			}
		}
		if err == nil {
			d, st, err = r.click(t, e.e)
		}
		var why error
		switch {
		case err != nil && (errors.Is(err, errTabDead) || t.IsDead()):
			return stop(fmt.Errorf("%w: %w", ErrPortal, err))
		case err != nil && ctx.Err() != nil:
			return stop(ctx.Err())
		case err != nil:
			return stop(fmt.Errorf("%w: %w", ErrProfile, err))
		case d == nil && (st.Expired || (st.LoginForm && !st.SignedIn)):
			if _, err := r.b.relogin(t, r.sess, gen, signedOutCause("checking one download", st)); err != nil {
				if !errors.Is(err, errTransient) {
					return stop(err)
				}
				why = err
			} else {
				why = errors.New("session expired")
			}
		case d == nil && st.LinkExpired != "":
			why = errors.New("one-time link expired")
		case d == nil && st.Transient != "":
			why = fmt.Errorf("%w: %s", errTransient, describe(st))
		case d == nil:
			return stop(fmt.Errorf("%w: clicking %s gave a page, not a download: %s", ErrProfile, e.e, describe(st)))
		default:
			f, err := r.receive(ctx, e.e, d, dir)
			if err == nil {
				got = f
				return nil
			}
			if errors.Is(err, ErrLocal) || ctx.Err() != nil {
				return stop(err)
			}
			why = err
		}
		r.screens.set(t, nil)
		return why
	}, func(attempt int, why error, _ time.Duration) {
		r.o.Log.Warn("download failed, trying again", "file", e.e.String(), "attempt", attempt, "err", why)
	})
	switch {
	case err == nil:
		return got, nil
	case final || ctx.Err() != nil:
		return File{}, err
	}
	return File{}, fmt.Errorf("%w: %s not downloaded after %d attempts: %w", ErrPortal, e.e, p.Attempts, err)
}
