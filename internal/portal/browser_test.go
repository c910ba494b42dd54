package portal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/testtool"
)

// proc is one process, named by its pid and its start time (so a pid the
// kernel reuses later is not mistaken for it).
type proc struct {
	pid   int
	start string
}

// procStat returns the parent pid, the state letter and the start time of
// a process, from /proc/PID/stat.
func procStat(pid int) (ppid int, state, start string, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", "", false
	}
	// The command name is in parentheses and may hold spaces: the fields
	// after it start at the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", "", false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, "", "", false
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0], f[19], true
}

// browserTree lists the live processes of our browsers: each process
// started with a profile under tmpRoot and every descendant of it (the
// zygotes, renderers, GPU and network processes, whose command lines do
// not name the profile).
func browserTree() []proc {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, _, ok := procStat(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []proc
	queue := ourBrowsers()
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if _, state, start, ok := procStat(pid); ok && state != "Z" {
			out = append(out, proc{pid, start})
		}
		queue = append(queue, children[pid]...)
	}
	return out
}

// stillAlive returns those of ps that still run (zombies hold nothing).
func stillAlive(ps []proc) []proc {
	var out []proc
	for _, p := range ps {
		if _, state, start, ok := procStat(p.pid); ok && state != "Z" && start == p.start {
			out = append(out, p)
		}
	}
	return out
}

// TestBrowserGoneOnReturn: when Download returns, every process of its
// Chromium has exited, the zygotes, renderers and helpers included, not
// merely the main browser process. It looks at once, with no grace period:
// a seftbot that returns while its browser's children are still winding
// down leaves them behind when it exits. To make the slow child certain
// rather than a matter of machine load, the zygotes are stopped (SIGSTOP)
// once the last file is in: a stopped process only ends by SIGKILL.
func TestBrowserGoneOnReturn(t *testing.T) {
	s := startSim(t, sim.Options{Files: 3})
	o := simOptions(t, s, SiteDownload)
	// One tab: a worker tab still opening when the zygotes are stopped
	// could never start its renderer (TestNewTabBounded).
	o.Concurrency = 1
	var mu sync.Mutex
	seen := map[proc]bool{}
	var stopped []proc
	o.Progress = func(done, total int, bytes int64) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range browserTree() {
			seen[p] = true
			if done == total && isZygote(p.pid) {
				if err := syscall.Kill(p.pid, syscall.SIGSTOP); err == nil {
					stopped = append(stopped, p)
				}
			}
		}
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range stillAlive(stopped) {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})
	res, err := Download(context.Background(), o)
	mu.Lock()
	var all []proc
	for p := range seen {
		all = append(all, p)
	}
	nstopped := len(stopped)
	mu.Unlock()
	left := stillAlive(all)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.New) != 3 {
		t.Fatalf("new %d, want 3", len(res.New))
	}
	if len(all) < 3 || nstopped == 0 {
		t.Fatalf("saw %d browser processes during the run and stopped %d zygotes; want the browser, its children and a zygote",
			len(all), nstopped)
	}
	if len(left) > 0 {
		t.Errorf("%d of the browser's %d processes outlive Download: %v", len(left), len(all), left)
	}
	if dirs, _ := filepath.Glob(filepath.Join(tmpRoot, "chromedp-runner*")); len(dirs) > 0 {
		t.Errorf("profile directories left: %v", dirs)
	}
}

// isZygote reports whether pid is a Chromium zygote (the process that forks
// renderers; its command line does not name the profile).
func isRenderer(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && strings.Contains(string(b), "--type=renderer")
}

func isZygote(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && strings.Contains(string(b), "--type=zygote")
}

// TestNewTabBounded: a tab the browser cannot open (its zygotes stopped,
// so no renderer can start, and its renderers stopped, since with every
// site in its own process Chromium keeps a spare renderer a new tab would
// take) is an error within the step timeout, not a run that waits for
// ever.
func TestNewTabBounded(t *testing.T) {
	s := startSim(t, sim.Options{Files: 1})
	o := simOptions(t, s, SiteDownload)
	o.StepTimeout = 3 * time.Second
	if err := o.normalise(); err != nil {
		t.Fatal(err)
	}
	b, err := startBrowser(context.Background(), &o, "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.NewTab(true); err != nil {
		t.Fatal(err)
	}
	var stopped []proc
	for _, p := range browserTree() {
		if (isZygote(p.pid) || isRenderer(p.pid)) && syscall.Kill(p.pid, syscall.SIGSTOP) == nil {
			stopped = append(stopped, p)
		}
	}
	defer func() {
		for _, p := range stillAlive(stopped) {
			_ = syscall.Kill(p.pid, syscall.SIGCONT)
		}
	}()
	if len(stopped) == 0 {
		t.Fatal("no zygote to stop: nothing tested")
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.NewTab(false)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, ErrPortal) {
			t.Fatalf("newTab with no renderer: %v, want a portal failure", err)
		}
	case <-time.After(time.Minute): // a failure bound, not a synchronisation
		t.Fatal("newTab still waiting a minute after a 3 s step timeout")
	}
}

// TestBrowserPasswordManagerOff: every browser seftbot starts has
// Chromium's password manager and autofill off (the recorder's:
// authoring's TestRecorderPasswordManagerOff).
func TestBrowserPasswordManagerOff(t *testing.T) {
	s := startSim(t, sim.Options{Files: 1})
	o := simOptions(t, s, SiteDownload)
	if err := o.normalise(); err != nil {
		t.Fatal(err)
	}
	b, err := startBrowser(context.Background(), &o, "")
	if err != nil {
		t.Fatal(err)
	}
	testtool.PasswordManagerOff(t, ourBrowsers())
	b.Close()
	checkNoLeaks(t)
}
