package cli

import (
	"fmt"
	"golang.org/x/term"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// meter is the one progress line seftbot draws on a terminal: a bar of
// files (download) or bytes (archive, relay) done out of the total, the
// bytes so far, the rate and the time left. It is drawn here, a few lines
// of layout, so that log lines can be printed above it (logSink) rather
// than through it. The rate is measured from the first update on, and shown
// only after a second of it: a first file completing in a millisecond is
// not "6.6 GB/s". A download's total is known only once the whole listing
// has been read; until then the line says "at least".
type meter struct {
	mu    sync.Mutex
	w     io.Writer
	cols  int // terminal width; 0 = unknown
	now   func() time.Time
	what  string
	files bool // the bar counts files; else bytes

	done, total, bytes int64
	atLeast            int64 // files known so far while the listing is still read
	started            bool
	t0                 time.Time // first update
	d0, b0             int64     // done and bytes at the first update
	lastDraw           time.Time
	drawn              bool
}

const (
	redrawEvery = 100 * time.Millisecond
	barWidth    = 20
)

func newMeter(w io.Writer, what string, files bool, total int64, now func() time.Time) *meter {
	m := &meter{w: w, what: what, files: files, total: total, now: now}
	if f, ok := w.(*os.File); ok {
		if c, _, err := term.GetSize(int(f.Fd())); err == nil {
			m.cols = c
		}
	}
	return m
}

// setFiles records that done of total files are complete, bytes in all. A
// negative total is a listing still being read: at least -total files.
func (m *meter) setFiles(done, total int, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.total, m.atLeast = int64(max(total, 0)), int64(max(-total, 0))
	m.update(int64(done), bytes)
}

// add records n more bytes done (a byte meter).
func (m *meter) add(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.update(m.done+n, m.bytes+n)
}

func (m *meter) update(done, bytes int64) {
	now := m.now()
	if !m.started {
		m.started, m.t0, m.d0, m.b0 = true, now, done, bytes
	}
	m.done, m.bytes = done, bytes
	if m.drawn && now.Sub(m.lastDraw) < redrawEvery && (m.total <= 0 || done < m.total) {
		return
	}
	m.draw(now)
}

// bar is "what  45% |#########           |": the share done of a known total.
func (m *meter) bar() string {
	if m.total <= 0 {
		return m.what
	}
	frac := min(float64(m.done)/float64(m.total), 1)
	fill := int(frac * barWidth)
	return fmt.Sprintf("%s %3d%% |%s%s|", m.what, int(frac*100), strings.Repeat("█", fill), strings.Repeat(" ", barWidth-fill))
}

// line is what the terminal shows, without control characters.
func (m *meter) line(now time.Time) string {
	s := m.bar()
	switch {
	case m.files && m.total > 0:
		s += fmt.Sprintf(" (%d/%d) files, %s", m.done, m.total, humanBytes(m.bytes))
	case m.files && m.atLeast > 0:
		s += fmt.Sprintf(" (%d of at least %d, listing) files, %s", m.done, m.atLeast, humanBytes(m.bytes))
	case m.files:
		s += fmt.Sprintf(" (%d) files, %s", m.done, humanBytes(m.bytes))
	case m.total > 0:
		s += " " + humanBytes(m.bytes) + " of " + humanBytes(m.total)
	default:
		s += " " + humanBytes(m.bytes)
	}
	el := now.Sub(m.t0)
	if el < time.Second || m.bytes <= m.b0 {
		return s + ", measuring rate"
	}
	s += ", " + humanBytes(int64(float64(m.bytes-m.b0)/el.Seconds())) + "/s"
	if left := m.total - m.done; left > 0 && m.done > m.d0 {
		eta := time.Duration(float64(el) * float64(left) / float64(m.done-m.d0))
		s += ", ETA " + eta.Round(time.Second).String()
	}
	return s
}

// draw replaces the terminal's current line with the meter.
func (m *meter) draw(now time.Time) {
	l := m.line(now)
	if m.cols > 1 && len([]rune(l)) >= m.cols {
		l = string([]rune(l)[:m.cols-1])
	}
	fmt.Fprint(m.w, "\r\x1b[K"+l)
	m.drawn, m.lastDraw = true, now
}

// printAbove writes complete log lines above the meter and redraws it.
func (m *meter) printAbove(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.drawn {
		fmt.Fprint(m.w, "\r\x1b[K")
	}
	n, err := m.w.Write(p)
	if m.drawn {
		m.draw(m.now())
	}
	return n, err
}

// finish clears the line: the verb's summary follows on stdout.
func (m *meter) finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.drawn {
		fmt.Fprint(m.w, "\r\x1b[K")
	}
	m.drawn = false
}

// logSink is where the logger writes: straight to stderr, or above the
// meter while one is shown. slog writes one whole line per call.
type logSink struct {
	mu    sync.Mutex
	w     io.Writer
	above *meter
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	m := s.above
	s.mu.Unlock()
	if m != nil {
		return m.printAbove(p)
	}
	return s.w.Write(p)
}

func (s *logSink) show(m *meter) {
	s.mu.Lock()
	s.above = m
	s.mu.Unlock()
}

// meter starts a progress line on stderr when stderr is a terminal, and
// returns nil otherwise: under a scheduler stderr carries only log lines.
// done clears it and sends logs straight to stderr again.
func (g *globalOptions) meter(what string, files bool, total int64) (m *meter, done func()) {
	if !isTerminal(g.stderr) || g.sink == nil {
		return nil, func() {}
	}
	m = newMeter(g.stderr, what, files, total, time.Now)
	g.sink.show(m)
	return m, func() {
		g.sink.show(nil)
		m.finish()
	}
}

// progress is a byte meter as a callback pair, for the verbs with one stage.
func (g *globalOptions) progress(total int64, what string) (add func(n int64), done func()) {
	m, done := g.meter(what, false, total)
	if m == nil {
		return func(int64) {}, done
	}
	return m.add, done
}
