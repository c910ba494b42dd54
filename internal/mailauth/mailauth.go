// Package mailauth gets the OAuth 2.0 access tokens that NHSmail (Exchange
// Online) wants for SMTP and IMAP once Basic authentication is retired, and
// hands them to the SASL XOAUTH2 mechanism. Two grants: client credentials
// (an app registration's secret) and a delegated sign-in made once with the
// device-code flow (`seftbot mail login`), whose refresh token is cached 0600
// in the state directory and used, and rotated, from then on. Tokens are
// never logged, printed or put in an error.
package mailauth

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/isaric/seftbot/internal/atomicfile"
	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// ErrToken means no access token could be had: the token endpoint refused
// or could not be reached, or no sign-in is cached. The CLI gives it its own
// exit code.
var ErrToken = errors.New("OAuth 2.0 token endpoint could not be used")

// Flows, as SEFTBOT_OAUTH_FLOW spells them.
const (
	FlowClientCredentials = "client-credentials"
	FlowDevice            = "device"
)

// Exchange Online's scopes: an app-only token asks for .default; a user's
// token names the two permissions seftbot uses, and offline_access for a
// refresh token.
const (
	DefaultAppScope  = "https://outlook.office365.com/.default"
	DefaultUserScope = "https://outlook.office365.com/SMTP.Send https://outlook.office365.com/IMAP.AccessAsUser.All offline_access"
)

// Config is how to get tokens.
type Config struct {
	Flow         string
	TokenURL     string
	DeviceURL    string // device authorization endpoint (device flow)
	ClientID     string
	ClientSecret string // never printed; optional for the device flow
	// CertFile and KeyFile, instead of a secret: the app registration's
	// certificate credential (client credentials only).
	CertFile, KeyFile string
	Scopes            []string
	CAFile            string // extra CA certificates trusted for the endpoints
	CacheFile         string // the delegated sign-in, 0600 (device flow)

	// cacheFault, set by tests only, fails a cache write as a full or
	// read-only disk (or a kill) would.
	cacheFault func() error
}

// String describes the configuration without the secret.
func (c Config) String() string {
	return fmt.Sprintf("oauth2 %s client %s at %s", c.Flow, c.ClientID, c.TokenURL)
}

// LogValue keeps the secret out of structured logs.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// FromSource reads the SEFTBOT_OAUTH_* settings.
func FromSource(src *config.Source) (Config, error) {
	c := Config{
		Flow:      src.Get("SEFTBOT_OAUTH_FLOW"),
		TokenURL:  src.Get("SEFTBOT_OAUTH_TOKEN_URL"),
		DeviceURL: src.Get("SEFTBOT_OAUTH_DEVICE_URL"),
		ClientID:  src.Get("SEFTBOT_OAUTH_CLIENT_ID"),
		CAFile:    src.Get("SEFTBOT_OAUTH_CA_FILE"),
		CacheFile: layout.State{Dir: src.Get("SEFTBOT_STATE_DIR")}.TokenCache(),
	}
	keys := []string{"SEFTBOT_OAUTH_TOKEN_URL", "SEFTBOT_OAUTH_CLIENT_ID"}
	scope := DefaultAppScope
	switch c.Flow {
	case FlowClientCredentials:
		c.CertFile, c.KeyFile = src.Get("SEFTBOT_OAUTH_CLIENT_CERT_FILE"), src.Get("SEFTBOT_OAUTH_CLIENT_KEY_FILE")
		if c.CertFile == "" && c.KeyFile == "" {
			keys = append(keys, "SEFTBOT_OAUTH_CLIENT_SECRET")
		} else {
			keys = append(keys, "SEFTBOT_OAUTH_CLIENT_CERT_FILE", "SEFTBOT_OAUTH_CLIENT_KEY_FILE")
			if _, err := loadClientCert(c.CertFile, c.KeyFile); err != nil {
				return c, err
			}
		}
	case FlowDevice:
		keys = append(keys, "SEFTBOT_OAUTH_DEVICE_URL", "SEFTBOT_STATE_DIR")
		scope = DefaultUserScope
	default:
		return c, usererr.Errorf("set SEFTBOT_OAUTH_FLOW to client-credentials (an app registration's secret) or device (a user's sign-in, made with seftbot mail login)",
			fmt.Sprintf("unknown SEFTBOT_OAUTH_FLOW %q", c.Flow))
	}
	if err := src.Require(keys...); err != nil {
		return c, err
	}
	var err error
	if c.ClientSecret, err = src.Secret("SEFTBOT_OAUTH_CLIENT_SECRET"); err != nil {
		return c, err
	}
	if s := src.Get("SEFTBOT_OAUTH_SCOPE"); s != "" {
		scope = s
	}
	c.Scopes = strings.Fields(scope)
	for _, k := range []string{"SEFTBOT_OAUTH_TOKEN_URL", "SEFTBOT_OAUTH_DEVICE_URL"} {
		if v := src.Get(k); v != "" {
			if u, err := url.Parse(v); err != nil || u.Scheme != "https" || u.Host == "" {
				return c, usererr.Errorf("tokens only travel over https: give the endpoint's https:// URL",
					fmt.Sprintf("%s %q is not an https URL", k, v))
			}
		}
	}
	if _, err := c.httpClient(); err != nil {
		return c, err
	}
	return c, nil
}

// httpClient trusts the system roots plus CAFile; verification is never off.
func (c Config) httpClient() (*http.Client, error) {
	pool, err := config.CertPool("SEFTBOT_OAUTH_CA_FILE", c.CAFile)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

func (c Config) oauth2() *oauth2.Config {
	return &oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: c.Scopes,
		Endpoint: oauth2.Endpoint{TokenURL: c.TokenURL, DeviceAuthURL: c.DeviceURL, AuthStyle: oauth2.AuthStyleInParams}}
}

func (c Config) ctx(ctx context.Context) (context.Context, error) {
	hc, err := c.httpClient()
	if err != nil {
		return nil, err
	}
	return context.WithValue(ctx, oauth2.HTTPClient, hc), nil
}

// Source hands out access tokens, getting a new one shortly before the
// current one expires. It is safe for concurrent use.
type Source struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	tok     *oauth2.Token
	renewAt time.Time
	got     int // tokens obtained, for the log
}

var (
	sharedMu sync.Mutex
	shared   = map[string]*Source{}
)

// For returns the process's one Source for cfg, so SMTP and IMAP in one run
// share a token and refresh it once.
func For(cfg Config, log *slog.Logger) *Source {
	key := strings.Join([]string{cfg.Flow, cfg.TokenURL, cfg.DeviceURL, cfg.ClientID, cfg.ClientSecret, cfg.CertFile, cfg.KeyFile,
		strings.Join(cfg.Scopes, " "), cfg.CAFile, cfg.CacheFile}, "\x00")
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if s := shared[key]; s != nil {
		return s
	}
	s := New(cfg, log, nil)
	shared[key] = s
	return s
}

// New makes a Source; now may be nil (time.Now). Tests move now to expire a
// token without waiting.
func New(cfg Config, log *slog.Logger, now func() time.Time) *Source {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Source{cfg: cfg, log: log, now: now}
}

// renewal is when a token obtained at t should be replaced: a tenth of its
// life, at most 30 s, before it expires, so no server sees it expire mid-use.
func renewal(t time.Time, tok *oauth2.Token) time.Time {
	if tok.Expiry.IsZero() {
		return t.Add(time.Hour)
	}
	margin := min(tok.Expiry.Sub(t)/10, 30*time.Second)
	return tok.Expiry.Add(-margin)
}

// Token returns a live access token, getting a new one when needed. Every
// error wraps ErrToken.
func (s *Source) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.tok != nil && now.Before(s.renewAt) {
		return s.tok.AccessToken, nil
	}
	refresh := s.tok != nil
	var err error
	switch s.cfg.Flow {
	case FlowClientCredentials:
		err = s.clientCredentials(ctx, now)
	case FlowDevice:
		err = s.delegated(ctx, now)
	default:
		err = usererr.Errorf("set SEFTBOT_OAUTH_FLOW", "no OAuth flow configured")
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrToken, err)
	}
	s.got++
	s.log.Info("oauth access token obtained", "flow", s.cfg.Flow, "replaces_expired", refresh,
		"expires", s.tok.Expiry.UTC().Format(time.RFC3339)) // never the token itself
	return s.tok.AccessToken, nil
}

func (s *Source) clientCredentials(ctx context.Context, now time.Time) error {
	ctx, err := s.cfg.ctx(ctx)
	if err != nil {
		return err
	}
	cc := clientcredentials.Config{ClientID: s.cfg.ClientID, ClientSecret: s.cfg.ClientSecret, TokenURL: s.cfg.TokenURL,
		Scopes: s.cfg.Scopes, AuthStyle: oauth2.AuthStyleInParams}
	hint := "check SEFTBOT_OAUTH_CLIENT_ID and SEFTBOT_OAUTH_CLIENT_SECRET with your NHSmail administrator"
	if s.cfg.CertFile != "" || s.cfg.KeyFile != "" {
		// A certificate credential: a new signed assertion per request.
		cert, err := loadClientCert(s.cfg.CertFile, s.cfg.KeyFile)
		if err != nil {
			return err
		}
		jwt, err := cert.assertion(s.cfg.ClientID, s.cfg.TokenURL, now)
		if err != nil {
			return err
		}
		cc.ClientSecret = ""
		cc.EndpointParams = url.Values{"client_assertion_type": {AssertionType}, "client_assertion": {jwt}}
		hint = "check SEFTBOT_OAUTH_CLIENT_ID, and that the certificate in SEFTBOT_OAUTH_CLIENT_CERT_FILE is the one uploaded to the app registration"
	}
	tok, err := cc.Token(ctx)
	if err != nil {
		return explain(err, hint)
	}
	s.tok, s.renewAt = tok, renewal(now, tok)
	return nil
}

// cached is the delegated sign-in on disk. It holds a refresh token: 0600.
type cached struct {
	TokenURL     string    `json:"token_url"`
	ClientID     string    `json:"client_id"`
	RefreshToken string    `json:"refresh_token"`
	AccessToken  string    `json:"access_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	RenewAt      time.Time `json:"renew_at,omitzero"`
	SignedIn     time.Time `json:"signed_in"`
}

var errNoSignIn = usererr.Errorf("run seftbot mail login once (it prints a web address and a code to sign in with), then try again",
	"no OAuth sign-in cached for SEFTBOT_OAUTH_FLOW=device")

// cacheLockWait bounds the wait for another run's token refresh. A variable
// so a test can shorten it.
var cacheLockWait = 30 * time.Second

// delegated uses the cached sign-in: its access token while it lives, else
// a refresh, whose new refresh token replaces the old one. The cache is
// locked so two runs never spend the same refresh token.
func (s *Source) delegated(ctx context.Context, now time.Time) error {
	// Another run refreshing holds it for a second or two; one that holds
	// it longer is stuck, and is named rather than waited on for ever.
	unlock, err := safeio.Lock(ctx, s.cfg.CacheFile+".lock", "the OAuth token cache lock", cacheLockWait)
	if errors.Is(err, safeio.ErrLockHeld) {
		return usererr.New(err, "find out what that process is doing; seftbot never holds it for more than a token request")
	}
	if err != nil {
		return err
	}
	defer unlock()
	c, err := readCache(s.cfg.CacheFile)
	if err != nil {
		return err
	}
	if c.TokenURL != s.cfg.TokenURL || c.ClientID != s.cfg.ClientID {
		return usererr.Errorf("run seftbot mail login again", "the cached OAuth sign-in was made for another token URL or client ID")
	}
	if c.AccessToken != "" && now.Before(c.RenewAt) {
		s.tok, s.renewAt = &oauth2.Token{AccessToken: c.AccessToken, TokenType: "Bearer", Expiry: c.Expiry}, c.RenewAt
		return nil
	}
	octx, err := s.cfg.ctx(ctx)
	if err != nil {
		return err
	}
	tok, err := s.cfg.oauth2().TokenSource(octx, &oauth2.Token{RefreshToken: c.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
		// Spent, expired or revoked: only a person signing in again helps.
		return usererr.Errorf("run seftbot mail login (once, by a person); until then mail cannot be sent, and a pending passphrase waits in the state directory for the next run",
			"the cached NHSmail sign-in was refused (invalid_grant): run seftbot mail login")
	}
	if err != nil {
		return explain(err, "the sign-in may have expired or been revoked: run seftbot mail login again")
	}
	// The endpoint has now spent the old refresh token: the new set goes to
	// disk (atomically, fsynced) before the access token is used, so a run
	// killed after this finds it, and one that cannot write it fails now
	// rather than after mailing with a token no later run can renew.
	renewAt := renewal(now, tok)
	c.AccessToken, c.Expiry, c.RenewAt = tok.AccessToken, tok.Expiry, renewAt
	if tok.RefreshToken != "" {
		c.RefreshToken = tok.RefreshToken
	}
	if err := writeCache(s.cfg, c); err != nil {
		return fmt.Errorf("keeping the renewed OAuth sign-in in %s: %w", s.cfg.CacheFile, err)
	}
	s.tok, s.renewAt = tok, renewAt
	return nil
}

func readCache(path string) (*cached, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoSignIn
	}
	if err != nil {
		return nil, err
	}
	if err := config.CheckPrivate(path, st); err != nil {
		return nil, err
	}
	b, err := safeio.ReadFile(path, "the OAuth token cache", 64<<10)
	if err != nil {
		return nil, err
	}
	var c cached
	if err := json.Unmarshal(b, &c); err != nil || c.RefreshToken == "" {
		return nil, usererr.Errorf("run seftbot mail login again", "the OAuth token cache "+path+" is unreadable")
	}
	return &c, nil
}

func writeCache(cfg Config, c *cached) error {
	path := cfg.CacheFile
	if cfg.cacheFault != nil {
		if err := cfg.cacheFault(); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o600)
}

// explain turns a token endpoint's refusal into a plain error: its code and
// description, never the response body, which might echo a token.
func explain(err error, hint string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		msg := "the token endpoint refused: " + re.ErrorCode
		if re.ErrorDescription != "" {
			msg += ": " + firstLine(re.ErrorDescription)
		}
		if re.Response != nil && re.ErrorCode == "" {
			msg = "the token endpoint answered " + re.Response.Status
		}
		return usererr.Errorf(hint, msg)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return usererr.New(fmt.Errorf("the token endpoint could not be reached: %w", ue.Err),
			"check SEFTBOT_OAUTH_TOKEN_URL, the network, and SEFTBOT_OAUTH_CA_FILE")
	}
	return err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// Login runs the device-code flow: it prints where to sign in and the code
// to enter, waits until the person has (or the code expires, or ctx ends),
// and caches the sign-in 0600. The code is meant to be shown; the tokens
// are never printed.
func Login(ctx context.Context, cfg Config, w io.Writer, now func() time.Time) error {
	if cfg.Flow != FlowDevice {
		return usererr.Errorf("set SEFTBOT_OAUTH_FLOW=device to sign in as a user; client credentials need no sign-in",
			"seftbot mail login is for the device flow only")
	}
	if now == nil {
		now = time.Now
	}
	octx, err := cfg.ctx(ctx)
	if err != nil {
		return err
	}
	oc := cfg.oauth2()
	da, err := oc.DeviceAuth(octx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrToken, explain(err, "check SEFTBOT_OAUTH_DEVICE_URL and SEFTBOT_OAUTH_CLIENT_ID"))
	}
	fmt.Fprintf(w, "To sign in, open %s in a web browser and enter the code %s\n", da.VerificationURI, da.UserCode)
	fmt.Fprintln(w, "waiting for the sign-in...")
	tok, err := oc.DeviceAccessToken(octx, da)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", ErrToken, explain(err, "run seftbot mail login again and finish the sign-in before the code expires"))
	}
	if tok.RefreshToken == "" {
		return fmt.Errorf("%w: %w", ErrToken, usererr.Errorf("add offline_access to SEFTBOT_OAUTH_SCOPE",
			"the sign-in gave no refresh token, so seftbot could not keep it"))
	}
	t := now()
	if err := writeCache(cfg, &cached{TokenURL: cfg.TokenURL, ClientID: cfg.ClientID, RefreshToken: tok.RefreshToken,
		AccessToken: tok.AccessToken, Expiry: tok.Expiry, RenewAt: renewal(t, tok), SignedIn: t.UTC()}); err != nil {
		return err
	}
	fmt.Fprintf(w, "signed in; the sign-in is kept in %s (mode 0600) and refreshed automatically\n", cfg.CacheFile)
	return nil
}

// XOAUTH2 is the SASL XOAUTH2 initial response for user and token.
func XOAUTH2(user, token string) []byte {
	return []byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")
}
