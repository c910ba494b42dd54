package portal

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/isaric/seftbot/internal/browser"
	"github.com/isaric/seftbot/internal/retry"
)

// session is the one login that every tab shares (they share cookies).
// gen counts logins, so that when several tabs see the same expiry only the
// first logs in again and the others just carry on.
type session struct {
	mu       sync.Mutex
	gen      int
	relogins int // re-logins that signed in
	failed   int // re-login attempts failed in a row, since the last sign-in
}

// relogin signs in again after tab t found the session expired, unless
// another tab already did so since generation seen. It makes one sign-in
// attempt: a transient failure (errTransient) is for the caller's loop to
// retry, so loops never nest. Both are bounded, as when each re-login was
// a loop of its own: MaxRelogins re-logins per run, so a portal that
// expires every session cannot loop forever, and Retries failed attempts
// in a row, so a sign-in that keeps failing ends the run rather than
// collect password posts.
//
// cause says why (signedOutCause): every extra sign-in in a run is logged
// with the page and the check that said the session had ended.
func (b *browserRun) relogin(t *tab, s *session, seen int, cause string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != seen {
		return s.gen, nil
	}
	if s.relogins >= b.o.MaxRelogins {
		return s.gen, fmt.Errorf("%w: the session expired %d times in one run; giving up", ErrPortal, s.relogins+1)
	}
	b.o.Log.Warn("session expired, signing in again", "cause", cause, "relogin", s.relogins+1, "max", b.o.MaxRelogins, "attempt", s.failed+1)
	if d := b.o.Profile.Expired.Dismiss; d != nil {
		// Close the signed-out dialog as a person would; the sign-in
		// starts from the login page either way.
		if _, err := b.RunStep(t, "session_expired.dismiss", Step{Click: d, Optional: true, Timeout: Duration(time.Second)}, stepVars{}); err != nil {
			b.o.Log.Debug("signed-out dialog not dismissed", "err", err)
		}
	}
	if err := b.signIn(t, once); err != nil {
		if errors.Is(err, errTransient) {
			if s.failed++; s.failed >= b.o.Retries {
				return s.gen, fmt.Errorf("%w: could not sign in to the %s site again after %d attempts: %w", ErrPortal, b.o.Site, s.failed, err)
			}
		}
		return s.gen, err
	}
	s.failed = 0
	s.relogins++
	s.gen++
	return s.gen, nil
}

// signedOutCause says why a run signs in again: where it looked, which of
// the profile's checks said the session had ended, and on which page.
func signedOutCause(where string, st pageState) string {
	check := "the page was not signed in"
	switch {
	case st.Expired:
		check = "the profile's session_expired text or selector matched"
	case st.LoginForm:
		check = "the login form was shown without login.outcomes.signed_in"
	}
	return fmt.Sprintf("%s: %s, at %s", where, check, redactURL(st.URL))
}

func (s *session) generation() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

func describe(st pageState) string {
	switch {
	case st.Transient != "":
		return fmt.Sprintf("page says %q at %s", st.Transient, redactURL(st.URL))
	case st.Expired:
		return "session expired at " + redactURL(st.URL)
	default:
		return "at " + redactURL(st.URL)
	}
}

// pagePolicy is how the site's pages and sign-in are tried again after a
// transient failure (a portal error page, an expired session, a page that
// did not load): Options.Retries attempts in all, 250ms doubling to 8s, half
// of each pause drawn at random so that tabs do not retry in step. Each
// loop that uses it says what it counts as transient. One loop per
// operation: a retried operation never runs a retrying one inside it.
func (o *Options) pagePolicy() retry.Policy {
	return retry.Policy{Attempts: o.Retries, First: 250 * time.Millisecond, Max: 8 * time.Second, Jitter: 0.5}
}

// once is a single attempt: a step inside an operation that its caller's
// loop retries as a whole.
var once = retry.Policy{Attempts: 1}

// noteDetour logs a portal page that came back to the portal through
// another site (came: the origins of its documents and redirects, in
// order). The portal's session had ended and a single sign-on (an
// identity provider whose own session was still alive) made a new one by
// redirects alone, with no password and no sign-in of seftbot's. It is a
// sign-in all the same, so it is named with its cause, like ours. A chain
// that ends on the other site (its sign-in form) is no renewal. It
// reports whether there was a renewal.
func (o *Options) noteDetour(came []string, page string) bool {
	site := browser.Origin(o.URL)
	back := -1 // the last document from the portal itself
	for i, c := range came {
		if c == site {
			back = i
		}
	}
	var via []string
	for _, c := range came[:max(back, 0)] {
		if c != "" && c != site && !slices.Contains(via, c) {
			via = append(via, c)
		}
	}
	if len(via) == 0 {
		return false
	}
	o.Log.Warn("the portal renewed its session through another site, without a password (single sign-on)",
		"cause", "opening "+page+" redirected through "+strings.Join(via, ", "), "via", strings.Join(via, ", "))
	return true
}
