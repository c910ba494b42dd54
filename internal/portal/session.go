package portal

import (
	"context"
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
	if d := b.o.Profile.Expired.Dismiss; d != nil {
		// Close the signed-out dialog as a person would; the sign-in
		// starts from the login page either way.
		if _, err := b.RunStep(t, "session_expired.dismiss", Step{Click: d, Optional: true, Timeout: Duration(time.Second)}, stepVars{}); err != nil {
			b.o.Log.Debug("signed-out dialog not dismissed", "err", err)
		}
	}
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
