package authoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/isaric/seftbot/internal/atomicfile"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/portal"
)

// recordWorld is the isolated world the recorder's script runs in: the
// portal's own scripts cannot see it, nor the user name it compares with.
const (
	recordWorld   = "seftbot-record"
	recordBinding = "seftbotRecord"
)

// recEvent is what the recorder's script reports of one action. It never
// holds a typed value: With is "{user}", "{password}" or "".
type recEvent struct {
	Kind     string   `json:"kind"` // fill, press, check, select, file, click, row
	With     string   `json:"with"`
	Locators []string `json:"locators"`
	URL      string   `json:"url"`
	Text     string   `json:"text"`
	Option   string   `json:"option"`
	Password bool     `json:"password"`
	// A click in a repeated row (the download control).
	Row  string `json:"row"`
	Rows int    `json:"rows"`
	Name *struct {
		In   string `json:"in"`
		Attr string `json:"attr"`
	} `json:"name"`
	Size *struct {
		In string `json:"in"`
	} `json:"size"`
}

// Recorder watches an operator use a portal in a browser and drafts a
// site profile from what they do: sign in, pass any notice, download one
// file, page on. See Record.
type Recorder struct {
	o    *Options
	b    *portal.Session
	pr   *prober
	done chan struct{} // closed when the tab or browser goes away
	evs  chan recEvent
	wg   sync.WaitGroup

	evMu     sync.Mutex // guards evs against a send after Stop closed it
	evClosed bool

	mu       sync.Mutex
	steps    []Step
	sent     bool // the password's send step is recorded
	loginURL string
	signedIn Sel
	files    *Files
	filesURL string
	upload   *UploadForm // from the first file step on
	before   struct {
		count int
		first string
		url   string
	}
	notes []string
}

// StartRecord opens the site URL in a browser (a visible one with
// o.Headful) with the recorder's script in every page, and returns at once;
// the operator then signs in, downloads one file and pages on. Stop ends it.
func StartRecord(ctx context.Context, o Options) (*Recorder, error) {
	o.Profile = &Profile{Name: "recording"}
	if err := o.Normalise(); err != nil {
		return nil, err
	}
	o.Profile = &Profile{Name: "recording"}
	// What the browser downloads is a real file: it lands in a private
	// directory of the state directory, removed when the browser ends (and
	// by the next run's sweep if the recorder is killed).
	dl, release, err := layout.State{Dir: o.StateDir}.NewRecordDir()
	if err != nil {
		return nil, err
	}
	b, err := portal.StartSession(ctx, &o, dl)
	if err != nil {
		release()
		return nil, err
	}
	r := &Recorder{o: &o, b: b, done: make(chan struct{}), evs: make(chan recEvent, 256)}
	context.AfterFunc(b.Context(), release)
	t, err := b.NewTab(true)
	if err != nil {
		b.Close()
		return nil, err
	}
	r.pr = &prober{b: b, t: t, o: &o}
	if err := r.pr.watchNetwork(); err != nil {
		b.Close()
		return nil, err
	}
	args, _ := json.Marshal(map[string]any{"binding": recordBinding, "user": o.User})
	src := fmt.Sprintf("(%s)(\"record\", %s);", strings.TrimSpace(probeJS), args)
	var once sync.Once
	if err := chromedp.Listen(t.Ctx(), func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventBindingCalled:
			if e.Name != recordBinding {
				return
			}
			var re recEvent
			if json.Unmarshal([]byte(e.Payload), &re) == nil {
				r.evMu.Lock()
				if !r.evClosed {
					select {
					case r.evs <- re:
					default:
					}
				}
				r.evMu.Unlock()
			}
		}
	}); err != nil {
		b.Close()
		return nil, err
	}
	// The operator closing the window detaches the tab, or ends the
	// browser with it.
	detached, err := chromedp.Detached(t.Ctx())
	if err != nil {
		b.Close()
		return nil, err
	}
	go func() {
		select {
		case <-detached:
		case <-t.Ctx().Done():
		}
		once.Do(func() { close(r.done) })
	}()
	if err := t.Step(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, runtime.AddBinding, runtime.AddBindingParams{Name: recordBinding, ExecutionContextName: recordWorld}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src, WorldName: recordWorld})
		return err
	})); err != nil {
		b.Close()
		return nil, fmt.Errorf("%w: install the recorder: %w", ErrPortal, err)
	}
	r.wg.Add(1)
	go r.loop()
	if err := navigate(t, o.URL); err != nil {
		r.Stop()
		return nil, fmt.Errorf("%w: open %s: %w", ErrPortal, redactURL(o.URL), err)
	}
	return r, nil
}

// Context is the recorded tab's chromedp context (tests drive it with
// real input events, as an operator would).
func (r *Recorder) Context() context.Context { return r.pr.t.Ctx() }

// Done is closed when the operator closed the browser window.
func (r *Recorder) Done() <-chan struct{} { return r.done }

// rel is u relative to the site URL ("login", "files"), without its query.
func (r *Recorder) rel(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	base, _ := url.Parse(r.o.URL)
	if strings.HasPrefix(p.Path, base.Path) {
		return strings.TrimPrefix(p.Path, base.Path)
	}
	return p.Path
}

func sel2(l []string) Sel {
	if len(l) > 2 {
		l = l[:2]
	}
	return Sel(l)
}

// loop turns the page's reports into steps, in order. The listing's
// paging mode is learnt by watching what the control does.
func (r *Recorder) loop() {
	defer r.wg.Done()
	for re := range r.evs {
		r.take(re)
	}
}

func (r *Recorder) take(re recEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(re.Locators) == 0 {
		r.notes = append(r.notes, fmt.Sprintf("a %s on %s had no usable locator; add it by hand", re.Kind, r.rel(re.URL)))
		return
	}
	loc := sel2(re.Locators)
	if re.Kind == "file" && r.upload == nil && r.o.Site == SiteUpload {
		r.upload = &UploadForm{Path: r.rel(re.URL)}
		// A "Choose file" button clicked just before only opened the
		// chooser: the file step sets the input itself.
		if n := len(r.steps); n > 0 && r.steps[n-1].Optional && chooser.MatchString(r.steps[n-1].Click.String()) {
			r.notes = append(r.notes, fmt.Sprintf("the click on %s before choosing the file was left out: the file step sets the file input directly", r.steps[n-1].Click))
			r.steps = r.steps[:n-1]
		}
		var so []string
		if err := r.pr.eval("signedIn", nil, r.o.StepTimeout, &so); err == nil && len(so) > 0 {
			r.signedIn = Sel(so)
		}
	}
	if u := r.upload; u != nil { // the upload form
		switch re.Kind {
		case "file":
			u.Steps = append(u.Steps, Step{File: loc})
		case "click", "press":
			if u.Confirmed.Empty() && len(u.ConfirmedText) == 0 {
				if re.Kind == "press" {
					u.Steps = append(u.Steps, Step{Press: "Enter", In: loc})
				} else {
					u.Steps = append(u.Steps, Step{Click: loc})
				}
				r.confirmation()
			}
		}
		return
	}
	if r.files != nil { // after the download: paging
		if re.Kind == "click" && r.files.More == nil {
			r.files.More = &More{Mode: r.pagingMode(loc), Control: loc}
		}
		return
	}
	switch re.Kind {
	case "fill":
		if re.With == "" {
			r.notes = append(r.notes, fmt.Sprintf("text typed into %s was not recorded (it is neither the user name nor a password); add a step by hand if the portal needs it", loc))
			return
		}
		if r.loginURL == "" {
			r.loginURL = re.URL
		}
		// A field filled again replaces its earlier step in place: moved to
		// the end, a password typed again after a refusal would follow the
		// Enter that first sent it, and the replay would send it empty.
		for i, s := range r.steps {
			if s.Fill.String() == loc.String() {
				r.steps[i] = Step{Fill: loc, With: re.With}
				return
			}
		}
		r.steps = append(r.steps, Step{Fill: loc, With: re.With})
	case "press":
		r.steps = append(r.steps, Step{Press: "Enter", In: loc, Optional: r.sent})
		r.markSent()
	case "check":
		r.steps = append(r.steps, Step{Check: loc, Optional: r.sent})
	case "select":
		if re.Option != "" {
			r.steps = append(r.steps, Step{Select: loc, With: re.Option, Optional: r.sent})
		}
	case "click":
		r.steps = append(r.steps, Step{Click: loc, Optional: r.sent})
		r.markSent()
	case "row":
		r.rowClicked(re, loc)
	}
}

// chooser matches the locators of a button that opens a file chooser.
var chooser = regexp.MustCompile(`(?i)choose|browse|select file|attach|pick`)

// confirmation finds, once the page has answered the upload, the message
// that says the file arrived.
func (r *Recorder) confirmation() {
	r.pr.quiet(r.o.StepTimeout)
	var c struct {
		Sel  string `json:"sel"`
		Text string `json:"text"`
	}
	if err := r.pr.eval("confirmation", nil, r.o.StepTimeout, &c); err != nil || c.Sel == "" {
		r.notes = append(r.notes, "no message saying the file was received was seen after sending it: set upload.confirmed by hand")
		return
	}
	r.upload.Confirmed = Sel{c.Sel}
}

// markSent notes the step that sent the password: the first click or key
// press after the {password} fill.
func (r *Recorder) markSent() {
	if r.sent {
		return
	}
	for _, s := range r.steps {
		if s.With == "{password}" {
			r.sent = true
			return
		}
	}
}

// rowClicked is the download click: the row structure comes from it.
func (r *Recorder) rowClicked(re recEvent, loc Sel) {
	f := &Files{Path: r.rel(re.URL), Row: Sel{re.Row}, Download: loc}
	if re.Name != nil {
		f.Name = Field{Attr: re.Name.Attr}
		if re.Name.In != "" {
			f.Name.In = Sel{re.Name.In}
		}
	} else {
		r.notes = append(r.notes, "no cell of the clicked row looks like a file name: set files.name by hand (seftbot probe shows the row)")
	}
	if re.Size != nil && re.Size.In != "" {
		f.Size = Field{In: Sel{re.Size.In}}
	}
	r.files, r.filesURL = f, re.URL
	// What the list shows now, to tell later how its control pages.
	var rn struct {
		Count int    `json:"count"`
		First string `json:"first"`
		URL   string `json:"url"`
	}
	if err := r.pr.eval("rowsNow", map[string]any{"sel": re.Row, "name": re.Name}, r.o.StepTimeout, &rn); err == nil {
		r.before.count, r.before.first, r.before.url = rn.Count, rn.First, rn.URL
	}
	var so []string
	if err := r.pr.eval("signedIn", nil, r.o.StepTimeout, &so); err == nil && len(so) > 0 {
		r.signedIn = Sel(so)
	}
}

// pagingMode watches what the paging control the operator clicked did: a
// new page (navigate), more rows (append) or other rows (in place).
func (r *Recorder) pagingMode(loc Sel) string {
	r.pr.quiet(r.o.StepTimeout)
	var rn struct {
		Count int    `json:"count"`
		First string `json:"first"`
		URL   string `json:"url"`
	}
	var nm any
	if f := r.files; !f.Name.Empty() {
		nm = map[string]any{"attr": f.Name.Attr, "in": strings.Join(f.Name.In, "")}
	}
	if err := r.pr.eval("rowsNow", map[string]any{"sel": r.files.Row[0], "name": nm}, r.o.StepTimeout, &rn); err != nil {
		r.notes = append(r.notes, fmt.Sprintf("could not tell what %s does; check files.more.mode", loc))
		return MoreNavigate
	}
	switch {
	case noFragment(rn.URL) != noFragment(r.before.url): // a #fragment alone is the same page, redrawn
		return MoreNavigate
	case rn.Count > r.before.count && rn.First == r.before.first:
		return MoreAppend
	}
	return MoreInPlace
}

// noFragment is u without its #fragment.
func noFragment(u string) string {
	if i := strings.IndexByte(u, '#'); i >= 0 {
		return u[:i]
	}
	return u
}

// Stop ends the recording, closes the browser and returns the draft
// profile for site, with notes on what it could not infer.
func (r *Recorder) Stop() (*Profile, []string, error) {
	// What the last action set off is let finish and reported; events
	// already reported are all taken before the browser goes.
	select {
	case <-r.done:
	default:
		r.pr.quiet(r.o.StepTimeout)
	}
	r.evMu.Lock()
	r.evClosed = true
	close(r.evs)
	r.evMu.Unlock()
	r.wg.Wait()
	r.b.Close()
	return r.profile()
}

func (r *Recorder) profile() (*Profile, []string, error) {
	def := DefaultProfile()
	p := &Profile{
		Name:        "recorded " + r.o.Site + " " + time.Now().UTC().Format("2006-01-02"),
		Transient:   def.Transient,
		LinkExpired: def.LinkExpired,
	}
	p.Login = Login{
		Path:  r.rel(r.loginURL),
		Steps: r.steps,
		Outcomes: Outcomes{
			SignedIn: r.signedIn,
			// A recording sees no refusal: these are common wordings, to be
			// replaced by the portal's own once seen (seftbot probe).
			Refused: []string{"Invalid user name or password", "Invalid username or password", "Incorrect user name or password",
				"Incorrect username or password", "do not match our records"},
			Locked:          []string{"account has been locked", "account is locked", "account is blocked"},
			PasswordExpired: []string{"password has expired"},
		},
	}
	notes := append([]string(nil), r.notes...)
	notes = append(notes, "login.outcomes.refused, locked and password_expired are common wordings, not the portal's: replace them with its own when seen")
	if r.signedIn.Empty() {
		notes = append(notes, "no sign-out control was seen after sign-in: set login.outcomes.signed_in by hand")
	}
	if r.o.Site == SiteDownload {
		p.Files = r.files
		if p.Files == nil {
			notes = append(notes, "no download was clicked: the files section is missing")
		} else if p.Files.More == nil {
			p.Files.More = &More{Mode: MoreNone}
			notes = append(notes, "no paging control was clicked after the download: files.more is none (right only if every file fits on one page)")
		}
	}
	if r.o.Site == SiteUpload {
		p.Upload = r.upload
		if p.Upload == nil {
			notes = append(notes, "no file was chosen for upload: the upload section is missing")
		} else {
			notes = append(notes, "upload.refused_text is empty: add the portal's wording for a refused file when seen")
		}
	}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, notes, err
	}
	q, err := parseProfile(b, r.o.Site)
	if err != nil {
		return p, notes, draftError{err}
	}
	return q, notes, nil
}

// draftError is a recorded draft the profile loader refuses (a step order
// that would send an empty password, a missing section). It is a profile
// error, exit 11, but worded as the draft's fault: the page was not wrong.
type draftError struct{ err error }

func (e draftError) Error() string {
	return "the recorded draft cannot be used as it is: " + e.err.Error()
}
func (e draftError) Is(target error) bool { return target == ErrProfile }
func (e draftError) Unwrap() error        { return e.err }

// WriteProfile writes p as JSON, private (0600), atomically.
func WriteProfile(path string, p *Profile) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o600)
}

var _ = errors.New
