package portal

import (
	"cmp"
	"errors"
	"time"

	"github.com/isaric/seftbot/internal/browser"
)

// The list in a frame. files.frame names the <iframe> (in the signed-in
// page) whose document holds the listing: rows, names, sizes, download
// controls, the pager and the empty-list text are all looked for in it,
// whatever its origin (the engine runs the ops in the frame's own
// document, see internal/browser/frames.go). Whether the session is signed
// in is read from the top page, with the frame's own texts (an expired
// session, an error) added: a portal shows either in either place.

// AwaitList runs a listing op of site.js ("listing", "changed") where the
// list is. With files.frame it first waits for the frame (or for the top
// page to say why there is none: signed out, an error), then reads the list
// in the frame and merges the top page's state into what it read.
func AwaitList(t *tab, p *Profile, op string, args map[string]any, total time.Duration, out *ListingRead) error {
	f := p.ListFrame()
	if f.Empty() {
		return t.Await(op, args, total, out)
	}
	start := time.Now()
	var w struct {
		Frame bool      `json:"frame"`
		State pageState `json:"state"`
	}
	if err := t.Await("listFrame", map[string]any{}, total, &w); err != nil {
		return err
	}
	if !w.Frame {
		// No frame: what the top page says is the answer (a sign-in
		// form, an error); a signed-in page without it is the profile's.
		*out = ListingRead{Ready: true, State: w.State}
		return nil
	}
	top := w.State
	err := t.AwaitIn(f, op, args, max(total-time.Since(start), time.Second), out)
	if errors.Is(err, browser.ErrNoFrame) {
		*out = ListingRead{Ready: true, State: top}
		return nil
	}
	if err != nil {
		return err
	}
	if top, err = readState(t); err != nil {
		return err
	}
	out.State = mergeState(top, out.State)
	return nil
}

// mergeState is the top page's state with what the list's frame says.
func mergeState(top, fr pageState) pageState {
	st := top
	st.SignedIn = top.SignedIn || fr.SignedIn
	st.LoginForm = top.LoginForm || fr.LoginForm
	st.Expired = top.Expired || fr.Expired
	st.Empty = fr.Empty
	st.Transient = cmp.Or(top.Transient, fr.Transient)
	st.LinkExpired = cmp.Or(top.LinkExpired, fr.LinkExpired)
	return st
}

// listState reads the state of the page and of the list's frame, if any.
func listState(t *tab, p *Profile) (pageState, error) {
	top, err := readState(t)
	f := p.ListFrame()
	if err != nil || f.Empty() {
		return top, err
	}
	var fr pageState
	if err := t.EvalIn(f, "state", nil, &fr); err != nil {
		if errors.Is(err, browser.ErrNoFrame) || browser.IsNavigationErr(err) {
			return top, nil // no frame (now): the top page is all there is
		}
		return top, err
	}
	return mergeState(top, fr), nil
}
