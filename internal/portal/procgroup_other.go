//go:build !linux

package portal

import (
	"log/slog"
	"os/exec"

	"github.com/chromedp/chromedp"
)

// browserProc leaves the browser's processes to chromedp where there is
// no /proc to find them by.
type browserProc struct{}

func (p *browserProc) option(also func(*exec.Cmd)) chromedp.ExecAllocatorOption {
	return chromedp.ModifyCmdFunc(also)
}

func (p *browserProc) end(*slog.Logger) {}
