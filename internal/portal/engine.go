package portal

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	_ "embed"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/chromedp/cdproto/target"

	"github.com/isaric/seftbot/internal/browser"
	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/usererr"
)

// The engine's words, as the site's workflows use them.
type (
	tab      = browser.Tab
	Sel      = browser.Sel
	Step     = browser.Step
	located  = browser.Located
	download = browser.Download
	stepVars = browser.Vars

	// File is one downloaded file, as the manifest records it.
	File = staging.File
)

// PartialDir is where Chromium writes downloads in progress, inside the
// staging directory (package staging's).
const PartialDir = staging.PartialDir

var (
	errTabDead    = browser.ErrTabDead
	errStepTarget = browser.ErrStepTarget
	redactURL     = browser.RedactURL
	mouseClick    = browser.MouseClick
	asUserGesture = browser.AsUserGesture
)

// browserRun is one Chromium for one run against a site: the engine's
// browser, and what sign-in keeps about the run.
type browserRun struct {
	*browser.Browser
	o *Options

	guard secretGuard // the password guard: see allowSecret

	selOnce sync.Once // the profile's selectors checked in the browser
	selErr  error
}

// siteJS is the portal's in-page ops (state, outcome, listing, rowClick,
// uploadOutcome, ...), which read pages through the profile; the engine
// runs it with page.js as Options.PageScript.
//
//go:embed site.js
var siteJS string

// startBrowser starts the engine for o's site, after checking the portal's
// certificate from Go. downloadDir may be "" for runs that download
// nothing.
func startBrowser(ctx context.Context, o *Options, downloadDir string) (*browserRun, error) {
	pin, err := trustedPins(ctx, o)
	if err != nil {
		return nil, err
	}
	b, err := browser.Start(ctx, browser.Options{
		ChromiumPath: o.ChromiumPath,
		Headful:      o.Headful,
		SlowMo:       o.SlowMo,
		SPKIPin:      pin,
		StepTimeout:  o.StepTimeout,
		DownloadDir:  downloadDir,
		Debug:        o.Debug,
		DebugDir:     o.DebugDir,
		Log:          o.Log,
		PageConfig:   o.Profile.ForPage(),
		PageScript:   siteJS,
		ErrFailure:   ErrPortal,
		ErrScript:    ErrProfile,
	})
	if err != nil {
		return nil, err
	}
	return &browserRun{Browser: b, o: o}, nil
}

// findChromium is the engine's: the browser a run would start.
func findChromium(configured string, headful bool) (string, error) {
	return browser.FindChromium(configured, headful)
}

// ChromiumVersion is the engine's, for `seftbot doctor`.
func ChromiumVersion(ctx context.Context, configured string) (string, error) {
	return browser.ChromiumVersion(ctx, configured)
}

// BrowserProcesses lists the live processes started with a browser profile
// at or under root (the engine's; tests look for leaks with it).
func BrowserProcesses(root string) []int { return browser.Processes(root) }

// DebugBundle returns the debug bundle directory attached to err, or "".
func DebugBundle(err error) string { return browser.DebugBundle(err) }

// navigate loads u in t; a refused certificate is ErrCertificate.
func navigate(t *tab, u string) error { return certError(t.Navigate(u)) }

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

// readState reads what the page in t says about itself.
func readState(t *tab) (pageState, error) {
	var s pageState
	err := t.Eval("state", nil, &s)
	return s, err
}

// pageSaysWait bounds how long a page shown instead of a download is given
// to say what it is. It is a failure path, so waiting costs little, and a
// page read too early sends seftbot back into a dead session.
const pageSaysWait = 5 * time.Second

// pageSays reads a page shown instead of a download once it says what it
// is (expired, signed out, a transient error, ...), or after pageSaysWait.
func pageSays(t *tab) (pageState, error) {
	var v struct {
		State pageState `json:"state"`
	}
	err := t.Await("pageSays", map[string]any{}, min(pageSaysWait, t.Browser().StepTimeout()), &v)
	return v.State, err
}

// popupState reads the state of the page shown in tab id, which a click
// opened instead of starting a download. With --debug the page is kept in a
// bundle of its own, since the tab is closed right after.
func (b *browserRun) popupState(id target.ID) (pageState, error) {
	pt, release, err := b.PopupTab(id)
	if err != nil {
		return pageState{}, err
	}
	defer release()
	st, err := pageSays(pt)
	b.KeepDebug(pt, "new-tab-page", err)
	return st, err
}

// driftWarnings says, for the run's report, which selectors drifted.
func (b *browserRun) driftWarnings() []string {
	var out []string
	for field, used := range b.Drift() {
		out = append(out, fmt.Sprintf("site profile %s: its first selector no longer matches; %q did: update the profile", field, used))
	}
	slices.Sort(out)
	return out
}
