package portal

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// staleProfileAge is how old a browser profile directory without a lock
// must be before a later run may remove it.
const staleProfileAge = 10 * time.Minute

// sweepStaleProfiles removes the temporary browser profiles that a run killed
// with SIGKILL could not remove itself (chromedp makes them as
// $TMPDIR/chromedp-runner*). A profile is stale when its Chromium lock names
// a process of this host that is gone, or when it has no lock and is old.
// Profiles of other users and live browsers are never touched.
func sweepStaleProfiles(log *slog.Logger) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "chromedp-runner*"))
	host, _ := os.Hostname()
	for _, d := range dirs {
		st, err := os.Lstat(d)
		if err != nil || !st.IsDir() {
			continue
		}
		if uid, ok := fileOwner(st); !ok || uid != os.Geteuid() {
			continue
		}
		if !profileStale(d, host, st.ModTime()) {
			continue
		}
		if removeSettled(d) {
			log.Info("removed a stale browser profile", "dir", d)
		}
	}
}

func profileStale(dir, host string, mtime time.Time) bool {
	lock, err := os.Readlink(filepath.Join(dir, "SingletonLock"))
	if err != nil {
		return time.Since(mtime) > staleProfileAge
	}
	// The lock is "hostname-pid".
	i := strings.LastIndexByte(lock, '-')
	if i < 0 || lock[:i] != host {
		return false
	}
	pid, err := strconv.Atoi(lock[i+1:])
	if err != nil || pid <= 0 {
		return false
	}
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return true
	}
	// A zombie (its parent, the killed run, cannot reap it) holds nothing.
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && strings.Contains(string(st), ") Z ")
}

// removeSettled removes dir and waits until it stays gone: a killed
// browser's network service exits a moment after the browser and writes its
// state into the profile on the way out, recreating it behind a single
// RemoveAll. It gives up after two seconds.
func removeSettled(dir string) bool {
	const step = 100 * time.Millisecond
	gone := 0
	for i := 0; i < 20; i++ {
		if _, err := os.Lstat(dir); os.IsNotExist(err) {
			if gone++; gone == 5 {
				return true
			}
		} else {
			gone = 0
			_ = os.RemoveAll(dir)
		}
		time.Sleep(step)
	}
	_, err := os.Lstat(dir)
	return os.IsNotExist(err)
}
