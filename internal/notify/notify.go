// Package notify sends the nightly job's two mails: the [secure] passphrase
// mail to the analysts and the operator's report. It speaks SMTP submission
// with mandatory STARTTLS (verified against system roots plus an optional CA
// file) and AUTH, as NHSmail requires, through wneessen/go-mail; or, for
// operators who send the passphrase themselves, writes it to a private file.
package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/mailauth"
	"github.com/isaric/seftbot/internal/usererr"
)

// ErrMail means the passphrase or report mail could not be sent (or the
// passphrase file written); the CLI maps it to its own exit code.
var ErrMail = errors.New("mail delivery failed")

// DefaultTimeout bounds connecting and each SMTP command.
const DefaultTimeout = 30 * time.Second

// Config is how to reach the submission server and whom to write to.
type Config struct {
	Host         string
	Port         int
	User         string
	Password     string // never printed: see String and LogValue
	Auth         string // AuthPassword (default) or AuthXOAUTH2
	Tokens       TokenSource
	CAFile       string // extra CA certificates (PEM) trusted besides the system roots
	From         string
	PassphraseTo []string
	ReportTo     []string
	Timeout      time.Duration // 0 means DefaultTimeout
	// Log is the run's logger (with its run_id); nil logs nothing. A mail
	// line never goes to the package-level logger, whose plain lines would
	// break a JSON log.
	Log *slog.Logger
}

// SMTP authentication, as SEFTBOT_SMTP_AUTH spells it.
const (
	AuthPassword = "password"
	AuthXOAUTH2  = "xoauth2"
)

// TokenSource gives an OAuth 2.0 access token for XOAUTH2, fresh enough to
// use now (mailauth.Source).
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// String describes the configuration without the password.
func (c Config) String() string {
	return fmt.Sprintf("smtp://%s@%s:%d (auth %s, ca %q) from %s", c.User, c.Host, c.Port, c.auth(), c.CAFile, c.From)
}

// LogValue keeps the password out of structured logs.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c Config) auth() string {
	if c.Auth == "" {
		return AuthPassword
	}
	return c.Auth
}

// FromSource reads the SEFTBOT_SMTP_* and recipient settings. The passphrase
// recipients are required unless SEFTBOT_PASSPHRASE_DELIVERY is "file".
// With SEFTBOT_SMTP_AUTH=xoauth2 the password gives way to the
// SEFTBOT_OAUTH_* settings.
func FromSource(src *config.Source) (Config, error) {
	auth := src.Get("SEFTBOT_SMTP_AUTH")
	keys := []string{"SEFTBOT_SMTP_HOST", "SEFTBOT_SMTP_PORT", "SEFTBOT_SMTP_USER",
		"SEFTBOT_MAIL_FROM", "SEFTBOT_REPORT_TO"}
	switch auth {
	case AuthPassword:
		keys = append(keys, "SEFTBOT_SMTP_PASSWORD")
	case AuthXOAUTH2:
	default:
		return Config{}, usererr.Errorf("set SEFTBOT_SMTP_AUTH to password or xoauth2",
			fmt.Sprintf("unknown SEFTBOT_SMTP_AUTH %q", auth))
	}
	if src.Get("SEFTBOT_PASSPHRASE_DELIVERY") != "file" {
		keys = append(keys, "SEFTBOT_PASSPHRASE_TO")
	}
	if err := src.Require(keys...); err != nil {
		return Config{}, err
	}
	var pw string
	var tokens TokenSource
	var err error
	if auth == AuthPassword {
		if pw, err = src.Secret("SEFTBOT_SMTP_PASSWORD"); err != nil {
			return Config{}, err
		}
	} else {
		oc, err := mailauth.FromSource(src)
		if err != nil {
			return Config{}, err
		}
		tokens = mailauth.For(oc, slog.Default())
	}
	c := Config{
		Host:         src.Get("SEFTBOT_SMTP_HOST"),
		User:         src.Get("SEFTBOT_SMTP_USER"),
		Password:     pw,
		Auth:         auth,
		Tokens:       tokens,
		CAFile:       src.Get("SEFTBOT_SMTP_CA_FILE"),
		From:         src.Get("SEFTBOT_MAIL_FROM"),
		PassphraseTo: src.List("SEFTBOT_PASSPHRASE_TO"),
		ReportTo:     src.List("SEFTBOT_REPORT_TO"),
	}
	if c.Port, err = strconv.Atoi(src.Get("SEFTBOT_SMTP_PORT")); err != nil || c.Port < 1 || c.Port > 65535 {
		return Config{}, usererr.Errorf("set SEFTBOT_SMTP_PORT to the submission port, usually 587",
			fmt.Sprintf("SEFTBOT_SMTP_PORT %q is not a port number", src.Get("SEFTBOT_SMTP_PORT")))
	}
	for _, key := range []string{"SEFTBOT_MAIL_FROM", "SEFTBOT_PASSPHRASE_TO", "SEFTBOT_REPORT_TO"} {
		for _, a := range src.List(key) {
			if _, err := mail.ParseAddress(a); err != nil {
				return Config{}, usererr.New(fmt.Errorf("%s: %q is not a mail address: %w", key, a, err),
					"give plain addresses like name@nhs.net, comma-separated")
			}
		}
	}
	if _, err := c.tlsConfig(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// tlsConfig trusts the system roots plus CAFile, and verifies the host name.
func (c Config) tlsConfig() (*tls.Config, error) {
	pool, err := config.CertPool("SEFTBOT_SMTP_CA_FILE", c.CAFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, ServerName: c.Host, MinVersion: tls.VersionTLS12}, nil
}

// send submits one plain-text mail. Every error wraps ErrMail; TLS and
// AUTH failures are also user errors with a hint.
func send(ctx context.Context, cfg Config, kind string, to []string, subject, body, messageID string) error {
	fail := func(err error) error { return fmt.Errorf("%w: %s mail: %w", ErrMail, kind, err) }
	if len(to) == 0 {
		return usererr.New(fail(errors.New("no recipients")), "set SEFTBOT_PASSPHRASE_TO and SEFTBOT_REPORT_TO")
	}
	client, err := cfg.client(ctx)
	if err != nil {
		return fail(err)
	}
	m := gomail.NewMsg()
	if err := m.From(cfg.From); err != nil {
		return usererr.New(fail(err), "check SEFTBOT_MAIL_FROM")
	}
	if err := m.To(to...); err != nil {
		return usererr.New(fail(err), "check the recipient settings")
	}
	m.Subject(subject)
	m.SetDate()
	m.SetMessageIDWithValue(messageID)
	m.SetGenHeader("Auto-Submitted", "auto-generated") // RFC 3834: no auto-replies to a robot
	m.SetBodyString(gomail.TypeTextPlain, body)

	if err := client.DialAndSendWithContext(ctx, m); err != nil {
		return classify(fail(err), cfg)
	}
	if cfg.Log != nil {
		cfg.Log.Info("mail sent", "kind", kind, "recipients", len(to), "message_id", messageID)
	}
	return nil
}

// basicAuthRetired recognises Exchange Online's refusal of password
// submission (MC786329): 550 5.7.30, or a 535 that names Basic auth.
func basicAuthRetired(err error, tpe *textproto.Error) bool {
	msg := err.Error()
	if errors.As(err, &tpe) {
		msg = tpe.Msg
		if tpe.Code != 550 && tpe.Code != 535 {
			return false
		}
	}
	return strings.Contains(msg, "5.7.30") || strings.Contains(strings.ToLower(msg), "basic authentication")
}

// classify turns TLS and authentication failures into user errors.
func classify(err error, cfg Config) error {
	var (
		cve  *tls.CertificateVerificationError
		uae  x509.UnknownAuthorityError
		he   x509.HostnameError
		tpe  *textproto.Error
		addr = fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &he):
		return usererr.New(err, "the SMTP server's certificate is not trusted: set SEFTBOT_SMTP_CA_FILE to its CA, and check SEFTBOT_SMTP_HOST matches the certificate")
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		return usererr.New(err, addr+" offers no STARTTLS; seftbot never sends mail in clear: use the submission port (587) of a server that supports it")
	case basicAuthRetired(err, tpe):
		return usererr.New(fmt.Errorf("%w: the server no longer accepts a user name and password (Basic authentication) for sending", err),
			"NHSmail now wants OAuth 2.0: set SEFTBOT_SMTP_AUTH=xoauth2 and the SEFTBOT_OAUTH_* settings (README: NHSmail and OAuth 2.0)")
	case cfg.auth() == AuthXOAUTH2 && (errors.As(err, &tpe) && (tpe.Code == 535 || tpe.Code == 534 || tpe.Code == 530) ||
		errors.Is(err, gomail.ErrXOauth2AuthNotSupported)):
		return usererr.New(err, "the server refused the OAuth 2.0 token: check SEFTBOT_SMTP_USER is the mailbox the app may send as, "+
			"and that the app registration has SMTP.Send (or, app-only, SMTP.SendAsApp with an Exchange service principal)")
	case errors.As(err, &tpe) && (tpe.Code == 535 || tpe.Code == 534 || tpe.Code == 530),
		errors.Is(err, gomail.ErrNoSupportedAuthDiscovered),
		strings.Contains(err.Error(), "does not support SMTP AUTH"):
		return usererr.New(err, "SMTP authentication failed: check SEFTBOT_SMTP_USER and SEFTBOT_SMTP_PASSWORD")
	}
	return err
}

// client is a go-mail client for cfg: STARTTLS required, the host's
// certificate verified, AUTH by password or by a fresh OAuth 2.0 token.
func (cfg Config) client(ctx context.Context) (*gomail.Client, error) {
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTLSPolicy(gomail.TLSMandatory),
		gomail.WithTLSConfig(tlsCfg),
		gomail.WithUsername(cfg.User),
		gomail.WithTimeout(timeout),
	}
	if cfg.auth() == AuthXOAUTH2 {
		if cfg.Tokens == nil {
			return nil, errors.New("SEFTBOT_SMTP_AUTH=xoauth2 without a token source")
		}
		// A token is asked for per mail: the source renews it shortly
		// before it expires, so a long run never sends a dead one.
		token, err := cfg.Tokens.Token(ctx)
		if err != nil {
			return nil, err
		}
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthXOAUTH2), gomail.WithPassword(token))
	} else {
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithPassword(cfg.Password))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, usererr.New(err, "check SEFTBOT_SMTP_HOST and SEFTBOT_SMTP_PORT")
	}
	return client, nil
}

// CheckLogin connects, starts TLS and authenticates exactly as a mail would
// be sent, then quits without sending: `seftbot doctor`'s proof that the
// SMTP server accepts our credentials. Errors are classified like send's.
func CheckLogin(ctx context.Context, cfg Config) error {
	client, err := cfg.client(ctx)
	if err != nil {
		return classify(fmt.Errorf("%w: %w", ErrMail, err), cfg)
	}
	if err := client.DialWithContext(ctx); err != nil {
		return classify(fmt.Errorf("%w: %w", ErrMail, err), cfg)
	}
	return client.Close()
}
