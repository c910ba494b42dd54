// Package oauthsrv is seftsim's stand-in for the Microsoft identity
// platform that NHSmail (Exchange Online) takes tokens from: an OAuth 2.0
// token endpoint for the client-credentials grant, the device-code grant
// (RFC 8628) and refresh tokens, issuing short-lived bearer tokens so that
// clients must refresh. The SMTP sink and the IMAP server ask it whether a
// token is good.
package oauthsrv

import (
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configures a server. ClientID and ClientSecret are required.
type Options struct {
	Addr         string      // listen address; "" = 127.0.0.1:0
	TLS          *tls.Config // nil = plain HTTP (tests of the refusal only)
	ClientID     string
	ClientSecret string
	// ClientCert, if set, is a certificate credential registered for the
	// client: a client assertion signed with its key works as the secret.
	ClientCert *x509.Certificate
	// User is the mailbox a device-code sign-in stands for; tokens from the
	// client-credentials grant are good for any mailbox (app-only access).
	User string
	// Mailboxes are the other mailboxes User may open with a device token
	// (a shared mailbox the user has full access to).
	Mailboxes []string
	TTL       time.Duration // access token lifetime; 0 = DefaultTTL
	// AutoApprove approves every device code at once, as if the user had
	// signed in, for unattended demos.
	AutoApprove bool
	Logger      *slog.Logger
	Now         func() time.Time // nil = time.Now
}

// DefaultTTL is short on purpose: a nightly run outlives its first token.
const DefaultTTL = 60 * time.Second

// Grant types, as sent in grant_type.
const (
	GrantClientCredentials = "client_credentials"
	GrantDeviceCode        = "urn:ietf:params:oauth:grant-type:device_code"
	GrantRefreshToken      = "refresh_token"
)

// Stats counts what the server did, for tests: every token issued, by grant.
type Stats struct {
	Issued map[string]int `json:"issued"`
}

// Server is a running token endpoint.
type Server struct {
	o    Options
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
	url  string

	mu      sync.Mutex
	tokens  map[string]grantInfo // access token -> who and until when
	refresh map[string]string    // refresh token -> user
	devices map[string]*device   // device code -> state
	byCode  map[string]*device   // user code -> state
	issued  map[string]int
}

type grantInfo struct {
	user    string // "" = app-only (client credentials)
	expires time.Time
}

type device struct {
	deviceCode, userCode string
	approved             bool
	expires              time.Time
}

// Start listens and serves.
func Start(o Options) (*Server, error) {
	if o.ClientID == "" || o.ClientSecret == "" {
		return nil, errors.New("oauthsrv: ClientID and ClientSecret are required")
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("oauthsrv: %w", err)
	}
	s := &Server{o: o, ln: ln, done: make(chan struct{}), tokens: map[string]grantInfo{}, refresh: map[string]string{},
		devices: map[string]*device{}, byCode: map[string]*device{}, issued: map[string]int{}}
	scheme := "http"
	if o.TLS != nil {
		scheme = "https"
		s.ln = tls.NewListener(ln, o.TLS)
	}
	s.url = scheme + "://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth2/v2.0/token", s.token)
	mux.HandleFunc("POST /oauth2/v2.0/devicecode", s.deviceCode)
	mux.HandleFunc("/device", s.verify)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)}
	go func() {
		defer close(s.done)
		s.srv.Serve(s.ln)
	}()
	return s, nil
}

// TokenURL is the token endpoint, as Microsoft spells it.
func (s *Server) TokenURL() string { return s.url + "/oauth2/v2.0/token" }

// DeviceURL is the device authorization endpoint.
func (s *Server) DeviceURL() string { return s.url + "/oauth2/v2.0/devicecode" }

// VerificationURL is the page where a person enters the user code.
func (s *Server) VerificationURL() string { return s.url + "/device" }

// ClientID and ClientSecret are the one registered client's credentials.
func (s *Server) ClientID() string     { return s.o.ClientID }
func (s *Server) ClientSecret() string { return s.o.ClientSecret }

// Close stops the server.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.issued))
	for k, v := range s.issued {
		m[k] = v
	}
	return Stats{Issued: m}
}

// Check says whether token is a live access token good for user's mailbox.
// Tokens are compared in constant time; expired ones are refused.
func (s *Server) Check(user, token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	for t, g := range s.tokens {
		if now.After(g.expires) {
			delete(s.tokens, t)
		}
	}
	for t, g := range s.tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			if g.user == "" || strings.EqualFold(g.user, user) {
				return true
			}
			for _, m := range s.o.Mailboxes {
				if strings.EqualFold(g.user, s.o.User) && strings.EqualFold(m, user) {
					return true
				}
			}
			return false
		}
	}
	return false
}

// Approve approves the device sign-in with this user code.
func (s *Server) Approve(userCode string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.byCode[strings.ToUpper(strings.TrimSpace(userCode))]
	if d == nil || s.o.Now().After(d.expires) {
		return false
	}
	d.approved = true
	return true
}

// oauthError answers as RFC 6749 section 5.2 says.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (s *Server) clientOK(r *http.Request) (id string, ok bool) {
	id, secret, basic := r.BasicAuth()
	if !basic {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.o.ClientID)) == 1
	secOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.o.ClientSecret)) == 1
	return id, idOK && secOK
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "malformed form")
		return
	}
	grant := r.PostFormValue("grant_type")
	switch grant {
	case GrantClientCredentials:
		if r.PostFormValue("client_assertion_type") == clientAssertionType {
			if err := s.checkAssertion(r.PostFormValue("client_assertion")); err != nil || r.PostFormValue("client_id") != s.o.ClientID {
				msg := "unknown client"
				if err != nil {
					msg = err.Error()
				}
				oauthError(w, http.StatusUnauthorized, "invalid_client", msg)
				return
			}
			s.issue(w, grant, "", false)
			return
		}
		if _, ok := s.clientOK(r); !ok {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
			return
		}
		s.issue(w, grant, "", false)
	case GrantDeviceCode:
		if r.PostFormValue("client_id") != s.o.ClientID {
			oauthError(w, http.StatusBadRequest, "invalid_client", "unknown client")
			return
		}
		s.mu.Lock()
		d := s.devices[r.PostFormValue("device_code")]
		var code string
		switch {
		case d == nil:
			code = "invalid_grant"
		case s.o.Now().After(d.expires):
			code = "expired_token"
		case !d.approved:
			code = "authorization_pending"
		default:
			delete(s.devices, d.deviceCode) // a device code is used once
			delete(s.byCode, d.userCode)
		}
		s.mu.Unlock()
		if code != "" {
			oauthError(w, http.StatusBadRequest, code, "device sign-in: "+code)
			return
		}
		s.issue(w, grant, s.o.User, true)
	case GrantRefreshToken:
		if r.PostFormValue("client_id") != s.o.ClientID && !s.basicIs(r) {
			oauthError(w, http.StatusBadRequest, "invalid_client", "unknown client")
			return
		}
		rt := r.PostFormValue("refresh_token")
		s.mu.Lock()
		user, ok := s.refresh[rt]
		if ok {
			delete(s.refresh, rt) // rotated, as Microsoft does
		}
		s.mu.Unlock()
		if !ok {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "AADSTS70000: the refresh token is invalid or was already used")
			return
		}
		s.issue(w, grant, user, true)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+grant+" is not supported")
	}
}

func (s *Server) basicIs(r *http.Request) bool {
	id, _, ok := r.BasicAuth()
	return ok && id == s.o.ClientID
}

// issue answers with a new access token (and, for a user, a new refresh
// token).
func (s *Server) issue(w http.ResponseWriter, grant, user string, withRefresh bool) {
	at := "sim-at-" + rand.Text()
	resp := map[string]any{"token_type": "Bearer", "access_token": at, "expires_in": int(s.o.TTL / time.Second),
		"scope": "https://outlook.office365.com/.default"}
	s.mu.Lock()
	s.tokens[at] = grantInfo{user: user, expires: s.o.Now().Add(s.o.TTL)}
	if withRefresh {
		rt := "sim-rt-" + rand.Text()
		s.refresh[rt] = user
		resp["refresh_token"] = rt
	}
	s.issued[grant]++
	s.mu.Unlock()
	s.o.Logger.Info("oauth token issued", "grant", grant, "user", user, "ttl", s.o.TTL) // never the token
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(resp)
}

func (s *Server) deviceCode(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostFormValue("client_id") != s.o.ClientID {
		oauthError(w, http.StatusBadRequest, "invalid_client", "unknown client")
		return
	}
	d := &device{deviceCode: rand.Text(), userCode: strings.ToUpper(rand.Text()[:8]), expires: s.o.Now().Add(15 * time.Minute),
		approved: s.o.AutoApprove}
	s.mu.Lock()
	s.devices[d.deviceCode] = d
	s.byCode[d.userCode] = d
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"device_code": d.deviceCode, "user_code": d.userCode, "verification_uri": s.VerificationURL(),
		"expires_in": 900, "interval": 1,
		"message": "To sign in, use a web browser to open the page " + s.VerificationURL() + " and enter the code " + d.userCode + " to authenticate.",
	})
}

// verify is the sign-in page: GET shows a form, POST user_code approves.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.Method == http.MethodPost {
		code := r.PostFormValue("user_code")
		if s.Approve(code) {
			fmt.Fprintf(w, "<p id=\"approved\">Signed in as %s. You can close this window.</p>\n", html.EscapeString(s.o.User))
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintln(w, "<p class=\"error\">That code is wrong or has expired.</p>")
		return
	}
	fmt.Fprintln(w, `<form method="post"><label for="user_code">Code</label> <input id="user_code" name="user_code"> <button type="submit">Next</button></form>`)
}
