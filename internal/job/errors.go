// Package job runs the nightly fetch: download, archive, verify, relay,
// deliver the passphrase, report, record and wipe, each stage resumable.
package job

import (
	"errors"

	"github.com/isaric/seftbot/internal/layout"
)

var (
	// ErrNothingNew means the portal had no file we have not fetched before.
	ErrNothingNew = errors.New("no new files on the portal")
	// ErrLocked means another seftbot run holds the state directory.
	ErrLocked = layout.ErrLocked
)
