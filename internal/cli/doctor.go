package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/inbox"
	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/mailauth"
	"github.com/isaric/seftbot/internal/notify"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/relay"
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/usererr"
)

// doctorOptions holds the flags of seftbot doctor.
type doctorOptions struct {
	*globalOptions
	offline bool
}

func newDoctorCmd(g *globalOptions) *cobra.Command {
	o := &doctorOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check Chromium, the configuration, file permissions and that every server answers",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runDoctor(cmd.Context(), o) },
	}
	cmd.Flags().BoolVar(&o.offline, "offline", false, "skip the network checks")
	return cmd
}

// check is one line of the doctor's report.
type check struct {
	name string
	run  func(ctx context.Context) (detail string, err error)
}

func runDoctor(ctx context.Context, o *doctorOptions) error {
	src := o.src
	checks := []check{
		{"chromium", func(ctx context.Context) (string, error) {
			return portal.ChromiumVersion(ctx, src.Get("SEFTBOT_CHROMIUM"))
		}},
		{"configuration", func(context.Context) (string, error) {
			_, err := job.OptionsFromSource(src)
			return "complete for seftbot fetch", err
		}},
		{"env file", func(context.Context) (string, error) {
			if src.FileName == "" {
				return "none (settings from the environment)", nil
			}
			return src.FileName + " is private", nil
		}},
		{"deployment", func(context.Context) (string, error) { return realDeployment.check(src) }},
		{"state dir", func(context.Context) (string, error) { return checkStateDir(src) }},
		{"staging", func(context.Context) (string, error) { return checkStaging(src) }},
		{"login latch", func(context.Context) (string, error) { return checkLatches(src) }},
		{"sftp key", func(context.Context) (string, error) { return privateFile(src.Get("SEFTBOT_SFTP_KEY_FILE")) }},
		{"known_hosts", func(context.Context) (string, error) {
			rc, err := relay.FromSource(src)
			if err != nil {
				return "", err
			}
			return relay.KnownHost(rc)
		}},
	}
	if !o.offline {
		checks = append(checks,
			check{"portal", func(ctx context.Context) (string, error) { return checkPortal(ctx, src) }},
			check{"sftp", func(ctx context.Context) (string, error) {
				rc, err := relay.FromSource(src)
				if err != nil {
					return "", err
				}
				return relay.Check(ctx, rc)
			}},
			check{"smtp", func(ctx context.Context) (string, error) { return checkSMTP(ctx, src) }},
		)
		if src.Get("SEFTBOT_SMTP_AUTH") == "xoauth2" || inbox.Configured(src) && src.Get("SEFTBOT_IMAP_AUTH") == "xoauth2" {
			checks = append(checks, check{"oauth token", func(ctx context.Context) (string, error) { return checkToken(ctx, src) }})
		}
		if inbox.Configured(src) {
			checks = append(checks, check{"imap", func(ctx context.Context) (string, error) {
				cfg, err := inbox.FromSource(src)
				if err != nil {
					return "", err
				}
				return inbox.Check(ctx, cfg)
			}})
		}
	}
	failed := 0
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		detail, err := c.run(cctx)
		cancel()
		if err != nil {
			failed++
			fmt.Fprintf(o.stdout, "FAIL  %-13s %v\n", c.name, err)
			if h := usererr.Hint(err); h != "" {
				fmt.Fprintf(o.stdout, "      %-13s hint: %s\n", "", h)
			}
			continue
		}
		fmt.Fprintf(o.stdout, "ok    %-13s %s\n", c.name, detail)
	}
	if failed > 0 {
		return usererr.New(fmt.Errorf("%w: %d of %d checks failed", errHealth, failed, len(checks)), "fix the FAIL lines above, then run seftbot doctor again")
	}
	return nil
}

// checkToken gets a fresh access token the way a run would (a new one, not
// a cached one) and says from where; never the token.
func checkToken(ctx context.Context, src *config.Source) (string, error) {
	cfg, err := mailauth.FromSource(src)
	if err != nil {
		return "", err
	}
	if _, err := mailauth.New(cfg, nil, nil).Token(ctx); err != nil {
		return "", err
	}
	u, _ := url.Parse(cfg.TokenURL)
	return fmt.Sprintf("%s: access token obtained (%s, client %s)", u.Host, cfg.Flow, cfg.ClientID), nil
}

func privateFile(path string) (string, error) {
	if path == "" {
		return "", usererr.Errorf("set SEFTBOT_SFTP_KEY_FILE", "no SFTP key configured")
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if err := config.CheckPrivate(path, st); err != nil {
		return "", err
	}
	return path + " is private", nil
}

// checkPortal fetches each configured site's sign-in page, as a run's
// browser would first do, and fails when it does not answer 200 or shows one
// of the profile's transient texts (maintenance, server error). It reads
// the page as served: a text a script draws later is not seen here. It
// never signs in.
func checkPortal(ctx context.Context, src *config.Source) (string, error) {
	var out []string
	for _, site := range []string{portal.SiteDownload, portal.SiteUpload} {
		key := "SEFTBOT_" + strings.ToUpper(site) + "_URL"
		if src.Get(key) == "" {
			continue
		}
		detail, err := checkSignInPage(ctx, src, site, key)
		if err != nil {
			return "", err
		}
		out = append(out, site+": "+detail)
	}
	if len(out) == 0 {
		return "", usererr.Errorf("set SEFTBOT_DOWNLOAD_URL (and SEFTBOT_UPLOAD_URL for the cohort)", "no portal site configured")
	}
	return strings.Join(out, "; "), nil
}

func checkSignInPage(ctx context.Context, src *config.Source, site, key string) (string, error) {
	base, err := url.Parse(src.Get(key))
	if err != nil || base.Host == "" {
		return "", usererr.Errorf("set "+key+" to the site's https:// URL", key+" is not a URL")
	}
	if base.Scheme != "https" {
		return "", usererr.Errorf("the portal must be reached over https", key+" is not https")
	}
	o := portal.Options{Site: site, URL: base.String(), ChromiumPath: src.Get("SEFTBOT_CHROMIUM"),
		SPKIPin: src.Get("SEFTBOT_PORTAL_SPKI_PIN"), CAFile: src.Get("SEFTBOT_PORTAL_CA_FILE")}
	if p := portal.ProfileSetting(src, site); p != "" {
		if o.Profile, err = portal.LoadProfile(p, site); err != nil {
			return "", err
		}
	}
	pg, err := portal.ReadSignInPage(ctx, o)
	switch {
	case err != nil && usererr.Is(err):
		return "", fmt.Errorf("%s: %w", site, err)
	case err != nil:
		return "", usererr.New(fmt.Errorf("%s: %w", site, err), "check "+key+", the network, and SEFTBOT_PORTAL_CA_FILE")
	case pg.Transient != "":
		return "", usererr.New(fmt.Errorf("%s: sign-in page %s says %q (HTTP %d): the portal is in maintenance or failing", site, pg.URL, pg.Transient, pg.Status),
			"try again later; a run tonight would retry and then fail")
	case pg.Status != 0 && pg.Status != 200:
		return "", usererr.New(fmt.Errorf("%s: sign-in page %s answered %d", site, pg.URL, pg.Status),
			"check "+key+" and the profile's login path; a 5xx means the portal is down")
	case !pg.LoginForm:
		return "", usererr.New(fmt.Errorf("%s: sign-in page %s shows no login form: the profile's first login step finds nothing", site, pg.URL),
			"run seftbot probe --site "+site+" to see the page, then fix the profile (docs/site-profile.md)")
	}
	return fmt.Sprintf("sign-in page %s shows the login form (HTTP %d)", pg.URL, pg.Status), nil
}

// checkSMTP signs in to the SMTP server exactly as a mail would be sent
// (STARTTLS, then AUTH by password or OAuth 2.0 token) and quits.
func checkSMTP(ctx context.Context, src *config.Source) (string, error) {
	if src.Get("SEFTBOT_SMTP_HOST") == "" {
		if src.Get("SEFTBOT_PASSPHRASE_DELIVERY") == "file" {
			return "not configured: the passphrase goes to a file, and no report is mailed", nil
		}
		return "", usererr.Errorf("set SEFTBOT_SMTP_HOST, or SEFTBOT_PASSPHRASE_DELIVERY=file", "no SMTP server configured")
	}
	cfg, err := notify.FromSource(src)
	if err != nil {
		return "", err
	}
	if err := notify.CheckLogin(ctx, cfg); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s:%d: STARTTLS, and AUTH (%s) accepted for %s", cfg.Host, cfg.Port, authName(cfg.Auth), cfg.User), nil
}

func authName(a string) string {
	if a == "" {
		return notify.AuthPassword
	}
	return a
}

// checkStateDir proves the state directory is private and writable, as
// every run needs.
func checkStateDir(src *config.Source) (string, error) {
	st, err := job.Open(src.Get("SEFTBOT_STATE_DIR"))
	if err != nil {
		return "", err
	}
	return probeWrite(st.Dir)
}

// checkStaging proves the staging area is private and writable.
func checkStaging(src *config.Source) (string, error) {
	_, dir := staging.Dirs(src.Get("SEFTBOT_STATE_DIR"), src.Get("SEFTBOT_STAGING_DIR"))
	stg, err := staging.Open(dir)
	if err != nil {
		return "", err
	}
	return probeWrite(stg.Dir)
}

// probeWrite creates, syncs and removes a file in dir.
func probeWrite(dir string) (string, error) {
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		return "", usererr.New(fmt.Errorf("%s is not writable: %w", dir, err), "check its owner, mode and free space")
	}
	_, werr := f.WriteString("seftbot doctor\n")
	serr := f.Sync()
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	if err := errors.Join(werr, serr, cerr, rerr); err != nil {
		return "", usererr.New(fmt.Errorf("%s: %w", dir, err), "check the disk it is on")
	}
	return dir + ": private, writable", nil
}

// checkLatches fails while a site's password is latched: no run will sign
// in there until a person has checked the account.
func checkLatches(src *config.Source) (string, error) {
	stateDir, _ := staging.Dirs(src.Get("SEFTBOT_STATE_DIR"), "")
	var set []string
	for _, l := range readLatches(stateDir) {
		switch {
		case l.Err != "":
			return "", fmt.Errorf("login latch of the %s site unreadable: %s", l.Site, l.Err)
		case l.Set:
			set = append(set, fmt.Sprintf("%s (%s: %q)", l.Site, l.Kind, l.Reason))
		}
	}
	if len(set) > 0 {
		return "", usererr.New(fmt.Errorf("latched, no password is sent: %s", strings.Join(set, "; ")),
			"check the account by hand, then change the password setting or run seftbot login-latch lift --site SITE")
	}
	return "none set", nil
}
