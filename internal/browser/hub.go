package browser

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// downloadHub routes the browser's download events. A click is matched to the
// download it starts by the frame that started it: the clicking tab's, or
// that of a tab the click opened (a form or link with target=_blank), which
// is traced to its opener. Failing both, a download is matched by its
// suggested name if exactly one waiting click is for that name. From then on
// the download is followed by GUID only, so concurrent downloads are never
// confused.
type downloadHub struct {
	mu      sync.Mutex
	waiters map[cdp.FrameID]*dlWaiter
	byGUID  map[string]*Download
	orphans []string                  // GUIDs nobody clicked for; cancelled
	popups  map[target.ID]cdp.FrameID // tabs opened by a page, to the opener's main frame
}

type dlWaiter struct {
	name string
	ch   chan *Download
	page chan target.ID // a tab this click opened shows a page, not a download
}

// Download is one download the browser is doing. Fields after done change
// under the hub's lock.
type Download struct {
	guid      string
	suggested string
	done      chan struct{} // closed when completed or canceled

	received, total int64
	state           browser.DownloadProgressState
	last            time.Time // last progress event
}

func newDownloadHub() *downloadHub {
	return &downloadHub{waiters: map[cdp.FrameID]*dlWaiter{}, byGUID: map[string]*Download{}, popups: map[target.ID]cdp.FrameID{}}
}

// Expect registers that the tab with main frame f is about to click the
// control of the file name. began receives its download; page receives a
// tab the click opened if that tab shows a page instead. Forget ends the
// registration.
func (b *Browser) Expect(f cdp.FrameID, name string) (began <-chan *Download, page <-chan target.ID) {
	return b.hub.expect(f, name)
}

// Forget ends what Expect registered for frame f.
func (b *Browser) Forget(f cdp.FrameID) { b.hub.forget(f) }

// TakeOrphans returns downloads no click asked for, to be cancelled.
func (b *Browser) TakeOrphans() []string { return b.hub.takeOrphans() }

// GUID identifies the download to the browser.
func (d *Download) GUID() string { return d.guid }

// Suggested is the file name the server suggested.
func (d *Download) Suggested() string { return d.suggested }

func (h *downloadHub) expect(f cdp.FrameID, name string) (began <-chan *Download, page <-chan target.ID) {
	w := &dlWaiter{name: name, ch: make(chan *Download, 1), page: make(chan target.ID, 1)}
	h.mu.Lock()
	h.waiters[f] = w
	h.mu.Unlock()
	return w.ch, w.page
}

func (h *downloadHub) forget(f cdp.FrameID) {
	h.mu.Lock()
	delete(h.waiters, f)
	h.mu.Unlock()
}

// popupsOf lists the tabs that the tab with main frame f has opened.
func (h *downloadHub) popupsOf(f cdp.FrameID) []target.ID {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []target.ID
	for id, opener := range h.popups {
		if opener == f {
			ids = append(ids, id)
		}
	}
	return ids
}

// handle runs in the browser's message loop: bookkeeping only.
func (h *downloadHub) handle(ev any) {
	switch e := ev.(type) {
	case *target.EventTargetCreated:
		if i := e.TargetInfo; i.Type == "page" && i.OpenerID != "" {
			h.mu.Lock()
			h.popups[i.TargetID] = cdp.FrameID(i.OpenerID)
			h.mu.Unlock()
		}
	case *target.EventTargetInfoChanged:
		// A tab opened for a download never commits a page; one that does
		// shows the portal's answer instead (an error, a login form).
		i := e.TargetInfo
		if i.URL == "" || i.URL == "about:blank" {
			return
		}
		h.mu.Lock()
		if opener, ok := h.popups[i.TargetID]; ok {
			if w := h.waiters[opener]; w != nil {
				select {
				case w.page <- i.TargetID:
				default:
				}
			}
		}
		h.mu.Unlock()
	case *target.EventTargetDestroyed:
		h.mu.Lock()
		delete(h.popups, e.TargetID)
		h.mu.Unlock()
	case *browser.EventDownloadWillBegin:
		d := &Download{guid: e.GUID, suggested: e.SuggestedFilename, done: make(chan struct{}), last: time.Now()}
		h.mu.Lock()
		h.byGUID[e.GUID] = d
		f := e.FrameID
		if opener, ok := h.popups[target.ID(f)]; ok {
			f = opener // begun in a tab the click opened
		}
		w := h.waiters[f]
		if w == nil {
			// Started in a frame we cannot trace: match by name, if unique.
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
func (h *downloadHub) snapshot(d *Download) (received, total int64, state browser.DownloadProgressState, last time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return d.received, d.total, d.state, d.last
}

// Wait blocks until d ends. A download that makes no progress for stall is
// cancelled and reported as failed; so is one the context ends.
func (b *Browser) Wait(ctx context.Context, d *Download, stall time.Duration) (received, total int64, err error) {
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
				b.CancelDownload(d.guid)
				return 0, 0, fmt.Errorf("download stalled for %s", stall)
			}
		case <-ctx.Done():
			b.CancelDownload(d.guid)
			return 0, 0, ctx.Err()
		}
	}
}

// CancelDownload cancels the download guid.
func (b *Browser) CancelDownload(guid string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.root), 5*time.Second)
	defer cancel()
	_, _ = chromedp.CallBrowser(ctx, browser.CancelDownload, browser.CancelDownloadParams{GUID: guid})
}

// ClosePopups closes the tabs that the tab with main frame f opened: a tab
// opened for a download stays blank once the download has begun.
func (b *Browser) ClosePopups(f cdp.FrameID) {
	for _, id := range b.hub.popupsOf(f) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(b.root), 5*time.Second)
		_, _ = chromedp.CallBrowser(ctx, target.CloseTarget, target.CloseTargetParams{TargetID: id})
		cancel()
	}
}

// PopupTab attaches to tab id, which a click opened instead of starting a
// download, once its page is ready; release frees it. It only detaches:
// the click's end closes the tab (ClosePopups), and until then a page
// that may yet start the download is watched.
func (b *Browser) PopupTab(id target.ID) (t *Tab, release func(), err error) {
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithTargetID(id), chromedp.WithDetachOnCancel())
	ctx, cancelT := context.WithTimeout(ctx, b.o.StepTimeout)
	release = func() { cancelT(); cancel() }
	if _, err := chromedp.Run(ctx, chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
		release()
		return nil, nil, fmt.Errorf("read the page a click opened: %w", err)
	}
	return &Tab{b: b, ctx: ctx, alive: ctx}, release, nil
}

// AttachTab attaches to tab id (a tab a click opened) as it is, without
// waiting for its page; release detaches, leaving the tab open. An error
// means the tab is gone.
func (b *Browser) AttachTab(id target.ID) (t *Tab, release func(), err error) {
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithTargetID(id), chromedp.WithDetachOnCancel())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		return nil, nil, err
	}
	return &Tab{b: b, ctx: ctx, alive: ctx}, cancel, nil
}
