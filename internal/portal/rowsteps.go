package portal

import (
	"errors"
	"fmt"
	"time"
)

// Row steps: files.download given as steps inside the row, for portals
// that prepare a file before it can be downloaded ("Request", progress in
// the row, then a one-time link). Every step's selectors resolve inside
// the row, which is found again by its name on every look, so a list
// redrawn meanwhile does not lose it. The steps split in three:
//   - request: the steps before the first wait (click "Request");
//   - collect: the first wait and everything after it but the last step;
//   - the last step, a click, which must start the download: it goes
//     through the same click-and-watch as a plain files.download.
//
// Preparations overlap: a tab requests up to prepareAhead rows of its
// chunk, collects whichever of them is ready first, and requests one more
// each time it collects one. With concurrency tabs that is at most
// concurrency × prepareAhead preparations at once, and a ready link waits
// only for the clicks of links that were ready before it. A link that is spent or expired anyway (the click shows
// link_expired_text, or the row says it) costs the file one attempt and
// its row's steps start again from the first on a fresh listing.

// prepareAhead is how many rows a tab asks the portal to prepare before
// collecting the first of them.
const prepareAhead = 4

// defaultPrepareTimeout bounds each wait among the row steps.
const defaultPrepareTimeout = 5 * time.Minute

// rowPlan is files.download's steps, split for overlapping.
type rowPlan struct {
	request, collect []Step
	first            int // index in files.download of collect[0]
}

func planRowSteps(ss []Step) rowPlan {
	if len(ss) == 0 {
		return rowPlan{}
	}
	body := ss[:len(ss)-1]
	i := 0
	for i < len(body) && body[i].Action() != "wait" {
		i++
	}
	return rowPlan{request: body[:i], collect: body[i:], first: i}
}

// prepareTimeout is how long each wait among the row steps may take.
func (o *Options) prepareTimeout() time.Duration {
	if d := time.Duration(o.Profile.Files.PrepareTimeout); d > 0 {
		return d
	}
	return defaultPrepareTimeout
}

// rowSteps runs steps (files.download[first:]) inside e's row in t.
func (r *run) rowSteps(t *tab, e *entry, steps []Step, first int) error {
	stop := append(append([]string{}, r.o.Profile.LinkExpired...), r.o.Profile.Transient...)
	for i, s := range steps {
		field := fmt.Sprintf("files.download[%d]", first+i)
		args := map[string]any{"name": e.name, "nth": e.pageNth, "stop": stop}
		var wait time.Duration
		switch {
		case s.Action() == "click":
			args["click"] = s.Click
			wait = r.o.StepTimeout
			if s.Optional {
				// The row is drawn: its controls are there now or not at
				// all, unless the profile gives the step time to appear.
				wait = time.Duration(s.Timeout)
			}
		default:
			args["wait_for"], args["wait_text"] = s.WaitFor, s.WaitText
			wait = r.o.prepareTimeout()
			if s.Timeout > 0 {
				wait = time.Duration(s.Timeout)
			}
		}
		if err := t.Pause(); err != nil {
			return err
		}
		var res struct {
			OK      bool   `json:"ok"`
			Why     string `json:"why"`
			Alt     int    `json:"alt"`
			Stopped string `json:"stopped"`
		}
		if err := t.AwaitIn(r.o.Profile.Files.Frame, "rowStep", args, wait, &res, asUserGesture); err != nil {
			return err
		}
		switch {
		case res.Stopped != "":
			return fmt.Errorf("%w: %s: the row of %s says %q", errRowSays, field, e, res.Stopped)
		case res.OK:
			r.b.NoteAlt(field, s.Target(), res.Alt)
		case s.Optional:
		case res.Why == "not found in the row" || res.Why == "row not found":
			return fmt.Errorf("%w: %s (%s) on %s", errNoControl, field, s.Describe(), redactURL(e.at.url))
		case s.Action() == "wait":
			return fmt.Errorf("%w: %s: waited %s for %s in the row of %s (files.prepare_timeout)", errPrepare, field, wait, s.Describe(), e)
		default:
			return fmt.Errorf("%s: %s in the row of %s: %s", field, s.Describe(), e, res.Why)
		}
	}
	return nil
}

var (
	// errPrepare: a file was not prepared in time; it is tried again later.
	errPrepare = errors.New("file not prepared in time")
	// errRowSays: the row shows an expired link or a failure.
	errRowSays = errors.New("the portal's answer in the row")
)

// prepare runs the row steps before a download click, in t: it first asks
// the portal to prepare up to prepareAhead rows of rest, then collects the
// first of those whose file is ready (moved to rest[0], the row the caller
// clicks next), so a file prepared quickly is not left waiting, its link
// ageing, behind one that takes minutes. requested remembers the rows
// asked for on this page load. A request that fails for a later row is
// left for when that row's turn comes.
func (r *run) prepare(t *tab, rest []*entry, requested map[*entry]bool) error {
	p := planRowSteps(r.o.Profile.Files.DownloadSteps)
	window := rest[:min(len(rest), prepareAhead)]
	for i, x := range window {
		if requested[x] {
			continue
		}
		err := r.rowSteps(t, x, p.request, 0)
		if err == nil {
			requested[x] = true
			continue
		}
		if i == 0 {
			return err
		}
		window = window[:i]
		break
	}
	if k := r.firstReady(t, window, p); k > 0 {
		rest[0], rest[k] = rest[k], rest[0]
	}
	return r.rowSteps(t, rest[0], p.collect, p.first)
}

// firstReady waits, up to files.prepare_timeout, until one of the rows
// meets the first wait of the collection (or says it failed), and returns
// its index; 0 when there is no choice to make or nothing came.
func (r *run) firstReady(t *tab, rows []*entry, p rowPlan) int {
	if len(rows) < 2 || len(p.collect) == 0 || p.collect[0].Action() != "wait" {
		return 0
	}
	w := p.collect[0]
	var named []map[string]any
	for _, e := range rows {
		named = append(named, map[string]any{"name": e.name, "nth": e.pageNth})
	}
	wait := r.o.prepareTimeout()
	if w.Timeout > 0 {
		wait = time.Duration(w.Timeout)
	}
	var res struct {
		OK    bool `json:"ok"`
		Index int  `json:"index"`
	}
	stop := append(append([]string{}, r.o.Profile.LinkExpired...), r.o.Profile.Transient...)
	args := map[string]any{"rows": named, "wait_for": w.WaitFor, "wait_text": w.WaitText, "stop": stop}
	if err := t.AwaitIn(r.o.Profile.Files.Frame, "rowsReady", args, wait, &res); err != nil || !res.OK || res.Index < 0 || res.Index >= len(rows) {
		return 0 // the first row's own wait says what went wrong
	}
	return res.Index
}
