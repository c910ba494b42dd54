package cli

import (
	"errors"
	"syscall"

	"github.com/isaric/seftbot/internal/archive"
	"github.com/isaric/seftbot/internal/inbox"
	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/mailauth"
	"github.com/isaric/seftbot/internal/notify"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/relay"
	"github.com/isaric/seftbot/internal/usererr"
)

// Exit codes. The README's table is this one; keep them in step.
const (
	ExitOK          = 0
	ExitBug         = 1
	ExitUsage       = 2
	ExitNothingNew  = 3
	ExitLocked      = 4
	ExitLogin       = 5
	ExitPortal      = 6
	ExitVerify      = 7
	ExitRelay       = 8
	ExitHostKey     = 9
	ExitMail        = 10
	ExitProfile     = 11
	ExitLoginUnsure = 12
	ExitIntegrity   = 13
	ExitHealth      = 14
	ExitMailbox     = 15
	ExitRejected    = 16
	ExitInterrupted = 130
)

// errInterrupted marks an error of a run stopped by SIGINT or SIGTERM. Only
// the signal makes a run "interrupted": a browser that dies also cancels
// contexts, and its context.Canceled is a failure, not an interruption.
var errInterrupted = errors.New("interrupted")

// exitTable is the one place that maps errors to exit codes. The first
// entry that matches (errors.Is) wins, so more specific errors come first.
var exitTable = []struct {
	err  error
	code int
}{
	{errInterrupted, ExitInterrupted},
	{job.ErrNothingNew, ExitNothingNew},
	{job.ErrLocked, ExitLocked},
	{layout.ErrIntegrity, ExitIntegrity},
	{portal.ErrLoginUnknown, ExitLoginUnsure},
	{portal.ErrLoginRejected, ExitLogin},
	{portal.ErrProfile, ExitProfile},
	{layout.ErrLocal, ExitUsage}, // this machine's disk, not the portal (the one marker)
	{syscall.ENOSPC, ExitUsage},  // a full disk, wherever it happens, marked or not
	{syscall.EDQUOT, ExitUsage},
	{portal.ErrUploadUnknown, ExitPortal},
	{portal.ErrUploadRefused, ExitPortal},
	{relay.ErrHostKey, ExitHostKey},
	{portal.ErrCertificate, ExitHostKey},
	{archive.ErrVerify, ExitVerify},
	{portal.ErrPortal, ExitPortal},
	{relay.ErrRelay, ExitRelay},
	{mailauth.ErrToken, ExitMailbox},
	{inbox.ErrMailbox, ExitMailbox},
	{notify.ErrMail, ExitMail},
	{errHealth, ExitHealth},
	{errRejected, ExitRejected},
}

// exitCode maps err to the process exit code. Unlisted user errors are
// usage/config errors; anything else is a bug.
func exitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	for _, e := range exitTable {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	if usererr.Is(err) {
		return ExitUsage
	}
	return ExitBug
}
