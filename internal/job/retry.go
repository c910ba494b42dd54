package job

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/retry"
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/usererr"
)

// DefaultRetryWindow is how long a run keeps retrying a portal that is down
// (a maintenance window, a bad night) before it gives up: long enough for
// a planned outage, short enough to finish before the working day.
const DefaultRetryWindow = 2 * time.Hour

// Retry waits: the first after DefaultRetryFirst, doubling up to RetryMax.
const (
	DefaultRetryFirst = 30 * time.Second
	RetryMax          = 15 * time.Minute
)

// retryable says whether a failed download stage may be run again: only a
// portal or browser failure that a later attempt could cure. Never a login
// that was refused, latched or whose outcome is unknown (the whole run
// must never send a password twice), a profile that no longer matches, a
// certificate the browser refused, this machine's disk, an integrity
// failure, a configuration error or an interruption.
func retryable(ctx context.Context, err error) bool {
	switch {
	case ctx.Err() != nil,
		!errors.Is(err, portal.ErrPortal),
		errors.Is(err, portal.ErrLoginRejected),
		errors.Is(err, portal.ErrLoginUnknown),
		errors.Is(err, portal.ErrProfile),
		errors.Is(err, staging.ErrLocal),
		errors.Is(err, portal.ErrCertificate),
		errors.Is(err, layout.ErrIntegrity),
		usererr.Is(err),
		certificateError(err):
		return false
	}
	return true
}

// certificateError recognises a TLS certificate the browser or Go refused:
// a configuration problem (CA file, pin) or an attack, not an outage.
func certificateError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "ERR_CERT_") || strings.Contains(s, "x509:") ||
		strings.Contains(s, "ERR_SSL_") || strings.Contains(s, "certificate")
}

// withRetry runs f, and again after a backoff while its failure is
// retryable and the window allows, logging every attempt. A latch set by
// the failed attempt (a refusal or unknown outcome) also ends it.
//
// Its policy: no count of attempts but the window (SEFTBOT_RETRY_WINDOW,
// 0: one attempt), pauses from RetryFirst doubling to RetryMax, no jitter
// (one run, nobody to fall in step with), and only what retryable accepts.
func (r *run) withRetry(ctx context.Context, f func(context.Context) error) error {
	first := r.o.RetryFirst
	if first <= 0 {
		first = DefaultRetryFirst
	}
	start := time.Now()
	latched := func() bool {
		l, lerr := portal.ReadLatch(r.st.Dir, portal.SiteDownload)
		return l != nil || lerr != nil
	}
	p := retry.Policy{Window: r.o.RetryWindow, First: first, Max: RetryMax,
		Retryable: func(err error) bool { return retryable(ctx, err) && !latched() }}
	attempts := 0
	var last error
	err := p.Do(ctx, func(attempt int) error {
		attempts = attempt
		last = f(ctx)
		return last
	}, func(attempt int, err error, wait time.Duration) {
		r.log.Warn("portal failure; retrying the download", "attempt", attempt, "next_in", wait.String(),
			"window_left", (p.Window - time.Since(start)).Round(time.Second).String(), "err", err)
		if r.o.retried != nil {
			r.o.retried(attempt)
		}
	})
	switch {
	case err != nil && ctx.Err() != nil && last != nil:
		return last // interrupted while waiting: the failure, not the wait, is the news
	case err != nil && p.Retryable(err):
		r.log.Error("portal still failing; giving up", "attempts", attempts, "retry_window", p.Window.String(), "err", err)
	}
	return err
}
