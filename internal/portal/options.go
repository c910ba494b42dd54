package portal

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/usererr"
)

// DefaultConcurrency is the number of tabs that download at once. Measured on
// 2 cores with chromium-headless-shell, 160 x 1 MB (scripts/bench-download.sh):
// against seftsim on loopback, 1 to 3 tabs all take 4.4-4.7 s (4 tabs 5.2 s:
// more renderers compete for two cores); with 50 ms of latency per response,
// as from a distant portal, 1 tab takes 12.8 s, 2 tabs 7.7 s, 3 tabs 5.9 s,
// 4 tabs 5.7 s. Three overlap the waiting without costing anything nearby.
// (SEFTBOT_CONCURRENCY's default in config says the same.)
const DefaultConcurrency = 3

// Options configure one run against one site.
type Options struct {
	Site                string // "download" or "upload"
	URL, User, Password string
	Profile             *Profile

	ChromiumPath string
	Headful      bool
	SlowMo       time.Duration // pause between steps, so a person can watch

	SPKIPin string // Chromium trusts exactly this key (base64 SHA-256 of the SPKI)
	CAFile  string // the pin is derived from a chain that verifies against this CA

	Concurrency int

	StagingDir, StateDir string // manifest at StateDir/manifest.json
	All                  bool   // fetch everything again, ignoring the manifest
	// Keeper is what Download and List ask what is had and hand each
	// completed file to; nil is staging's manifest in StateDir over
	// StagingDir, so callers need not set it.
	Keeper Keeper

	// CheckOne makes a profile check (Check) also download the first
	// listed file, into a private directory it wipes afterwards.
	CheckOne bool

	Debug    bool   // keep a debug bundle for every step
	DebugDir string // where bundles go; "" = StateDir/debug

	Log *slog.Logger
	// Progress hears done of total files fetched, bytes in all. The total
	// comes from the listing: while later pages are still to be read it is
	// negative, -(files known so far), so a meter never shows 100% early.
	Progress func(done, total int, bytes int64)

	// Timeouts; zero values get sensible defaults.
	StepTimeout  time.Duration // one page load, one click, one query
	StallTimeout time.Duration // a download that makes no progress this long is retried
	Retries      int           // attempts per file and per page before giving up
	MaxRelogins  int           // re-logins after session expiry, per run

	// afterClick, set by a test, runs after every download click (a seam,
	// not a global: runs in parallel do not see each other's).
	afterClick func(*tab)
}

// OptionsFromSource reads the settings of one site. Missing settings are
// reported together, as one user error naming every key.
func OptionsFromSource(src *config.Source, site string) (Options, error) {
	var prefix string
	switch site {
	case SiteDownload:
		prefix = "SEFTBOT_DOWNLOAD_"
	case SiteUpload:
		prefix = "SEFTBOT_UPLOAD_"
	default:
		return Options{}, usererr.Errorf("use --site download or --site upload", fmt.Sprintf("unknown site %q", site))
	}
	// The state dir holds the login latch of both sites, and the manifest.
	keys := []string{prefix + "URL", prefix + "USER", prefix + "PASSWORD", "SEFTBOT_STATE_DIR"}
	if err := src.Require(keys...); err != nil {
		return Options{}, err
	}
	pw, err := src.Secret(prefix + "PASSWORD")
	if err != nil {
		return Options{}, err
	}
	o := Options{
		Site:         site,
		URL:          src.Get(prefix + "URL"),
		User:         src.Get(prefix + "USER"),
		Password:     pw,
		ChromiumPath: src.Get("SEFTBOT_CHROMIUM"),
		SPKIPin:      src.Get("SEFTBOT_PORTAL_SPKI_PIN"),
		CAFile:       src.Get("SEFTBOT_PORTAL_CA_FILE"),
		StateDir:     src.Get("SEFTBOT_STATE_DIR"),
		StagingDir:   src.Get("SEFTBOT_STAGING_DIR"),
	}
	if p := ProfileSetting(src, site); p != "" {
		if o.Profile, err = LoadProfile(p, site); err != nil {
			return Options{}, err
		}
	}
	if c := src.Get("SEFTBOT_CONCURRENCY"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 || n > 16 {
			return Options{}, usererr.Errorf("set SEFTBOT_CONCURRENCY to a number from 1 to 16",
				fmt.Sprintf("bad SEFTBOT_CONCURRENCY %q", c))
		}
		o.Concurrency = n
	}
	if o.StagingDir == "" && o.StateDir != "" {
		o.StagingDir = DefaultStagingDir(o.StateDir)
	}
	return o, nil
}

// ProfileSetting is the profile file for site: SEFTBOT_DOWNLOAD_PROFILE or
// SEFTBOT_UPLOAD_PROFILE, else SEFTBOT_PROFILE (both sites), else "" for
// the built-in profile. The two sites are separate systems and may differ.
func ProfileSetting(src *config.Source, site string) string {
	if p := src.Get("SEFTBOT_" + strings.ToUpper(site) + "_PROFILE"); p != "" {
		return p
	}
	return src.Get("SEFTBOT_PROFILE")
}

// DefaultStagingDir is layout.DefaultStagingDir: the download verb and the
// nightly job share one staging.
func DefaultStagingDir(stateDir string) string { return layout.DefaultStagingDir(stateDir) }

// normalise fills defaults and checks what a run cannot do without.
func (o *Options) normalise() error {
	if o.Profile == nil {
		o.Profile = DefaultProfile()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Concurrency < 1 {
		o.Concurrency = DefaultConcurrency
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 30 * time.Second
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = 30 * time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 6
	}
	if o.MaxRelogins <= 0 {
		o.MaxRelogins = 3
	}
	var missing []string
	if o.URL == "" {
		missing = append(missing, "URL")
	}
	if o.User == "" {
		missing = append(missing, "user")
	}
	if o.Password == "" {
		missing = append(missing, "password")
	}
	if len(missing) > 0 {
		return usererr.Errorf("see README, Configuration", "portal: missing "+strings.Join(missing, ", ")+" for the "+o.Site+" site")
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return usererr.Errorf("the site URL looks like https://host/download/", fmt.Sprintf("portal: bad %s URL %q", o.Site, o.URL))
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return usererr.Errorf("use the portal's https:// address", fmt.Sprintf("portal: the %s URL %s is plain http to another host: passwords and patient data would cross the network in clear text", o.Site, o.URL))
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/" // relative profile paths resolve inside the site
	}
	o.URL = u.String()
	if o.DebugDir == "" && o.StateDir != "" {
		o.DebugDir = layout.State{Dir: o.StateDir}.Debug()
	}
	if o.DebugDir == "" {
		o.DebugDir = filepath.Join(os.TempDir(), fmt.Sprintf("seftbot-debug-%d", os.Geteuid()))
	}
	return nil
}

// siteURL resolves a profile path against the site URL.
func (o *Options) siteURL(rel string) string {
	base, _ := url.Parse(o.URL)
	r, err := url.Parse(rel)
	if err != nil {
		return o.URL
	}
	return base.ResolveReference(r).String()
}

// isLoopback reports whether host is this machine (plain http is allowed
// only there, for seftsim --http).
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var errNoStaging = errors.New("portal: no staging directory (set SEFTBOT_STAGING_DIR or SEFTBOT_STATE_DIR)")
