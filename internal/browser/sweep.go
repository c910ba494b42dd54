package browser

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sweepStaleProfiles removes the temporary browser profiles that a run killed
// with SIGKILL could not remove itself (chromedp makes them as
// $TMPDIR/chromedp-runner*). A profile is stale when its Chromium lock names
// a process of this host that is gone, or when it has no lock and no live
// process uses it.
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
		// The headless shell takes no lock: the profile is in use while a
		// live process names it. A profile still empty may belong to a run
		// whose browser is starting (chromedp makes it just before).
		if ents, _ := os.ReadDir(dir); len(ents) == 0 && time.Since(mtime) < emptyProfileAge {
			return false
		}
		return !profileInUse(dir)
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
	return !alive(pid)
}

// emptyProfileAge is how old an empty profile must be to count as stale.
const emptyProfileAge = 10 * time.Minute

// profileInUse reports whether a live process runs with dir as its profile.
func profileInUse(dir string) bool { return len(Processes(dir)) > 0 }

// Processes lists the live processes (zombies hold nothing) started
// with a browser profile at or under root: a run's Chromium and all its
// children.
func Processes(root string) []int {
	root = filepath.Clean(root)
	return liveProcesses(func(pid int, _ procInfo) bool {
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			return false
		}
		for _, arg := range strings.Split(string(cmdline), "\x00") {
			if dir, ok := strings.CutPrefix(arg, "--user-data-dir="); ok {
				return dir == root || strings.HasPrefix(dir, root+"/")
			}
		}
		return false
	})
}

// procInfo is what /proc/PID/stat says of a process that seftbot needs.
type procInfo struct {
	state string // R, S, Z, ...
	pgrp  int
}

// readStat parses /proc/PID/stat: "pid (comm) state ppid pgrp ...", where
// comm may hold spaces and ')'.
func readStat(pid int) (procInfo, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procInfo{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 3 {
		return procInfo{}, false
	}
	pgrp, _ := strconv.Atoi(f[2])
	return procInfo{state: f[0], pgrp: pgrp}, true
}

// liveProcesses lists the processes, zombies left out (whose parent, a
// killed run, cannot reap them: they hold nothing), that keep accepts.
func liveProcesses(keep func(pid int, st procInfo) bool) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok && st.state != "Z" && keep(pid, st) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	st, ok := readStat(pid)
	return ok && st.state != "Z"
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
