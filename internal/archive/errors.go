// Package archive writes AES-256 encrypted 7z archives with encrypted headers,
// in pure Go, and proves each one readable before it may leave the machine.
package archive

import "errors"

// ErrVerify means a written archive did not read back exactly; it is deleted.
var ErrVerify = errors.New("archive verification failed")
