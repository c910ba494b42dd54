package portal

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// downloadHub routes the browser's download events. A click is matched to the
// download it starts by the frame that started it (or, for a download that
// opens a new tab, by its suggested name); from then on the download is
// followed by GUID only, so concurrent downloads are never confused.
type downloadHub struct {
	mu      sync.Mutex
	waiters map[cdp.FrameID]*dlWaiter
	byGUID  map[string]*download
	orphans []string // GUIDs nobody clicked for; cancelled
}

type dlWaiter struct {
	name string
	ch   chan *download
}

// download is one download the browser is doing. Fields after mu change
// under the hub's lock.
type download struct {
	guid      string
	suggested string
	done      chan struct{} // closed when completed or canceled

	received, total int64
	state           browser.DownloadProgressState
	last            time.Time // last progress event
}

func newDownloadHub() *downloadHub {
	return &downloadHub{waiters: map[cdp.FrameID]*dlWaiter{}, byGUID: map[string]*download{}}
}

// expect registers that the tab with main frame f is about to click the
// control of the file name; the channel receives its download.
func (h *downloadHub) expect(f cdp.FrameID, name string) <-chan *download {
	w := &dlWaiter{name: name, ch: make(chan *download, 1)}
	h.mu.Lock()
	h.waiters[f] = w
	h.mu.Unlock()
	return w.ch
}

func (h *downloadHub) forget(f cdp.FrameID) {
	h.mu.Lock()
	delete(h.waiters, f)
	h.mu.Unlock()
}

// handle runs in the browser's message loop: bookkeeping only.
func (h *downloadHub) handle(ev any) {
	switch e := ev.(type) {
	case *browser.EventDownloadWillBegin:
		d := &download{guid: e.GUID, suggested: e.SuggestedFilename, done: make(chan struct{}), last: time.Now()}
		h.mu.Lock()
		h.byGUID[e.GUID] = d
		w, f := h.waiters[e.FrameID], e.FrameID
		if w == nil {
			// Started in another frame (a new tab): match by name, if unique.
			var n int
			for fid, c := range h.waiters {
				if c.name == e.SuggestedFilename {
					w, f, n = c, fid, n+1
				}
			}
			if n != 1 {
				w = nil
			}
		}
		if w != nil {
			delete(h.waiters, f)
			w.ch <- d // buffered, one per waiter
		} else {
			h.orphans = append(h.orphans, e.GUID)
		}
		h.mu.Unlock()
	case *browser.EventDownloadProgress:
		h.mu.Lock()
		defer h.mu.Unlock()
		d := h.byGUID[e.GUID]
		if d == nil {
			return
		}
		d.received, d.total, d.state, d.last = int64(e.ReceivedBytes), int64(e.TotalBytes), e.State, time.Now()
		if e.State == browser.DownloadProgressStateCompleted || e.State == browser.DownloadProgressStateCanceled {
			delete(h.byGUID, e.GUID)
			close(d.done)
		}
	}
}

// takeOrphans returns downloads no click asked for, to be cancelled.
func (h *downloadHub) takeOrphans() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	o := h.orphans
	h.orphans = nil
	return o
}

// snapshot reads a download's progress.
func (h *downloadHub) snapshot(d *download) (received, total int64, state browser.DownloadProgressState, last time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return d.received, d.total, d.state, d.last
}

// wait blocks until d ends. A download that makes no progress for stall is
// cancelled and reported as failed; so is one the context ends.
func (b *browserRun) wait(ctx context.Context, d *download, stall time.Duration) (received, total int64, err error) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-d.done:
			r, t, st, _ := b.hub.snapshot(d)
			if st != browser.DownloadProgressStateCompleted {
				return r, t, fmt.Errorf("download %s", st)
			}
			return r, t, nil
		case <-tick.C:
			if _, _, _, last := b.hub.snapshot(d); time.Since(last) > stall {
				b.cancelDownload(d.guid)
				return 0, 0, fmt.Errorf("download stalled for %s", stall)
			}
		case <-ctx.Done():
			b.cancelDownload(d.guid)
			return 0, 0, ctx.Err()
		}
	}
}

func (b *browserRun) cancelDownload(guid string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.root), 5*time.Second)
	defer cancel()
	_, _ = chromedp.CallBrowser(ctx, browser.CancelDownload, browser.CancelDownloadParams{GUID: guid})
}
