package authoring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/usererr"
)

// CheckLine is what a profile check found for one selector or text.
type CheckLine struct {
	Field    string `json:"field"`
	Selector string `json:"selector"`
	// Status: "ok", "FAIL", or "n/a" for a text or element that belongs to
	// a situation the check did not meet (a refusal, an empty list).
	Status string `json:"status"`
	Count  int    `json:"count"`
	Text   string `json:"text,omitempty"` // the first match's text
	Page   string `json:"page,omitempty"` // the path of the page it was looked for on
	Note   string `json:"note,omitempty"`
}

// CheckResult is a whole profile check.
type CheckResult struct {
	Lines []CheckLine `json:"lines"`
	Pages int         `json:"pages"` // listing pages walked
	Rows  int         `json:"rows"`
	// One is the file downloaded with Options.CheckOne (its content is
	// wiped; only these facts remain).
	One *CheckedFile `json:"one,omitempty"`
}

// CheckedFile is what a check tells of the one file it downloaded.
type CheckedFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Failed counts the lines that did not match.
func (r *CheckResult) Failed() int {
	n := 0
	for _, l := range r.Lines {
		if l.Status == "FAIL" {
			n++
		}
	}
	return n
}

// Print writes the result, one line per selector or text.
func (r *CheckResult) Print(w io.Writer) {
	for _, l := range r.Lines {
		fmt.Fprintf(w, "%-4s  %-28s %-40s", l.Status, l.Field, l.Selector)
		if l.Status != "n/a" {
			fmt.Fprintf(w, " %d found", l.Count)
		}
		if l.Text != "" {
			fmt.Fprintf(w, ", first %q", l.Text)
		}
		if l.Page != "" {
			fmt.Fprintf(w, " on %s", l.Page)
		}
		if l.Note != "" {
			fmt.Fprintf(w, " (%s)", l.Note)
		}
		fmt.Fprintln(w)
	}
}

// Check signs in to the site with o.Profile (as every run does: the
// password is sent at most once, and the latch is respected) and looks for
// every selector and text of the profile on the page where it belongs:
// the login steps as they run, the signed-in marker, and on the download
// site every page of the listing, walked without downloading. The result
// holds what was found even when err is set; err wraps ErrProfile when a
// selector did not match.
func Check(ctx context.Context, o Options) (*CheckResult, error) {
	res := &CheckResult{}
	if o.Profile == nil {
		return res, usererr.Errorf("give a profile to check", "profile check: no profile")
	}
	if err := o.Normalise(); err != nil {
		return res, err
	}
	p := o.Profile
	// With CheckOne the browser saves into a private directory of its own,
	// wiped when the check ends (after the browser, which may still hold
	// a partial file): the file is patient data, only its facts remain.
	var oneDir, partial string
	var err error
	if o.CheckOne {
		if o.Site != SiteDownload || p.Files == nil {
			return res, usererr.Errorf("use --one with --site download", "profile check: --one downloads a file, and only the download site lists files")
		}
		if oneDir, err = (layout.State{Dir: o.StateDir}).NewCheckDir(); err != nil {
			return res, fmt.Errorf("%w: %w", ErrLocal, err)
		}
		defer func() {
			if err := os.RemoveAll(oneDir); err != nil {
				o.Log.Error("the checked file could not be wiped; remove it by hand", "dir", oneDir, "err", err)
			}
		}()
		if partial, err = portal.PrepareStaging(oneDir); err != nil {
			return res, err
		}
	}
	b, err := portal.StartSession(ctx, &o, partial)
	if err != nil {
		return res, err
	}
	defer b.Close()
	t, err := b.NewTab(true)
	if err != nil {
		return res, err
	}
	seen := map[string]bool{}
	add := func(l CheckLine) { res.Lines = append(res.Lines, l) }
	// Every target a step looks for is reported as the step meets it.
	b.OnLocate = func(t *tab, field string, target Sel, at located) {
		if seen[field] || field == "files.more.control" {
			return
		}
		seen[field] = true
		l := CheckLine{Field: field, Selector: target.String(), Status: "ok", Count: at.Count}
		if !at.OK {
			l.Status = "FAIL"
			l.Note = at.Why
			if strings.HasPrefix(field, "login.steps[") && isOptional(p, field) {
				l.Status, l.Note = "n/a", "optional step; not shown this time"
			}
		} else {
			c := countOn(t, Sel{target[at.Alt]}, -1)
			l.Text, l.Page = c.Text, pathOf(c.URL)
			if at.Alt > 0 {
				l.Note = fmt.Sprintf("its first alternative no longer matches; %q did", target[at.Alt])
			}
		}
		add(l)
	}
	loginErr := b.SignIn(t)
	// Steps the login never reached (it went on from a later one, or
	// stopped) are reported too.
	for i, s := range p.Login.Steps {
		field := fmt.Sprintf("login.steps[%d]", i)
		if tg := s.Target(); tg != nil && !seen[field] {
			st, note := "n/a", "not needed this time"
			if loginErr != nil {
				st, note = "FAIL", "not reached: sign-in stopped"
			}
			add(CheckLine{Field: field, Selector: tg.String(), Status: st, Note: note})
		}
	}
	// The password went and the answer was a refusal or none we know: the
	// step that sent it is the one to blame (or the steps before it).
	if k := portal.LatchedNow(loginErr); k == LatchRefused || k == LatchUnknown {
		if send := portal.SecretStep(p.Login.Steps); send >= 0 {
			field := fmt.Sprintf("login.steps[%d]", send)
			note := "sent the password and the portal refused it"
			if k == LatchUnknown {
				note = "sent the password and no answer the profile knows followed"
			}
			note += "; read it and the steps before it: " + p.SendingStep()
			found := false
			for i := range res.Lines {
				if res.Lines[i].Field == field {
					res.Lines[i].Status, res.Lines[i].Note, found = "FAIL", note, true
				}
			}
			if !found {
				add(CheckLine{Field: field, Selector: p.Login.Steps[send].Target().String(), Status: "FAIL", Note: note})
			}
		}
	}
	if loginErr != nil {
		return res, loginErr
	}
	sel := func(field string, s Sel, row int, required bool, note string) {
		if s.Empty() {
			return
		}
		var frame Sel
		if p.Files != nil && strings.HasPrefix(field, "files.") && field != "files.frame" {
			frame = p.Files.Frame // the list's selectors are looked up in its frame
		}
		c := countIn(t, frame, s, row)
		l := CheckLine{Field: field, Selector: s.String(), Count: c.Count, Text: c.Text, Page: pathOf(c.URL), Status: "ok"}
		switch {
		case c.Count == 0 && required:
			l.Status = "FAIL"
		case c.Count == 0:
			l.Status, l.Note = "n/a", note
		case c.Alt > 0:
			l.Note = fmt.Sprintf("its first alternative no longer matches; %q did", s[c.Alt])
		}
		add(l)
	}
	texts := func(field string, ss []string, note string) {
		for i, x := range ss {
			add(CheckLine{Field: fmt.Sprintf("%s[%d]", field, i), Selector: fmt.Sprintf("%q", x), Status: "n/a", Note: note})
		}
	}
	sel("login.outcomes.signed_in", p.Login.Outcomes.SignedIn, -1, true, "")
	texts("login.outcomes.refused", p.Login.Outcomes.Refused, "shown only after a refused password: not tried")
	texts("login.outcomes.locked", p.Login.Outcomes.Locked, "shown only for a locked account")
	texts("login.outcomes.password_expired", p.Login.Outcomes.PasswordExpired, "shown only when the password has expired")
	texts("session_expired.text", p.Expired.Text, "shown only when a session ends")
	sel("session_expired.dismiss", p.Expired.Dismiss, -1, false, "shown only when a session ends")
	texts("transient_text", p.Transient, "shown only when the portal has trouble")
	texts("link_expired_text", p.LinkExpired, "shown only for a used-up download link")

	var err2 error
	switch {
	case o.Site == SiteDownload && p.Files != nil:
		err2 = checkListing(ctx, b, t, &o, res, sel, oneDir, partial)
	case o.Site == SiteUpload && p.Upload != nil:
		u := p.Upload
		if err := navigate(t, o.SiteURL(u.Path)); err != nil {
			return res, fmt.Errorf("%w: open the upload form: %w", ErrPortal, err)
		}
		for i, s := range u.Steps {
			if tg := s.Target(); tg != nil {
				var at located
				need := "visible"
				if !s.File.Empty() {
					need = "attached"
				}
				_ = t.Await("locate", map[string]any{"sel": tg, "need": need}, o.StepTimeout, &at)
				sel(fmt.Sprintf("upload.steps[%d]", i), tg, -1, !s.Optional, "optional step; not shown")
			}
		}
		sel("upload.confirmed", u.Confirmed, -1, false, "shown only after a file was sent: not tried")
		texts("upload.confirmed_text", u.ConfirmedText, "shown only after a file was sent")
		texts("upload.refused_text", u.Refused, "shown only when a file is refused")
	}
	if err2 != nil {
		return res, err2
	}
	if n := res.Failed(); n > 0 {
		return res, usererr.New(fmt.Errorf("%w: %d of the profile's selectors did not match (lines marked FAIL)", ErrProfile, n),
			"fix those lines of the profile (see docs/site-profile.md); seftbot probe shows what the page holds")
	}
	return res, nil
}

// checkListing walks every page of the listing, as a download would, and
// checks the row, name, size and download selectors on each. With
// o.CheckOne it then downloads the first listed file into oneDir, through
// the browser's download directory partial.
func checkListing(ctx context.Context, b *portal.Session, t *tab, o *Options, res *CheckResult,
	sel func(field string, s Sel, row int, required bool, note string), oneDir, partial string) error {
	f := o.Profile.Files
	r := b.Walker(partial)
	var names, sizes, moreSeen int
	var firstEntry *portal.Entry
	first := true
	err := r.Walk(ctx, t, func(entries []portal.Entry) {
		if firstEntry == nil && len(entries) > 0 {
			firstEntry = &entries[0]
		}
		res.Pages++
		res.Rows += len(entries)
		for _, e := range entries {
			if e.Name != "" {
				names++
			}
			if e.Size >= 0 {
				sizes++
			}
		}
		if c := countIn(t, f.Frame, f.More.Control, -1); c.Count > 0 {
			moreSeen++
			if moreSeen == 1 {
				sel("files.more.control", f.More.Control, -1, true, "")
			}
		}
		if !first {
			return
		}
		first = false
		sel("files.frame", f.Frame, -1, true, "")
		sel("files.row", f.Row, -1, len(entries) > 0, "no rows: the list is empty")
		if len(entries) > 0 {
			sel("files.name.in", f.Name.In, 0, true, "")
			sel("files.size.in", f.Size.In, 0, true, "")
			if len(f.DownloadSteps) == 0 {
				sel("files.download", f.Download, 0, true, "")
			}
			for i, s := range f.DownloadSteps {
				// The first row shows one stage of its steps: a control
				// that comes once the file is prepared is not there yet.
				sel(fmt.Sprintf("files.download[%d]", i), s.Target(), 0, false, "not in the first row now: a control that shows once a file is prepared, or in rows of another kind")
			}
			if len(f.DownloadSteps) > 0 {
				st, note := "ok", "a step's control is in the first row"
				if !matchedPrefix(res, "files.download[") {
					st, note = "FAIL", "no step of files.download matches in the first row"
				}
				res.Lines = append(res.Lines, CheckLine{Field: "files.download", Selector: fmt.Sprintf("%d steps in the row", len(f.DownloadSteps)), Status: st, Note: note})
			}
		}
		if len(entries) == 0 {
			var st pageState
			st, _ = readState(t)
			status := "FAIL"
			if st.Empty != "" {
				status = "ok"
			}
			res.Lines = append(res.Lines, CheckLine{Field: "files.empty_text", Selector: fmt.Sprintf("%q", f.Empty), Status: status, Text: st.Empty, Note: "no rows, so the empty-list text must show"})
		}
	})
	if err != nil {
		return pagingFault(ctx, t, o, res, err)
	}
	if res.Rows > 0 {
		st := "ok"
		if names < res.Rows {
			st = "FAIL"
		}
		res.Lines = append(res.Lines, CheckLine{Field: "files.name", Selector: describeField(f.Name), Status: st, Count: names,
			Note: fmt.Sprintf("a name read in %d of %d rows", names, res.Rows)})
		if !f.Size.Empty() {
			st = "ok"
			if sizes < res.Rows {
				st = "FAIL"
			}
			res.Lines = append(res.Lines, CheckLine{Field: "files.size", Selector: describeField(f.Size), Status: st, Count: sizes,
				Note: fmt.Sprintf("a size read in %d of %d rows", sizes, res.Rows)})
		}
	}
	if f.More.Mode != MoreNone && moreSeen == 0 {
		res.Lines = append(res.Lines, CheckLine{Field: "files.more.control", Selector: f.More.Control.String(), Status: "n/a",
			Note: "never shown: right if the list fits on one page, wrong if the portal shows more pages"})
	}
	done := "nothing downloaded"
	if o.CheckOne {
		done = "the first one downloaded below"
	}
	res.Lines = append(res.Lines, CheckLine{Field: "files (listing)", Selector: f.More.Mode, Status: "ok", Count: res.Rows,
		Note: fmt.Sprintf("%d rows on %d pages, %s", res.Rows, res.Pages, done)})
	if !o.CheckOne {
		return nil
	}
	line := CheckLine{Field: "files.download (one file)", Selector: f.Download.String()}
	switch {
	case firstEntry == nil:
		line.Status, line.Note = "n/a", "the list is empty: nothing to download"
	case !matched(res, "files.download"):
		line.Status, line.Note = "n/a", "not tried: files.download did not match"
	default:
		f, err := r.FetchOne(ctx, t, *firstEntry, oneDir)
		switch {
		case err == nil:
			cf := &CheckedFile{Name: f.Name, Size: f.Size, SHA256: f.SHA256}
			res.One = cf
			line.Status, line.Count = "ok", 1
			line.Note = fmt.Sprintf("downloaded %s: %d bytes, sha256 %s; wiped again", logName(cf.Name), cf.Size, cf.SHA256)
		case errors.Is(err, ErrProfile):
			line.Status, line.Count, line.Note = "FAIL", 1, err.Error()
		default:
			line.Status, line.Note = "n/a", "not finished: "+err.Error()
			res.Lines = append(res.Lines, line)
			return err
		}
	}
	res.Lines = append(res.Lines, line)
	return nil
}

// pagingFault tells a profile fault from a portal fault when the walk
// failed: a "navigate" pager whose control loads no new page (a #fragment
// or script link) never sees the load it waits for, which is the
// profile's error (exit 11), not the portal's (exit 6).
func pagingFault(ctx context.Context, t *tab, o *Options, res *CheckResult, err error) error {
	f := o.Profile.Files
	if f.More.Mode == MoreNone || !f.Frame.Empty() || !errors.Is(err, ErrPortal) || ctx.Err() != nil {
		return err
	}
	pr := &prober{t: t, o: o}
	var mode string
	if e := pr.eval("pagerMode", map[string]any{"sel": f.More.Control}, o.StepTimeout, &mode); e != nil || mode == "" || (mode == MoreNavigate) == (f.More.Mode == MoreNavigate) {
		return err // the control looks like what the profile says: the portal failed
	}
	what := "loads no new page (it only changes the #fragment or runs a script)"
	if mode == MoreNavigate {
		what = "is a link to another page, so the rows of this one never change"
	}
	res.Lines = append(res.Lines, CheckLine{Field: "files.more.mode", Selector: f.More.Mode, Status: "FAIL",
		Note: fmt.Sprintf("%s %s: set files.more.mode to %q (%v)", f.More.Control, what, mode, err)})
	return usererr.New(fmt.Errorf("%w: files.more.mode is %s, but %s %s", ErrProfile, f.More.Mode, f.More.Control, what),
		fmt.Sprintf("set files.more.mode to %q (see docs/site-profile.md)", mode))
}

// matchedPrefix reports whether a line whose field starts with prefix is ok.
func matchedPrefix(res *CheckResult, prefix string) bool {
	for _, l := range res.Lines {
		if strings.HasPrefix(l.Field, prefix) && l.Status == "ok" {
			return true
		}
	}
	return false
}

// matched says whether the check's line for field matched.
func matched(res *CheckResult, field string) bool {
	for _, l := range res.Lines {
		if l.Field == field {
			return l.Status == "ok"
		}
	}
	return false
}

func describeField(f Field) string {
	s := f.In.String()
	if f.Attr != "" {
		s += " @" + f.Attr
	}
	if f.Regex != "" {
		s += " ~" + f.Regex
	}
	return strings.TrimSpace(s)
}

type counted struct {
	Count int    `json:"count"`
	Alt   int    `json:"alt"`
	Text  string `json:"text"`
	URL   string `json:"url"`
}

// countOn counts a target's elements in the page, or in its row'th row.
func countOn(t *tab, s Sel, row int) counted { return countIn(t, nil, s, row) }

// countIn is countOn in the document of frame (nil: the page).
func countIn(t *tab, frame Sel, s Sel, row int) counted {
	var c counted
	if s.Empty() {
		return c
	}
	args := map[string]any{"sel": s}
	if row >= 0 {
		args["row"] = row
	}
	if err := t.EvalIn(frame, "count", args, &c); err != nil {
		return counted{}
	}
	return c
}

func pathOf(u string) string {
	p, err := url.Parse(u)
	if err != nil || u == "" {
		return ""
	}
	return p.Path
}

func isOptional(p *Profile, field string) bool {
	var i int
	if _, err := fmt.Sscanf(field, "login.steps[%d]", &i); err != nil || i >= len(p.Login.Steps) {
		return false
	}
	return p.Login.Steps[i].Optional
}

var _ = errors.Is
