package sim

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Two options of markup v4 put parts of the portal on another origin, as
// bought file-transfer products do: the file list inside an <iframe> (on
// the same origin, or on another site so that Chromium runs it out of
// process), and sign-in through an identity provider (IdP) on another
// site. The other site is the same listener under the host name
// "localhost" (the portal is 127.0.0.1): site isolation and cookies key on
// the host name, and the generated certificate names both.
// docs/seftsim.md is the contract.

const (
	awayHost      = "localhost"
	idpCookie     = "IDPSESSION"
	idpConsent    = "idp_consent"
	v4FrameSame   = "same"
	v4FrameCross  = "cross"
	v4CodeTTL     = time.Minute // a one-time code's life, real time
	v4FrameTTL    = time.Minute // a frame token's life, real time
	v4AwayMaxKeys = 1000        // bound on IdP sessions, codes and frame tokens
)

type idpSession struct {
	id, csrf       string
	state, back    string // the portal's state and callback of this sign-in
	email, account string // account is set once the password is accepted
	signedIn       bool   // "stay signed in?" answered: the IdP session exists
}

type idpCode struct {
	account, state string
	until          time.Time
}

type frameToken struct {
	session string
	until   time.Time
}

// awayState is the bookkeeping of the frame and IdP options, under Sim.mu.
type awayState struct {
	idp    map[string]*idpSession
	codes  map[string]idpCode
	frames map[string]frameToken
}

func newAwayState() awayState {
	return awayState{idp: map[string]*idpSession{}, codes: map[string]idpCode{}, frames: map[string]frameToken{}}
}

// isAway reports whether r came to the other site's host name.
func isAway(r *http.Request) bool {
	h, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		h = r.Host
	}
	return h == awayHost
}

// origin is the portal's ("home") or the other site's origin.
func (s *Sim) origin(away bool) string {
	u, _ := url.Parse(s.portalURL)
	if away {
		return u.Scheme + "://" + net.JoinHostPort(awayHost, u.Port())
	}
	return u.Scheme + "://" + u.Host
}

func (s *Sim) v4AwayRoutes(mux *http.ServeMux) {
	o := s.opts.V4
	if o.Frame != "" {
		mux.HandleFunc("GET /download/list", s.v4List)
	}
	if o.IdP {
		mux.HandleFunc("GET /download/login", s.v4IdPStart)
		mux.HandleFunc("GET /download/callback", s.v4IdPCallback)
		mux.HandleFunc("GET /idp/authorize", s.idpAuthorize)
		mux.HandleFunc("POST /idp/email", s.idpEmail)
		mux.HandleFunc("POST /idp/password", s.idpPassword)
		mux.HandleFunc("POST /idp/stay", s.idpStay)
	}
}

// wrongHost answers requests for the other site's pages that came to the
// portal's host name, and the portal's that came to the other's.
func (s *Sim) wrongHost(w http.ResponseWriter, r *http.Request, away bool) bool {
	if isAway(r) == away {
		return false
	}
	s.renderStatus(w, http.StatusNotFound, "Page not found", "If you typed the web address, check it is correct.")
	return true
}

var v4Shell = template.Must(template.New("shell").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Transfers - SEFT</title></head>
<body>
<header><p class="service">Secure Electronic File Transfer</p><a id="sign-out" href="logout">Sign out</a></header>
<main>
<h1>Transfers</h1>
<iframe id="transfers-frame" title="Transfers" src="{{.}}" style="width:100%;height:40em;border:0"></iframe>
</main>
</body>
</html>
`))

// v4FrameShell is /download/files when the list is framed: the portal's page
// with the list in an iframe. A cross-site frame's URL carries a one-time
// token that the list's site exchanges for its own session cookie.
func (s *Sim) v4FrameShell(w http.ResponseWriter, r *http.Request, ss *session) {
	src := "list"
	if p := r.URL.Query().Get("page"); p != "" {
		src += "?page=" + url.QueryEscape(p)
	}
	if s.opts.V4.Frame == v4FrameCross {
		tok := rand.Text()
		s.mu.Lock()
		a := &s.v4.away
		pruneFrames(a.frames)
		a.frames[tok] = frameToken{session: ss.id, until: time.Now().Add(v4FrameTTL)}
		s.mu.Unlock()
		q := url.Values{"ft": {tok}}
		if p := r.URL.Query().Get("page"); p != "" {
			q.Set("page", p)
		}
		src = s.origin(true) + "/download/list?" + q.Encode()
	}
	var buf bytes.Buffer
	if err := v4Shell.Execute(&buf, src); err != nil {
		s.log.Error("template", "name", "v4 shell", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

func pruneFrames(m map[string]frameToken) {
	now := time.Now()
	for k, v := range m {
		if now.After(v.until) {
			delete(m, k)
		}
	}
	if len(m) >= v4AwayMaxKeys {
		clear(m)
	}
}

// v4List is the framed list. On the other site, a frame token is spent for
// a session cookie there (SameSite=None; Secure, so that the browser sends
// it inside a cross-site frame and in the tabs the frame opens), then the
// same URL without the token is loaded.
func (s *Sim) v4List(w http.ResponseWriter, r *http.Request) {
	cross := s.opts.V4.Frame == v4FrameCross
	if s.wrongHost(w, r, cross) {
		return
	}
	if tok := r.URL.Query().Get("ft"); cross && tok != "" {
		s.mu.Lock()
		ft, ok := s.v4.away.frames[tok]
		delete(s.v4.away.frames, tok)
		if ok && time.Now().Before(ft.until) && s.sessions[ft.session] != nil {
			s.v4.st.FrameTokens++
		} else {
			ok = false
			s.v4.st.FrameRefused++
		}
		s.mu.Unlock()
		if !ok {
			s.renderStatus(w, http.StatusForbidden, "Signed out", msgExpired)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: cookieName, Value: ft.session, Path: "/" + siteDownload,
			HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode})
		to := "list"
		if p := r.URL.Query().Get("page"); p != "" {
			to += "?page=" + url.QueryEscape(p)
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	if cross {
		s.mu.Lock()
		ss, _ := s.sessionLocked(r, siteDownload)
		s.mu.Unlock()
		if ss == nil || ss.account == "" {
			// No sign-in form in a cross-site frame: the portal's page signs in.
			s.renderStatus(w, http.StatusUnauthorized, "Signed out", msgExpired)
			return
		}
	}
	s.v4Files(w, r)
}

var v4IdPTmpl = template.Must(template.New("idp").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Title}} - Identity</title></head>
<body>
<main class="idp">
<h1>{{.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if eq .Step "email"}}<form method="post" action="/idp/email"><input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="email">Email address</label> <input id="email" name="email" type="email" autocomplete="username">
<button type="submit" id="next">Next</button></form>
{{else if eq .Step "password"}}<form method="post" action="/idp/password"><input type="hidden" name="csrf" value="{{.CSRF}}">
<p class="who">{{.Email}}</p>
<label for="passwd">Password</label> <input id="passwd" name="passwd" type="password" autocomplete="current-password">
<button type="submit" id="sign-in">Sign in</button></form>
{{else if eq .Step "stay"}}<form method="post" action="/idp/stay"><input type="hidden" name="csrf" value="{{.CSRF}}">
<p>Do this to reduce the number of times you are asked to sign in.</p>
<button type="submit" name="stay" value="no" id="stay-no">No</button> <button type="submit" name="stay" value="yes" id="stay-yes">Yes</button></form>
{{end}}</main>
{{if .Banner}}<div id="cookie-banner" role="dialog" aria-label="Cookies" style="position:fixed;inset:0;z-index:1000;background:rgba(0,0,0,.5)">
<div style="position:absolute;left:0;right:0;bottom:0;background:#fff;padding:1em">
<p>We use cookies to make this site work and to measure how it is used.</p>
<button type="button" id="accept-cookies">Accept all cookies</button></div></div>
<script>
document.getElementById('accept-cookies').addEventListener('click', () => {
  document.cookie = 'idp_consent=accepted; path=/idp; max-age=31536000; secure; samesite=lax';
  document.getElementById('cookie-banner').remove();
});
</script>{{end}}
</body>
</html>
`))

type idpPage struct {
	Title, Step, CSRF, Email, Error string
	Banner                          bool
}

func (s *Sim) renderIdP(w http.ResponseWriter, r *http.Request, status int, p idpPage) {
	c, err := r.Cookie(idpConsent)
	p.Banner = err != nil || c.Value != "accepted"
	var buf bytes.Buffer
	if err := v4IdPTmpl.Execute(&buf, p); err != nil {
		s.log.Error("template", "name", "v4 idp", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Sim) idpCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: idpCookie, Value: value, Path: "/idp", MaxAge: maxAge,
		HttpOnly: true, Secure: !s.opts.HTTP, SameSite: http.SameSiteLaxMode}
}

// v4IdPStart is the portal's sign-in: a pre-session whose CSRF token is
// the state, and a redirect to the IdP.
func (s *Sim) v4IdPStart(w http.ResponseWriter, r *http.Request) {
	if s.wrongHost(w, r, false) {
		return
	}
	s.mu.Lock()
	ss, _ := s.sessionLocked(r, siteDownload)
	if ss != nil && ss.account != "" {
		s.mu.Unlock()
		http.Redirect(w, r, "/download/files", http.StatusSeeOther)
		return
	}
	if ss == nil {
		ss = s.newSessionLocked(siteDownload, "")
		http.SetCookie(w, s.cookie(siteDownload, ss.id, 0))
	}
	state := ss.csrf
	s.mu.Unlock()
	q := url.Values{"client_id": {"seft"}, "state": {state}, "redirect_uri": {s.origin(false) + "/download/callback"}}
	http.Redirect(w, r, s.origin(true)+"/idp/authorize?"+q.Encode(), http.StatusSeeOther)
}

// idpAuthorize starts a sign-in at the IdP, or, when the IdP session
// already exists, goes straight back with a code.
func (s *Sim) idpAuthorize(w http.ResponseWriter, r *http.Request) {
	if s.wrongHost(w, r, true) {
		return
	}
	q := r.URL.Query()
	back, state := q.Get("redirect_uri"), q.Get("state")
	if q.Get("client_id") != "seft" || back != s.origin(false)+"/download/callback" || state == "" {
		s.renderIdP(w, r, http.StatusBadRequest, idpPage{Title: "Sign-in request not valid", Error: "The application sent a request this service does not accept."})
		return
	}
	s.mu.Lock()
	a := &s.v4.away
	is := s.idpSessionLocked(r)
	if is != nil && is.signedIn {
		code := s.idpCodeLocked(is.account, state)
		s.v4.st.IdPSkipped++
		s.mu.Unlock()
		http.Redirect(w, r, back+"?"+url.Values{"code": {code}, "state": {state}}.Encode(), http.StatusSeeOther)
		return
	}
	if len(a.idp) >= v4AwayMaxKeys {
		clear(a.idp)
	}
	is = &idpSession{id: rand.Text(), csrf: rand.Text(), state: state, back: back}
	a.idp[is.id] = is
	s.mu.Unlock()
	http.SetCookie(w, s.idpCookie(is.id, 0))
	s.renderIdP(w, r, http.StatusOK, idpPage{Title: "Sign in", Step: "email", CSRF: is.csrf})
}

func (s *Sim) idpSessionLocked(r *http.Request) *idpSession {
	c, err := r.Cookie(idpCookie)
	if err != nil {
		return nil
	}
	return s.v4.away.idp[c.Value]
}

func (s *Sim) idpCodeLocked(account, state string) string {
	a := &s.v4.away
	now := time.Now()
	for k, c := range a.codes {
		if now.After(c.until) {
			delete(a.codes, k)
		}
	}
	if len(a.codes) >= v4AwayMaxKeys {
		clear(a.codes)
	}
	code := rand.Text()
	a.codes[code] = idpCode{account: account, state: state, until: now.Add(v4CodeTTL)}
	s.v4.st.CodesIssued++
	return code
}

// idpForm reads an IdP form and its session; it answers and returns nil on
// a form that is not from the IdP's own page.
func (s *Sim) idpForm(w http.ResponseWriter, r *http.Request) *idpSession {
	if s.wrongHost(w, r, true) {
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderIdP(w, r, http.StatusBadRequest, idpPage{Title: "Bad request", Error: "The form could not be read."})
		return nil
	}
	s.mu.Lock()
	is := s.idpSessionLocked(r)
	s.mu.Unlock()
	if is == nil || !equal(r.PostForm.Get("csrf"), is.csrf) {
		s.renderIdP(w, r, http.StatusForbidden, idpPage{Title: "Sign-in expired", Error: "Go back to the application and sign in again."})
		return nil
	}
	return is
}

func (s *Sim) idpEmail(w http.ResponseWriter, r *http.Request) {
	is := s.idpForm(w, r)
	if is == nil {
		return
	}
	email := r.PostForm.Get("email")
	if email == "" || len(email) > 254 {
		s.renderIdP(w, r, http.StatusOK, idpPage{Title: "Sign in", Step: "email", CSRF: is.csrf, Error: "Enter your email address."})
		return
	}
	s.mu.Lock()
	is.email, is.account = email, ""
	s.mu.Unlock()
	s.renderIdP(w, r, http.StatusOK, idpPage{Title: "Enter password", Step: "password", CSRF: is.csrf, Email: email})
}

// idpPassword judges the password of the e-mail given, as every markup's
// sign-in does: counted on arrival, the same lock and expiry rules.
func (s *Sim) idpPassword(w http.ResponseWriter, r *http.Request) {
	if s.wrongHost(w, r, true) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	r.ParseForm() // an unreadable form is answered by idpForm
	if r.PostForm.Has("passwd") {
		s.mu.Lock()
		// Counted on arrival, whatever follows: the password has been sent.
		s.accounts[siteDownload].PasswordPosts++
		s.mu.Unlock()
	}
	is := s.idpForm(w, r)
	if is == nil {
		return
	}
	s.mu.Lock()
	email := is.email
	out := loginRefused
	if email != "" {
		out = s.checkPasswordLocked(siteDownload, v4Account(email), r.PostForm.Get("passwd"))
	}
	if out == loginOK {
		is.account = siteDownload
	}
	s.mu.Unlock()
	switch out {
	case loginOK:
		s.log.Info("idp: password accepted")
		s.renderIdP(w, r, http.StatusOK, idpPage{Title: "Stay signed in?", Step: "stay", CSRF: is.csrf})
	case loginRenew:
		s.log.Info("idp: sign-in with an expired password")
		s.renderIdP(w, r, http.StatusOK, idpPage{Title: "Password expired", Error: "Your password has expired. Contact the service desk to change it."})
	default:
		s.log.Info("idp: login refused", "locked", out == loginLocked)
		msg := map[string]string{loginRefused: msgInvalid, loginLocked: msgLocked}[out]
		s.renderIdP(w, r, http.StatusOK, idpPage{Title: "Enter password", Step: "password", CSRF: is.csrf, Email: email, Error: msg})
	}
}

// v4Account is the account an e-mail names: the user name, alone or as the
// local part of any domain.
func v4Account(email string) string {
	for i := len(email) - 1; i >= 0; i-- {
		if email[i] == '@' {
			return email[:i]
		}
	}
	return email
}

// idpStay answers "Stay signed in?": the IdP session now exists (kept for a
// day on Yes, for the browser's life on No) and the browser goes back to
// the portal with a one-time code.
func (s *Sim) idpStay(w http.ResponseWriter, r *http.Request) {
	is := s.idpForm(w, r)
	if is == nil {
		return
	}
	s.mu.Lock()
	if is.account == "" {
		s.mu.Unlock()
		s.renderIdP(w, r, http.StatusForbidden, idpPage{Title: "Sign-in expired", Error: "Go back to the application and sign in again."})
		return
	}
	is.signedIn = true
	code := s.idpCodeLocked(is.account, is.state)
	back, state := is.back, is.state
	s.mu.Unlock()
	maxAge := 0
	if r.PostForm.Get("stay") == "yes" {
		maxAge = 86400
	}
	http.SetCookie(w, s.idpCookie(is.id, maxAge))
	http.Redirect(w, r, back+"?"+url.Values{"code": {code}, "state": {state}}.Encode(), http.StatusSeeOther)
}

// v4IdPCallback is the portal's end of the sign-in: the state must be this
// browser's and the code is exchanged (in process, as a back-channel call
// would) once.
func (s *Sim) v4IdPCallback(w http.ResponseWriter, r *http.Request) {
	if s.wrongHost(w, r, false) {
		return
	}
	q := r.URL.Query()
	code, state := q.Get("code"), q.Get("state")
	s.mu.Lock()
	ss, _ := s.sessionLocked(r, siteDownload)
	c, ok := s.v4.away.codes[code]
	delete(s.v4.away.codes, code)
	ok = ok && ss != nil && state == ss.csrf && c.state == state && time.Now().Before(c.until)
	if ok {
		delete(s.sessions, ss.id)
		ss = s.newSessionLocked(siteDownload, c.account)
		s.v4.st.IdPSignIns++
	} else {
		s.v4.st.CodesRefused++
	}
	s.mu.Unlock()
	if !ok {
		s.log.Info("idp: code refused")
		s.renderStatus(w, http.StatusBadRequest, "Sign-in failed", "The sign-in could not be completed. Sign in again.")
		return
	}
	s.log.Info("login", "site", siteDownload, "via", "idp")
	http.SetCookie(w, s.cookie(siteDownload, ss.id, 0))
	http.Redirect(w, r, "/download/files", http.StatusSeeOther)
}

// awayCheck checks the frame and IdP options.
func (o *V4Options) awayCheck(http bool) error {
	switch o.Frame {
	case "", v4FrameSame:
	case v4FrameCross:
		if http {
			return fmt.Errorf("v4 frame cross needs TLS: a cross-site frame's cookie must be Secure")
		}
	default:
		return fmt.Errorf("v4 frame must be same or cross, not %q", o.Frame)
	}
	return nil
}
