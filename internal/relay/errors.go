// Package relay hands an archive to the analysts' SFTP drop atomically: a
// temporary name that cannot match isaric-*, then a rename that never overwrites.
package relay

import "errors"

var (
	// ErrHostKey means the server's host key is unknown or changed.
	ErrHostKey = errors.New("host key refused")
	// ErrRelay is any other failure to deliver the archive.
	ErrRelay = errors.New("relay failed")
)
