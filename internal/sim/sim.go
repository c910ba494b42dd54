// Package sim is seftsim: an executable model of NHS England's SEFT portal
// (upload and download sites), the analysts' SFTP drop and the NHSmail SMTP
// server, with faults on demand, so seftbot can be built and tested without
// the real, unreachable services. docs/seftsim.md is its contract.
package sim

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/isaric/seftbot/internal/atomicfile"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // Europe/London must resolve on minimal machines too

	"github.com/isaric/seftbot/internal/config"
)

// Defaults, shared by Options and the seftsim flags.
const (
	DefaultProjectID   = "NIC-402963-P0Y5D"
	DefaultFiles       = 160
	DefaultFileSize    = 1_000_000
	DefaultPageSize    = 25
	DefaultSessionIdle = 15 * time.Minute
	DefaultRetention   = 72 * time.Hour
	// DownloadUser is the download account's user name.
	DownloadUser = "isaric-download"
	// SFTPUser and SMTPUser are the only users of the drop and the mail server.
	SFTPUser = "analyst"
	SMTPUser = "seftbot@isaric.example"
	// Mail addresses written to seftbot.env; the notices go to ReportTo.
	MailFrom     = "seftbot@isaric.example"
	PassphraseTo = "analysts@analysts.example"
	ReportTo     = "operator@isaric.example"
	noticeFrom   = "seft-noreply@nhs.example"
)

// Options configure a Sim. The zero value of every field but Dir is usable:
// Files 0 publishes nothing at start (the seftsim command defaults to 160).
type Options struct {
	Dir          string        // everything seftsim writes goes here; created if missing
	Files        int           // files in the first batch
	FileSize     int64         // mean file size in bytes; 0 = DefaultFileSize
	Seed         int64         // content, sizes and faults derive from it
	ProjectID    string        // "" = DefaultProjectID
	Markup       string        // "v1" (default), "v2", "v3" (single-page app) or "v4" (v4.go)
	Paging       string        // v3 file list: "append" (default, a Show more button) or "inplace"
	HostileNames bool          // add files with hostile names to the first batch
	BenchDirect  bool          // enable GET /download/direct/<id> (benchmarks only)
	HTTP         bool          // plain HTTP portal, for debugging only
	PageSize     int           // rows per listing page; 0 = DefaultPageSize
	SessionIdle  time.Duration // idle session expiry; 0 = DefaultSessionIdle
	Retention    time.Duration // files older than this disappear; 0 = DefaultRetention
	HeaderFile   string        // cohort header template; "" = DefaultHeader

	// Password files; "" = a random password per start.
	UploadPasswordFile, DownloadPasswordFile, SMTPPasswordFile string

	// SMTPAuth is "password" (default) or "xoauth2": then the SMTP sink
	// takes only OAuth 2.0 tokens from seftsim's token endpoint and answers
	// passwords 550 5.7.30, as Exchange Online will, and seftbot.env carries
	// the SEFTBOT_OAUTH_* settings.
	SMTPAuth string
	// OAuthTTL is the token endpoint's access token lifetime; 0 = 60s.
	OAuthTTL time.Duration
	// OAuthAutoApprove approves every device-code sign-in at once.
	OAuthAutoApprove bool

	V4 V4Options // markup v4's row kinds, delays and fault

	Faults Faults       // faults in force at start (and after Reset)
	Logger *slog.Logger // nil = no logs
}

// Sim is a running seftsim.
type Sim struct {
	opts   Options
	dir    string
	log    *slog.Logger
	pki    *pki
	header []string
	nhsCol int // index of NHS_NO in header
	london *time.Location

	portalLn, adminLn net.Listener
	portalSrv         *http.Server
	adminSrv          *http.Server
	portalURL         string
	adminURL          string

	env     [][2]string // seftbot.env, in order
	envFile string

	ext *externals // SFTP drop and mail sink

	hk       sync.Mutex // serialises housekeep and Reset
	initial  []*File    // the start batch, hashed once
	mu       sync.Mutex
	offset   time.Duration // seftsim's clock = real time + offset
	files    []*File       // listed, in publish order
	nextID   int
	sessions map[string]*session
	accounts map[string]*account // "upload", "download"
	uploads  []Upload
	sent     int // file bodies sent whole (State.Downloads)
	held     map[string]bool
	notices  []notice // broken files whose notice is not yet mailed
	faults   Faults
	rng      *faultRNG
	v4       *v4State // markup v4 only

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start builds DIR, starts every server and writes seftbot.env, seftsim.json
// and published.sha256. Cancelling ctx closes the Sim.
func Start(ctx context.Context, opts Options) (_ *Sim, err error) {
	if err := opts.normalise(); err != nil {
		return nil, err
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		return nil, fmt.Errorf("time zone Europe/London: %w", err)
	}
	s := &Sim{
		opts:     opts,
		dir:      opts.Dir,
		log:      opts.Logger,
		london:   london,
		sessions: map[string]*session{},
		held:     map[string]bool{},
		faults:   opts.Faults,
		rng:      newFaultRNG(opts.Seed),
		stop:     make(chan struct{}),
		nextID:   1,
	}
	if opts.Markup == "v4" {
		s.v4 = newV4State(opts)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := s.makeDirs(); err != nil {
		return nil, err
	}
	if s.pki, err = newPKI(); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(s.CAFile(), s.pki.caPEM, 0o644); err != nil {
		return nil, err
	}
	if err := s.loadHeader(); err != nil {
		return nil, err
	}
	if err := s.makeAccounts(); err != nil {
		return nil, err
	}
	if s.portalLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("portal listener: %w", err)
	}
	if s.adminLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("admin listener: %w", err)
	}
	scheme := "https"
	if opts.HTTP {
		scheme = "http"
	}
	s.portalURL = scheme + "://" + s.portalLn.Addr().String()
	s.adminURL = "http://" + s.adminLn.Addr().String()

	if err := s.publishInitial(); err != nil {
		return nil, err
	}
	if s.ext, err = s.startExternals(); err != nil {
		return nil, err
	}
	s.applyExternalFaults(s.faults)

	s.portalSrv = &http.Server{
		Handler:           s.portalHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.adminSrv = &http.Server{Handler: s.adminHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: s.portalSrv.ErrorLog}
	if !opts.HTTP {
		s.portalSrv.TLSConfig = s.pki.serverTLS()
	}
	s.serve(s.portalSrv, s.portalLn, !opts.HTTP)
	s.serve(s.adminSrv, s.adminLn, false)
	s.wg.Go(s.ticker)

	if err := s.writeEnv(); err != nil {
		return nil, err
	}
	if err := s.writeJSONInfo(); err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { s.Close() })
	s.log.Info("seftsim ready", "portal", s.portalURL, "admin", s.adminURL, "files", len(s.files), "env", s.envFile)
	return s, nil
}

func (o *Options) normalise() error {
	if o.Dir == "" {
		return errors.New("a directory is required (--dir)")
	}
	if o.Files < 0 || o.Files > maxFiles {
		return fmt.Errorf("files must be between 0 and %d, not %d", maxFiles, o.Files)
	}
	if o.FileSize == 0 {
		o.FileSize = DefaultFileSize
	}
	if err := checkFileSize(o.FileSize); err != nil {
		return err
	}
	if o.ProjectID == "" {
		o.ProjectID = DefaultProjectID
	}
	if !validProjectID(o.ProjectID) {
		return fmt.Errorf("project ID %q: use letters, digits and dashes only", o.ProjectID)
	}
	switch o.Markup {
	case "":
		o.Markup = "v1"
	case "v1", "v2", "v3", "v4":
	default:
		return fmt.Errorf("markup must be v1, v2, v3 or v4, not %q", o.Markup)
	}
	if err := o.V4.awayCheck(o.HTTP); err != nil {
		return err
	}
	if err := o.V4.normalise(o.Markup); err != nil {
		return err
	}
	switch {
	case o.Paging == "" && o.Markup == "v3":
		o.Paging = PagingAppend
	case o.Paging == "":
	case o.Markup != "v3":
		return fmt.Errorf("paging %q: only markup v3 has paging modes", o.Paging)
	case o.Paging != PagingAppend && o.Paging != PagingInPlace:
		return fmt.Errorf("paging must be append or inplace, not %q", o.Paging)
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.PageSize < 1 || o.PageSize > 1000 {
		return fmt.Errorf("page size must be between 1 and 1000, not %d", o.PageSize)
	}
	if o.SessionIdle == 0 {
		o.SessionIdle = DefaultSessionIdle
	}
	if o.SessionIdle < 0 {
		return fmt.Errorf("session idle time must be positive, not %s", o.SessionIdle)
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.Retention < 0 {
		return fmt.Errorf("retention must be positive, not %s", o.Retention)
	}
	switch o.SMTPAuth {
	case "":
		o.SMTPAuth = "password"
	case "password", "xoauth2":
	default:
		return fmt.Errorf("smtp auth must be password or xoauth2, not %q", o.SMTPAuth)
	}
	if o.OAuthTTL < 0 {
		return fmt.Errorf("oauth token lifetime must be positive, not %s", o.OAuthTTL)
	}
	if err := o.Faults.validate(); err != nil {
		return fmt.Errorf("%w", err)
	}
	abs, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	o.Dir = abs
	return nil
}

const (
	maxFiles    = 100_000
	maxFileSize = 16 << 30
)

func checkFileSize(n int64) error {
	if n < minFileSize || n > maxFileSize {
		return fmt.Errorf("file size must be between %d and %d bytes, not %d", minFileSize, int64(maxFileSize), n)
	}
	return nil
}

func validProjectID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
			return false
		}
	}
	return true
}

func (s *Sim) makeDirs() error {
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"", 0o755}, {"tls", 0o755}, {"sftp", 0o755}, {"state", 0o700}, {"staging", 0o700}} {
		p := filepath.Join(s.dir, d.name)
		if err := os.MkdirAll(p, d.mode); err != nil {
			return fmt.Errorf("%w", err)
		}
		if d.mode == 0o700 {
			if err := os.Chmod(p, d.mode); err != nil {
				return fmt.Errorf("%w", err)
			}
		}
	}
	return nil
}

// loadHeader reads the template seftsim enforces (its own rules, not the
// bot's) and writes it to DIR/header.csv, which seftbot.env points the bot at.
func (s *Sim) loadHeader() error {
	cols, err := readHeader(s.opts.HeaderFile)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	if err := atomicfile.WriteFile(s.HeaderFile(), []byte(strings.Join(cols, ",")+"\r\n"), 0o644); err != nil {
		return err
	}
	s.header = cols
	s.nhsCol = 1
	for i, c := range s.header {
		if c == "NHS_NO" {
			s.nhsCol = i
		}
	}
	return nil
}

// account is one portal login.
type account struct {
	Name     string // "upload" or "download"
	User     string
	password string
	Failed   int // consecutive wrong passwords
	Locked   bool
	Logins   int
	// PasswordPosts counts every login request that carried a password,
	// refused, accepted or not even read: tests assert the bot sends a
	// password at most once.
	PasswordPosts int
	// PasswordExpired makes the right password lead to a change-password
	// page instead of a session; PasswordChangePosts counts what that page's
	// form received (the bot must send nothing).
	PasswordExpired     bool
	PasswordChangePosts int
}

func (s *Sim) makeAccounts() error {
	up, err := passwordFrom(s.opts.UploadPasswordFile)
	if err != nil {
		return err
	}
	down, err := passwordFrom(s.opts.DownloadPasswordFile)
	if err != nil {
		return err
	}
	s.accounts = map[string]*account{
		siteUpload:   {Name: siteUpload, User: s.opts.ProjectID + "-upload", password: up},
		siteDownload: {Name: siteDownload, User: DownloadUser, password: down},
	}
	return nil
}

// passwordFrom reads a password file (private, one line) or makes a random one.
func passwordFrom(path string) (string, error) {
	if path == "" {
		return rand.Text(), nil
	}
	p, err := config.ReadSecretFile(path)
	if err != nil {
		return "", fmt.Errorf("%w", err)
	}
	if p == "" || strings.ContainsAny(p, "\r\n'") || strings.HasSuffix(p, `\`) {
		return "", fmt.Errorf("password file %s: the password must be one non-empty line without ' and not ending in \\", path)
	}
	return p, nil
}

func (s *Sim) serve(srv *http.Server, ln net.Listener, useTLS bool) {
	s.wg.Go(func() {
		var err error
		if useTLS {
			err = srv.ServeTLS(ln, "", "") // ServeTLS, not Serve, so HTTP/2 is offered like a real portal
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server stopped", "err", err)
		}
	})
}

// ticker lets real time move seftsim's clock: purges and notices happen even
// when nobody advances it by hand.
func (s *Sim) ticker() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.housekeep()
		}
	}
}

// Close stops every server; it is safe to call more than once.
func (s *Sim) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		for _, srv := range []*http.Server{s.portalSrv, s.adminSrv} {
			if srv != nil {
				if err := srv.Shutdown(ctx); err != nil {
					errs = append(errs, srv.Close())
				}
			}
		}
		for _, ln := range []net.Listener{s.portalLn, s.adminLn} {
			if ln != nil {
				ln.Close() // already closed by Shutdown when it was served
			}
		}
		if s.ext != nil {
			errs = append(errs, s.ext.close())
		}
		s.wg.Wait()
		s.closeErr = errors.Join(errs...)
		s.log.Info("seftsim stopped")
	})
	return s.closeErr
}

// Dir is the directory seftsim writes to.
func (s *Sim) Dir() string { return s.dir }

// EnvFile is DIR/seftbot.env.
func (s *Sim) EnvFile() string { return s.envFile }

// PortalURL is the portal's base URL, e.g. https://127.0.0.1:PORT (no slash).
func (s *Sim) PortalURL() string { return s.portalURL }

// AdminURL is the admin API's base URL, e.g. http://127.0.0.1:PORT; the
// endpoints are under /admin/.
func (s *Sim) AdminURL() string { return s.adminURL }

// CAFile is DIR/tls/ca.pem.
func (s *Sim) CAFile() string { return filepath.Join(s.dir, "tls", "ca.pem") }

// HeaderFile is DIR/header.csv, the cohort header template in force.
func (s *Sim) HeaderFile() string { return filepath.Join(s.dir, "header.csv") }

// SPKIPin is the base64 SHA-256 of the portal certificate's public key.
func (s *Sim) SPKIPin() string { return s.pki.pin }

// Env returns every key of seftbot.env, passwords included: for tests only.
func (s *Sim) Env() map[string]string {
	m := make(map[string]string, len(s.env))
	for _, kv := range s.env {
		m[kv[0]] = kv[1]
	}
	return m
}

// Run is the seftsim command: start, print the ready line, serve until ctx
// is cancelled (SIGINT/SIGTERM), close.
func Run(ctx context.Context, opts Options, stdout io.Writer) error {
	s, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "seftsim ready: %s\n", s.EnvFile()); err != nil {
		s.Close()
		return err
	}
	<-ctx.Done()
	return s.Close()
}
