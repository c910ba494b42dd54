// Package browser is the engine: one Chromium (its process, profile and
// tabs), the download hub, locators, steps and page.js, waiting and
// watching. It knows nothing of SEFT, sign-in or files: callers give it
// selectors and steps and get back elements, events and downloads.
package browser

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/usererr"
)

//go:embed page.js
var pageJS string

// chromiumCandidates are tried in order when no path is configured.
var chromiumCandidates = []string{"/usr/bin/chromium", "chromium-browser", "google-chrome"}

// headlessCandidates come first for a headless run. Debian's
// chromium-headless-shell is the same Chromium built without the browser
// UI, whose main thread is what limits downloads in the full browser: 160
// files take half the time. The binary is named, not its /usr/bin wrapper,
// which does not exec and so would outlive a kill of the browser.
var headlessCandidates = []string{"/usr/lib/chromium/chromium-headless-shell", "chrome-headless-shell"}

// FindChromium returns the configured browser, or the first candidate found
// (a headless shell only when no window is wanted).
func FindChromium(configured string, headful bool) (string, error) {
	if configured != "" {
		p, err := exec.LookPath(configured)
		if err != nil {
			return "", usererr.New(fmt.Errorf("chromium %q: %w", configured, err), "check SEFTBOT_CHROMIUM")
		}
		return p, nil
	}
	candidates := chromiumCandidates
	if !headful {
		candidates = append(headlessCandidates[:len(headlessCandidates):len(headlessCandidates)], candidates...)
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", usererr.Errorf("install it: apt-get install chromium chromium-headless-shell (or set SEFTBOT_CHROMIUM)",
		"no Chromium found (tried "+strings.Join(candidates, ", ")+")")
}

// ChromiumVersion finds the browsers a headless run and a --headful run
// would use and asks their versions, for `seftbot doctor`. Only the
// headless one is required.
func ChromiumVersion(ctx context.Context, configured string) (string, error) {
	version := func(headful bool) (string, error) {
		p, err := FindChromium(configured, headful)
		if err != nil {
			return "", err
		}
		cmd := exec.CommandContext(ctx, p, "--version")
		cmd.Env = browserEnv(os.Environ()) // never the secrets given as environment variables
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s --version: %w", p, err)
		}
		return p + ": " + strings.TrimSpace(string(out)), nil
	}
	headless, err := version(false)
	if err != nil {
		return "", err
	}
	headful, err := version(true)
	switch {
	case err != nil:
		return headless + "; --headful: none (" + err.Error() + ")", nil
	case headful == headless:
		return headless, nil
	}
	return headless + "; --headful: " + headful, nil
}

// hasDisplay reports whether a visible window could open.
func hasDisplay() bool { return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != "" }

// ErrBrowser wraps the engine's own failures unless Options.ErrFailure
// names another sentinel; ErrPageScript wraps an error page.js reports
// unless Options.ErrScript does.
var (
	ErrBrowser    = errors.New("browser failure")
	ErrPageScript = errors.New("page script failure")
)

// Options configure one browser. The zero value of each field but Log
// gets a default.
type Options struct {
	ChromiumPath string
	Headful      bool
	SlowMo       time.Duration // pause between steps, so a person can watch
	SPKIPin      string        // Chromium trusts exactly this key besides its own store
	StepTimeout  time.Duration // one page load, one click, one query
	DownloadDir  string        // "" for a browser that downloads nothing

	Debug    bool   // keep a debug bundle for every step
	DebugDir string // where bundles go

	Log *slog.Logger

	// PageConfig is page.js's first argument (JSON-encoded once): the
	// caller's settings, which only PageScript reads.
	PageConfig any

	// PageScript is the caller's own in-page ops: a JavaScript function
	// expression that page.js calls as (PageScript)(E) before each op, in
	// the same evaluation, so it reaches every document, frame and popup
	// page.js does. It registers ops with E.register(name, fn) and uses
	// page.js's helpers in E (E.P is PageConfig); Eval and Await then call
	// them by name. The engine's own op names cannot be taken.
	PageScript string

	// ErrFailure and ErrScript are the sentinels the engine's errors wrap,
	// so a caller's error table keeps working.
	ErrFailure, ErrScript error
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 30 * time.Second
	}
	if o.ErrFailure == nil {
		o.ErrFailure = ErrBrowser
	}
	if o.ErrScript == nil {
		o.ErrScript = ErrPageScript
	}
}

// Browser is one Chromium for one run, shared by every tab.
type Browser struct {
	o           *Options
	allocCancel context.CancelFunc
	root        context.Context // the first tab; the browser lives as long as it
	rootCancel  context.CancelFunc
	hub         *downloadHub
	proc        *browserProc // the browser's process group, ended by close
	closeOnce   sync.Once
	stopWatch   func() bool // unregisters the close-on-cancel of the caller's context

	profileOnce sync.Once // PageConfig, marshalled once
	profileJSON []byte
	profileErr  error

	driftMu sync.Mutex
	drift   map[string]string // profile field -> the alternative that matched instead of the first

	// OnLocate, when set (profile check), sees every target a step looked
	// for, before the step acts on it.
	OnLocate func(t *Tab, field string, target Sel, at Located)
}

// Start launches Chromium with a fresh temporary profile (chromedp
// creates it and removes it when the allocator ends, and kills any leftover
// child that still uses it).
func Start(ctx context.Context, opt Options) (*Browser, error) {
	o := &opt
	o.defaults()
	downloadDir := o.DownloadDir
	execPath, err := FindChromium(o.ChromiumPath, o.Headful)
	if err != nil {
		return nil, err
	}
	if o.Headful && !hasDisplay() {
		return nil, usererr.Errorf("run it under a display, e.g. xvfb-run seftbot ..., or drop --headful",
			"--headful needs a display, but neither DISPLAY nor WAYLAND_DISPLAY is set")
	}
	sweepStaleProfiles(o.Log)
	pin := o.SPKIPin
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		// Every site in a process of its own, as desktop Chrome does:
		// chromium-headless-shell would otherwise keep a frame of another
		// site in the page's process, and a run would take another path
		// through frames than the visible debug browser (frames.go).
		chromedp.Flag("site-per-process", true),
		// The sandbox cannot work as root; everywhere else it stays on.
		chromedp.Flag("no-sandbox", os.Geteuid() == 0),
		chromedp.WindowSize(1280, 1024),
		// Only what a browser needs: a password given to seftbot through
		// the environment must not sit in every renderer's /proc/PID/environ.
		chromedp.NoInheritEnv,
		chromedp.Env(browserEnv(os.Environ())...),
	)
	if pin != "" {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", pin))
	}
	if o.Headful {
		opts = append(opts, chromedp.VisibleWindow)
	}
	proc := &browserProc{}
	var prefsErr error
	opts = append(opts, proc.option(func(cmd *exec.Cmd) { prefsErr = writeBrowserPrefs(cmd.Args) }))
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.WithoutCancel(ctx), opts...)
	b := &Browser{o: o, allocCancel: allocCancel, hub: newDownloadHub(), proc: proc}
	// chromedp's own messages go to the run's logger, not log.Printf.
	logf := func(level slog.Level) func(string, ...any) {
		return func(format string, args ...any) {
			o.Log.Log(context.Background(), level, "chromedp: "+fmt.Sprintf(format, args...))
		}
	}
	b.root, b.rootCancel = chromedp.NewContext(allocCtx,
		chromedp.WithLogf(logf(slog.LevelDebug)), chromedp.WithErrorf(logf(slog.LevelWarn)))
	// Cancelling the caller's context (SIGINT, SIGTERM) ends the browser.
	b.stopWatch = context.AfterFunc(ctx, b.Close)
	ok := false
	defer func() {
		if !ok {
			b.Close()
		}
	}()
	sctx, cancel := context.WithTimeout(b.root, 60*time.Second)
	defer cancel()
	// The first Do binds the browser to b.root, never to the timeout.
	if err := chromedp.Do(b.root); err != nil {
		return nil, fmt.Errorf("%w: start chromium: %w", o.ErrFailure, err)
	}
	if prefsErr != nil {
		return nil, layout.Local(fmt.Errorf("browser profile: %w", prefsErr))
	}
	if err := chromedp.ListenBrowser(b.root, b.hub.handle); err != nil {
		return nil, fmt.Errorf("%w: %w", o.ErrFailure, err)
	}
	if downloadDir != "" {
		if _, err := chromedp.CallBrowser(sctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior:      browser.SetDownloadBehaviorBehaviorAllowAndName, // files named by GUID, never by the server
			DownloadPath:  downloadDir,
			EventsEnabled: new(true),
		}); err != nil {
			return nil, fmt.Errorf("%w: download behaviour: %w", o.ErrFailure, err)
		}
	} else if _, err := chromedp.CallBrowser(sctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorDeny, // a run that only reads (check, dry run) saves nothing
	}); err != nil {
		return nil, fmt.Errorf("%w: download behaviour: %w", o.ErrFailure, err)
	}
	ok = true
	return b, nil
}

// browserPrefs are the browser profile's preferences, written before
// Chromium starts. Its password manager and autofill stay off in every
// run, above all in record and --headful windows an operator uses: no
// offer to save the portal's password in a profile on disk, and no field
// filled by the browser rather than by the steps (which the recorder
// would not see typed).
const browserPrefs = `{
  "credentials_enable_service": false,
  "credentials_enable_autosignin": false,
  "profile": {"password_manager_enabled": false, "password_manager_leak_detection": false},
  "autofill": {"enabled": false, "profile_enabled": false, "credit_card_enabled": false}
}
`

// writeBrowserPrefs writes browserPrefs into the profile directory named
// by the browser's --user-data-dir argument (chromedp's fresh one).
func writeBrowserPrefs(args []string) error {
	for _, a := range args {
		dir, ok := strings.CutPrefix(a, "--user-data-dir=")
		if !ok {
			continue
		}
		def := filepath.Join(dir, "Default")
		if err := os.MkdirAll(def, 0o700); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(def, "Preferences"), []byte(browserPrefs), 0o600)
	}
	return errors.New("no --user-data-dir for the browser's preferences")
}

// Close ends the browser and waits until all its processes are gone (its
// children too, see browserProc) and its profile directory is removed. It
// is safe to call more than once.
func (b *Browser) Close() {
	b.closeOnce.Do(func() {
		if b.stopWatch != nil {
			b.stopWatch()
		}
		b.rootCancel()
		b.allocCancel()
		b.proc.end(b.o.Log)
	})
}

// Context lives as long as the browser.
func (b *Browser) Context() context.Context { return b.root }

// Tab is one browser tab with what a debug bundle needs about it.
type Tab struct {
	b      *Browser
	ctx    context.Context
	cancel context.CancelFunc
	frame  cdp.FrameID // the main frame; Chrome gives it the target's ID
	loads  chan struct{}

	dead     chan struct{} // closed when the renderer crashes
	deadOnce sync.Once
	alive    context.Context // steps run under it; ends when the tab dies
	kill     context.CancelCauseFunc

	// JS dialogs (confirm()): armed is how to answer the next one ("accept"
	// or "dismiss").
	dialogMu sync.Mutex
	armed    string

	mu       sync.Mutex
	console  []string
	requests []string
	reqs     map[network.RequestID]string
	frames   map[cdp.FrameID]*frameCtx // frames ops ran in (frames.go)
	// navOrigins are the origins the tab's pages (and their redirects)
	// came from since TakeNavOrigins was last called.
	navOrigins []string
}

// maxNavOrigins bounds what TakeNavOrigins keeps between two calls.
const maxNavOrigins = 64

// TakeNavOrigins returns the origins the tab's top-level pages, and every
// redirect on the way to them, came from since the last call: a page that
// passed through another site (a single sign-on renewing a session) shows
// it here although the page it ended on is the portal's own.
func (t *Tab) TakeNavOrigins() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.navOrigins
	t.navOrigins = nil
	return o
}

// Origin is scheme://host[:port] of u, or "" for a URL without a host.
func Origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

// NewTab opens a tab; first reuses the browser's first tab.
func (b *Browser) NewTab(first bool) (*Tab, error) {
	t := &Tab{b: b, loads: make(chan struct{}, 16), dead: make(chan struct{}), reqs: map[network.RequestID]string{}}
	if first {
		t.ctx, t.cancel = b.root, func() {}
	} else {
		t.ctx, t.cancel = chromedp.NewContext(b.root)
		// Bounded: a browser that cannot start a renderer would otherwise
		// keep the run waiting for ever.
		opened := make(chan error, 1)
		go func() { opened <- chromedp.Do(t.ctx) }()
		timer := time.NewTimer(b.o.StepTimeout)
		defer timer.Stop()
		select {
		case err := <-opened:
			if err != nil {
				t.cancel()
				return nil, fmt.Errorf("%w: open tab: %w", b.o.ErrFailure, err)
			}
		case <-timer.C:
			t.cancel()
			return nil, fmt.Errorf("%w: open tab: the browser did not open it within %s", b.o.ErrFailure, b.o.StepTimeout)
		}
	}
	t.frame = cdp.FrameID(chromedp.FromContext(t.ctx).Target.TargetID)
	t.alive, t.kill = context.WithCancelCause(t.ctx)
	if err := chromedp.Listen(t.ctx, t.handle); err != nil {
		t.cancel()
		return nil, fmt.Errorf("%w: %w", b.o.ErrFailure, err)
	}
	return t, nil
}

const maxLogLines = 300

// handle runs in the tab's message loop: it only records and signals.
func (t *Tab) handle(ev any) {
	switch e := ev.(type) {
	case *page.EventLoadEventFired:
		select {
		case t.loads <- struct{}{}:
		default:
		}
	case *page.EventJavascriptDialogOpening:
		t.dialogMu.Lock()
		how := t.armed
		t.armed = ""
		t.dialogMu.Unlock()
		if how == "" {
			t.b.o.Log.Warn("dismissing a dialog the profile did not ask for", "type", string(e.Type))
		}
		// Answered from outside the message loop, which must not block.
		go chromedp.Do(t.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: how == "accept"})
			return err
		}))
	case *inspector.EventTargetCrashed:
		t.deadOnce.Do(func() { close(t.dead) })
		t.kill(ErrTabDead)
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range e.Args {
			if a.Value != nil {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		t.record(&t.console, fmt.Sprintf("%s %s", e.Type, strings.Join(parts, " ")))
	case *runtime.EventExceptionThrown:
		t.record(&t.console, "exception "+e.ExceptionDetails.Text)
	case *network.EventRequestWillBeSent:
		t.mu.Lock()
		t.reqs[e.RequestID] = e.Request.Method + " " + RedactURL(e.Request.URL)
		if e.Type == network.ResourceTypeDocument && e.FrameID == t.frame && len(t.navOrigins) < maxNavOrigins {
			t.navOrigins = append(t.navOrigins, Origin(e.Request.URL))
		}
		t.mu.Unlock()
	case *network.EventResponseReceived:
		t.mu.Lock()
		line := t.reqs[e.RequestID]
		delete(t.reqs, e.RequestID)
		t.mu.Unlock()
		if line == "" {
			line = "? " + RedactURL(e.Response.URL)
		}
		line = fmt.Sprintf("%s %s %d", time.Now().UTC().Format("15:04:05.000"), line, e.Response.Status)
		for k, v := range e.Response.Headers {
			if strings.EqualFold(k, "content-disposition") {
				line += " content-disposition=" + logName(fmt.Sprint(v))
			}
		}
		t.record(&t.requests, line)
	}
}

func (t *Tab) record(buf *[]string, line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(*buf) >= maxLogLines {
		*buf = (*buf)[1:]
	}
	*buf = append(*buf, line)
}

// IsDead reports whether the tab crashed or was closed under us, so the
// caller replaces it rather than retrying in it.
func (t *Tab) IsDead() bool {
	select {
	case <-t.dead:
		return true
	default:
	}
	ch, err := chromedp.Detached(t.ctx)
	if err != nil {
		return true
	}
	select {
	case <-ch:
		return true
	default:
		return t.ctx.Err() != nil
	}
}

// Close closes the tab (the browser's first tab stays open).
func (t *Tab) Close() {
	t.closeFrames()
	t.kill(nil)
	if t.ctx != t.b.root {
		t.cancel()
	}
}

// RedactURL drops the fragment and every query value that is not a short
// number (page=2 stays; tokens and session ids do not).
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "[unparsable URL]"
	}
	u.Fragment, u.User = "", nil
	q := u.Query()
	for k, vs := range q {
		for i, v := range vs {
			if len(v) > 6 || strings.Trim(v, "0123456789") != "" {
				vs[i] = "REDACTED"
			}
		}
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Step runs actions with the per-step timeout, after the slow-mo pause.
func (t *Tab) Step(actions ...chromedp.Action[chromedp.Void]) error {
	if err := t.Pause(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(t.alive, t.b.o.StepTimeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// Pause waits the slow-mo pause, if any.
func (t *Tab) Pause() error {
	if d := t.b.o.SlowMo; d > 0 {
		select {
		case <-time.After(d):
		case <-t.ctx.Done():
			return t.ctx.Err()
		}
	}
	return nil
}

// Eval runs one op of page.js (its own or one PageScript registered) and decodes its result.
func (t *Tab) Eval(op string, args any, out any, opts ...chromedp.EvaluateOption) error {
	raw, err := t.EvalRaw(op, args, t.b.o.StepTimeout, opts...)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// EvalRaw runs one op of page.js within timeout and returns its JSON.
func (t *Tab) EvalRaw(op string, args any, timeout time.Duration, opts ...chromedp.EvaluateOption) ([]byte, error) {
	expr, err := t.Expr(op, args)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(t.alive, timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, opts...))
}

// Expr is the JavaScript expression that runs one op of page.js, with
// the caller's PageScript.
func (t *Tab) Expr(op string, args any) (string, error) {
	t.b.profileOnce.Do(func() { t.b.profileJSON, t.b.profileErr = json.Marshal(t.b.o.PageConfig) })
	if t.b.profileErr != nil {
		return "", t.b.profileErr
	}
	p := t.b.profileJSON
	a, err := json.Marshal(args)
	if err != nil {
		return "", err
	}
	opj, _ := json.Marshal(op)
	caller := "undefined"
	if c := strings.TrimSpace(t.b.o.PageScript); c != "" {
		caller = c
	}
	return fmt.Sprintf("%s(%s, %s, %s, %s)", strings.TrimSpace(pageJS), p, opj, a, caller), nil
}

// DrainLoads forgets load events seen so far, before an action whose own
// load event we want.
func (t *Tab) DrainLoads() {
	for {
		select {
		case <-t.loads:
		default:
			return
		}
	}
}

// WaitLoad waits for the next page load, up to the step timeout.
func (t *Tab) WaitLoad() error {
	timer := time.NewTimer(t.b.o.StepTimeout)
	defer timer.Stop()
	select {
	case <-t.loads:
		return nil
	case <-timer.C:
		return fmt.Errorf("no page load within %s", t.b.o.StepTimeout)
	case <-t.dead:
		return ErrTabDead
	case <-t.ctx.Done():
		return t.ctx.Err()
	}
}

// MouseClick clicks, with real mouse events, where Locate found a target.
func MouseClick(at Located) chromedp.Action[chromedp.Void] { return chromedp.MouseClickXY(at.X, at.Y) }

// AsUserGesture makes an evaluation count as initiated by the user, as a
// mouse click would, so the browser treats what it starts (a download) the
// same way.
func AsUserGesture(p *runtime.EvaluateParams) { p.UserGesture = new(true) }

// ErrTabDead means the tab's renderer crashed or the tab went away.
var ErrTabDead = errors.New("browser tab crashed")

// Navigate loads u in the tab.
func (t *Tab) Navigate(u string) error {
	return t.Step(chromedp.Navigate(u))
}

// Ctx is the tab's context; it ends when the tab is closed.
func (t *Tab) Ctx() context.Context { return t.ctx }

// Loads receives a value when a page in the tab has loaded.
func (t *Tab) Loads() <-chan struct{} { return t.loads }

// Dead is closed when the tab's renderer crashes.
func (t *Tab) Dead() <-chan struct{} { return t.dead }

// Alive is the context steps run under; it ends when the tab dies.
func (t *Tab) Alive() context.Context { return t.alive }

// Frame is the tab's main frame.
func (t *Tab) Frame() cdp.FrameID { return t.frame }

// Browser is the browser the tab belongs to.
func (t *Tab) Browser() *Browser { return t.b }

// StepTimeout is the browser's per-step timeout.
func (b *Browser) StepTimeout() time.Duration { return b.o.StepTimeout }

// browserEnvKeys are the only environment variables Chromium is given.
var browserEnvKeys = map[string]bool{
	"PATH": true, "HOME": true, "TMPDIR": true, "TZ": true, "LANG": true, "LANGUAGE": true,
	"DISPLAY": true, "WAYLAND_DISPLAY": true, "XAUTHORITY": true, "XDG_RUNTIME_DIR": true,
	"XDG_CONFIG_HOME": true, "XDG_CACHE_HOME": true, "FONTCONFIG_FILE": true, "FONTCONFIG_PATH": true,
	"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true, "ALL_PROXY": true,
	"http_proxy": true, "https_proxy": true, "no_proxy": true, "all_proxy": true,
}

// browserEnv keeps the entries of env that Chromium needs (and the LC_*
// locale settings), nothing else.
func browserEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if browserEnvKeys[k] || strings.HasPrefix(k, "LC_") {
			out = append(out, kv)
		}
	}
	return out
}

// logName is how a server-supplied name appears in logs: quoted, with every
// control or non-ASCII character escaped, and cut short.
func logName(s string) string {
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return strconv.QuoteToASCII(s)
}
