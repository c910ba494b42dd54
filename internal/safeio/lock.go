package safeio

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrLockHeld is a lock another process holds past the wait allowed.
var ErrLockHeld = errors.New("lock held by another process")

// Lock takes an exclusive flock(2) on path (created 0600), waiting at most
// wait and no longer than ctx lives: SIGINT and SIGTERM end the wait at
// once. The holder writes its PID into the file, so a refusal can name the
// process to look at. The kernel drops the lock when its holder dies, so a
// kill -9 never leaves it held. With wait 0 it tries once.
func Lock(ctx context.Context, path, what string, wait time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	st, err := f.Stat()
	if err == nil {
		err = regular(path, what, st)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	deadline := time.Now().Add(wait)
	poll := 10 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("%s %s: %w", what, path, err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			holder := Holder(f)
			f.Close()
			return nil, &kindError{fmt.Sprintf("%s %s is held%s (waited %s)", what, path, holder, wait), ErrLockHeld}
		}
		t := time.NewTimer(min(poll, left))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
		poll = min(2*poll, 250*time.Millisecond)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil // closing drops the flock
}

// Holder names the PID a lock file's holder wrote: " by process N", or ""
// when unknown (a holder from before PIDs were written, or a garbled file).
func Holder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return ""
	}
	return " by process " + strconv.Itoa(pid)
}

// HolderOf is Holder for a lock file by path.
func HolderOf(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return Holder(f)
}
