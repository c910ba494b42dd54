package sim

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"path"
	"strconv"
	"time"
)

// Markup v3 is a single-page app: one HTML shell per site and a script
// (internal/sim/v3/app.js) that draws every view from a small JSON API
// under /SITE/api/. It exists so the bot's engine is proved against a portal
// that shares nothing with v1 and v2: a login in two steps posted by fetch,
// a notice to accept, rows drawn late by script with the full name only in
// an attribute, load-more or in-place paging, downloads started by script,
// errors and session expiry shown in place. docs/seftsim.md is the contract.

//go:embed v3/app.js v3/app.css
var v3Assets embed.FS

// Texts the v3 API answers with; app.js shows them as they come.
const (
	v3Refused      = "Those details do not match our records."
	v3Locked       = "This account is blocked. Contact the service desk."
	v3Gone         = "This link is no longer available"
	v3Unavailable  = "Service temporarily unavailable"
	v3SignedOut    = "You have been signed out"
	v3Received     = "Upload received"
	v3StartAgain   = "Please start again."
	v3Forbidden    = "This page has expired. Reload it and try again."
	v3ChangeRefuse = "Your password could not be changed here. Contact the service desk."
)

// Paging modes of the v3 file list.
const (
	PagingAppend  = "append"
	PagingInPlace = "inplace"
)

var v3Shell = template.Must(template.New("shell").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>SEFT · {{.Area}}</title>
<link rel="stylesheet" href="/{{.Site}}/static/app.css"></head>
<body data-site="{{.Site}}" data-paging="{{.Paging}}">
<div class="topbar"><span class="brand">NHS England · SEFT</span><span class="area">{{.Area}}</span>
<button type="button" id="sign-out" hidden>Sign out</button></div>
<div id="app"><p class="booting">Starting…</p></div>
<script src="/{{.Site}}/static/app.js" onerror="document.getElementById('app').textContent='Service temporarily unavailable'"></script>
</body>
</html>
`))

func (s *Sim) v3Routes(mux *http.ServeMux) {
	for _, site := range []string{siteUpload, siteDownload} {
		shell := func(w http.ResponseWriter, r *http.Request) { s.v3Page(w, site) }
		mux.HandleFunc("GET /"+site+"/{$}", shell)
		mux.HandleFunc("GET /"+site+"/login", shell)
		mux.HandleFunc("GET /"+site, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/"+site+"/", http.StatusSeeOther)
		})
		mux.HandleFunc("GET /"+site+"/static/{file}", s.v3Static)
		mux.HandleFunc("GET /"+site+"/api/session", func(w http.ResponseWriter, r *http.Request) { s.v3Session(w, r, site) })
		mux.HandleFunc("POST /"+site+"/api/account", func(w http.ResponseWriter, r *http.Request) { s.v3Account(w, r, site) })
		mux.HandleFunc("POST /"+site+"/api/passphrase", func(w http.ResponseWriter, r *http.Request) { s.v3Passphrase(w, r, site) })
		mux.HandleFunc("POST /"+site+"/api/notice", func(w http.ResponseWriter, r *http.Request) { s.v3Notice(w, r, site) })
		mux.HandleFunc("POST /"+site+"/api/password", func(w http.ResponseWriter, r *http.Request) { s.passwordChange(w, r, site) })
		mux.HandleFunc("POST /"+site+"/api/sign-out", func(w http.ResponseWriter, r *http.Request) { s.v3SignOut(w, r, site) })
		mux.HandleFunc("/"+site+"/api/", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, errors.New("no such API call"))
		})
	}
	mux.HandleFunc("GET /download/files", func(w http.ResponseWriter, r *http.Request) { s.v3Page(w, siteDownload) })
	mux.HandleFunc("GET /download/api/files", s.v3Files)
	mux.HandleFunc("POST /download/api/tickets", s.v3Ticket)
	mux.HandleFunc("POST /download/api/content", s.v3Content)
	mux.HandleFunc("POST /download/collect", s.v3Collect)
	mux.HandleFunc("POST /upload/api/upload", s.v3Upload)
	if s.opts.BenchDirect {
		mux.HandleFunc("GET /download/direct/{id}", s.direct)
	}
}

func (s *Sim) v3Page(w http.ResponseWriter, site string) {
	area := "Collect files"
	if site == siteUpload {
		area = "Send a file"
	}
	var buf bytes.Buffer
	if err := v3Shell.Execute(&buf, map[string]string{"Site": site, "Area": area, "Paging": s.opts.Paging}); err != nil {
		s.log.Error("template", "name", "shell", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

func (s *Sim) v3Static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := v3Assets.ReadFile("v3/" + name)
	if err != nil {
		s.renderStatus(w, http.StatusNotFound, "Page not found", "If you typed the web address, check it is correct.")
		return
	}
	ct := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}[path.Ext(name)]
	w.Header().Set("Content-Type", ct)
	w.Write(b)
}

// v3 session stages, as GET /api/session names them.
func v3Stage(ss *session) string {
	switch {
	case ss.account != "" && ss.noticed:
		return "ready"
	case ss.account != "":
		return "notice"
	case ss.renew:
		return "renew"
	case ss.pending != "":
		return "passphrase"
	}
	return "account"
}

// apiError is the v3 API's error answer: a machine word and the text the
// page shows.
func apiError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]string{"error": code, "message": message})
}

// v3Auth returns the request's session, or answers and returns nil. signedIn
// wants a signed-in session that has accepted the notice; post checks the
// X-CSRF-Token header.
func (s *Sim) v3Auth(w http.ResponseWriter, r *http.Request, site string, signedIn, post bool) *session {
	s.mu.Lock()
	ss, expired := s.sessionLocked(r, site)
	var stage, csrf string
	if ss != nil {
		stage, csrf = v3Stage(ss), ss.csrf
	}
	s.mu.Unlock()
	switch {
	case expired:
		apiError(w, http.StatusUnauthorized, "session-expired", v3SignedOut)
	case ss == nil || signedIn && ss.account == "":
		apiError(w, http.StatusUnauthorized, "signed-out", v3SignedOut)
	case post && !equal(r.Header.Get("X-CSRF-Token"), csrf):
		apiError(w, http.StatusForbidden, "forbidden", v3Forbidden)
	case signedIn && stage != "ready":
		apiError(w, http.StatusForbidden, stage, "Accept the notice first.")
	default:
		return ss
	}
	return nil
}

// decodeAPI reads a small JSON body into v or answers 400.
func decodeAPI(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad-request", "The request could not be read.")
		return false
	}
	return true
}

// v3Session tells the page which view to draw, and gives it the CSRF token;
// a browser without a session gets a pre-login one.
func (s *Sim) v3Session(w http.ResponseWriter, r *http.Request, site string) {
	s.mu.Lock()
	ss, _ := s.sessionLocked(r, site)
	if ss == nil {
		ss = s.newSessionLocked(site, "")
		http.SetCookie(w, s.cookie(site, ss.id, 0))
	}
	out := map[string]string{"state": v3Stage(ss), "csrf": ss.csrf, "account": ss.pending}
	if ss.account != "" {
		out["account"] = s.accounts[ss.account].User
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// v3Account is the first login step: it only remembers the name. Whether
// the account exists is not told.
func (s *Sim) v3Account(w http.ResponseWriter, r *http.Request, site string) {
	ss := s.v3Auth(w, r, site, false, true)
	if ss == nil {
		return
	}
	var req struct {
		Account string `json:"account"`
	}
	if !decodeAPI(w, r, &req) {
		return
	}
	if req.Account == "" || len(req.Account) > 200 {
		apiError(w, http.StatusBadRequest, "account", "Enter your account name.")
		return
	}
	s.mu.Lock()
	ss.pending, ss.renew = req.Account, false
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"state": "passphrase", "account": req.Account})
}

// v3Passphrase is the second login step. The password is counted on
// arrival, before any check or delay.
func (s *Sim) v3Passphrase(w http.ResponseWriter, r *http.Request, site string) {
	b, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
	var req struct {
		Account    string  `json:"account"`
		Passphrase *string `json:"passphrase"`
	}
	jsonErr := json.Unmarshal(b, &req)
	if req.Passphrase != nil || bytes.Contains(b, []byte(`"passphrase"`)) {
		s.mu.Lock()
		s.accounts[site].PasswordPosts++
		s.mu.Unlock()
	}
	ss := s.v3Auth(w, r, site, false, true)
	if ss == nil {
		return
	}
	if readErr != nil || jsonErr != nil || req.Passphrase == nil {
		apiError(w, http.StatusBadRequest, "bad-request", "The request could not be read.")
		return
	}
	s.mu.Lock()
	pending := ss.pending
	slow := s.faults.SlowLogin
	s.mu.Unlock()
	if pending == "" || req.Account != pending {
		apiError(w, http.StatusConflict, "start-again", v3StartAgain)
		return
	}
	if slow > 0 && !s.sleep(r, slow) {
		return
	}
	s.mu.Lock()
	out := s.checkPasswordLocked(site, req.Account, *req.Passphrase)
	var fresh *session
	switch out {
	case loginOK:
		delete(s.sessions, ss.id)
		fresh = s.newSessionLocked(site, site)
	case loginRenew:
		ss.pending, ss.renew = "", true
	}
	s.mu.Unlock()
	s.log.Info("login", "site", site, "markup", "v3", "outcome", out)
	switch out {
	case loginOK:
		http.SetCookie(w, s.cookie(site, fresh.id, 0))
		writeJSON(w, http.StatusOK, map[string]string{"outcome": "signed-in", "state": "notice", "csrf": fresh.csrf})
	case loginRenew:
		writeJSON(w, http.StatusOK, map[string]string{"outcome": "password-expired", "state": "renew"})
	case loginLocked:
		writeJSON(w, http.StatusForbidden, map[string]string{"outcome": "locked", "error": "locked", "message": v3Locked})
	default:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"outcome": "refused", "error": "refused", "message": v3Refused})
	}
}

func (s *Sim) v3Notice(w http.ResponseWriter, r *http.Request, site string) {
	s.mu.Lock()
	ss, expired := s.sessionLocked(r, site)
	s.mu.Unlock()
	if expired || ss == nil || ss.account == "" {
		s.v3Auth(w, r, site, true, true) // answers the right 401
		return
	}
	if !equal(r.Header.Get("X-CSRF-Token"), ss.csrf) {
		apiError(w, http.StatusForbidden, "forbidden", v3Forbidden)
		return
	}
	var req struct {
		Read bool `json:"read"`
	}
	if !decodeAPI(w, r, &req) {
		return
	}
	if !req.Read {
		apiError(w, http.StatusBadRequest, "notice", "Confirm you have read the notice.")
		return
	}
	s.mu.Lock()
	ss.noticed = true
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"state": "ready"})
}

func (s *Sim) v3SignOut(w http.ResponseWriter, r *http.Request, site string) {
	s.mu.Lock()
	if ss, _ := s.sessionLocked(r, site); ss != nil {
		delete(s.sessions, ss.id)
	}
	s.mu.Unlock()
	http.SetCookie(w, s.cookie(site, "", -1))
	writeJSON(w, http.StatusOK, map[string]string{"state": "account"})
}

// v3File is one row of the listing API. Ref is spent by a ticket or a
// content request; Route says how the page downloads it.
type v3File struct {
	Ref   string `json:"ref"`
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	Date  string `json:"date"`
	Route string `json:"route"` // "form" or "blob"
}

func (s *Sim) v3Files(w http.ResponseWriter, r *http.Request) {
	ss := s.v3Auth(w, r, siteDownload, true, false)
	if ss == nil {
		return
	}
	n := 1
	if v := r.URL.Query().Get("page"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			apiError(w, http.StatusBadRequest, "bad-request", "That page does not exist.")
			return
		}
	}
	size := s.opts.PageSize
	s.mu.Lock()
	total := len(s.files)
	pages := max(1, (total+size-1)/size)
	n = min(n, pages)
	first := min((n-1)*size, total)
	files := []v3File{}
	for i, f := range s.files[first:min(n*size, total)] {
		ref := rand.Text()
		ss.tokens[ref] = f.ID
		route := "form"
		if (first+i)%2 == 1 {
			route = "blob"
		}
		files = append(files, v3File{Ref: ref, Name: f.Name, Size: f.Size,
			Date: f.Published.In(s.london).Format(time.DateOnly), Route: route})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"page": n, "pages": pages, "page_size": size, "total": total, "files": files})
}

// spendRef takes a listed ref out of the session: it works once.
func (s *Sim) spendRef(ss *session, ref string) *File { return s.spend(ss.tokens, ref) }

// v3Ticket swaps a ref for a one-time ticket that POST /download/collect
// takes: the page's first download route.
func (s *Sim) v3Ticket(w http.ResponseWriter, r *http.Request) {
	ss := s.v3Auth(w, r, siteDownload, true, true)
	if ss == nil {
		return
	}
	var req struct {
		Ref string `json:"ref"`
	}
	if !decodeAPI(w, r, &req) {
		return
	}
	f := s.spendRef(ss, req.Ref)
	if f == nil {
		apiError(w, http.StatusGone, "gone", v3Gone)
		return
	}
	t := rand.Text()
	s.mu.Lock()
	ss.tickets[t] = f.ID
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"ticket": t, "action": "/download/collect"})
}

// v3Content answers the bytes to the page's fetch(): the second route, which
// saves them through a blob: URL.
func (s *Sim) v3Content(w http.ResponseWriter, r *http.Request) {
	ss := s.v3Auth(w, r, siteDownload, true, true)
	if ss == nil {
		return
	}
	var req struct {
		Ref string `json:"ref"`
	}
	if !decodeAPI(w, r, &req) {
		return
	}
	f := s.spendRef(ss, req.Ref)
	if f == nil {
		apiError(w, http.StatusGone, "gone", v3Gone)
		return
	}
	s.send(w, r, f)
}

// v3Collect takes the script-built form. Its errors are whole pages, since
// the form navigates the tab; they carry the same texts as the in-place ones.
func (s *Sim) v3Collect(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ss, _ := s.sessionLocked(r, siteDownload)
	s.mu.Unlock()
	if ss == nil || ss.account == "" {
		s.renderStatus(w, http.StatusUnauthorized, v3SignedOut, "Sign in again to collect your files.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderStatus(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	s.sendOrGone(w, r, s.spend(ss.tickets, r.PostForm.Get("ticket")), v3Gone)
}

// v3Upload takes the page's multipart fetch; the rules are the same as for
// the v1 form.
func (s *Sim) v3Upload(w http.ResponseWriter, r *http.Request) {
	ss := s.v3Auth(w, r, siteUpload, true, true)
	if ss == nil {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	name, data, _, err := s.readUploadForm(r)
	if err != nil {
		apiError(w, http.StatusBadRequest, "bad-request", "The file could not be read.")
		return
	}
	if data == nil {
		apiError(w, http.StatusBadRequest, "no-file", "Choose a file first.")
		return
	}
	u := s.receive(name, data)
	s.log.Info("upload received", "name", u.Name, "size", u.Size, "verdict", u.Verdict, "rule", u.Rule)
	writeJSON(w, http.StatusOK, map[string]string{"message": v3Received})
}
