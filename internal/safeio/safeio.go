// Package safeio opens the files seftbot reads (inputs, templates, state)
// so that no path can make it hang or fill memory: only regular files are
// read, the open never blocks (a FIFO would block open(2) until a writer
// came, with the state lock held), and every read has a size limit that
// fits the file's purpose.
package safeio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/isaric/seftbot/internal/usererr"
)

// ErrNotRegular marks a path that is a FIFO, device, socket or directory.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge marks a file past the limit its reader gave.
var ErrTooLarge = errors.New("file too large")

// Open opens path read-only without blocking and refuses anything but a
// regular file (symbolic links are followed), as a user error (exit 2)
// naming the path. what says what the file is for the message, e.g.
// "the header template".
func Open(path, what string) (*os.File, error) {
	// stat first: a socket cannot be opened at all, and says so poorly.
	if st, err := os.Stat(path); err == nil {
		if err := regular(path, what, st); err != nil {
			return nil, err
		}
	}
	// O_NONBLOCK, and fstat after: open(2) of a FIFO with no writer returns at once instead
	// of waiting; fstat then refuses it. On a regular file it changes nothing.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := regular(path, what, st); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func regular(path, what string, st os.FileInfo) error {
	if st.Mode().IsRegular() {
		return nil
	}
	kind := "a " + st.Mode().Type().String()
	switch t := st.Mode().Type(); {
	case t&os.ModeDir != 0:
		kind = "a directory"
	case t&os.ModeNamedPipe != 0:
		kind = "a FIFO (named pipe)"
	case t&os.ModeSocket != 0:
		kind = "a socket"
	case t&os.ModeCharDevice != 0:
		kind = "a character device"
	case t&os.ModeDevice != 0:
		kind = "a device"
	}
	return usererr.New(&kindError{fmt.Sprintf("%s %s is %s, not a regular file", what, path, kind), ErrNotRegular},
		"give the path of a regular file")
}

// ReadFile reads the regular file path whole, refusing one larger than
// limit bytes with a user error naming the file and the limit. Like
// os.ReadFile, a missing file is an error satisfying os.ErrNotExist.
func ReadFile(path, what string, limit int64) ([]byte, error) {
	f, err := Open(path, what)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, path, what, limit)
}

func readAll(f *os.File, path, what string, limit int64) ([]byte, error) {
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	if size > limit {
		return nil, tooLarge(path, what, limit)
	}
	// Sized to the file, so a large one is not copied as the buffer grows.
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, tooLarge(path, what, limit)
	}
	return buf.Bytes(), nil
}

func tooLarge(path, what string, limit int64) error {
	return usererr.New(&kindError{fmt.Sprintf("%s %s is larger than %s", what, path, Size(limit)), ErrTooLarge},
		"check that it is the right file; seftbot never writes one this large")
}

// kindError is a message that is also one of the package's errors, so the
// message need not repeat it.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

// Size formats a limit for a message: "64 KiB", "16 MiB".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
