// Package mailsink is seftsim's stand-in for NHSmail's submission service:
// an SMTP server that demands STARTTLS before AUTH PLAIN (or, like Exchange
// Online after MC786329, XOAUTH2 only), accepts one user, and stores each
// message as DIR/<n>.eml for tests to read back.
package mailsink

import (
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/isaric/seftbot/internal/sim/oauthsrv"
)

// Options configures a sink. Dir, User and Password are required.
type Options struct {
	Dir      string      // where <n>.eml files go; created 0700
	Addr     string      // listen address; "" means 127.0.0.1:0
	TLS      *tls.Config // offered via STARTTLS; nil = no STARTTLS, so AUTH is never allowed
	User     string
	Password string
	// XOAUTH2, when set, makes the sink behave like Exchange Online once
	// Basic authentication is retired: AUTH XOAUTH2 with a token that
	// XOAUTH2 accepts, and every password login answered 550 5.7.30.
	XOAUTH2 func(user, token string) bool
	Logger  *slog.Logger // nil = no logs
}

// MaxMessageBytes bounds one message; the passphrase and report mails are a
// few KB.
const MaxMessageBytes = 10 << 20

// Server is a running sink.
type Server struct {
	opts Options
	smtp *smtp.Server
	ln   net.Listener
	down atomic.Bool
	done chan struct{}

	mu   sync.Mutex // serialises numbering
	next int
}

// Start creates Dir, finds the next free message number and starts serving.
func Start(o Options) (*Server, error) {
	if o.Dir == "" || o.User == "" || o.Password == "" {
		return nil, errors.New("mailsink: Dir, User and Password are required")
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("mailsink: %w", err)
	}
	next, err := nextNumber(o.Dir)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("mailsink: %w", err)
	}
	s := &Server{opts: o, next: next, done: make(chan struct{})}
	s.ln = &downListener{Listener: ln, s: s}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{s: s}, nil
	}))
	srv.Domain = "seftsim.localhost"
	srv.TLSConfig = o.TLS
	srv.AllowInsecureAuth = false // AUTH only after STARTTLS: go-smtp answers 523 before
	srv.MaxMessageBytes = MaxMessageBytes
	srv.MaxRecipients = 50
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv.ErrorLog = slog.NewLogLogger(log.With("component", "mailsink").Handler(), slog.LevelWarn)
	s.smtp = srv
	go func() {
		defer close(s.done)
		srv.Serve(s.ln)
	}()
	return s, nil
}

// Addr is the address the sink listens on, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// SetDown makes the sink answer every new connection with 421 and hang up,
// and refuse new transactions on open ones, until SetDown(false).
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// Close stops the server and drops open connections.
func (s *Server) Close() error {
	err := s.smtp.Close()
	s.ln.Close() // Serve may not have registered it with go-smtp yet
	<-s.done
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Deliver stores a message as if it had been submitted, in the same
// numbering; seftsim's own notices come in this way.
func (s *Server) Deliver(from string, to []string, msg []byte) error {
	_, err := s.store(from, to, msg)
	return err
}

// store writes DIR/<n>.eml atomically (temp file, then rename), mode 0600,
// with the envelope prepended as Return-Path and X-Envelope-To headers.
func (s *Server) store(from string, to []string, msg []byte) (string, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "Return-Path: <%s>\r\nX-Envelope-To: %s\r\n", from, strings.Join(to, ", "))
	buf.Write(msg)

	s.mu.Lock()
	defer s.mu.Unlock()
	tmp, err := os.CreateTemp(s.opts.Dir, ".incoming-*") // 0600
	if err != nil {
		return "", fmt.Errorf("mailsink: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return "", fmt.Errorf("mailsink: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("mailsink: %w", err)
	}
	name := filepath.Join(s.opts.Dir, strconv.Itoa(s.next)+".eml")
	if err := os.Rename(tmp.Name(), name); err != nil {
		return "", fmt.Errorf("mailsink: %w", err)
	}
	s.next++
	return name, nil
}

// nextNumber continues after the highest <n>.eml already in dir, so a
// restarted sink never overwrites a message.
func nextNumber(dir string) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("mailsink: %w", err)
	}
	next := 1
	for _, e := range ents {
		if n, ok := messageNumber(e.Name()); ok && n >= next {
			next = n + 1
		}
	}
	return next, nil
}

func messageNumber(name string) (int, bool) {
	base, ok := strings.CutSuffix(name, ".eml")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(base)
	return n, err == nil && n > 0 && strconv.Itoa(n) == base
}

var errDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service not available, closing transmission channel"}

// downListener answers connections with 421 while the sink is down.
type downListener struct {
	net.Listener
	s *Server
}

func (l *downListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.s.down.Load() {
			return c, err
		}
		c.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "421 4.3.2 %s\r\n", errDown.Message)
		c.Close()
	}
}

// session is one SMTP connection's state.
type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*session)(nil)

// ErrBasicAuthRetired is Exchange Online's answer to a password login once
// Basic authentication for client submission is off.
var ErrBasicAuthRetired = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 30},
	Message: "Basic authentication is not supported for Client Submission"}

// errTokenRefused is Exchange Online's answer to a bad XOAUTH2 token.
var errTokenRefused = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 3}, Message: "Authentication unsuccessful"}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.XOAUTH2 != nil {
		return []string{sasl.Plain, sasl.Login, oauthsrv.XOAUTH2}
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	o := ss.s.opts
	if o.XOAUTH2 != nil {
		switch mech {
		case oauthsrv.XOAUTH2:
			return saslErr{oauthsrv.NewXOAUTH2Server(func(user, token string) bool {
				return subtle.ConstantTimeCompare([]byte(user), []byte(o.User)) == 1 && o.XOAUTH2(user, token)
			}, func(string) { ss.authed = true }), errTokenRefused}, nil
		case sasl.Plain, sasl.Login:
			return saslErr{retired{}, ErrBasicAuthRetired}, nil
		}
		return nil, smtp.ErrAuthUnknownMechanism
	}
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		o := ss.s.opts
		userOK := subtle.ConstantTimeCompare([]byte(user), []byte(o.User)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(o.Password)) == 1
		if !userOK || !passOK || (identity != "" && identity != user) {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.down.Load() {
		return errDown
	}
	if !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	if ss.s.down.Load() {
		return errDown
	}
	msg, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	name, err := ss.s.store(ss.from, ss.to, msg)
	if err != nil {
		slog.Error("mailsink: cannot store message", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot store message"}
	}
	slog.Info("mailsink: message stored", "file", filepath.Base(name), "from", ss.from, "rcpts", len(ss.to))
	return nil
}

// retired refuses every password exchange at its first step.
type retired struct{}

func (retired) Next([]byte) ([]byte, bool, error) { return nil, true, errors.New("basic auth retired") }

// saslErr gives a SASL server's failure the SMTP answer the real service
// sends.
type saslErr struct {
	sasl.Server
	answer *smtp.SMTPError
}

func (s saslErr) Next(r []byte) ([]byte, bool, error) {
	c, done, err := s.Server.Next(r)
	if err != nil {
		return nil, true, s.answer
	}
	return c, done, nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }
