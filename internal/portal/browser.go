package portal

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
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

	"github.com/isaric/seftbot/internal/config"
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

// findChromium returns the configured browser, or the first candidate found
// (a headless shell only when no window is wanted).
func findChromium(configured string, headful bool) (string, error) {
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
		p, err := findChromium(configured, headful)
		if err != nil {
			return "", err
		}
		out, err := exec.CommandContext(ctx, p, "--version").Output()
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

// trustedPins checks the portal's certificate from Go before Chromium sees it,
// and returns the SPKI pin Chromium must trust. With a pin, the live leaf must
// carry that key; with a CA file, the chain must verify against it (the pin is
// then derived from the verified leaf). With neither, Chromium's own trust
// store decides and no pin is passed.
func trustedPins(ctx context.Context, o *Options) (string, error) {
	u, _ := url.Parse(o.URL)
	if u.Scheme != "https" || (o.SPKIPin == "" && o.CAFile == "") {
		return o.SPKIPin, nil
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "443")
	}
	cfg := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pool, err := config.CertPool("SEFTBOT_PORTAL_CA_FILE", o.CAFile)
		if err != nil {
			return "", err
		}
		cfg.RootCAs = pool
	} else {
		// Only the pin vouches for the server; it is checked below.
		cfg.InsecureSkipVerify = true
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := (&tls.Dialer{Config: cfg}).DialContext(dctx, "tcp", host)
	if err != nil {
		return "", certError(fmt.Errorf("%w: TLS check of %s: %w", ErrPortal, host, err))
	}
	defer conn.Close()
	leaf := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	live := base64.StdEncoding.EncodeToString(sum[:])
	if o.SPKIPin != "" && o.SPKIPin != live {
		return "", usererr.New(fmt.Errorf("%w: its key does not match SEFTBOT_PORTAL_SPKI_PIN (got %s)", ErrCertificate, live),
			"ask NHS England whether the portal's certificate changed; once confirmed, set SEFTBOT_PORTAL_SPKI_PIN to the new pin, or remove it to rely on SEFTBOT_PORTAL_CA_FILE")
	}
	return live, nil
}

// browserRun is one Chromium for one run, shared by every tab.
type browserRun struct {
	o           *Options
	allocCancel context.CancelFunc
	root        context.Context // the first tab; the browser lives as long as it
	rootCancel  context.CancelFunc
	hub         *downloadHub
	proc        *browserProc // the browser's process group, ended by close
	closeOnce   sync.Once
	stopWatch   func() bool // unregisters the close-on-cancel of the caller's context

	// The password guard: see allowSecret.
	secretMu                    sync.Mutex
	secretSent, secretMayResend bool
	secretSends                 int

	profileOnce sync.Once // the profile as page.js reads it, marshalled once
	profileJSON []byte
	profileErr  error

	selOnce sync.Once // the profile's selectors checked in the browser
	selErr  error

	driftMu sync.Mutex
	drift   map[string]string // profile field -> the alternative that matched instead of the first

	// onLocate, when set (profile check), sees every target a step looked
	// for, before the step acts on it.
	onLocate func(t *tab, field string, target Sel, at located)
}

// startBrowser launches Chromium with a fresh temporary profile (chromedp
// creates it and removes it when the allocator ends, and kills any leftover
// child that still uses it). downloadDir may be "" for runs that download
// nothing.
func startBrowser(ctx context.Context, o *Options, downloadDir string) (*browserRun, error) {
	execPath, err := findChromium(o.ChromiumPath, o.Headful)
	if err != nil {
		return nil, err
	}
	if o.Headful && !hasDisplay() {
		return nil, usererr.Errorf("run it under a display, e.g. xvfb-run seftbot ..., or drop --headful",
			"--headful needs a display, but neither DISPLAY nor WAYLAND_DISPLAY is set")
	}
	sweepStaleProfiles(o.Log)
	pin, err := trustedPins(ctx, o)
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
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
	b := &browserRun{o: o, allocCancel: allocCancel, hub: newDownloadHub(), proc: proc}
	// chromedp's own messages go to the run's logger, not log.Printf.
	logf := func(level slog.Level) func(string, ...any) {
		return func(format string, args ...any) {
			o.Log.Log(context.Background(), level, "chromedp: "+fmt.Sprintf(format, args...))
		}
	}
	b.root, b.rootCancel = chromedp.NewContext(allocCtx,
		chromedp.WithLogf(logf(slog.LevelDebug)), chromedp.WithErrorf(logf(slog.LevelWarn)))
	// Cancelling the caller's context (SIGINT, SIGTERM) ends the browser.
	b.stopWatch = context.AfterFunc(ctx, b.close)
	ok := false
	defer func() {
		if !ok {
			b.close()
		}
	}()
	sctx, cancel := context.WithTimeout(b.root, 60*time.Second)
	defer cancel()
	// The first Do binds the browser to b.root, never to the timeout.
	if err := chromedp.Do(b.root); err != nil {
		return nil, fmt.Errorf("%w: start chromium: %w", ErrPortal, err)
	}
	if prefsErr != nil {
		return nil, fmt.Errorf("%w: browser profile: %w", ErrLocal, prefsErr)
	}
	if err := chromedp.ListenBrowser(b.root, b.hub.handle); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPortal, err)
	}
	if downloadDir != "" {
		if _, err := chromedp.CallBrowser(sctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior:      browser.SetDownloadBehaviorBehaviorAllowAndName, // files named by GUID, never by the server
			DownloadPath:  downloadDir,
			EventsEnabled: new(true),
		}); err != nil {
			return nil, fmt.Errorf("%w: download behaviour: %w", ErrPortal, err)
		}
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

// close ends the browser and waits until all its processes are gone (its
// children too, see browserProc) and its profile directory is removed. It
// is safe to call more than once.
func (b *browserRun) close() {
	b.closeOnce.Do(func() {
		if b.stopWatch != nil {
			b.stopWatch()
		}
		b.rootCancel()
		b.allocCancel()
		b.proc.end(b.o.Log)
	})
}

// tab is one browser tab with what a debug bundle needs about it.
type tab struct {
	b      *browserRun
	ctx    context.Context
	cancel context.CancelFunc
	frame  cdp.FrameID // the main frame; Chrome gives it the target's ID
	loads  chan struct{}

	shown *shown // the part of the listing on screen, if known (used by one goroutine at a time)

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
}

// newTab opens a tab; first reuses the browser's first tab.
func (b *browserRun) newTab(first bool) (*tab, error) {
	t := &tab{b: b, loads: make(chan struct{}, 16), dead: make(chan struct{}), reqs: map[network.RequestID]string{}}
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
				return nil, fmt.Errorf("%w: open tab: %w", ErrPortal, err)
			}
		case <-timer.C:
			t.cancel()
			return nil, fmt.Errorf("%w: open tab: the browser did not open it within %s", ErrPortal, b.o.StepTimeout)
		}
	}
	t.frame = cdp.FrameID(chromedp.FromContext(t.ctx).Target.TargetID)
	t.alive, t.kill = context.WithCancelCause(t.ctx)
	if err := chromedp.Listen(t.ctx, t.handle); err != nil {
		t.cancel()
		return nil, fmt.Errorf("%w: %w", ErrPortal, err)
	}
	return t, nil
}

const maxLogLines = 300

// handle runs in the tab's message loop: it only records and signals.
func (t *tab) handle(ev any) {
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
		t.kill(errTabDead)
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
		t.reqs[e.RequestID] = e.Request.Method + " " + redactURL(e.Request.URL)
		t.mu.Unlock()
	case *network.EventResponseReceived:
		t.mu.Lock()
		line := t.reqs[e.RequestID]
		delete(t.reqs, e.RequestID)
		t.mu.Unlock()
		if line == "" {
			line = "? " + redactURL(e.Response.URL)
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

func (t *tab) record(buf *[]string, line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(*buf) >= maxLogLines {
		*buf = (*buf)[1:]
	}
	*buf = append(*buf, line)
}

// isDead reports whether the tab crashed or was closed under us, so the
// caller replaces it rather than retrying in it.
func (t *tab) isDead() bool {
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

func (t *tab) close() {
	t.kill(nil)
	if t.ctx != t.b.root {
		t.cancel()
	}
}

// redactURL drops the fragment and every query value that is not a short
// number (page=2 stays; tokens and session ids do not).
func redactURL(s string) string {
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

// step runs actions with the per-step timeout, after the slow-mo pause.
func (t *tab) step(actions ...chromedp.Action[chromedp.Void]) error {
	if err := t.pause(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(t.alive, t.b.o.StepTimeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

func (t *tab) pause() error {
	if d := t.b.o.SlowMo; d > 0 {
		select {
		case <-time.After(d):
		case <-t.ctx.Done():
			return t.ctx.Err()
		}
	}
	return nil
}

// eval runs one op of page.js with the profile and decodes its result.
func (t *tab) eval(op string, args any, out any, opts ...chromedp.EvaluateOption) error {
	raw, err := t.evalRaw(op, args, t.b.o.StepTimeout, opts...)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// evalRaw runs one op of page.js within timeout and returns its JSON.
func (t *tab) evalRaw(op string, args any, timeout time.Duration, opts ...chromedp.EvaluateOption) ([]byte, error) {
	expr, err := t.expr(op, args)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(t.alive, timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, opts...))
}

func (t *tab) expr(op string, args any) (string, error) {
	t.b.profileOnce.Do(func() { t.b.profileJSON, t.b.profileErr = json.Marshal(t.b.o.Profile.forPage()) })
	if t.b.profileErr != nil {
		return "", t.b.profileErr
	}
	p := t.b.profileJSON
	a, err := json.Marshal(args)
	if err != nil {
		return "", err
	}
	opj, _ := json.Marshal(op)
	return fmt.Sprintf("%s(%s, %s, %s)", strings.TrimSpace(pageJS), p, opj, a), nil
}

// pageState is what a page says about itself, read through the profile.
type pageState struct {
	URL          string `json:"url"`
	SignedIn     bool   `json:"signedIn"`
	LoginForm    bool   `json:"loginForm"`
	Refused      string `json:"refused"`
	Locked       string `json:"locked"`
	PwExpired    string `json:"passwordExpired"`
	Expired      bool   `json:"expired"`
	Interstitial bool   `json:"interstitial"`
	Transient    string `json:"transient"`
	LinkExpired  string `json:"linkExpired"`
	Empty        string `json:"empty"`
}

func (t *tab) state() (pageState, error) {
	var s pageState
	err := t.eval("state", nil, &s)
	return s, err
}

// pageSaysWait bounds how long a page shown instead of a download is given
// to say what it is. It is a failure path, so waiting costs little, and a
// page read too early sends seftbot back into a dead session.
const pageSaysWait = 5 * time.Second

// pageSays reads a page shown instead of a download once it says what it
// is (expired, signed out, a transient error, ...), or after pageSaysWait.
func (t *tab) pageSays() (pageState, error) {
	var v struct {
		State pageState `json:"state"`
	}
	err := t.await("pageSays", map[string]any{}, min(pageSaysWait, t.b.o.StepTimeout), &v)
	return v.State, err
}

// drainLoads forgets load events seen so far, before an action whose own
// load event we want.
func (t *tab) drainLoads() {
	for {
		select {
		case <-t.loads:
		default:
			return
		}
	}
}

func (t *tab) waitLoad() error {
	timer := time.NewTimer(t.b.o.StepTimeout)
	defer timer.Stop()
	select {
	case <-t.loads:
		return nil
	case <-timer.C:
		return fmt.Errorf("no page load within %s", t.b.o.StepTimeout)
	case <-t.dead:
		return errTabDead
	case <-t.ctx.Done():
		return t.ctx.Err()
	}
}

// mouseClick clicks, with real mouse events, where locate found a target.
func mouseClick(at located) chromedp.Action[chromedp.Void] { return chromedp.MouseClickXY(at.X, at.Y) }

// asUserGesture makes an evaluation count as initiated by the user, as a
// mouse click would, so the browser treats what it starts (a download) the
// same way.
func asUserGesture(p *runtime.EvaluateParams) { p.UserGesture = new(true) }

// errNotFound means a profile selector matched nothing on the page.
var errNotFound = errors.New("element not found")

func (t *tab) navigate(u string) error {
	return certError(t.step(chromedp.Navigate(u)))
}

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
