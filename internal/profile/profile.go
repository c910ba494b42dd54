// Package profile is the site-profile format: everything site-specific
// seftbot relies on in a portal's pages (steps, selectors, texts), read
// from JSON, upgraded from the first format and checked before any browser
// starts. The portal runs it; probe, record and check write and test it.
package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/isaric/seftbot/internal/browser"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// Profile is everything site-specific the bot relies on: paths, steps,
// selectors and page texts. The real portal cannot be seen from here, so
// retargeting it must be an edit of this file, never of code. See
// docs/site-profile.md for the format.
//
// A profile describes what a person sees (labels, roles, visible text), with
// CSS or XPath as a fallback; see Sel. Texts are matched as case-insensitive
// substrings of the page's visible text.
//
// The first profile format (one login form: username, password, submit,
// signed_in, rejected_text; upload input and submit) still loads: it is
// upgraded to steps when read.
type Profile struct {
	Name string `json:"name"`

	Login   Login       `json:"login"`
	Files   *Files      `json:"files,omitempty"`
	Upload  *UploadForm `json:"upload,omitempty"`
	Expired Expired     `json:"session_expired"`

	// Transient texts mark a page worth trying again later (maintenance,
	// server error); LinkExpired marks a used-up one-time download link, so
	// the listing is reloaded; Mismatch texts mark a page that means the
	// profile is wrong for this portal ("page not found").
	Transient   []string `json:"transient_text,omitempty"`
	LinkExpired []string `json:"link_expired_text,omitempty"`
}

// Login is sign-in as steps. The step that sends the password (a click or
// key press after the {password} fill, or the one marked sends_secret) is
// followed by a watch for the outcome; see login.go.
type Login struct {
	Path  string `json:"path,omitempty"` // relative to the site URL
	Steps []Step `json:"steps,omitempty"`
	// Outcomes recognise the answer to the password.
	Outcomes Outcomes `json:"outcomes"`
	// OutcomeTimeout is how long the answer to the password may take
	// (default 2m): a slow answer is not a refusal.
	OutcomeTimeout Duration `json:"outcome_timeout,omitempty"`

	// The first format's fields, upgraded by upgrade().
	Username Sel      `json:"username,omitempty"`
	Password Sel      `json:"password,omitempty"`
	Submit   Sel      `json:"submit,omitempty"`
	SignedIn Sel      `json:"signed_in,omitempty"`
	Rejected []string `json:"rejected_text,omitempty"`
}

// Outcomes of a sign-in. Refused, Locked and PasswordExpired latch the
// site's password (see latch.go); nothing is ever typed into a
// password-change form.
type Outcomes struct {
	SignedIn        Sel      `json:"signed_in"` // present on every signed-in page and only there
	Refused         []string `json:"refused"`
	Locked          []string `json:"locked,omitempty"`
	PasswordExpired []string `json:"password_expired,omitempty"`
}

// Expired tells a page that asks to sign in again after an idle session
// apart from a refused login: a redirect (URLContains), a text, or an
// in-page dialog (Text, with Dismiss to close it).
type Expired struct {
	URLContains string   `json:"url_contains,omitempty"`
	Text        []string `json:"text,omitempty"`
	Dismiss     Sel      `json:"dismiss,omitempty"`
}

// Files is the listing of the download site.
type Files struct {
	Path string `json:"path,omitempty"` // first page of the listing, relative to the site URL
	// Frame is the <iframe> whose document holds the list, of any origin;
	// every other selector of files is then looked up inside it.
	Frame Sel `json:"frame,omitempty"`
	// Row matches one file entry; Name, Size and Download are looked up
	// inside the row.
	Row  Sel   `json:"row"`
	Name Field `json:"name"`
	Size Field `json:"size,omitempty"`
	// Download is the row's download control. In a profile it may instead
	// be a list of steps inside the row (DownloadSteps): e.g. click
	// "Request", wait for a link, click it. Then Download is the last
	// step's click, the one that starts the file.
	Download      Sel    `json:"download"`
	DownloadSteps []Step `json:"-"`
	// PrepareTimeout bounds each wait among the download steps: how long
	// a file may take to be prepared (default 5m).
	PrepareTimeout Duration `json:"prepare_timeout,omitempty"`
	// AfterClick runs after each download click: an in-page "Are you
	// sure?" to confirm (optional steps), or {"dialog": "accept"} for a
	// confirm() dialog.
	AfterClick []Step   `json:"after_click,omitempty"`
	More       *More    `json:"more,omitempty"`
	Next       Sel      `json:"next,omitempty"` // the first format: more {mode: navigate}
	Empty      []string `json:"empty_text,omitempty"`

	// DownloadStartTimeout is how long a page that a download click shows
	// (not an error, expired link, transient page or sign-in form) is
	// watched for the download to begin from it (default 60s).
	DownloadStartTimeout Duration `json:"download_start_timeout,omitempty"`
	// Interstitial runs on such a page, e.g. a "start the download" link.
	Interstitial []Step `json:"interstitial,omitempty"`
	// NameCheck: a download is taken for a row only if its suggested name
	// matches the row's (default true); false for portals that rename.
	NameCheck *bool `json:"name_check,omitempty"`
	// Unavailable (an element inside the row) or UnavailableText (a text
	// in the row, e.g. "Expired") marks a file the portal lists but will
	// not give: never clicked, not a failure, reported.
	Unavailable     Sel      `json:"unavailable,omitempty"`
	UnavailableText []string `json:"unavailable_text,omitempty"`
}

// UnmarshalJSON reads files, whose download is a selector or a list of
// steps (row steps); unknown fields are refused as everywhere else.
func (f *Files) UnmarshalJSON(b []byte) error {
	type plain Files
	aux := struct {
		*plain
		Download json.RawMessage `json:"download"`
	}{plain: (*plain)(f)}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&aux); err != nil {
		return err
	}
	raw := bytes.TrimSpace(aux.Download)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	if raw[0] == '[' && bytes.HasPrefix(bytes.TrimSpace(raw[1:]), []byte("{")) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f.DownloadSteps); err != nil {
			return fmt.Errorf("files.download: %w", err)
		}
		if n := len(f.DownloadSteps); n > 0 {
			f.Download = f.DownloadSteps[n-1].Click
		}
		return nil
	}
	return f.Download.UnmarshalJSON(raw)
}

// MarshalJSON writes download back as it was given: steps or a selector.
func (f Files) MarshalJSON() ([]byte, error) {
	type plain Files
	var dl any = f.Download
	if len(f.DownloadSteps) > 0 {
		dl = f.DownloadSteps
	}
	return json.Marshal(struct {
		plain
		Download any `json:"download"`
	}{plain(f), dl})
}

// Pagination modes.
const (
	MoreNavigate = "navigate" // a link or form loads the next page
	MoreInPlace  = "in_place" // the rows are replaced, the page stays
	MoreAppend   = "append"   // rows are added ("load more")
	MoreNone     = "none"
)

// More is how the listing goes on past its first rows.
type More struct {
	Mode    string `json:"mode"`
	Control Sel    `json:"control,omitempty"` // absent or disabled on the last page
}

// Field reads a value from a row: the text of the element In (the row
// itself when In is empty), or its attribute Attr; Regex, when given, keeps
// its first group (or the whole match). In a profile a plain string is In.
type Field struct {
	In    Sel    `json:"in,omitempty"`
	Attr  string `json:"attr,omitempty"`
	Regex string `json:"regex,omitempty"`
}

// UnmarshalJSON takes a selector string or {"in","attr","regex"}.
func (f *Field) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && (b[0] == '"' || b[0] == '[') {
		return f.In.UnmarshalJSON(b)
	}
	type plain Field
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode((*plain)(f))
}

// Empty reports whether the field says nowhere to read.
func (f Field) Empty() bool { return f.In.Empty() && f.Attr == "" }

// UploadForm is the upload form as steps. A {"file": SEL} step sets the file
// input (it may be hidden behind a "Choose file" button); the step after it
// that clicks or presses sends the file, and the outcome is watched.
type UploadForm struct {
	Path  string `json:"path,omitempty"`
	Steps []Step `json:"steps,omitempty"`
	// Confirmed is an element (or texts) shown when the portal received the
	// file; Refused texts are the portal saying no, with a reason.
	Confirmed     Sel      `json:"confirmed,omitempty"`
	ConfirmedText []string `json:"confirmed_text,omitempty"`
	Refused       []string `json:"refused_text,omitempty"`
	// OutcomeTimeout is how long the answer may take (default 2m).
	OutcomeTimeout Duration `json:"outcome_timeout,omitempty"`

	// The first format's fields, upgraded by upgrade().
	Input        Sel `json:"input,omitempty"`
	Submit       Sel `json:"submit,omitempty"`
	Confirmation Sel `json:"confirmation,omitempty"`
}

// Duration is a time.Duration written as "90s" in a profile.
type Duration = browser.Duration

// defaultProfileJSON matches seftsim's markup v1 (docs/seftsim.md).
const defaultProfileJSON = `{
  "name": "seftsim-v1",
  "login": {
    "path": "login",
    "steps": [
      {"fill": "label=User name", "with": "{user}"},
      {"fill": "label=Password", "with": "{password}"},
      {"click": ["text=Sign in", "role=button[name=\"Sign in\"]"]}
    ],
    "outcomes": {
      "signed_in": "#sign-out",
      "refused": ["Invalid user name or password"],
      "locked": ["Your account has been locked"],
      "password_expired": ["Your password has expired"]
    }
  },
  "session_expired": {
    "url_contains": "expired=1",
    "text": ["Your session has expired"]
  },
  "files": {
    "path": "files",
    "row": "#files tr.file-row",
    "name": ".file-name",
    "size": ".file-size",
    "download": "text=Download",
    "more": {"mode": "navigate", "control": "a[rel=next]"},
    "empty_text": ["There are no files available"]
  },
  "upload": {
    "path": "",
    "steps": [
      {"file": "label=File to upload"},
      {"click": "text=Upload"}
    ],
    "confirmed": "#received",
    "refused_text": []
  },
  "transient_text": ["Please try again later", "planned maintenance", "Something went wrong", "The form has expired", "Internal Server Error", "Service Unavailable", "Bad Gateway", "Gateway Timeout"],
  "link_expired_text": ["This link has expired"]
}`

// Default returns the built-in profile, which matches seftsim v1.
func Default() *Profile {
	p, err := Parse([]byte(defaultProfileJSON), "")
	if err != nil {
		panic("built-in profile: " + err.Error())
	}
	return p
}

// Load reads a profile file for site ("" checks every section
// present). Unknown keys are errors, so a typo cannot silently fall back to
// a default; a profile for one site needs no section of the other.
func Load(path, site string) (*Profile, error) {
	b, err := safeio.ReadFile(path, "the site profile", 4<<20)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("profile: %w", err), "check --profile / SEFTBOT_PROFILE")
	}
	p, err := Parse(b, site)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("profile %s: %w", path, err), "see docs/site-profile.md for the format")
	}
	return p, nil
}

// Parse reads a profile from JSON, upgrades the first format and checks
// it for site ("download", "upload" or "": every section present).
func Parse(b []byte, site string) (*Profile, error) {
	var p Profile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, err
	}
	if err := p.upgrade(); err != nil {
		return nil, err
	}
	if err := p.validate(site); err != nil {
		return nil, err
	}
	return &p, nil
}

// upgrade turns the first format's one-form sections into steps, so that
// everything after loading sees one shape.
func (p *Profile) upgrade() error {
	l := &p.Login
	old := !l.Username.Empty() || !l.Password.Empty() || !l.Submit.Empty() || !l.SignedIn.Empty() || len(l.Rejected) > 0
	if old {
		if len(l.Steps) > 0 || !l.Outcomes.SignedIn.Empty() {
			return errors.New("login: use either steps and outcomes, or username/password/submit/signed_in, not both")
		}
		l.Steps = []Step{
			{Fill: l.Username, With: "{user}"},
			{Fill: l.Password, With: "{password}"},
			{Click: l.Submit},
		}
		l.Outcomes = Outcomes{SignedIn: l.SignedIn, Refused: l.Rejected}
		l.Username, l.Password, l.Submit, l.SignedIn, l.Rejected = nil, nil, nil, nil, nil
	}
	if f := p.Files; f != nil && !f.Next.Empty() {
		if f.More != nil {
			return errors.New("files: use either next or more, not both")
		}
		f.More = &More{Mode: MoreNavigate, Control: f.Next}
		f.Next = nil
	}
	if u := p.Upload; u != nil && (!u.Input.Empty() || !u.Submit.Empty() || !u.Confirmation.Empty()) {
		if len(u.Steps) > 0 {
			return errors.New("upload: use either steps, or input/submit/confirmation, not both")
		}
		u.Steps = []Step{{File: u.Input}, {Click: u.Submit}}
		u.Confirmed = u.Confirmation
		u.Input, u.Submit, u.Confirmation = nil, nil, nil
	}
	return nil
}

// validate names every problem at once. site is "download", "upload" or ""
// (every section that is present).
func (p *Profile) validate(site string) error {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	sel := func(field string, s Sel, required bool) {
		if s.Empty() {
			if required {
				bad("%s: missing", field)
			}
			return
		}
		if err := s.Check(); err != nil {
			bad("%s: %v", field, err)
		}
	}
	l := p.Login
	if len(l.Steps) == 0 {
		bad("login.steps: missing")
	}
	secret := false
	for i, s := range l.Steps {
		if err := checkStep(s, fmt.Sprintf("login.steps[%d]", i), stepsLogin); err != nil {
			bad("%v", err)
		}
		secret = secret || s.With == "{password}"
	}
	if len(l.Steps) > 0 && !secret {
		bad("login.steps: no step fills {password}")
	} else if len(l.Steps) > 0 && SecretStep(l.Steps) < 0 {
		bad("login.steps: no click or key press after the {password} fill sends it (or mark one sends_secret)")
	}
	for _, e := range sendsBeforeFill("login.steps", l.Steps) {
		bad("%s", e)
	}
	sel("login.outcomes.signed_in", l.Outcomes.SignedIn, true)
	if len(l.Outcomes.Refused) == 0 {
		bad("login.outcomes.refused: missing (the texts of a refused sign-in)")
	}
	sel("session_expired.dismiss", p.Expired.Dismiss, false)

	switch {
	case p.Files == nil && site == SiteDownload:
		bad("files: missing (the download site needs it)")
	case p.Files != nil:
		f := p.Files
		sel("files.row", f.Row, true)
		if err := checkFrame(f.Frame); err != nil {
			bad("%v", err)
		}
		if f.Name.Empty() {
			bad("files.name: missing")
		}
		field := func(name string, v Field) {
			sel(name+".in", v.In, false)
			if v.Regex != "" {
				if _, err := regexp.Compile(v.Regex); err != nil {
					bad("%s.regex: %v", name, err)
				}
			}
		}
		field("files.name", f.Name)
		field("files.size", f.Size)
		if len(f.DownloadSteps) > 0 {
			for _, e := range checkRowSteps(f.DownloadSteps) {
				bad("%s", e)
			}
		} else {
			sel("files.download", f.Download, true)
		}
		if f.PrepareTimeout < 0 {
			bad("files.prepare_timeout: must not be negative")
		}
		for i, s := range f.AfterClick {
			if err := checkStep(s, fmt.Sprintf("files.after_click[%d]", i), stepsAfterClick); err != nil {
				bad("%v", err)
			}
		}
		for i, s := range f.Interstitial {
			if err := checkStep(s, fmt.Sprintf("files.interstitial[%d]", i), stepsAfterClick); err != nil {
				bad("%v", err)
			}
		}
		sel("files.unavailable", f.Unavailable, false)
		if f.DownloadStartTimeout < 0 {
			bad("files.download_start_timeout: must not be negative")
		}
		if f.More == nil {
			f.More = &More{Mode: MoreNone}
		}
		switch f.More.Mode {
		case MoreNone:
		case MoreNavigate, MoreInPlace, MoreAppend:
			sel("files.more.control", f.More.Control, true)
		default:
			bad("files.more.mode: %q is not navigate, in_place, append or none", f.More.Mode)
		}
	}
	switch {
	case p.Upload == nil && site == SiteUpload:
		bad("upload: missing (the upload site needs it)")
	case p.Upload != nil:
		u := p.Upload
		file := false
		for i, s := range u.Steps {
			if err := checkStep(s, fmt.Sprintf("upload.steps[%d]", i), stepsUpload); err != nil {
				bad("%v", err)
			}
			file = file || !s.File.Empty()
		}
		if !file {
			bad("upload.steps: no step sets the file ({\"file\": SELECTOR})")
		} else if SecretStep(u.Steps) < 0 {
			bad("upload.steps: no click or key press after the file step sends it")
		}
		for _, e := range sendsBeforeFill("upload.steps", u.Steps) {
			bad("%s", e)
		}
		sel("upload.confirmed", u.Confirmed, false)
		if u.Confirmed.Empty() && len(u.ConfirmedText) == 0 {
			bad("upload: confirmed or confirmed_text: missing (how the portal says it received the file)")
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// sendsBeforeFill names each step that could send the form before the
// {password} fill after it: one marked sends_secret, or a press or click
// on the very field that fill types into (Enter recorded before the typing
// it followed). Replayed, such a step sends an empty password, and the
// portal counts a failure towards locking the account. A step on another
// element (a "Next" of a two-step login) only leads to the field.
func sendsBeforeFill(prefix string, steps []Step) []string {
	var out []string
	for f, fs := range steps {
		if fs.With != "{password}" || fs.Fill.Empty() {
			continue
		}
		for i, s := range steps[:f] {
			var what string
			switch {
			case s.SendsSecret:
				what = "is marked sends_secret"
			case s.Press != "" && sameField(s.In, fs.Fill):
				what = fmt.Sprintf("presses %s in %s", s.Press, s.In)
			case !s.Click.Empty() && sameField(s.Click, fs.Fill):
				what = fmt.Sprintf("clicks %s", s.Click)
			default:
				continue
			}
			out = append(out, fmt.Sprintf("%s[%d] %s before %s[%d] fills %s with {password}: replayed, it would send an empty password (a failed sign-in that counts towards locking the account); put it after the fill",
				prefix, i, what, prefix, f, fs.Fill))
		}
	}
	return out
}

// SendingStep names the login step that sends the password and the
// {password} fill before it, for an operator who must find the step to
// blame: "login.steps[3] (press Enter in #pw), after login.steps[2] (fill
// #pw with {password})".
func (p *Profile) SendingStep() string {
	ss := p.Login.Steps
	send := SecretStep(ss)
	if send < 0 {
		return "no login step sends the password"
	}
	fill := -1
	for i := range ss[:send] {
		if ss[i].With == "{password}" {
			fill = i
		}
	}
	out := fmt.Sprintf("login.steps[%d] (%s)", send, ss[send].Describe())
	if fill >= 0 {
		out += fmt.Sprintf(", after login.steps[%d] (%s)", fill, ss[fill].Describe())
	} else {
		out += ", before any {password} fill"
	}
	return out
}

// sameField says whether two targets share a selector: then they are the
// same element as far as the profile can tell.
func sameField(a, b Sel) bool {
	norm := func(x string) string { return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(x), "css=")) }
	for _, x := range a {
		for _, y := range b {
			if norm(x) != "" && norm(x) == norm(y) {
				return true
			}
		}
	}
	return false
}

// Selectors lists every selector of the profile by its field, for the
// browser-side syntax check and for drift reports.
func (p *Profile) Selectors() map[string]Sel {
	out := map[string]Sel{}
	add := func(k string, s Sel) {
		if !s.Empty() {
			out[k] = s
		}
	}
	steps := func(prefix string, ss []Step) {
		for i, s := range ss {
			add(fmt.Sprintf("%s[%d]", prefix, i), s.Target())
		}
	}
	steps("login.steps", p.Login.Steps)
	add("login.outcomes.signed_in", p.Login.Outcomes.SignedIn)
	add("session_expired.dismiss", p.Expired.Dismiss)
	if f := p.Files; f != nil {
		add("files.frame", f.Frame)
		add("files.row", f.Row)
		add("files.name", f.Name.In)
		add("files.size", f.Size.In)
		if len(f.DownloadSteps) > 0 {
			steps("files.download", f.DownloadSteps)
		} else {
			add("files.download", f.Download)
		}
		steps("files.after_click", f.AfterClick)
		steps("files.interstitial", f.Interstitial)
		add("files.unavailable", f.Unavailable)
		if f.More != nil {
			add("files.more.control", f.More.Control)
		}
	}
	if u := p.Upload; u != nil {
		steps("upload.steps", u.Steps)
		add("upload.confirmed", u.Confirmed)
	}
	return out
}

// ForPage is the profile as the portal's in-page script reads it, with what the page needs
// derived from it: the elements of the login's steps after the password
// (a notice, terms, "Proceed"), which mark an interstitial page.
func (p *Profile) ForPage() any {
	var inter []Sel
	if send := SecretStep(p.Login.Steps); send >= 0 {
		for _, s := range p.Login.Steps[send+1:] {
			if t := s.Target(); t != nil {
				inter = append(inter, t)
			}
		}
	}
	return struct {
		*Profile
		Interstitial []Sel `json:"interstitial,omitempty"`
	}{p, inter}
}
