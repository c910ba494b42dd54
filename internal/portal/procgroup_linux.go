package portal

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
)

// browserProc is the Chromium process of one run and the process group it
// leads. chromedp kills the browser process when the run ends and waits
// for it, and for the processes whose command line names the profile; but
// the zygotes, renderers, GPU and network processes do not name it, and
// outlive the browser until they notice it is gone (a second or more on a
// busy machine). Started in a group of its own, the browser's whole tree
// can be killed and waited for.
type browserProc struct {
	mu  sync.Mutex
	cmd *exec.Cmd
}

// groupExitLimit bounds the wait for a killed group's processes to go
// (a process in uninterruptible sleep dies only when it wakes).
const groupExitLimit = 5 * time.Second

// option makes the browser lead a process group of its own. It replaces
// chromedp's default, so it also keeps the kill of the browser when
// seftbot's thread that started it dies (Pdeathsig).
func (p *browserProc) option(also func(*exec.Cmd)) chromedp.ExecAllocatorOption {
	return chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
		also(cmd)
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = new(syscall.SysProcAttr)
		}
		cmd.SysProcAttr.Setpgid = true
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
		p.mu.Lock()
		p.cmd = cmd
		p.mu.Unlock()
	})
}

// end kills what is left of the browser's process group and waits until
// none of it runs, then removes the profile directory again, in case a
// dying child wrote into it after chromedp removed it. Call it after
// chromedp has ended the browser process itself (the group is then
// orphaned: nothing in it is of use).
func (p *browserProc) end(log *slog.Logger) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	pgid := cmd.Process.Pid
	deadline := time.Now().Add(groupExitLimit)
	for {
		left := groupMembers(pgid)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			log.Warn("browser processes did not exit after SIGKILL", "pgid", pgid, "pids", left)
			return
		}
		// Only while a member lives: the group's id cannot be reused then.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(5 * time.Millisecond)
	}
	if dir := tempProfile(cmd.Args); dir != "" {
		_ = os.RemoveAll(dir)
	}
}

// groupMembers lists the live processes (zombies hold nothing) of process
// group pgid.
func groupMembers(pgid int) []int {
	return liveProcesses(func(_ int, st procInfo) bool { return st.pgrp == pgid })
}

// tempProfile returns the profile directory chromedp made for the browser
// (--user-data-dir=$TMPDIR/chromedp-runner*), or "".
func tempProfile(args []string) string {
	for _, a := range args {
		if dir, ok := strings.CutPrefix(a, "--user-data-dir="); ok &&
			filepath.Dir(dir) == filepath.Clean(os.TempDir()) && strings.HasPrefix(filepath.Base(dir), "chromedp-runner") {
			return dir
		}
	}
	return ""
}
