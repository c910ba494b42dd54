// Package usererr marks errors that the operator can fix, and carries the
// one-line hint that tells them how. Anything not marked is treated as a bug.
package usererr

import "errors"

// Error is a problem caused by input or environment, not by seftbot itself.
type Error struct {
	Err  error
	Hint string
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// New wraps err as a user error with a hint line.
func New(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, Hint: hint}
}

// Errorf is errors.New plus a hint, for the common case.
func Errorf(hint, msg string) error { return &Error{Err: errors.New(msg), Hint: hint} }

// Is reports whether err, or anything it wraps, is a user error.
func Is(err error) bool {
	var u *Error
	return errors.As(err, &u)
}

// Hint returns the outermost hint in err's chain, or "".
func Hint(err error) string {
	var u *Error
	if errors.As(err, &u) {
		return u.Hint
	}
	return ""
}
