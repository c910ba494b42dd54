package testtool

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// NoLeaks fails the test if any browser process that procs lists is still
// alive, or a browser profile directory (chromedp-runner*) is left under
// root, a few seconds after a run; it then kills and removes them, so one
// leak is not blamed on the tests after it.
func NoLeaks(t testing.TB, root string, procs func() []int) {
	t.Helper()
	var pids []int
	var dirs []string
	if Poll(5*time.Second, func() bool {
		pids = procs()
		dirs, _ = filepath.Glob(filepath.Join(root, "chromedp-runner*"))
		return len(pids) == 0 && len(dirs) == 0
	}) {
		return
	}
	t.Errorf("leaked: %d browser processes %v, %d profile dirs %v", len(pids), pids, len(dirs), dirs)
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}
