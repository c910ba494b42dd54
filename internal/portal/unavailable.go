package portal

import (
	"errors"
	"fmt"
	"strings"
)

// Rows that cannot be downloaded. A portal may list files it will not give:
// expired, withdrawn, not yet released. files.unavailable (an element in
// the row) or files.unavailable_text (a text in the row) marks them; they are listed, never clicked, not
// failures, and named in the log, the report, status and a metric. A row
// with neither a download control nor that marker is listed again once (a
// list being redrawn), then reported as having no download control, with
// the profile fields to check; it is not retried with backoff.

// whyNoControl is site.js's answer when a row has no download control.
const whyNoControl = "no download control in the row"

// errNoControl: the row is listed but offers nothing to click.
var errNoControl = errors.New(whyNoControl)

// markUnavailable marks the entries of a listing page, open in t, that
// files.unavailable matches.
func (r *run) markUnavailable(t *tab, page []*entry) error {
	if f := r.o.Profile.Files; (f.Unavailable.Empty() && len(f.UnavailableText) == 0) || len(page) == 0 {
		return nil
	}
	var marked []struct {
		Name string `json:"name"`
		Nth  int    `json:"nth"`
	}
	if err := t.EvalIn(r.o.Profile.Files.Frame, "unavailable", map[string]any{}, &marked); err != nil {
		return fmt.Errorf("reading files.unavailable on the listing: %w", err)
	}
	is := map[string]bool{}
	for _, m := range marked {
		is[entryKey(m.Name, m.Nth)] = true
	}
	for _, e := range page {
		e.unavailable = is[entryKey(e.name, e.pageNth)]
	}
	return nil
}

// noteUnavailable records a marked row.
func (r *run) noteUnavailable(e *entry) {
	r.mu.Lock()
	r.res.Unavailable = append(r.res.Unavailable, e.String())
	r.mu.Unlock()
	r.o.Log.Info("listed as unavailable on the portal; not downloaded", "file", e.String())
}

// unavailableWarning is the report's line for the marked rows, or "".
func unavailableWarning(names []string) string {
	if len(names) == 0 {
		return ""
	}
	const show = 20
	list := strings.Join(names[:min(len(names), show)], ", ")
	if len(names) > show {
		list += fmt.Sprintf(" and %d more", len(names)-show)
	}
	return fmt.Sprintf("%d files listed as unavailable on the portal: %s", len(names), list)
}

// noControl deals with a row that offers no download control: it is shown
// again once, then given up on with a reason that names the profile fields.
func (r *run) noControl(s *sched, e *entry, err error) {
	if !e.relisted {
		e.relisted = true
		r.o.Log.Info("a row has no download control; listing it again once", "file", e.String())
		s.add(&chunk{entries: []*entry{e}})
		return
	}
	s.giveUp(e, fmt.Errorf("%w (check files.download, or mark rows the portal will not give with files.unavailable)", err))
}

// giveUp counts e as failed at once, without more attempts.
func (s *sched) giveUp(e *entry, why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.attempts++
	e.lastErr = why
	s.failed = append(s.failed, e)
	s.changed()
}
