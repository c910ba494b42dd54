//go:build !linux

package browser

import (
	"log/slog"

	"github.com/chromedp/chromedp"
)

// browserProc leaves the browser's processes to chromedp where there is
// no /proc to find them by.
type browserProc struct{}

func (p *browserProc) option() chromedp.ExecAllocatorOption { return func(*chromedp.ExecAllocator) {} }

func (p *browserProc) end(*slog.Logger) {}
