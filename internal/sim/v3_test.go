package sim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// v3 is a client of the v3 JSON API: the page's fetch() calls, made by hand.
type v3 struct {
	*client
	site, csrf string
}

func newV3(t *testing.T, s *Sim, site string) *v3 {
	t.Helper()
	c := &v3{client: newClient(t, s), site: site}
	st, m := c.call("GET", "session", nil)
	if st != http.StatusOK || m["state"] != "account" || m["csrf"] == "" {
		t.Fatalf("session: %d %v", st, m)
	}
	c.csrf = m["csrf"].(string)
	return c
}

// call sends one API request (JSON body unless nil) with the CSRF header.
func (c *v3) call(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	r := c.raw(method, "/"+c.site+"/api/"+path, body)
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		c.t.Fatalf("%s %s: not JSON (%d): %s", method, path, r.StatusCode, r.body)
	}
	return r.StatusCode, m
}

func (c *v3) raw(method, path string, body any) response {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, c.s.PortalURL()+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", c.csrf)
	return c.do(req)
}

// signIn goes through both steps and the notice.
func (c *v3) signIn(password string) {
	c.t.Helper()
	env := c.s.Env()
	key := map[string]string{siteDownload: "SEFTBOT_DOWNLOAD_", siteUpload: "SEFTBOT_UPLOAD_"}[c.site]
	if password == "" {
		password = env[key+"PASSWORD"]
	}
	user := env[key+"USER"]
	if st, m := c.call("POST", "account", map[string]string{"account": user}); st != 200 || m["state"] != "passphrase" {
		c.t.Fatalf("account step: %d %v", st, m)
	}
	st, m := c.call("POST", "passphrase", map[string]string{"account": user, "passphrase": password})
	if st != 200 || m["outcome"] != "signed-in" {
		c.t.Fatalf("passphrase step: %d %v", st, m)
	}
	c.csrf = m["csrf"].(string)
	if st, m := c.call("POST", "notice", map[string]bool{"read": true}); st != 200 || m["state"] != "ready" {
		c.t.Fatalf("notice: %d %v", st, m)
	}
}

func TestV3ShellAndAssets(t *testing.T) {
	s := startSim(t, Options{Files: 1, Markup: "v3", Paging: PagingInPlace})
	c := newClient(t, s)
	for _, p := range []string{"/download/", "/download/login", "/download/files", "/upload/", "/upload/login"} {
		r := c.get(p)
		site := strings.Split(p, "/")[1]
		if r.StatusCode != 200 || !strings.Contains(r.body, `<body data-site="`+site+`" data-paging="inplace">`) ||
			!strings.Contains(r.body, `<script src="/`+site+`/static/app.js"`) || !strings.Contains(r.body, `<div id="app">`) {
			t.Fatalf("shell %s: %d\n%s", p, r.StatusCode, r.body)
		}
		for _, v1v2 := range []string{"<table", "<form", "<ul", "<input", "csrf_token"} {
			if strings.Contains(r.body, v1v2) {
				t.Fatalf("shell %s has %s: it must be drawn by script", p, v1v2)
			}
		}
	}
	if r := c.get("/download/static/app.js"); r.StatusCode != 200 || r.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		!strings.Contains(r.body, "'data-file'") {
		t.Fatalf("app.js: %d %v", r.StatusCode, r.Header)
	}
	if r := c.get("/upload/static/app.css"); r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("app.css: %d", r.StatusCode)
	}
	if r := c.get("/download/static/nope.js"); r.StatusCode != 404 {
		t.Fatalf("unknown asset: %d", r.StatusCode)
	}
	// v1's routes are not there.
	if r := c.post("/download/login", url.Values{"username": {"x"}, "password": {"y"}}); r.StatusCode != http.StatusMethodNotAllowed && r.StatusCode != http.StatusNotFound {
		t.Fatalf("v1 login POST on v3: %d", r.StatusCode)
	}
	if n := s.State().Accounts[siteDownload].PasswordPosts; n != 0 {
		t.Fatalf("a POST to a route v3 lacks counted as a password: %d", n)
	}
}

func TestV3LoginInTwoSteps(t *testing.T) {
	s := startSim(t, Options{Files: 3, Markup: "v3"})
	c := newV3(t, s, siteDownload)
	env := s.Env()
	user, pass := env["SEFTBOT_DOWNLOAD_USER"], env["SEFTBOT_DOWNLOAD_PASSWORD"]
	acct := func() AccountState { return s.State().Accounts[siteDownload] }

	// The passphrase without the first step: start again (still counted).
	if st, m := c.call("POST", "passphrase", map[string]string{"account": user, "passphrase": pass}); st != 409 || m["message"] != "Please start again." {
		t.Fatalf("passphrase first: %d %v", st, m)
	}
	if a := acct(); a.PasswordPosts != 1 || a.FailedLogins != 0 {
		t.Fatalf("after a passphrase with no account step: %+v", a)
	}
	// No CSRF header: refused, counted.
	saved := c.csrf
	c.csrf = "wrong"
	if st, _ := c.call("POST", "account", map[string]string{"account": user}); st != 403 {
		t.Fatalf("account step without CSRF: %d", st)
	}
	c.csrf = saved
	if st, m := c.call("POST", "account", map[string]string{"account": ""}); st != 400 || m["message"] != "Enter your account name." {
		t.Fatalf("empty account: %d %v", st, m)
	}
	if st, m := c.call("POST", "account", map[string]string{"account": user}); st != 200 || m["account"] != user {
		t.Fatalf("account step: %d %v", st, m)
	}
	if _, m := c.call("GET", "session", nil); m["state"] != "passphrase" || m["account"] != user {
		t.Fatalf("session after step 1: %v", m)
	}
	// The account name is carried to the passphrase POST and must match.
	if st, _ := c.call("POST", "passphrase", map[string]string{"account": "someone", "passphrase": pass}); st != 409 {
		t.Fatalf("another account at step 2: %d", st)
	}
	st, m := c.call("POST", "passphrase", map[string]string{"account": user, "passphrase": pass + "x"})
	if st != 401 || m["outcome"] != "refused" || m["message"] != "Those details do not match our records." {
		t.Fatalf("wrong passphrase: %d %v", st, m)
	}
	if a := acct(); a.PasswordPosts != 3 || a.FailedLogins != 1 || a.Logins != 0 {
		t.Fatalf("after a refusal: %+v", a)
	}
	// Files before signing in: signed out.
	if st, m := c.call("GET", "files", nil); st != 401 || m["error"] != "signed-out" {
		t.Fatalf("files signed out: %d %v", st, m)
	}
	st, m = c.call("POST", "passphrase", map[string]string{"account": user, "passphrase": pass})
	if st != 200 || m["outcome"] != "signed-in" || m["csrf"] == c.csrf {
		t.Fatalf("right passphrase: %d %v", st, m)
	}
	c.csrf = m["csrf"].(string)
	if a := acct(); a.PasswordPosts != 4 || a.FailedLogins != 0 || a.Logins != 1 {
		t.Fatalf("after sign-in: %+v", a)
	}
	// The notice comes first.
	if _, m := c.call("GET", "session", nil); m["state"] != "notice" {
		t.Fatalf("session after sign-in: %v", m)
	}
	if st, m := c.call("GET", "files", nil); st != 403 || m["error"] != "notice" {
		t.Fatalf("files before the notice: %d %v", st, m)
	}
	if st, _ := c.call("POST", "notice", map[string]bool{"read": false}); st != 400 {
		t.Fatalf("notice unread: %d", st)
	}
	if st, m := c.call("POST", "notice", map[string]bool{"read": true}); st != 200 || m["state"] != "ready" {
		t.Fatalf("notice: %d %v", st, m)
	}
	if st, m := c.call("GET", "files", nil); st != 200 || len(m["files"].([]any)) != 3 {
		t.Fatalf("files: %d %v", st, m)
	}
	// Sign out.
	if st, _ := c.call("POST", "sign-out", map[string]any{}); st != 200 {
		t.Fatalf("sign-out: %d", st)
	}
	if st, _ := c.call("GET", "files", nil); st != 401 {
		t.Fatalf("files after sign-out: %d", st)
	}
}

func TestV3LockedAndSlow(t *testing.T) {
	s := startSim(t, Options{Files: 1, Markup: "v3"})
	c := newV3(t, s, siteUpload)
	env := s.Env()
	user, pass := env["SEFTBOT_UPLOAD_USER"], env["SEFTBOT_UPLOAD_PASSWORD"]
	c.call("POST", "account", map[string]string{"account": user})
	for i := 1; i <= 3; i++ {
		st, m := c.call("POST", "passphrase", map[string]string{"account": user, "passphrase": "bad"})
		want := "refused"
		if i == 3 {
			want = "locked"
		}
		if m["outcome"] != want {
			t.Fatalf("attempt %d: %d %v", i, st, m)
		}
	}
	st, m := c.call("POST", "passphrase", map[string]string{"account": user, "passphrase": pass})
	if st != 403 || m["outcome"] != "locked" || m["message"] != "This account is blocked. Contact the service desk." {
		t.Fatalf("right passphrase, locked: %d %v", st, m)
	}
	if a := s.State().Accounts[siteUpload]; !a.Locked || a.PasswordPosts != 4 || a.FailedLogins != 3 {
		t.Fatalf("locked account: %+v", a)
	}
	if err := s.Unlock(siteUpload); err != nil {
		t.Fatal(err)
	}
	// SlowLogin delays the passphrase answer, not the account step; the
	// password counts on arrival.
	f := s.Faults()
	f.SlowLogin = 300 * time.Millisecond
	if err := s.SetFaults(f); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	c.call("POST", "account", map[string]string{"account": user})
	fast := time.Since(t0)
	t0 = time.Now()
	st, m = c.call("POST", "passphrase", map[string]string{"account": user, "passphrase": pass})
	if took := time.Since(t0); st != 200 || took < 300*time.Millisecond || fast >= 300*time.Millisecond {
		t.Fatalf("slow login: %d %v after %s (account step %s)", st, m, took, fast)
	}
}

func TestPasswordExpired(t *testing.T) {
	for _, markup := range []string{"v1", "v2", "v3"} {
		t.Run(markup, func(t *testing.T) {
			s := startSim(t, Options{Files: 1, Markup: markup})
			if code, m := admin(t, s, "POST", "/admin/password-expired", `{"account":"download","expired":true}`); code != 200 || m["password_expired"] != true {
				t.Fatalf("admin password-expired: %d %v", code, m)
			}
			if code, _ := admin(t, s, "POST", "/admin/password-expired", `{"account":"download"}`); code != 400 {
				t.Fatalf("admin password-expired without expired: %d", code)
			}
			if code, _ := admin(t, s, "POST", "/admin/password-expired", `{"account":"nobody","expired":true}`); code != 400 {
				t.Fatalf("admin password-expired, unknown account: %d", code)
			}
			env := s.Env()
			user, pass := env["SEFTBOT_DOWNLOAD_USER"], env["SEFTBOT_DOWNLOAD_PASSWORD"]
			if markup == "v3" {
				c := newV3(t, s, siteDownload)
				c.call("POST", "account", map[string]string{"account": user})
				st, m := c.call("POST", "passphrase", map[string]string{"account": user, "passphrase": pass})
				if st != 200 || m["outcome"] != "password-expired" || m["state"] != "renew" {
					t.Fatalf("expired password: %d %v", st, m)
				}
				if _, m := c.call("GET", "session", nil); m["state"] != "renew" {
					t.Fatalf("session: %v", m)
				}
				if st, _ := c.call("GET", "files", nil); st != 401 {
					t.Fatalf("files with an expired password: %d", st)
				}
				c.call("POST", "password", map[string]string{"current": pass, "new": "x"})
				c.call("POST", "password", map[string]string{})
			} else {
				c := newClient(t, s)
				r := c.login(siteDownload, user, pass)
				if r.StatusCode != 200 || !strings.Contains(r.body, "Your password has expired. Choose a new password.") ||
					!strings.Contains(r.body, `<form id="change-password-form" method="post" action="/download/change-password">`) {
					t.Fatalf("expired password page: %d\n%s", r.StatusCode, r.body)
				}
				if r := c.get("/download/files"); r.StatusCode != http.StatusSeeOther {
					t.Fatalf("files with an expired password: %d", r.StatusCode)
				}
				c.post("/download/change-password", url.Values{"current_password": {pass}})
				c.post("/download/change-password", nil)
			}
			a := s.State().Accounts[siteDownload]
			if a.PasswordChangePosts != 2 || a.Logins != 0 || a.FailedLogins != 0 || a.PasswordPosts != 1 {
				t.Fatalf("account: %+v", a)
			}
			// Cleared, the same password signs in.
			if err := s.SetPasswordExpired(siteDownload, false); err != nil {
				t.Fatal(err)
			}
			if markup == "v3" {
				newV3(t, s, siteDownload).signIn("")
			} else {
				newClient(t, s).signIn(siteDownload)
			}
			if a := s.State().Accounts[siteDownload]; a.Logins != 1 || a.PasswordExpired {
				t.Fatalf("after clearing: %+v", a)
			}
			s.SetPasswordExpired(siteDownload, true)
			s.Reset()
			if a := s.State().Accounts[siteDownload]; a.PasswordExpired || a.PasswordChangePosts != 0 {
				t.Fatalf("after reset: %+v", a)
			}
		})
	}
}

func sha(b string) string {
	s := sha256.Sum256([]byte(b))
	return hex.EncodeToString(s[:])
}

func TestV3ListingAndDownloads(t *testing.T) {
	s := startSim(t, Options{Files: 5, PageSize: 2, Markup: "v3", SessionIdle: 100 * time.Hour})
	c := newV3(t, s, siteDownload)
	c.signIn("")
	if st, _ := c.call("GET", "files?page=x", nil); st != 400 {
		t.Fatalf("page=x: %d", st)
	}
	files := s.Files()
	var rows []map[string]any
	for n := 1; n <= 3; n++ {
		st, m := c.call("GET", "files?page="+itoa(n), nil)
		if st != 200 || m["page"] != float64(n) || m["pages"] != float64(3) || m["total"] != float64(5) || m["page_size"] != float64(2) {
			t.Fatalf("page %d: %d %v", n, st, m)
		}
		for _, f := range m["files"].([]any) {
			rows = append(rows, f.(map[string]any))
		}
	}
	if _, m := c.call("GET", "files?page=9", nil); m["page"] != float64(3) {
		t.Fatalf("page past the end: %v", m)
	}
	if len(rows) != 5 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		want := map[bool]string{true: "form", false: "blob"}[i%2 == 0]
		if r["name"] != files[i].Name || r["size"] != float64(files[i].Size) || r["route"] != want ||
			r["date"] != files[i].Published.In(s.london).Format(time.DateOnly) {
			t.Fatalf("row %d: %v", i, r)
		}
	}
	// Route (a): ticket, then the form POST; both one-time.
	st, m := c.call("POST", "tickets", map[string]string{"ref": rows[0]["ref"].(string)})
	if st != 200 || m["action"] != "/download/collect" || m["ticket"] == "" {
		t.Fatalf("ticket: %d %v", st, m)
	}
	if st, m := c.call("POST", "tickets", map[string]string{"ref": rows[0]["ref"].(string)}); st != 410 || m["message"] != "This link is no longer available" {
		t.Fatalf("ticket for a spent ref: %d %v", st, m)
	}
	r := c.post("/download/collect", url.Values{"ticket": {m0(m, "ticket")}})
	if r.StatusCode != 200 || r.Header.Get("Content-Disposition") != `attachment; filename="`+files[0].Name+`"` || sha(r.body) != files[0].SHA256 {
		t.Fatalf("collect: %d %v", r.StatusCode, r.Header)
	}
	if r := c.post("/download/collect", url.Values{"ticket": {m0(m, "ticket")}}); r.StatusCode != 410 || !strings.Contains(r.body, "This link is no longer available") {
		t.Fatalf("collect, ticket reused: %d\n%s", r.StatusCode, r.body)
	}
	// Route (b): the bytes to fetch(); one-time too.
	r = c.raw("POST", "/download/api/content", map[string]string{"ref": rows[1]["ref"].(string)})
	if r.StatusCode != 200 || r.Header.Get("Content-Length") != itoa(int(files[1].Size)) || sha(r.body) != files[1].SHA256 {
		t.Fatalf("content: %d %v", r.StatusCode, r.Header)
	}
	if st, _ := c.call("POST", "content", map[string]string{"ref": rows[1]["ref"].(string)}); st != 410 {
		t.Fatalf("content, ref reused: %d", st)
	}
	// A ref from the first page is still good after later pages were listed,
	// but not in another session, and not without the CSRF header.
	other := newV3(t, s, siteDownload)
	other.signIn("")
	if st, _ := other.call("POST", "content", map[string]string{"ref": rows[2]["ref"].(string)}); st != 410 {
		t.Fatalf("foreign ref: %d", st)
	}
	saved := c.csrf
	c.csrf = ""
	if st, _ := c.call("POST", "content", map[string]string{"ref": rows[2]["ref"].(string)}); st != 403 {
		t.Fatalf("content without CSRF: %d", st)
	}
	c.csrf = saved
	if r := c.raw("POST", "/download/api/content", map[string]string{"ref": rows[2]["ref"].(string)}); r.StatusCode != 200 || sha(r.body) != files[2].SHA256 {
		t.Fatalf("own ref after a foreign attempt: %d", r.StatusCode)
	}
	// A purged file's link is gone.
	if _, err := s.AdvanceClock(DefaultRetention + time.Minute); err != nil {
		t.Fatal(err)
	}
	if st, m := c.call("POST", "tickets", map[string]string{"ref": rows[3]["ref"].(string)}); st != 410 {
		t.Fatalf("purged file: %d %v", st, m)
	}
	if _, m := c.call("GET", "files", nil); m["total"] != float64(0) || len(m["files"].([]any)) != 0 || m["pages"] != float64(1) {
		t.Fatalf("empty listing: %v", m)
	}
}

func m0(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func TestV3SessionExpiryAndFaults(t *testing.T) {
	s := startSim(t, Options{Files: 2, Markup: "v3", SessionIdle: time.Minute})
	c := newV3(t, s, siteDownload)
	c.signIn("")
	_, m := c.call("GET", "files", nil)
	ref := m["files"].([]any)[0].(map[string]any)["ref"].(string)
	if _, err := s.AdvanceClock(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if st, m := c.call("POST", "tickets", map[string]string{"ref": ref}); st != 401 || m["error"] != "session-expired" || m["message"] != "You have been signed out" {
		t.Fatalf("expired session: %d %v", st, m)
	}
	if st, m := c.call("GET", "files", nil); st != 401 || m["error"] != "signed-out" {
		t.Fatalf("after expiry: %d %v", st, m)
	}
	if r := c.post("/download/collect", url.Values{"ticket": {"x"}}); r.StatusCode != 401 || !strings.Contains(r.body, "You have been signed out") {
		t.Fatalf("collect signed out: %d", r.StatusCode)
	}
	// Faults answer the API in JSON.
	if err := s.SetFaults(Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	if st, m := c.call("GET", "session", nil); st != 500 || m["message"] != "Service temporarily unavailable" {
		t.Fatalf("error rate: %d %v", st, m)
	}
	if err := s.SetFaults(Faults{Maintenance: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.call("GET", "session", nil); st != 503 {
		t.Fatalf("maintenance: %d", st)
	}
	if r := c.get("/download/"); r.StatusCode != 503 || !strings.Contains(r.body, "planned maintenance") {
		t.Fatalf("maintenance shell: %d", r.StatusCode)
	}
}

func TestV3Upload(t *testing.T) {
	s := startSim(t, Options{Markup: "v3"})
	toNoon(t, s)
	c := newV3(t, s, siteUpload)
	send := func(field, name string, data []byte) (int, map[string]any) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		if name != "" {
			fw, _ := mw.CreateFormFile(field, name)
			fw.Write(data)
		}
		mw.Close()
		req, _ := http.NewRequest("POST", s.PortalURL()+"/upload/api/upload", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("X-CSRF-Token", c.csrf)
		r := c.do(req)
		var m map[string]any
		json.Unmarshal([]byte(r.body), &m)
		return r.StatusCode, m
	}
	if st, _ := send("cohort", DefaultProjectID+".csv", []byte("x")); st != 401 {
		t.Fatalf("upload signed out: %d", st)
	}
	c.signIn("")
	if st, m := send("cohort", "", nil); st != 400 || m["message"] != "Choose a file first." {
		t.Fatalf("no file: %d %v", st, m)
	}
	good := cohortFile(t, s, "ADD", "9990000042")
	if st, m := send("cohort", DefaultProjectID+".csv", good); st != 200 || m["message"] != "Upload received" {
		t.Fatalf("upload: %d %v", st, m)
	}
	// The same rules: a second file that day is received, then rejected.
	if st, m := send("cohort", DefaultProjectID+".csv", good); st != 200 || m["message"] != "Upload received" {
		t.Fatalf("second upload: %d %v", st, m)
	}
	u := s.Uploads()
	if len(u) != 2 || u[0].Verdict != Accepted || u[1].Rule != RuleOnePerDay {
		t.Fatalf("uploads: %+v", u)
	}
	c.csrf = "x"
	if st, _ := send("cohort", DefaultProjectID+".csv", good); st != 403 {
		t.Fatalf("upload without CSRF: %d", st)
	}
	if len(s.Uploads()) != 2 {
		t.Fatal("a refused upload was recorded")
	}
}

func TestV3BenchDirect(t *testing.T) {
	s := startSim(t, Options{Files: 2, Markup: "v3", BenchDirect: true})
	c := newV3(t, s, siteDownload)
	if r := c.get("/download/direct/2"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("direct signed out: %d", r.StatusCode)
	}
	c.signIn("")
	if r := c.get("/download/direct/2"); r.StatusCode != 200 || sha(r.body) != s.Files()[1].SHA256 {
		t.Fatalf("direct: %d", r.StatusCode)
	}
}

func TestPagingOption(t *testing.T) {
	for _, o := range []Options{{Markup: "v1", Paging: "append"}, {Markup: "v3", Paging: "pages"}} {
		o.Dir = t.TempDir()
		if _, err := Start(t.Context(), o); err == nil {
			t.Errorf("%+v: started", o)
		}
	}
	s := startSim(t, Options{Markup: "v3"})
	if s.opts.Paging != PagingAppend {
		t.Fatalf("default paging %q", s.opts.Paging)
	}
}
