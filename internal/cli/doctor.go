package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/inbox"
	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/mailauth"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/relay"
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

var errDoctor = errors.New("some checks failed")

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
		return usererr.New(fmt.Errorf("%w: %d of %d", errDoctor, failed, len(checks)), "fix the FAIL lines above, then run seftbot doctor again")
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
	if err := config.CheckPrivate(path, st.Mode()); err != nil {
		return "", err
	}
	return path + " is private", nil
}

// tlsConfig trusts the system roots plus an optional extra CA file, as every
// seftbot TLS client does; there is no way to skip verification.
func tlsConfig(caFile, host string) (*tls.Config, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usererr.Errorf("the file must hold PEM certificates", caFile+": no certificates found")
		}
	}
	return &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}, nil
}

func checkPortal(ctx context.Context, src *config.Source) (string, error) {
	var out string
	for _, key := range []string{"SEFTBOT_DOWNLOAD_URL", "SEFTBOT_UPLOAD_URL"} {
		u, err := url.Parse(src.Get(key))
		if err != nil || u.Host == "" {
			return "", usererr.Errorf("set "+key+" to the site's https:// URL", key+" is not a URL")
		}
		if u.Scheme != "https" {
			return "", usererr.Errorf("the portal must be reached over https", key+" is not https")
		}
		host, port := u.Hostname(), u.Port()
		if port == "" {
			port = "443"
		}
		cfg, err := tlsConfig(src.Get("SEFTBOT_PORTAL_CA_FILE"), host)
		if err != nil {
			return "", err
		}
		d := tls.Dialer{Config: cfg}
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
		if err != nil {
			return "", usererr.New(fmt.Errorf("%s: %w", key, err), "check the URL, the network, and SEFTBOT_PORTAL_CA_FILE")
		}
		c.Close()
		out += u.Host + " TLS ok; "
	}
	return out[:len(out)-2], nil
}

func checkSMTP(ctx context.Context, src *config.Source) (string, error) {
	host, port := src.Get("SEFTBOT_SMTP_HOST"), src.Get("SEFTBOT_SMTP_PORT")
	if host == "" {
		return "", usererr.Errorf("set SEFTBOT_SMTP_HOST", "no SMTP server configured")
	}
	if _, err := strconv.Atoi(port); err != nil {
		return "", usererr.Errorf("set SEFTBOT_SMTP_PORT to a number", "bad SMTP port "+port)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return "", usererr.New(err, "check SEFTBOT_SMTP_HOST/PORT and the network")
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); !ok {
		return "", usererr.Errorf("seftbot only sends mail over STARTTLS", host+" does not offer STARTTLS")
	}
	cfg, err := tlsConfig(src.Get("SEFTBOT_SMTP_CA_FILE"), host)
	if err != nil {
		return "", err
	}
	if err := c.StartTLS(cfg); err != nil {
		return "", usererr.New(err, "check SEFTBOT_SMTP_CA_FILE")
	}
	return net.JoinHostPort(host, port) + " STARTTLS ok", nil
}

// checkLatches fails while a site's password is latched: no run will sign
// in there until a person has checked the account.
func checkLatches(src *config.Source) (string, error) {
	stateDir, _ := job.Dirs(src.Get("SEFTBOT_STATE_DIR"), "")
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
