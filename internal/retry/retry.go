// Package retry is the one retry policy of seftbot. Every loop that tries
// again names its Policy: how many attempts (or how long a window), the
// pause before each (one formula: doubling from First to Max, with a share
// of it drawn at random so that tabs and clients do not retry in step), and
// what is worth another try.
package retry

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// Policy says how a loop retries.
type Policy struct {
	// Attempts bounds the attempts in all, the first included. 0 means no
	// bound but Window.
	Attempts int
	// Window, if set, ends the retries when the next pause would end more
	// than Window after the first attempt began.
	Window time.Duration
	// First is the pause after the first failure; each later pause
	// doubles, up to Max (Max 0: no cap).
	First, Max time.Duration
	// Jitter is the share of each pause drawn at random: 0.5 pauses
	// between half and all of it.
	Jitter float64
	// Retryable says whether an error is worth another attempt; nil means
	// every error is. An error wrapped by Stop never is.
	Retryable func(error) bool
}

// Pause is the wait after the n-th failed attempt (n >= 1).
func (p Policy) Pause(n int) time.Duration {
	d := p.First
	for i := 1; i < n && (p.Max <= 0 || d < p.Max); i++ {
		d *= 2
	}
	if p.Max > 0 {
		d = min(d, p.Max)
	}
	if p.Jitter > 0 && d > 0 {
		span := time.Duration(float64(d) * min(p.Jitter, 1))
		d -= rand.N(span + 1)
	}
	return d
}

// stop marks an error as final.
type stop struct{ err error }

func (s stop) Error() string { return s.err.Error() }
func (s stop) Unwrap() error { return s.err }

// Stop marks err as not worth another attempt, whatever the policy says;
// Do returns err itself.
func Stop(err error) error {
	if err == nil {
		return nil
	}
	return stop{err}
}

// Do runs f (attempt counts from 1) until it succeeds, fails with an error
// that is not retryable, the attempts or the window are spent, or ctx ends
// (then ctx's error is returned). Before each pause, onRetry (if set) is
// told of the failed attempt, its error and the pause to come. Do returns
// the last error of f.
func (p Policy) Do(ctx context.Context, f func(attempt int) error, onRetry func(attempt int, err error, pause time.Duration)) error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		err := f(attempt)
		if err == nil {
			return nil
		}
		var s stop
		if errors.As(err, &s) {
			return s.err
		}
		if ctx.Err() != nil || (p.Retryable != nil && !p.Retryable(err)) {
			return err
		}
		if p.Attempts > 0 && attempt >= p.Attempts {
			return err
		}
		pause := p.Pause(attempt)
		if p.Window > 0 && time.Since(start)+pause > p.Window {
			return err
		}
		if p.Attempts <= 0 && p.Window <= 0 {
			return err // no bound named: one attempt
		}
		if onRetry != nil {
			onRetry(attempt, err, pause)
		}
		if err := Sleep(ctx, pause); err != nil {
			return err
		}
	}
}

// Sleep waits d, or until ctx ends (and returns its error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
