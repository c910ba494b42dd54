package portal

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// session is the one login that every tab shares (they share cookies).
// gen counts logins, so that when several tabs see the same expiry only the
// first logs in again and the others just carry on.
type session struct {
	mu       sync.Mutex
	gen      int
	relogins int
}

// login signs in within tab t. A page that shows the profile's rejection
// text ends the run with ErrLoginRejected at once: the real portal locks
// accounts, so a refused login is never tried again. Transient failures (a
// server error or maintenance page, a timeout) are retried with backoff.
func (b *browserRun) login(t *tab) error {
	o := b.o
	var last error
	for attempt := 0; attempt < o.Retries; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(t.ctx, backoff(attempt)); err != nil {
				return err
			}
		}
		err := b.loginOnce(t)
		if err == nil {
			o.Log.Info("signed in", "site", o.Site)
			b.keepDebug(t, "login", nil)
			return nil
		}
		if !errors.Is(err, errTransient) || t.ctx.Err() != nil {
			return err // refused, or the profile does not match: never retried
		}
		last = err
		o.Log.Warn("sign-in did not complete, will retry", "site", o.Site, "attempt", attempt+1, "err", err)
	}
	return fmt.Errorf("%w: could not sign in to the %s site after %d attempts: %w", ErrPortal, o.Site, o.Retries, last)
}

// errTransient marks a page or step worth trying again.
var errTransient = errors.New("transient portal failure")

func (b *browserRun) loginOnce(t *tab) error {
	p := b.o.Profile
	if err := t.navigate(b.o.siteURL(p.Login.Path)); err != nil {
		return fmt.Errorf("%w: open login page: %w", errTransient, err)
	}
	st, err := t.state()
	if err != nil {
		return fmt.Errorf("%w: %w", errTransient, err)
	}
	if st.SignedIn {
		return nil // the session is still good
	}
	if st.Transient != "" || !st.LoginForm {
		return fmt.Errorf("%w: login page not shown (%s)", errTransient, describe(st))
	}
	if err := t.typeInto(p.Login.Username, b.o.User); err != nil {
		return fmt.Errorf("%w: user name field: %w", ErrPortal, err)
	}
	if err := t.typeInto(p.Login.Password, b.o.Password); err != nil {
		return fmt.Errorf("%w: password field: %w", ErrPortal, err)
	}
	if err := t.clickAndLoad("point", map[string]string{"sel": p.Login.Submit}); err != nil {
		if errors.Is(err, errNotFound) {
			return fmt.Errorf("%w: sign-in button %q not found", ErrPortal, p.Login.Submit)
		}
		return fmt.Errorf("%w: submit login: %w", errTransient, err)
	}
	st, err = t.state()
	if err != nil {
		return fmt.Errorf("%w: %w", errTransient, err)
	}
	switch {
	case st.SignedIn:
		return nil
	case st.Rejected != "":
		return fmt.Errorf("%w: the %s site said %q; not retrying, because the portal locks accounts after a few failures",
			ErrLoginRejected, b.o.Site, st.Rejected)
	case st.Transient != "":
		return fmt.Errorf("%w: %s", errTransient, describe(st))
	default:
		// Neither signed in nor refused: the profile no longer matches.
		return fmt.Errorf("%w: after signing in, the page shows neither %q nor a rejection text (%s); the site profile may need updating",
			ErrPortal, b.o.Profile.Login.SignedIn, describe(st))
	}
}

// relogin signs in again after tab t found the session expired, unless
// another tab already did so since generation seen. Re-logins per run are
// bounded, so a portal that expires every session cannot loop forever.
func (b *browserRun) relogin(t *tab, s *session, seen int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != seen {
		return s.gen, nil
	}
	if s.relogins >= b.o.MaxRelogins {
		return s.gen, fmt.Errorf("%w: the session expired %d times in one run; giving up", ErrPortal, s.relogins+1)
	}
	s.relogins++
	b.o.Log.Warn("session expired, signing in again", "relogin", s.relogins, "max", b.o.MaxRelogins)
	if err := b.login(t); err != nil {
		return s.gen, err
	}
	s.gen++
	return s.gen, nil
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

// backoff is the pause before attempt n (n >= 1): 250ms doubling to 8s,
// with jitter so tabs do not retry in step.
func backoff(n int) time.Duration {
	d := 250 * time.Millisecond << min(n-1, 5)
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
