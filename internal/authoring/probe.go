package authoring

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/isaric/seftbot/internal/browser"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/portal"
)

//go:embed probe.js
var probeJS string

// ProbePage is what probe saw on one page: structure only, never a value
// typed into or prefilled in a form.
type ProbePage struct {
	Step       string          `json:"step"`
	Screenshot string          `json:"screenshot,omitempty"`
	Quiet      bool            `json:"quiet"` // the page went quiet before it was read
	Page       json.RawMessage `json:"page"`
	// Frames are what each iframe of the page holds, read in the frame's
	// own document (of any origin).
	Frames []ProbeFrame `json:"frames,omitempty"`
}

// ProbeFrame is one iframe's contents. Selector finds the <iframe> in the
// page: a list inside is "files.frame": Selector, with the frame's
// locators as they are; a step's target inside is
// "frame=Selector >> LOCATOR".
type ProbeFrame struct {
	Selector string          `json:"selector"`
	Page     json.RawMessage `json:"page"`
}

// maxProbeFrames bounds how many frames of one page are read.
const maxProbeFrames = 8

// ProbeStop says where a probe stopped and why, in plain words.
type ProbeStop struct {
	At  string `json:"at"`
	Why string `json:"why"`
	Err string `json:"error,omitempty"`
}

// Probe helps an operator write a profile for a portal the bot has never
// seen. With no profile (o.Profile nil) it opens the site URL, finds the
// sign-in form by its password field (or, for a login in two steps, a text
// field and its button first), signs in once, and reads the page that
// follows; with a profile it signs in by the profile's steps and also reads
// the listing (download) or upload form. Each page is read once it has
// gone quiet (no request in flight, no DOM change for a moment): its
// repeated structures with a suggested row selector and one example row,
// candidate download and paging controls, iframes, forms (never a value),
// messages, and a screenshot, into outDir (0700): report.json and a
// readable report.txt.
//
// report is the path of report.txt whenever one was written; err then
// says where the probe stopped (the report says so too). A refusal or an
// unknown answer latches the password as any sign-in does.
func Probe(ctx context.Context, o Options, outDir string) (report string, err error) {
	blind := o.Profile == nil
	if err := o.Normalise(); err != nil {
		return "", err
	}
	if blind {
		o.Profile = &Profile{Name: "none"}
	}
	if err := layout.PrivateDir(outDir); err != nil {
		return "", err
	}
	b, err := portal.StartSession(ctx, &o, "")
	if err != nil {
		return "", err
	}
	defer b.Close()
	t, err := b.NewTab(true)
	if err != nil {
		return "", err
	}
	pr := &prober{b: b, t: t, o: &o, dir: outDir}
	if err := pr.watchNetwork(); err != nil {
		return "", err
	}
	defer func() {
		stop := ProbeStop{At: "end", Why: "done"}
		if err != nil {
			stop = ProbeStop{At: pr.last(), Why: stopReason(err, blind), Err: err.Error()}
		} else if pr.stop != nil {
			stop = *pr.stop
		}
		if werr := writeProbeReport(outDir, &o, blind, pr.pages, stop); werr != nil {
			if err == nil {
				err = werr
			}
			return
		}
		report = filepath.Join(outDir, "report.txt")
	}()
	if blind {
		return "", pr.blindLogin()
	}
	p := o.Profile
	if err := navigate(t, o.SiteURL(p.Login.Path)); err != nil {
		return "", fmt.Errorf("%w: open login page: %w", ErrPortal, err)
	}
	pr.snap("login") // before anything is typed
	if err := b.SignIn(t); err != nil {
		pr.snap("after-login-failed")
		return "", err
	}
	pr.snap("signed-in")
	if o.Site == SiteUpload || p.Files == nil {
		if p.Upload == nil {
			return "", nil
		}
		if err := navigate(t, o.SiteURL(p.Upload.Path)); err == nil {
			pr.snap("upload-form")
		}
		return "", nil
	}
	if err := navigate(t, o.SiteURL(p.Files.Path)); err != nil {
		return "", fmt.Errorf("%w: open the listing: %w", ErrPortal, err)
	}
	var l portal.ListingRead
	_ = portal.AwaitList(t, p, "listing", map[string]any{}, o.StepTimeout, &l) // rows drawn by script arrive late
	pr.snap("files-page-1")
	for i := 2; i <= 3 && p.Files.More.Mode != MoreNone; i++ {
		at, err := b.Locate(t, "files.more.control", p.InList(p.Files.More.Control), "click", o.StepTimeout)
		if err != nil || !at.OK {
			break
		}
		t.DrainLoads()
		if err := t.Step(mouseClick(at)); err != nil {
			break
		}
		if p.Files.More.Mode == MoreNavigate {
			if err := t.WaitLoad(); err != nil {
				break
			}
		}
		_ = portal.AwaitList(t, p, "changed", map[string]any{"sig": l.Sig, "count": len(l.Listing.Rows)}, o.StepTimeout, &l)
		pr.snap(fmt.Sprintf("files-page-%d", i))
	}
	return "", nil
}

// stopReason names, for the operator, why a probe ended early.
func stopReason(err error, blind bool) string {
	switch {
	case errors.Is(err, ErrLatched):
		return "sign-in not attempted: this site's login latch is set, so the password is not sent"
	case errors.Is(err, ErrLoginRejected):
		return "sign-in refused, and the login latch is set: no run sends this password again until it is lifted"
	case errors.Is(err, ErrLoginUnknown):
		return "sign-in outcome unknown, and the login latch is set: check the account by hand"
	case errors.Is(err, ErrProfile) && blind:
		return "unknown page: " + err.Error()
	case errors.Is(err, ErrProfile):
		return "profile mismatch: the site profile does not match this page"
	case errors.Is(err, ErrPortal):
		return "the portal could not be used"
	}
	return "error"
}

// prober is one probe run.
type prober struct {
	b     *portal.Session
	t     *tab
	o     *Options
	dir   string
	pages []ProbePage
	stop  *ProbeStop

	mu       sync.Mutex
	inflight map[network.RequestID]time.Time
	lastNet  time.Time
}

func (pr *prober) last() string {
	if len(pr.pages) == 0 {
		return "start"
	}
	return pr.pages[len(pr.pages)-1].Step
}

// watchNetwork counts the requests in flight, for quiet.
func (pr *prober) watchNetwork() error {
	pr.inflight = map[network.RequestID]time.Time{}
	return chromedp.Listen(pr.t.Ctx(), func(ev any) {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			pr.inflight[e.RequestID] = time.Now()
		case *network.EventLoadingFinished:
			delete(pr.inflight, e.RequestID)
		case *network.EventLoadingFailed:
			delete(pr.inflight, e.RequestID)
		default:
			return
		}
		pr.lastNet = time.Now()
	})
}

// netQuiet reports whether no request has been in flight (bar long polls,
// out for longer than 5 s) since at least 300 ms.
func (pr *prober) netQuiet() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, since := range pr.inflight {
		if time.Since(since) < 5*time.Second {
			return false
		}
	}
	return time.Since(pr.lastNet) >= 300*time.Millisecond
}

// quiet waits, up to total, until no request is in flight and the DOM has
// not changed for 500 ms: a page drawn by script is read when it is done.
func (pr *prober) quiet(total time.Duration) bool {
	deadline := time.Now().Add(total)
	for time.Now().Before(deadline) {
		if !pr.netQuiet() {
			select {
			case <-time.After(50 * time.Millisecond):
			case <-pr.t.Ctx().Done():
				return false
			}
			continue
		}
		var r struct {
			OK bool `json:"ok"`
		}
		left := min(time.Until(deadline), 3*time.Second)
		if err := pr.eval("quiet", map[string]any{"quiet": 500, "ms": left.Milliseconds()}, left+5*time.Second, &r); err != nil {
			if !browser.IsNavigationErr(err) {
				return false
			}
			continue
		}
		if r.OK && pr.netQuiet() {
			return true
		}
	}
	return false
}

// eval runs one op of probe.js.
func (pr *prober) eval(op string, args any, timeout time.Duration, out any) error {
	a, err := json.Marshal(args)
	if err != nil {
		return err
	}
	opj, _ := json.Marshal(op)
	expr := fmt.Sprintf("(%s)(%s, %s)", strings.TrimSpace(probeJS), opj, a)
	ctx, cancel := context.WithTimeout(pr.t.Alive(), timeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// snap waits for the page to go quiet and records it with a screenshot.
func (pr *prober) snap(step string) {
	q := pr.quiet(pr.o.StepTimeout)
	var raw json.RawMessage
	if err := pr.eval("report", nil, pr.o.StepTimeout, &raw); err != nil {
		pr.o.Log.Warn("probe: page not readable", "step", step, "err", err)
		return
	}
	pp := ProbePage{Step: step, Quiet: q, Page: redactProbe(raw), Frames: pr.frames(raw)}
	sctx, cancel := contextStep(pr.t)
	defer cancel()
	if png, err := chromedp.Run(sctx, chromedp.CaptureScreenshot()); err == nil {
		pp.Screenshot = fmt.Sprintf("%02d-%s.png", len(pr.pages)+1, step)
		_ = os.WriteFile(filepath.Join(pr.dir, pp.Screenshot), png, 0o600)
	}
	pr.pages = append(pr.pages, pp)
}

// frames reads each iframe of a page (its report raw) in the frame's own
// document, with a selector for the <iframe> element.
func (pr *prober) frames(raw json.RawMessage) []ProbeFrame {
	var pg probeRead
	if json.Unmarshal(raw, &pg) != nil {
		return nil
	}
	var out []ProbeFrame
	for i, f := range pg.Iframes {
		if i == maxProbeFrames {
			break
		}
		sel := iframeSel(f, i)
		expr := fmt.Sprintf("(%s)(%q, {})", strings.TrimSpace(probeJS), "report")
		fr, err := pr.t.EvalExprIn(Sel{sel}, expr, pr.o.StepTimeout, chromedp.EvalAwaitPromise)
		if err != nil {
			pr.o.Log.Warn("probe: frame not readable", "frame", sel, "err", err)
			continue
		}
		out = append(out, ProbeFrame{Selector: sel, Page: framePaging(redactProbe(fr))})
	}
	return out
}

// framePaging: a link that loads the next page inside a frame leaves the
// page around it as it is, so for the run the rows change in place.
func framePaging(raw json.RawMessage) json.RawMessage {
	var pg map[string]any
	if json.Unmarshal(raw, &pg) != nil {
		return raw
	}
	ps, _ := pg["pagination"].([]any)
	for _, x := range ps {
		if m, ok := x.(map[string]any); ok && m["mode"] == MoreNavigate {
			m["mode"] = MoreInPlace
		}
	}
	b, err := json.Marshal(pg)
	if err != nil {
		return raw
	}
	return b
}

// iframeSel is a selector for the i-th iframe of a page, by what it has.
func iframeSel(f map[string]string, i int) string {
	switch {
	case f["id"] != "":
		return "#" + f["id"]
	case f["title"] != "":
		return fmt.Sprintf("iframe[title=%q]", f["title"])
	case f["name"] != "":
		return fmt.Sprintf("iframe[name=%q]", f["name"])
	}
	return fmt.Sprintf("xpath=(//iframe|//frame)[%d]", i+1)
}

// loginForm is probe.js's reading of a sign-in form.
type loginForm struct {
	Stage     string `json:"stage"` // password, user or none
	Passwords int    `json:"passwords"`
	Password  string `json:"password"`
	User      string `json:"user"`
	Submit    string `json:"submit"`
}

func (pr *prober) loginForm() (loginForm, error) {
	var f loginForm
	err := pr.eval("login", nil, pr.o.StepTimeout, &f)
	return f, err
}

// blindLogin signs in with no profile: the password field marks the form;
// a login in two steps shows a text field and its button first. The
// password is sent once; the answer is judged by whether a password field
// is still shown, and anything but its disappearance latches the password.
func (pr *prober) blindLogin() error {
	o, t, b := pr.o, pr.t, pr.b
	if err := navigate(t, o.URL); err != nil {
		return fmt.Errorf("%w: open %s: %w", ErrPortal, redactURL(o.URL), err)
	}
	pr.snap("start")
	if err := portal.CheckLatch(o); err != nil {
		return err
	}
	f, err := pr.loginForm()
	if err != nil {
		return fmt.Errorf("%w: read the page: %w", ErrPortal, err)
	}
	v := stepVars{User: o.User, Password: o.Password}
	run := func(field string, s Step) error {
		if _, err := b.RunStep(t, field, s, v); err != nil {
			return b.StepErr(err)
		}
		return nil
	}
	switch f.Stage {
	case "none":
		return fmt.Errorf("%w: no sign-in form here (no password field, no text field): write the profile's login.path and steps by hand", ErrProfile)
	case "user":
		if f.Submit == "" {
			return fmt.Errorf("%w: a text field (%s) but no button to send it, and no password field", ErrProfile, f.User)
		}
		if err := run("probe: user name field", Step{Fill: Sel{f.User}, With: "{user}"}); err != nil {
			return err
		}
		if err := run("probe: user name button", Step{Click: Sel{f.Submit}}); err != nil {
			return err
		}
		pr.snap("login-step-2")
		if f, err = pr.loginForm(); err != nil {
			return fmt.Errorf("%w: read the page: %w", ErrPortal, err)
		}
		if f.Stage != "password" {
			return fmt.Errorf("%w: after the user name was sent, no password field appeared", ErrProfile)
		}
		f.User = ""
	}
	if f.User != "" {
		if err := run("probe: user name field", Step{Fill: Sel{f.User}, With: "{user}"}); err != nil {
			return err
		}
	}
	if err := run("probe: password field", Step{Fill: Sel{f.Password}, With: "{password}"}); err != nil {
		return err
	}
	if err := b.AllowSecret(); err != nil {
		return err
	}
	send := Step{Click: Sel{f.Submit}}
	if f.Submit == "" {
		send = Step{Press: "Enter", In: Sel{f.Password}}
	}
	if _, err := b.RunStep(t, "probe: sign-in button", send, v); err != nil {
		if errors.Is(err, browser.ErrStepTarget) {
			return fmt.Errorf("%w: %w", ErrProfile, err) // nothing was sent
		}
		o.Log.Warn("sending the password did not complete cleanly; watching for the answer", "err", err)
	}
	// The answer: wait as long as for any sign-in outcome.
	pr.quiet(portal.DefaultOutcomeTimeout)
	pr.snap("after-sign-in")
	after, err := pr.loginForm()
	if err != nil {
		return b.Latch(LatchUnknown, "the page after the password could not be read", err)
	}
	if after.Stage == "password" {
		var msgs []string
		if len(pr.pages) > 0 {
			var pg struct {
				Messages []string `json:"messages"`
			}
			_ = json.Unmarshal(pr.pages[len(pr.pages)-1].Page, &pg)
			msgs = pg.Messages
		}
		said := strings.Join(msgs, " / ")
		switch {
		case after.Passwords > 1:
			return b.Latch(LatchPasswordExpired, "the page asks for a new password: "+said, nil)
		case said != "":
			return b.Latch(LatchRefused, "the sign-in form came back saying: "+said, nil)
		}
		return b.Latch(LatchUnknown, "the sign-in form came back with no message", nil)
	}
	pr.stop = &ProbeStop{At: "after-sign-in", Why: "signed in, as far as a probe without a profile can tell (the password field went away); " +
		"write login.outcomes.signed_in from this page, then run probe again with --profile to read the file list"}
	return nil
}

func contextStep(t *tab) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Ctx(), t.Browser().StepTimeout())
}

func writeProbeReport(dir string, o *Options, blind bool, pages []ProbePage, stop ProbeStop) error {
	profile := o.Profile.Name
	if blind {
		profile = ""
	}
	b, err := json.MarshalIndent(map[string]any{"site": o.Site, "url": redactURL(o.URL), "profile": profile, "pages": pages, "stopped": stop}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o600); err != nil {
		return err
	}
	var s strings.Builder
	fmt.Fprintf(&s, "seftbot probe of the %s site %s\n", o.Site, redactURL(o.URL))
	if blind {
		// Whether it was found is the report's last line: a page with no
		// password field ends the probe there.
		s.WriteString("No site profile: the sign-in form is looked for by its password field.\n")
	} else {
		fmt.Fprintf(&s, "Site profile %q.\n", profile)
	}
	s.WriteString("Use this to write a site profile (see docs/site-profile.md). No form values are recorded.\n")
	for i, p := range pages {
		writeProbePage(&s, i+1, p)
	}
	fmt.Fprintf(&s, "\n== stopped at %s: %s\n", stop.At, stop.Why)
	if stop.Err != "" {
		fmt.Fprintf(&s, "   %s\n", stop.Err)
	}
	return os.WriteFile(filepath.Join(dir, "report.txt"), []byte(s.String()), 0o600)
}

// probeRead mirrors probe.js's report.
type probeRead struct {
	URL      string   `json:"url"`
	Title    string   `json:"title"`
	Messages []string `json:"messages"`
	Forms    []struct {
		Tag      string   `json:"tag"`
		Type     string   `json:"type"`
		Label    string   `json:"label"`
		Locators []string `json:"locators"`
	} `json:"forms"`
	Buttons []struct {
		Tag      string   `json:"tag"`
		Text     string   `json:"text"`
		Locators []string `json:"locators"`
	} `json:"buttons"`
	Repeated []struct {
		Selector string `json:"selector"`
		Count    int    `json:"count"`
		Tag      string `json:"tag"`
		Example  struct {
			Attrs map[string]string `json:"attrs"`
			Text  string            `json:"text"`
			Cells []struct {
				Tag      string            `json:"tag"`
				Column   string            `json:"column"`
				Selector string            `json:"selector"`
				Text     string            `json:"text"`
				Attrs    map[string]string `json:"attrs"`
				Flags    []string          `json:"flags"`
			} `json:"cells"`
		} `json:"example"`
		Name *struct {
			In     string `json:"in"`
			Attr   string `json:"attr"`
			Value  string `json:"value"`
			Column string `json:"column"`
		} `json:"name"`
		Size *struct {
			In     string `json:"in"`
			Value  string `json:"value"`
			Column string `json:"column"`
		} `json:"size"`
		Downloads []struct {
			Text     string   `json:"text"`
			Locators []string `json:"locators"`
		} `json:"downloads"`
	} `json:"repeated"`
	Pagination []struct {
		Text     string   `json:"text"`
		Locators []string `json:"locators"`
		Mode     string   `json:"mode"`
		Disabled bool     `json:"disabled"`
	} `json:"pagination"`
	Iframes []map[string]string `json:"iframes"`
}

// column names a table cell's column by its header, for the report.
func column(h string) string {
	if h == "" {
		return ""
	}
	return fmt.Sprintf(", column %q", h)
}

// quoteAll quotes selectors as JSON strings, as a profile holds them, but
// without escaping <, > and &, so "p.pages > b + a" reads as written.
func quoteAll(ss []string) string {
	var q []string
	for _, x := range ss {
		var b strings.Builder
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		_ = e.Encode(x)
		q = append(q, strings.TrimSuffix(b.String(), "\n"))
	}
	return strings.Join(q, " | ")
}

func writeProbePage(s *strings.Builder, n int, p ProbePage) {
	var pg probeRead
	_ = json.Unmarshal(p.Page, &pg)
	fmt.Fprintf(s, "\n== %d. %s: %s", n, p.Step, pg.URL)
	if p.Screenshot != "" {
		fmt.Fprintf(s, "  (screenshot %s)", p.Screenshot)
	}
	s.WriteString("\n")
	if !p.Quiet {
		s.WriteString("  (the page was still changing when it was read)\n")
	}
	if pg.Title != "" {
		fmt.Fprintf(s, "  title: %s\n", pg.Title)
	}
	if len(pg.Messages) > 0 {
		s.WriteString("  texts:\n")
		for _, m := range pg.Messages {
			fmt.Fprintf(s, "    %q\n", m)
		}
	}
	if len(pg.Forms) > 0 {
		s.WriteString("  fields (values never recorded):\n")
		for _, f := range pg.Forms {
			typ := f.Type
			if typ == "" {
				typ = f.Tag
			}
			fmt.Fprintf(s, "    %-10s %-28q locators: %s\n", typ, f.Label, quoteAll(f.Locators))
		}
	}
	if len(pg.Buttons) > 0 {
		s.WriteString("  buttons and links (outside repeated rows):\n")
		for _, b := range pg.Buttons {
			fmt.Fprintf(s, "    %-6s %-28q locators: %s\n", b.Tag, b.Text, quoteAll(b.Locators))
		}
	}
	for i, r := range pg.Repeated {
		if i == 0 {
			s.WriteString("  repeated structures (3 or more similar siblings; likeliest file list first):\n")
		}
		fmt.Fprintf(s, "    %d x <%s>   suggested files.row: %q\n", r.Count, r.Tag, r.Selector)
		fmt.Fprintf(s, "      example row (1 of %d): %q\n", r.Count, r.Example.Text)
		for k, v := range r.Example.Attrs {
			fmt.Fprintf(s, "        row attribute %s=%q\n", k, v)
		}
		for _, c := range r.Example.Cells {
			fmt.Fprintf(s, "        cell <%s> %-24s %q", c.Tag, c.Selector, c.Text)
			if c.Column != "" {
				fmt.Fprintf(s, " (column %q)", c.Column)
			}
			for k, v := range c.Attrs {
				fmt.Fprintf(s, " %s=%q", k, v)
			}
			if len(c.Flags) > 0 {
				fmt.Fprintf(s, "   <- looks like: %s", strings.Join(c.Flags, ", "))
			}
			s.WriteString("\n")
		}
		switch {
		case r.Name != nil && r.Name.Attr != "":
			fmt.Fprintf(s, "      files.name: {\"attr\": %q}   (e.g. %q)\n", r.Name.Attr, r.Name.Value)
		case r.Name != nil:
			fmt.Fprintf(s, "      files.name: %q   (e.g. %q%s)\n", r.Name.In, r.Name.Value, column(r.Name.Column))
		}
		if r.Size != nil {
			fmt.Fprintf(s, "      files.size: %q   (e.g. %q%s)\n", r.Size.In, r.Size.Value, column(r.Size.Column))
		}
		for _, d := range r.Downloads {
			fmt.Fprintf(s, "      control in the row %q: files.download candidates %s\n", d.Text, quoteAll(d.Locators))
		}
	}
	for i, c := range pg.Pagination {
		if i == 0 {
			s.WriteString("  paging controls:\n")
		}
		dis := ""
		if c.Disabled {
			dis = " (disabled)"
		}
		fmt.Fprintf(s, "    %q%s: files.more {\"mode\": %q, \"control\": %s}\n", c.Text, dis, c.Mode, quoteAll(c.Locators))
	}
	for i, f := range pg.Iframes {
		if i == 0 {
			s.WriteString("  iframes (their contents follow the page):\n")
		}
		fmt.Fprintf(s, "    %v\n", f)
	}
	for _, f := range p.Frames {
		fmt.Fprintf(s, "\n  -- inside the iframe %q: a list here is \"files.frame\": %q, with the locators below as they are; a step's target here is \"frame=%s >> LOCATOR\"\n", f.Selector, f.Selector, f.Selector)
		var inner strings.Builder
		writeProbePage(&inner, 0, ProbePage{Step: "frame", Quiet: true, Page: f.Page})
		for _, line := range strings.Split(strings.TrimLeft(inner.String(), "\n"), "\n") {
			if line != "" {
				s.WriteString("  " + line + "\n")
			}
		}
	}
}

// redactProbe strips query secrets from the URLs in a probe page.
func redactProbe(raw json.RawMessage) json.RawMessage {
	var pg map[string]any
	if json.Unmarshal(raw, &pg) != nil {
		return raw
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "url" || k == "href" || k == "src" || k == "action") {
					x[k] = redactURL(s)
				} else {
					x[k] = walk(e)
				}
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return v
	}
	walk(pg)
	out, err := json.Marshal(pg)
	if err != nil {
		return raw
	}
	return out
}
