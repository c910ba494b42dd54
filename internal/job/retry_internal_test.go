package job

import (
	"context"
	"fmt"
	"syscall"
	"testing"

	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/staging"
)

// TestRetryable: only failures a later attempt could cure are retried, as
// the portal really wraps them.
func TestRetryable(t *testing.T) {
	live := context.Background()
	gone, cancel := context.WithCancel(live)
	cancel()
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"maintenance page", live, fmt.Errorf("%w: could not open the listing after 6 attempts: 503", portal.ErrPortal), true},
		{"browser died", live, fmt.Errorf("%w: %w", portal.ErrPortal, context.Canceled), true},
		{"certificate refused (typed)", live, fmt.Errorf("%w: open login page: %w", portal.ErrPortal, portal.ErrCertificate), false},
		{"certificate refused", live, fmt.Errorf("%w: navigate: page load error net::ERR_CERT_AUTHORITY_INVALID", portal.ErrPortal), false},
		{"login refused", live, fmt.Errorf("%w: %w", portal.ErrPortal, portal.ErrLoginRejected), false},
		{"login latched", live, portal.ErrLatched, false},
		{"login outcome unknown", live, fmt.Errorf("%w: no outcome after 30s", portal.ErrLoginUnknown), false},
		{"profile mismatch", live, fmt.Errorf("%w: %w", portal.ErrPortal, portal.ErrProfile), false},
		{"disk full", live, fmt.Errorf("%w: manifest: %w", portal.ErrPortal, fmt.Errorf("%w: %w", staging.ErrLocal, syscall.ENOSPC)), false},
		{"manifest damaged", live, layout.Integrity(fmt.Errorf("damaged"), "h"), false},
		{"interrupted", gone, fmt.Errorf("%w: 503", portal.ErrPortal), false},
	}
	for _, c := range cases {
		if got := retryable(c.ctx, c.err); got != c.want {
			t.Errorf("%s: retryable = %v, want %v", c.name, got, c.want)
		}
	}
}
