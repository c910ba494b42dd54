package portal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/isaric/seftbot/internal/browser"
)

// Many file-transfer products answer a download click with a page ("your
// download will start shortly") that starts the file a few seconds later,
// by a meta refresh, a script or a redirect, in the same tab or in a new
// one. Such a page is watched, not taken for a failure: only a page that
// says what it is (an error, an expired link, a transient page, the sign-in
// form) ends the click at once; any other page is given
// files.download_start_timeout for a download to begin from it, after its
// files.interstitial steps (a "start the download" link) have run.

// DefaultDownloadStartTimeout is how long a page shown instead of a
// download is watched for one to begin from it.
const DefaultDownloadStartTimeout = 60 * time.Second

// downloadStartTimeout is the profile's files.download_start_timeout, or
// the default.
func downloadStartTimeout(f *Files) time.Duration {
	if f.DownloadStartTimeout > 0 {
		return time.Duration(f.DownloadStartTimeout)
	}
	return DefaultDownloadStartTimeout
}

// saysWhatItIs reports whether a page shown instead of a download is one
// of the pages a click can end on at once.
func saysWhatItIs(st pageState) bool {
	return st.Expired || (st.LoginForm && !st.SignedIn) || st.LinkExpired != "" || st.Transient != ""
}

// begun hands over a download a click began, cancelling any the browser
// began that no click asked for.
func (r *run) begun(e *entry, d *download) *download {
	for _, g := range r.b.TakeOrphans() {
		r.o.Log.Warn("cancelling a download nobody asked for")
		r.b.CancelDownload(g)
		_ = os.Remove(filepath.Join(r.partial, g))
	}
	r.o.Log.Debug("download began", "file", e.local, "server_name", logName(d.Suggested()))
	return d
}

type pageRead struct {
	st  pageState
	err error
}

// afterPage deals with a page that a download click showed, in t itself
// (popup == "") or in the tab popup it opened. The page is read while the
// download it may start is awaited; a page that says what it is ends the
// click; any other page is watched (see the top of this file).
func (r *run) afterPage(t *tab, e *entry, began <-chan *download, popup target.ID, pages <-chan target.ID) (*download, pageState, error) {
	read := func() (pageState, error) {
		if popup != "" {
			return r.b.popupState(popup)
		}
		return pageSays(t)
	}
	says := make(chan pageRead, 1)
	go func() {
		st, err := read()
		says <- pageRead{st, err}
	}()
	var st pageState
	select {
	case d := <-began:
		return r.begun(e, d), st, nil
	case p := <-says:
		switch {
		case p.err != nil && (popup != "" || browser.IsNavigationErr(p.err)):
			// The page went away while it was read: a tab opened for a
			// download closes itself once it begins; a page may move on.
		case p.err != nil || saysWhatItIs(p.st):
			return nil, p.st, p.err
		}
		st = p.st
	case <-t.Dead():
		return nil, st, errTabDead
	case <-t.Ctx().Done():
		return nil, st, t.Ctx().Err()
	}
	f := r.o.Profile.Files
	limit := downloadStartTimeout(f)
	r.o.Log.Debug("a page, not yet a download: watching it", "file", e.String(), "page", redactURL(st.URL), "for", limit)
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	stepsDone := make(chan error, 1)
	if len(f.Interstitial) > 0 {
		go func() { stepsDone <- r.interstitialSteps(t, popup) }()
	}
	// Pages shown later (the tab moved on, another tab opened) are read
	// in the background, so a download that begins meanwhile is taken at
	// once. Each read is bounded (pageSaysWait, the step timeout).
	reads := make(chan pageRead, 4)
	readLater := func(read func() (pageState, error)) {
		go func() {
			st, err := read()
			select {
			case reads <- pageRead{st, err}:
			default:
			}
		}()
	}
	for {
		select {
		case d := <-began:
			return r.begun(e, d), st, nil
		case err := <-stepsDone:
			if err != nil {
				return nil, st, err
			}
		case <-t.Loads():
			if popup == "" { // the page moved on without a download
				readLater(func() (pageState, error) { return pageSays(t) })
			}
		case id := <-pages:
			if id != popup { // another tab the click opened; a stale one fails to read
				readLater(func() (pageState, error) { return r.b.popupState(id) })
			}
		case p := <-reads:
			if p.err == nil && saysWhatItIs(p.st) {
				return nil, p.st, nil
			}
		case <-deadline.C:
			r.b.KeepDebug(t, "unexpected-page", nil)
			return nil, st, nil // "a page, not a download"
		case <-t.Dead():
			return nil, st, errTabDead
		case <-t.Ctx().Done():
			return nil, st, t.Ctx().Err()
		}
	}
}

// interstitialSteps runs files.interstitial on the page a click showed, in
// t or in the tab popup.
func (r *run) interstitialSteps(t *tab, popup target.ID) error {
	on := t
	if popup != "" {
		pt, release, err := r.b.AttachTab(popup)
		if err != nil {
			return nil // the tab is gone already: its download began, or the click ended
		}
		defer release()
		on = pt
	}
	for i, s := range r.o.Profile.Files.Interstitial {
		if _, err := r.b.RunStep(on, fmt.Sprintf("files.interstitial[%d]", i), s, stepVars{User: r.o.User}); err != nil {
			if popup != "" && (errors.Is(err, errTabDead) || on.IsDead()) {
				return nil // the tab closed: the download began, or the click ended
			}
			return err
		}
	}
	return nil
}
