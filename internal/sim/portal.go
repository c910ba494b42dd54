package sim

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	siteUpload   = "upload"
	siteDownload = "download"
	cookieName   = "SEFTSESSION"

	msgInvalid = "Invalid user name or password."
	msgLocked  = "Your account has been locked. Please contact the service desk."
	msgExpired = "Your session has expired. Please sign in again."
	maxLogins  = 3 // consecutive wrong passwords before the lock
)

// session is one browser's cookie on one site. Before sign-in it only
// carries the login form's CSRF token.
type session struct {
	id       string
	site     string
	account  string // "" until signed in
	csrf     string
	lastSeen time.Time      // seftsim's clock
	expired  bool           // set by the expire-after fault
	tokens   map[string]int // one-time download token (v3: ref) -> file ID
	// v3 only
	pending string         // account name given at the first login step
	renew   bool           // the right password, but it has expired
	noticed bool           // the notice after sign-in was accepted
	tickets map[string]int // one-time collect ticket -> file ID
}

func (s *Sim) portalHandler() http.Handler {
	mux := http.NewServeMux()
	if s.opts.Markup == "v3" {
		s.v3Routes(mux)
	} else {
		s.classicRoutes(mux)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		s.renderStatus(w, http.StatusOK, "SEFT", "Use /upload/ to send files and /download/ to collect them.")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderStatus(w, http.StatusNotFound, "Page not found", "If you typed the web address, check it is correct.")
	})
	faulty := s.withFaults(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store") // patient data: never cached
		w.Header().Set("X-Content-Type-Options", "nosniff")
		faulty.ServeHTTP(w, r)
	})
}

// classicRoutes are the server-rendered sites of markups v1 and v2.
func (s *Sim) classicRoutes(mux *http.ServeMux) {
	for _, site := range []string{siteUpload, siteDownload} {
		mux.HandleFunc("POST /"+site+"/change-password", func(w http.ResponseWriter, r *http.Request) { s.passwordChange(w, r, site) })
		if site != siteDownload || !s.opts.V4.IdP { // v4's IdP has its own (v4away.go)
			mux.HandleFunc("GET /"+site+"/login", func(w http.ResponseWriter, r *http.Request) { s.loginPage(w, r, site) })
			mux.HandleFunc("POST /"+site+"/login", func(w http.ResponseWriter, r *http.Request) { s.loginPost(w, r, site) })
		}
		mux.HandleFunc("GET /"+site+"/logout", func(w http.ResponseWriter, r *http.Request) { s.logout(w, r, site) })
	}
	for _, p := range []string{"GET /download", "GET /download/{$}"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/download/files", http.StatusSeeOther)
		})
	}
	mux.HandleFunc("GET /upload", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/upload/", http.StatusSeeOther)
	})
	if s.opts.Markup == "v4" {
		s.v4Routes(mux) // its own list and download routes
	} else {
		mux.HandleFunc("GET /download/files", s.filesPage)
		mux.HandleFunc("POST /download/fetch", s.fetch)
	}
	mux.HandleFunc("GET /download/fetch", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		s.renderStatus(w, http.StatusMethodNotAllowed, "Method not allowed", "Use the Download button on the list of files.")
	})
	if s.opts.BenchDirect {
		mux.HandleFunc("GET /download/direct/{id}", s.direct)
	}
	mux.HandleFunc("GET /upload/{$}", s.uploadPage)
	mux.HandleFunc("POST /upload/submit", s.uploadPost)
}

// cookie is the session cookie of a site; Secure unless debugging over HTTP.
func (s *Sim) cookie(site, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: cookieName, Value: value, Path: "/" + site, MaxAge: maxAge,
		HttpOnly: true, Secure: !s.opts.HTTP, SameSite: http.SameSiteLaxMode}
}

// sessionLocked finds the request's session on site. For a signed-in session
// it also applies idle expiry; expired reports a session that just died.
func (s *Sim) sessionLocked(r *http.Request, site string) (ss *session, expired bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, false
	}
	ss = s.sessions[c.Value]
	if ss == nil || ss.site != site {
		return nil, false
	}
	now := s.nowLocked()
	if ss.account != "" && (ss.expired || now.Sub(ss.lastSeen) > s.opts.SessionIdle) {
		delete(s.sessions, ss.id)
		return nil, true
	}
	ss.lastSeen = now
	return ss, false
}

// signedIn returns the request's signed-in session, or redirects to the login
// page (with ?expired=1 when the session has just expired) and returns nil.
func (s *Sim) signedIn(w http.ResponseWriter, r *http.Request, site string) *session {
	s.mu.Lock()
	ss, expired := s.sessionLocked(r, site)
	s.mu.Unlock()
	if ss != nil && ss.account != "" {
		return ss
	}
	to := "/" + site + "/login"
	if expired {
		to += "?expired=1"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

func (s *Sim) newSessionLocked(site, account string) *session {
	ss := &session{id: rand.Text(), site: site, account: account, csrf: rand.Text(),
		lastSeen: s.nowLocked(), tokens: map[string]int{}, tickets: map[string]int{}}
	s.sessions[ss.id] = ss
	return ss
}

func (s *Sim) expireAllSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if ss.account != "" {
			ss.expired = true
		}
	}
	s.log.Info("sessions expired by fault")
}

// loginPage shows the form. A live session is kept rather than replaced, so
// a second tab that opens the login page does not sign the first one out.
func (s *Sim) loginPage(w http.ResponseWriter, r *http.Request, site string) {
	s.mu.Lock()
	ss, _ := s.sessionLocked(r, site)
	if ss == nil {
		ss = s.newSessionLocked(site, "")
		http.SetCookie(w, s.cookie(site, ss.id, 0))
	}
	s.mu.Unlock()
	p := page{Title: "Sign in", Action: "/" + site + "/login", CSRF: ss.csrf}
	if r.URL.Query().Get("expired") == "1" {
		p.Notice = msgExpired
	}
	s.render(w, http.StatusOK, "login", p)
}

func (s *Sim) loginPost(w http.ResponseWriter, r *http.Request, site string) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderStatus(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	m := s.markup()
	s.mu.Lock()
	ss, _ := s.sessionLocked(r, site)
	slow := s.faults.SlowLogin
	if r.PostForm.Has(m.passField) {
		// Counted on arrival, whatever follows: the password has been sent.
		s.accounts[site].PasswordPosts++
	}
	s.mu.Unlock()
	if ss == nil || !equal(r.PostForm.Get("csrf_token"), ss.csrf) {
		s.renderStatus(w, http.StatusForbidden, "Forbidden",
			"The form has expired or did not come from this site. Go back, reload the page and try again.")
		return
	}
	if slow > 0 && !s.sleep(r, slow) {
		return
	}
	user, pass := r.PostForm.Get(m.userField), r.PostForm.Get(m.passField)

	s.mu.Lock()
	out := s.checkPasswordLocked(site, user, pass)
	if out == loginOK {
		delete(s.sessions, ss.id)
		ss = s.newSessionLocked(site, site)
	}
	csrf := ss.csrf
	s.mu.Unlock()

	switch out {
	case loginRefused, loginLocked:
		msg := map[string]string{loginRefused: msgInvalid, loginLocked: msgLocked}[out]
		s.log.Info("login refused", "site", site, "locked", out == loginLocked)
		s.render(w, http.StatusOK, "login", page{Title: "Sign in", Action: "/" + site + "/login", CSRF: csrf, Error: msg})
		return
	case loginRenew:
		s.log.Info("login with an expired password", "site", site)
		s.render(w, http.StatusOK, "renew", page{Title: "Password expired", Action: "/" + site + "/change-password", CSRF: csrf})
		return
	}
	s.log.Info("login", "site", site)
	http.SetCookie(w, s.cookie(site, ss.id, 0))
	home := "/upload/"
	if site == siteDownload {
		home = "/download/files"
	}
	http.Redirect(w, r, home, http.StatusSeeOther)
}

// Outcomes of a password check.
const (
	loginOK      = "signed-in"
	loginRefused = "refused"
	loginLocked  = "locked"
	loginRenew   = "password-expired"
)

// checkPasswordLocked judges one password for site's account, the same way
// in every markup: a wrong user name counts against no account; maxLogins
// wrong passwords in a row lock it; a locked account refuses even the right
// password; the right password of an account whose password has expired
// signs nobody in.
func (s *Sim) checkPasswordLocked(site, user, pass string) string {
	a := s.accounts[site]
	switch {
	case user != a.User:
		return loginRefused
	case a.Locked:
		return loginLocked
	case !equal(pass, a.password):
		a.Failed++
		if a.Failed >= maxLogins {
			a.Locked = true
			return loginLocked
		}
		return loginRefused
	case a.PasswordExpired:
		a.Failed = 0
		return loginRenew
	}
	a.Failed = 0
	a.Logins++
	return loginOK
}

// passwordChange is the change form of an expired password, in every
// markup. It changes nothing: it counts, because the bot must never send it.
func (s *Sim) passwordChange(w http.ResponseWriter, r *http.Request, site string) {
	s.mu.Lock()
	s.accounts[site].PasswordChangePosts++
	s.mu.Unlock()
	s.log.Warn("password change attempted", "site", site)
	if s.opts.Markup == "v3" {
		apiError(w, http.StatusForbidden, "not-changed", v3ChangeRefuse)
		return
	}
	s.renderStatus(w, http.StatusForbidden, "Password not changed", "Your password could not be changed here. Contact the service desk.")
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (s *Sim) logout(w http.ResponseWriter, r *http.Request, site string) {
	s.mu.Lock()
	if ss, _ := s.sessionLocked(r, site); ss != nil {
		delete(s.sessions, ss.id)
	}
	s.mu.Unlock()
	http.SetCookie(w, s.cookie(site, "", -1))
	http.Redirect(w, r, "/"+site+"/login", http.StatusSeeOther)
}

func (s *Sim) filesPage(w http.ResponseWriter, r *http.Request) {
	ss := s.signedIn(w, r, siteDownload)
	if ss == nil {
		return
	}
	n := 1
	if v := r.URL.Query().Get("page"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			s.renderStatus(w, http.StatusBadRequest, "Bad request", "That page does not exist.")
			return
		}
	}
	size := s.opts.PageSize
	s.mu.Lock()
	pages := max(1, (len(s.files)+size-1)/size)
	n = min(n, pages)
	var rows []row
	for _, f := range s.files[min((n-1)*size, len(s.files)):min(n*size, len(s.files))] {
		tok := rand.Text()
		ss.tokens[tok] = f.ID
		rows = append(rows, row{Name: f.Name, Size: f.Size, SizeText: thousands(f.Size),
			Date: f.Published.In(s.london).Format(time.DateOnly), Token: tok})
	}
	s.mu.Unlock()
	p := page{Title: "Your files", SignedIn: true, Rows: rows, Page: n, Pages: pages}
	if n > 1 {
		p.Prev = n - 1
	}
	if n < pages {
		p.Next = n + 1
	}
	s.render(w, http.StatusOK, "files", p)
}

// fetch answers a Download click: the token must have been rendered for this
// session and is spent on first use.
func (s *Sim) fetch(w http.ResponseWriter, r *http.Request) {
	ss := s.signedIn(w, r, siteDownload)
	if ss == nil {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderStatus(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	s.sendOrGone(w, r, s.spend(ss.tokens, r.PostForm.Get("token")), "This link has expired.")
}

// spend takes a one-time token, ref or ticket out of a session's map: it
// works once. It returns the file it stood for, or nil when it was unknown,
// already spent, or its file is no longer listed.
func (s *Sim) spend(m map[string]int, key string) *File {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, f := s.spendLocked(m, key)
	return f
}

// spendLocked is spend for a caller that holds s.mu; it also returns the
// file ID the key stood for.
func (s *Sim) spendLocked(m map[string]int, key string) (int, *File) {
	id, ok := m[key]
	delete(m, key)
	if !ok {
		return 0, nil
	}
	return id, s.listedLocked(id)
}

// sendOrGone sends f, or answers 410 with gone when the link was spent.
func (s *Sim) sendOrGone(w http.ResponseWriter, r *http.Request, f *File, gone string) {
	if f == nil {
		s.renderStatus(w, http.StatusGone, "Link expired", gone)
		return
	}
	s.send(w, r, f)
}

// direct is --bench-direct's tokenless download, to measure the bot's
// overhead against a plain HTTP client.
func (s *Sim) direct(w http.ResponseWriter, r *http.Request) {
	ss := s.signedIn(w, r, siteDownload)
	if ss == nil {
		return
	}
	id, err := strconv.Atoi(r.PathValue("id"))
	s.mu.Lock()
	f := s.listedLocked(id)
	s.mu.Unlock()
	if err != nil || f == nil {
		s.renderStatus(w, http.StatusNotFound, "Not found", "There is no such file.")
		return
	}
	s.send(w, r, f)
}

func (s *Sim) listedLocked(id int) *File {
	for _, f := range s.files {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// send streams a file's content. The truncate fault sends a correct
// Content-Length, half the body, then drops the connection.
func (s *Sim) send(w http.ResponseWriter, r *http.Request, f *File) {
	s.mu.Lock()
	truncate := s.rng.hit(s.faults.TruncateRate)
	s.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "text/csv")
	h.Set("Content-Disposition", contentDisposition(f.Name))
	h.Set("Content-Length", strconv.FormatInt(f.Size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	limit := f.Size
	if truncate {
		limit = f.Size / 2
	}
	if err := f.writeContent(w, limit); err != nil {
		s.log.Info("download interrupted", "file_id", f.ID, "err", err)
		return
	}
	if truncate {
		s.log.Info("download truncated by fault", "file_id", f.ID, "sent", limit)
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // net/http's way to drop the connection mid-body
	}
	s.mu.Lock()
	s.sent++
	s.mu.Unlock()
}

// contentDisposition names the file for the browser: an ASCII fallback in
// filename, and the exact name in filename* when it is not plain ASCII.
func contentDisposition(name string) string {
	var fb strings.Builder
	plain := true
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || r > 0x7e:
			plain = false
			fb.WriteByte('_')
		case r == '"' || r == '\\':
			fb.WriteByte('\\')
			fb.WriteRune(r)
		default:
			fb.WriteRune(r)
		}
	}
	v := `attachment; filename="` + fb.String() + `"`
	if !plain {
		v += "; filename*=UTF-8''" + pctEncode(name)
	}
	return v
}

// pctEncode is RFC 8187's value encoding: attr-chars stay, every other byte
// becomes %XX.
func pctEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
