// Package inbox reads NHS England's notices from the operator's mailbox
// over IMAP and acts on them, since the portal answers only by email: a
// "new data" notice is recorded (so a night that finds nothing new a day
// later is reported), and an error notice rejects the cohort step uploaded
// the day before and stops its plan. Only new messages are read (UID and
// UIDVALIDITY are kept in the state directory), nothing is ever deleted,
// TLS is always verified, and the notice text kept is cleared of anything
// that looks like a patient identifier.
package inbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"
	"github.com/emersion/go-msgauth/authres"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/mailauth"
	"github.com/isaric/seftbot/internal/usererr"
)

// ErrMailbox means the mailbox could not be read. The CLI gives it the
// same exit code as an unusable token endpoint.
var ErrMailbox = errors.New("the mailbox could not be read")

// Kind is what a message is.
type Kind string

const (
	KindNewData     Kind = "new-data"
	KindUploadError Kind = "upload-error"
	KindOther       Kind = "other"
)

// Patterns classify a notice by its subject and text.
type Patterns struct {
	NewData, Error *regexp.Regexp
}

// Built-in patterns: they match seftsim's notices; check them against a
// real notice and set SEFTBOT_NOTICE_* if NHS England words them otherwise.
// The sender has no default: only the operator knows NHS England's real
// address, and a pattern such as "seft-noreply@" would let any domain in.
const (
	DefaultNewData = `(?i)new data|data (is|are) (now )?available|files? (is|are) (now )?available`
	DefaultError   = `(?i)problem processing your file|could not be processed|was rejected|error processing`
)

// Config is how to reach the mailbox and what to look for.
type Config struct {
	Host     string
	Port     int
	User     string
	Auth     string // "password" or "xoauth2"
	Password string // never printed
	Tokens   interface {
		Token(ctx context.Context) (string, error)
	}
	CAFile   string
	Mailbox  string
	MarkSeen bool
	// Senders are the exact addresses NHS England's notices come from,
	// lower case; mail from anyone else is never acted on.
	Senders []string
	// CheckAuth: when the mailbox server added Authentication-Results, a
	// notice acts only if DMARC (or DKIM for the sender's domain) passed.
	CheckAuth bool
	Patterns  Patterns
	Timeout   time.Duration // per command; 0 = 30s
}

// String describes the configuration without the password.
func (c Config) String() string {
	return fmt.Sprintf("imaps://%s@%s:%d/%s (auth %s)", c.User, c.Host, c.Port, c.Mailbox, c.Auth)
}

// LogValue keeps the password out of structured logs.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Configured says whether an IMAP mailbox is set up at all.
func Configured(src *config.Source) bool { return src.Get("SEFTBOT_IMAP_HOST") != "" }

// FromSource reads the SEFTBOT_IMAP_* and SEFTBOT_NOTICE_* settings.
func FromSource(src *config.Source) (Config, error) {
	c := Config{Host: src.Get("SEFTBOT_IMAP_HOST"), User: src.Get("SEFTBOT_IMAP_USER"), Auth: src.Get("SEFTBOT_IMAP_AUTH"),
		CAFile: src.Get("SEFTBOT_IMAP_CA_FILE"), Mailbox: src.Get("SEFTBOT_IMAP_MAILBOX")}
	keys := []string{"SEFTBOT_IMAP_HOST", "SEFTBOT_IMAP_USER", "SEFTBOT_IMAP_MAILBOX"}
	switch c.Auth {
	case "password":
		keys = append(keys, "SEFTBOT_IMAP_PASSWORD")
	case "xoauth2":
	default:
		return c, usererr.Errorf("set SEFTBOT_IMAP_AUTH to password or xoauth2", fmt.Sprintf("unknown SEFTBOT_IMAP_AUTH %q", c.Auth))
	}
	if err := src.Require(keys...); err != nil {
		return c, err
	}
	var err error
	if c.Port, err = strconv.Atoi(src.Get("SEFTBOT_IMAP_PORT")); err != nil || c.Port < 1 || c.Port > 65535 {
		return c, usererr.Errorf("set SEFTBOT_IMAP_PORT to the IMAP over TLS port, usually 993",
			fmt.Sprintf("SEFTBOT_IMAP_PORT %q is not a port number", src.Get("SEFTBOT_IMAP_PORT")))
	}
	if c.Auth == "password" {
		if c.Password, err = src.Secret("SEFTBOT_IMAP_PASSWORD"); err != nil {
			return c, err
		}
	} else {
		oc, err := mailauth.FromSource(src)
		if err != nil {
			return c, err
		}
		c.Tokens = mailauth.For(oc, slog.Default())
	}
	switch v := src.Get("SEFTBOT_IMAP_MARK_SEEN"); v {
	case "true", "false":
		c.MarkSeen = v == "true"
	default:
		return c, usererr.Errorf("set SEFTBOT_IMAP_MARK_SEEN to true or false", fmt.Sprintf("SEFTBOT_IMAP_MARK_SEEN %q", v))
	}
	if c.Senders, err = Senders(src.Get("SEFTBOT_NOTICE_FROM")); err != nil {
		return c, err
	}
	switch v := src.Get("SEFTBOT_NOTICE_CHECK_AUTH"); v {
	case "true", "false":
		c.CheckAuth = v == "true"
	default:
		return c, usererr.Errorf("set SEFTBOT_NOTICE_CHECK_AUTH to true or false", fmt.Sprintf("SEFTBOT_NOTICE_CHECK_AUTH %q", v))
	}
	for _, p := range []struct {
		key string
		re  **regexp.Regexp
	}{{"SEFTBOT_NOTICE_NEW_DATA", &c.Patterns.NewData}, {"SEFTBOT_NOTICE_ERROR", &c.Patterns.Error}} {
		re, err := regexp.Compile(src.Get(p.key))
		if err != nil {
			return c, usererr.New(fmt.Errorf("%s: %w", p.key, err), "give a Go regular expression (RE2 syntax)")
		}
		*p.re = re
	}
	if _, err := c.tlsConfig(); err != nil {
		return c, err
	}
	return c, nil
}

// senderHint says how to find NHS England's address: it is on the first
// notice, and nowhere else seftbot could look.
const senderHint = "set SEFTBOT_NOTICE_FROM to the exact address on the From line of the first SEFT notice you received " +
	"(in your mail client: view the message source), e.g. SEFTBOT_NOTICE_FROM=seft-noreply@example.nhs.uk; separate several with commas"

// Senders parses SEFTBOT_NOTICE_FROM: one or more exact addresses, never a
// pattern, since a pattern any domain can match lets anyone reject a
// cohort step.
func Senders(v string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		addr := ""
		if a, err := mail.ParseAddress(f); err == nil {
			addr = strings.ToLower(a.Address)
		}
		local, domain, ok := strings.Cut(addr, "@")
		if !ok || local == "" || !strings.Contains(domain, ".") || strings.ContainsAny(addr, `*?^$()[]{}|\`) {
			return nil, usererr.Errorf(senderHint, fmt.Sprintf("SEFTBOT_NOTICE_FROM: %q is not an exact email address (it takes addresses, not patterns)", f))
		}
		out = append(out, local+"@"+domain)
	}
	if len(out) == 0 {
		return nil, usererr.Errorf(senderHint, "SEFTBOT_NOTICE_FROM is not set: seftbot acts only on mail from NHS England's exact sender address, which it cannot know")
	}
	return out, nil
}

// DefaultPatterns are the built-in patterns, compiled.
func DefaultPatterns() Patterns {
	return Patterns{NewData: regexp.MustCompile(DefaultNewData), Error: regexp.MustCompile(DefaultError)}
}

func (c Config) tlsConfig() (*tls.Config, error) {
	pool, err := config.CertPool("SEFTBOT_IMAP_CA_FILE", c.CAFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, ServerName: c.Host, MinVersion: tls.VersionTLS12}, nil
}

// Notice is one message found in the mailbox since the last read.
type Notice struct {
	UID       uint32
	MessageID string
	From      string
	Subject   string
	Date      time.Time // the Date header, else the server's receipt time
	Kind      Kind
	Text      string // subject and body, identifiers cleared; notices only
}

// fetched is what one read found.
type fetched struct {
	UIDValidity uint32
	LastUID     uint32
	Notices     []Notice
	Others      int
	// Warnings are notices that could not be read (too large) and a
	// mailbox that went back in time; Ignored are messages that look like
	// notices but did not come, provably, from NHS England.
	Warnings, Ignored []string
}

// maxNoticeBytes bounds the one message body seftbot downloads: notices
// are a few lines.
const maxNoticeBytes = 1 << 20

// xoauth2 is the SASL XOAUTH2 client.
type xoauth2 struct{ user, token string }

func (x xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", mailauth.XOAUTH2(x.user, x.token), nil
}
func (x xoauth2) Next([]byte) ([]byte, error) { return []byte{}, nil } // answer the error challenge; the server then fails

// connect dials over TLS, verified, and logs in.
func connect(ctx context.Context, cfg Config) (*client.Client, error) {
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	c, err := client.DialWithDialerTLS(&net.Dialer{Timeout: timeout}, addr, tlsCfg)
	if err != nil {
		var cve *tls.CertificateVerificationError
		if errors.As(err, &cve) {
			return nil, usererr.New(fmt.Errorf("%s: %w", addr, err),
				"the IMAP server's certificate is not trusted: set SEFTBOT_IMAP_CA_FILE to its CA, and check SEFTBOT_IMAP_HOST matches the certificate")
		}
		return nil, usererr.New(fmt.Errorf("%s: %w", addr, err), "check SEFTBOT_IMAP_HOST, SEFTBOT_IMAP_PORT (993: IMAP over TLS) and the network")
	}
	c.Timeout = timeout
	stop := context.AfterFunc(ctx, func() { c.Terminate() })
	defer stop()
	if cfg.Auth == "xoauth2" {
		token, err := cfg.Tokens.Token(ctx)
		if err != nil {
			c.Logout()
			return nil, err
		}
		err = c.Authenticate(xoauth2{cfg.User, token})
		if err != nil {
			c.Logout()
			return nil, usererr.New(fmt.Errorf("IMAP login as %s refused: %w", cfg.User, err),
				"check SEFTBOT_IMAP_USER is the mailbox the app may read, and that the app registration has IMAP.AccessAsUser.All (or, app-only, IMAP.AccessAsApp with mailbox permission)")
		}
		return c, nil
	}
	if err := c.Login(cfg.User, cfg.Password); err != nil {
		c.Logout()
		return nil, usererr.New(fmt.Errorf("IMAP login as %s refused: %w", cfg.User, err),
			"check SEFTBOT_IMAP_USER and SEFTBOT_IMAP_PASSWORD; Exchange Online (NHSmail) takes only OAuth 2.0: SEFTBOT_IMAP_AUTH=xoauth2")
	}
	return c, nil
}

// Check logs in and selects the mailbox, for seftbot doctor.
func Check(ctx context.Context, cfg Config) (string, error) {
	c, err := connect(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMailbox, err)
	}
	defer c.Logout()
	st, err := c.Select(cfg.Mailbox, true)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrMailbox, usererr.New(fmt.Errorf("mailbox %q: %w", cfg.Mailbox, err), "check SEFTBOT_IMAP_MAILBOX"))
	}
	return fmt.Sprintf("%s@%s:%d %s: %d messages, TLS verified, %s login ok", cfg.User, cfg.Host, cfg.Port, cfg.Mailbox, st.Messages, cfg.Auth), nil
}

// fetch reads every message after lastUID (all of them when uidValidity
// changed), classifies each by its envelope, and downloads the body of the
// notices only.
func fetch(ctx context.Context, cfg Config, uidValidity, lastUID uint32) (*fetched, error) {
	c, err := connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Logout()
	stop := context.AfterFunc(ctx, func() { c.Terminate() })
	defer stop()
	st, err := c.Select(cfg.Mailbox, !cfg.MarkSeen) // EXAMINE unless seen flags are wanted
	if err != nil {
		return nil, usererr.New(fmt.Errorf("mailbox %q: %w", cfg.Mailbox, err), "check SEFTBOT_IMAP_MAILBOX")
	}
	out := &fetched{UIDValidity: st.UidValidity, LastUID: lastUID}
	switch {
	case st.UidValidity != uidValidity:
		out.LastUID = 0 // the server renumbered: read everything; applied notices are known by Message-ID
	case st.UidNext > 0 && lastUID >= st.UidNext:
		// The mailbox went back in time (restored, or replaced keeping its
		// UIDVALIDITY): every new notice would sit below last_uid unread.
		out.Warnings = append(out.Warnings, fmt.Sprintf("%s's last_uid %d is past the mailbox's UIDNEXT %d (the mailbox was restored or replaced): "+
			"read it again from the start; notices already acted on are recognised", StateName, lastUID, st.UidNext))
		out.LastUID = 0
	}
	if st.Messages == 0 {
		return out, nil
	}
	set := new(imap.SeqSet)
	set.AddRange(out.LastUID+1, 0) // n:*
	ch := make(chan *imap.Message, 16)
	errc := make(chan error, 1)
	go func() {
		errc <- c.UidFetch(set, []imap.FetchItem{imap.FetchUid, imap.FetchEnvelope, imap.FetchInternalDate, imap.FetchRFC822Size}, ch)
	}()
	var heads []*imap.Message
	for m := range ch {
		if m.Uid > out.LastUID { // "n:*" also returns the last message when it is older than n
			heads = append(heads, m)
		}
	}
	if err := <-errc; err != nil {
		return nil, err
	}
	var seen []uint32
	for _, m := range heads {
		n := Notice{UID: m.Uid, Kind: KindOther, Date: m.InternalDate}
		if e := m.Envelope; e != nil {
			n.MessageID, n.Subject = e.MessageId, e.Subject
			if len(e.From) > 0 {
				n.From = strings.ToLower(e.From[0].Address())
			}
			if !e.Date.IsZero() {
				n.Date = e.Date
			}
		}
		if n.MessageID == "" {
			n.MessageID = fmt.Sprintf("uid-%d-%d", out.UIDValidity, m.Uid)
		}
		if m.Uid > out.LastUID {
			out.LastUID = m.Uid
		}
		if !slices.Contains(cfg.Senders, n.From) {
			// Left alone, its body unread; said aloud when it poses as a
			// notice, so a spoof is seen, never acted on.
			if cfg.classify(n.Subject) != KindOther || lookalike(cfg.Senders, n.From) {
				out.Ignored = append(out.Ignored, fmt.Sprintf("ignored a notice from %s of %s: sender not trusted", safeAddr(n.From), n.Date.UTC().Format(time.RFC3339)))
			}
			out.Others++
			continue
		}
		if m.Size > maxNoticeBytes {
			out.Warnings = append(out.Warnings, fmt.Sprintf("a message from %s of %s (%d bytes) is larger than %d bytes and was not read: read it by hand",
				n.From, n.Date.UTC().Format(time.RFC3339), m.Size, maxNoticeBytes))
			out.Others++
			continue
		}
		body, err := fetchBody(c, m.Uid)
		if err != nil {
			return nil, err
		}
		text := noticeText(body)
		n.Kind = cfg.classify(n.Subject + "\n" + text)
		if n.Kind == KindOther {
			out.Others++
			continue
		}
		if cfg.CheckAuth {
			if why := authFailure(body, n.From); why != "" {
				out.Ignored = append(out.Ignored, fmt.Sprintf("ignored a notice from %s of %s: sender not trusted (%s)", n.From, n.Date.UTC().Format(time.RFC3339), why))
				out.Others++
				continue
			}
		}
		n.Text = Redact(strings.TrimSpace(n.Subject + ": " + text))
		out.Notices = append(out.Notices, n)
		seen = append(seen, m.Uid)
	}
	if cfg.MarkSeen && len(seen) > 0 {
		set := new(imap.SeqSet)
		set.AddNum(seen...)
		if err := c.UidStore(set, imap.FormatFlagsOp(imap.AddFlags, true), []any{imap.SeenFlag}, nil); err != nil {
			return nil, fmt.Errorf("flagging notices as seen: %w", err)
		}
	}
	return out, nil
}

// classify says what kind of notice a text is; an error notice wins.
func (c Config) classify(hay string) Kind {
	switch {
	case c.Patterns.Error.MatchString(hay):
		return KindUploadError
	case c.Patterns.NewData.MatchString(hay):
		return KindNewData
	}
	return KindOther
}

// lookalike says whether from borrows a trusted sender's local part at
// another domain (seft-noreply@evil.example).
func lookalike(senders []string, from string) bool {
	local, _, _ := strings.Cut(from, "@")
	for _, s := range senders {
		if l, _, _ := strings.Cut(s, "@"); l == local {
			return true
		}
	}
	return false
}

// safeAddr keeps a sender address printable: it is written to logs and the
// report, and comes from anyone.
func safeAddr(a string) string {
	if a == "" {
		return "(no sender)"
	}
	return Redact(a)
}

// authFailure checks the Authentication-Results the mailbox server added
// (the topmost one: servers prepend theirs): "" when there is none, or
// when DMARC passed, or DKIM passed for the sender's domain; else why not.
func authFailure(raw []byte, from string) string {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "its headers cannot be read"
	}
	ars := m.Header["Authentication-Results"]
	if len(ars) == 0 {
		return ""
	}
	_, results, err := authres.Parse(ars[0])
	if err != nil {
		return "its Authentication-Results cannot be read"
	}
	_, domain, _ := strings.Cut(from, "@")
	var got []string
	for _, r := range results {
		switch r := r.(type) {
		case *authres.DMARCResult:
			if r.Value == authres.ResultPass && (r.From == "" || strings.EqualFold(r.From, domain)) {
				return ""
			}
			got = append(got, "dmarc="+string(r.Value))
		case *authres.DKIMResult:
			d := r.Domain
			if d == "" {
				_, d, _ = strings.Cut(r.Identifier, "@")
			}
			if r.Value == authres.ResultPass && strings.EqualFold(d, domain) {
				return ""
			}
			got = append(got, "dkim="+string(r.Value))
		}
	}
	if len(got) == 0 {
		return "Authentication-Results has no dmarc or dkim result"
	}
	return "Authentication-Results: " + strings.Join(got, ", ")
}

func fetchBody(c *client.Client, uid uint32) ([]byte, error) {
	set := new(imap.SeqSet)
	set.AddNum(uid)
	sec := &imap.BodySectionName{Peek: true}
	ch := make(chan *imap.Message, 1)
	errc := make(chan error, 1)
	go func() { errc <- c.UidFetch(set, []imap.FetchItem{sec.FetchItem()}, ch) }()
	var body []byte
	for m := range ch {
		if l := m.GetBody(sec); l != nil {
			b, err := io.ReadAll(io.LimitReader(l, maxNoticeBytes))
			if err != nil {
				return nil, err
			}
			body = b
		}
	}
	return body, <-errc
}

// noticeText is the first text/plain part of a message, decoded.
func noticeText(raw []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	return partText(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body, 0)
}

func partText(ctype, cte string, r io.Reader, depth int) string {
	mt, params, err := mime.ParseMediaType(ctype)
	if ctype == "" {
		mt, err = "text/plain", nil
	}
	if err != nil || depth > 3 {
		return ""
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(r, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return ""
			}
			if t := partText(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1); t != "" {
				return t
			}
		}
	}
	if mt != "text/plain" {
		return ""
	}
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	return string(b)
}

// digits finds runs of six or more digits, spaces or dashes between them
// allowed: NHS numbers (943 476 5919), dates of birth, other identifiers.
var digits = regexp.MustCompile(`\d(?:[ \-/.]?\d){5,}`)

// maxText bounds the notice text kept in the ledger and the report.
const maxText = 500

// Redact makes a notice's text safe to keep and mail: identifiers cleared,
// control characters and runs of white space turned into single spaces, at
// most 500 characters.
func Redact(s string) string {
	s = digits.ReplaceAllString(s, "[number removed]")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxText {
		s = string(r[:maxText]) + "..."
	}
	return s
}
