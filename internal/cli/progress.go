package cli

import (
	"io"

	"github.com/schollz/progressbar/v3"
)

// progress returns a byte counter that draws a bar on stderr when stderr is
// a terminal, and does nothing otherwise: logs stay clean under a scheduler.
// The returned func is safe to call from several goroutines; done ends the bar.
func (g *globalOptions) progress(total int64, what string) (add func(n int64), done func()) {
	if !isTerminal(g.stderr) {
		return func(int64) {}, func() {}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(g.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionThrottle(100_000_000), // 100ms
		progressbar.OptionClearOnFinish(),
	)
	return func(n int64) { _ = bar.Add64(n) }, func() { _ = bar.Finish(); _, _ = io.WriteString(g.stderr, "") }
}
