package safeio

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/usererr"
)

// TestOnlyRegularFiles: a FIFO with no writer, a device, a socket and a
// directory are each refused at once, as a user error naming the path and
// what it is; a symbolic link to a regular file is read.
func TestOnlyRegularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	link := filepath.Join(dir, "link")
	if err := os.WriteFile(filepath.Join(dir, "real"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]string{fifo: "a FIFO", "/dev/zero": "a character device", sock: "a socket", dir: "a directory"} {
		done := make(chan error, 1)
		go func() { _, err := ReadFile(path, "the test file", 1<<20); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) || !usererr.Is(err) || !strings.Contains(err.Error(), "the test file "+path+" is "+kind) {
				t.Errorf("%s: %v, want a user error naming it as %s", path, err, kind)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: still blocked after 5 s", path)
		}
	}
	if b, err := ReadFile(link, "the test file", 1); err != nil || string(b) != "x" {
		t.Errorf("symlink to a regular file: %q, %v", b, err)
	}
}

// TestReadFileLimit: a file one byte past its limit is refused naming the
// file and the limit; one at the limit is read.
func TestReadFileLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, make([]byte, 1025), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p, "the ledger", 1024); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "the ledger "+p+" is larger than 1 KiB") {
		t.Errorf("over the limit: %v", err)
	}
	if b, err := ReadFile(p, "the ledger", 1025); err != nil || len(b) != 1025 {
		t.Errorf("at the limit: %d bytes, %v", len(b), err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "none"), "x", 1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}

// TestLockWaitIsBoundedAndNamesHolder: a lock held elsewhere is waited on
// for the bound only, and the refusal names the holder's PID.
func TestLockWaitIsBoundedAndNamesHolder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	unlock, err := Lock(context.Background(), p, "the test lock", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	start := time.Now()
	_, err = Lock(context.Background(), p, "the test lock", 300*time.Millisecond)
	if !errors.Is(err, ErrLockHeld) || !strings.Contains(err.Error(), "held by process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock: %v, want ErrLockHeld naming pid %d", err, os.Getpid())
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("waited %s for a 300 ms bound", d)
	}
}

// TestLockWaitEndsWithContext: cancelling the context (what SIGTERM does)
// ends a wait at once, however long its bound.
func TestLockWaitEndsWithContext(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	unlock, err := Lock(context.Background(), p, "the test lock", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := Lock(ctx, p, "the test lock", time.Hour); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the lock wait outlived its context by 2 s")
	}
	unlock()
	if u, err := Lock(context.Background(), p, "the test lock", 0); err != nil {
		t.Fatalf("lock after release: %v", err)
	} else {
		u()
	}
}
