package relay

import "errors"

// The CLI's exit table maps these: ErrHostKey to 9, ErrRelay to 8. Relay's
// errors wrap one of them, except cancellation (the context's error) and
// configuration mistakes found before connecting (plain user errors, exit 2).
var (
	// ErrHostKey means the server's host key is unknown or changed.
	ErrHostKey = errors.New("host key refused")
	// ErrRelay is any other failure to deliver the archive.
	ErrRelay = errors.New("relay failed")
)
