package cli

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/usererr"
)

// TestPortalExitCodes: portal errors wrapped as the engine and the job wrap
// them map to the README's codes; none reads as a bug or as "interrupted".
func TestPortalExitCodes(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		code int
	}{
		{"refused", fmt.Errorf("download: %w", fmt.Errorf("%w: download site: refused", portal.ErrLoginRejected)), ExitLogin},
		{"latched", usererr.New(fmt.Errorf("%w: not sending the password", portal.ErrLatched), "lift it"), ExitLogin},
		{"unknown outcome", fmt.Errorf("stage download: %w", fmt.Errorf("%w: no answer (%v)", portal.ErrLoginUnknown, context.DeadlineExceeded)), ExitLoginUnsure},
		{"mismatch", fmt.Errorf("stage download: %w", fmt.Errorf("%w: no file rows", portal.ErrProfile)), ExitProfile},
		{"bad selector", usererr.New(fmt.Errorf("%w: selectors the browser cannot read", portal.ErrProfile), "fix them"), ExitProfile},
		{"upload unknown", fmt.Errorf("step 1: upload: %w", portal.ErrUploadUnknown), ExitPortal},
		{"portal down", fmt.Errorf("%w: could not sign in after 6 attempts: %w", portal.ErrPortal, errors.New("503")), ExitPortal},
	} {
		if got := exitCode(c.err); got != c.code {
			t.Errorf("%s: exit %d, want %d (%v)", c.name, got, c.code, c.err)
		}
	}
}
