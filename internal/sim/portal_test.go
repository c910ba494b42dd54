package sim

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPortalTrustsOnlySeftsimCA(t *testing.T) {
	s := startSim(t, Options{Files: 1})
	// A client with the system roots must refuse the certificate.
	_, err := (&http.Client{Timeout: 10 * time.Second}).Get(s.PortalURL() + "/download/login")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("system roots accepted seftsim's certificate (err %v)", err)
	}
	r := newClient(t, s).get("/download/login")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d", r.StatusCode)
	}
	leaf := r.TLS.PeerCertificates[0]
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	pin := base64.StdEncoding.EncodeToString(sum[:])
	if pin != s.Env()["SEFTBOT_PORTAL_SPKI_PIN"] || pin != s.SPKIPin() {
		t.Fatalf("served key pin %s, seftbot.env has %s", pin, s.Env()["SEFTBOT_PORTAL_SPKI_PIN"])
	}
	if r.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("TLS version %x", r.TLS.Version)
	}
}

func TestLoginAndCSRF(t *testing.T) {
	s := startSim(t, Options{Files: 1})
	c := newClient(t, s)
	env := s.Env()
	page := c.get("/download/login")
	for _, want := range []string{`<form id="login-form" method="post" action="/download/login">`,
		`<input id="username" name="username" type="text">`, `<input id="password" name="password" type="password">`,
		`<button type="submit" id="sign-in">Sign in</button>`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	creds := url.Values{"username": {env["SEFTBOT_DOWNLOAD_USER"]}, "password": {env["SEFTBOT_DOWNLOAD_PASSWORD"]}}
	if r := c.post("/download/login", creds); r.StatusCode != http.StatusForbidden {
		t.Errorf("no CSRF token: status %d, want 403", r.StatusCode)
	}
	creds.Set("csrf_token", "wrong"+csrfOf(t, page.body))
	if r := c.post("/download/login", creds); r.StatusCode != http.StatusForbidden {
		t.Errorf("wrong CSRF token: status %d, want 403", r.StatusCode)
	}
	// A token from another browser's form is no good either.
	other := newClient(t, s).get("/download/login")
	creds.Set("csrf_token", csrfOf(t, other.body))
	if r := c.post("/download/login", creds); r.StatusCode != http.StatusForbidden {
		t.Errorf("foreign CSRF token: status %d, want 403", r.StatusCode)
	}

	r := c.login(siteDownload, env["SEFTBOT_DOWNLOAD_USER"], env["SEFTBOT_DOWNLOAD_PASSWORD"])
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/download/files" {
		t.Fatalf("login: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	ck := r.Cookies()
	if len(ck) != 1 || ck[0].Name != cookieName || ck[0].Path != "/download" || !ck[0].HttpOnly || !ck[0].Secure || ck[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v", ck)
	}
	files := c.get("/download/files")
	if files.StatusCode != http.StatusOK || !strings.Contains(files.body, `<a id="sign-out" href="logout">Sign out</a>`) {
		t.Fatalf("files page after login: %d\n%s", files.StatusCode, files.body)
	}
	// Opening the login page again (another tab) does not sign this one out.
	c.get("/download/login")
	if r := c.get("/download/files"); r.StatusCode != http.StatusOK {
		t.Fatalf("files page after visiting the login page: %d", r.StatusCode)
	}
	// The download cookie does not open the upload site.
	if r := c.get("/upload/"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/upload/login" {
		t.Fatalf("upload site with the download cookie: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if st := s.State().Accounts[siteDownload]; st.Logins != 1 || st.FailedLogins != 0 {
		t.Fatalf("account state %+v", st)
	}
	// Sign out ends the session.
	if r := c.get("/download/logout"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if r := c.get("/download/files"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/download/login" {
		t.Fatalf("after logout: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestLockoutAndUnlock(t *testing.T) {
	s := startSim(t, Options{Files: 1})
	c := newClient(t, s)
	env := s.Env()
	user, pass := env["SEFTBOT_UPLOAD_USER"], env["SEFTBOT_UPLOAD_PASSWORD"]
	if !strings.HasPrefix(user, DefaultProjectID) {
		t.Fatalf("upload user %q does not start with the project ID", user)
	}
	for i := 1; i <= 2; i++ {
		r := c.login(siteUpload, user, pass+"x")
		if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `<p class="error" role="alert">`+"Invalid user name or password.</p>") {
			t.Fatalf("wrong password %d: %d\n%s", i, r.StatusCode, r.body)
		}
	}
	if got := s.State().Accounts[siteUpload]; got.FailedLogins != 2 || got.Locked {
		t.Fatalf("after 2 failures: %+v", got)
	}
	r := c.login(siteUpload, user, pass+"x")
	if !strings.Contains(r.body, msgLocked) {
		t.Fatalf("third failure does not lock:\n%s", r.body)
	}
	r = c.login(siteUpload, user, pass)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, msgLocked) {
		t.Fatalf("locked account with the right password: %d\n%s", r.StatusCode, r.body)
	}
	code, st := admin(t, s, "GET", "/admin/state", "")
	acct := st["accounts"].(map[string]any)[siteUpload].(map[string]any)
	if code != 200 || acct["failed_logins"] != float64(3) || acct["locked"] != true {
		t.Fatalf("admin state: %d %v", code, acct)
	}
	// The other account is untouched.
	if s.State().Accounts[siteDownload].Locked {
		t.Fatal("download account locked too")
	}
	if code, m := admin(t, s, "POST", "/admin/unlock", `{"account":"upload"}`); code != 200 || m["locked"] != false {
		t.Fatalf("unlock: %d %v", code, m)
	}
	if r := c.login(siteUpload, user, pass); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login after unlock: %d\n%s", r.StatusCode, r.body)
	}
	if got := s.State().Accounts[siteUpload]; got.FailedLogins != 0 || got.Locked || got.Logins != 1 {
		t.Fatalf("after unlock and login: %+v", got)
	}
}

func TestIdleExpiry(t *testing.T) {
	s := startSim(t, Options{Files: 3, SessionIdle: time.Minute})
	c := newClient(t, s)
	c.signIn(siteDownload)
	l := c.listPage(1)
	if _, err := s.AdvanceClock(2 * time.Minute); err != nil {
		t.Fatal(err)
	}
	// A download POST on an idle session goes to the login page too.
	r := c.post("/download/fetch", url.Values{"token": {l.tokens[0]}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/download/login?expired=1" {
		t.Fatalf("fetch on idle session: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	login := c.get("/download/login?expired=1")
	if !strings.Contains(login.body, `<p class="notice" role="status">Your session has expired. Please sign in again.</p>`) {
		t.Fatalf("no expiry notice:\n%s", login.body)
	}
	// Activity keeps a session alive.
	c.signIn(siteDownload)
	for range 3 {
		if _, err := s.AdvanceClock(40 * time.Second); err != nil {
			t.Fatal(err)
		}
		if r := c.get("/download/files"); r.StatusCode != http.StatusOK {
			t.Fatalf("active session expired: %d", r.StatusCode)
		}
	}
}

func TestPagination(t *testing.T) {
	s := startSim(t, Options{Files: 60, PageSize: 25})
	c := newClient(t, s)
	c.signIn(siteDownload)
	var seen []string
	for n, want := range []int{25, 25, 10} {
		l := c.listPage(n + 1)
		if len(l.names) != want {
			t.Fatalf("page %d: %d rows, want %d", n+1, len(l.names), want)
		}
		if l.next != (n < 2) {
			t.Fatalf("page %d: next link present=%v", n+1, l.next)
		}
		seen = append(seen, l.names...)
	}
	files := s.Files()
	if len(seen) != len(files) {
		t.Fatalf("listed %d names, have %d files", len(seen), len(files))
	}
	for i, f := range files {
		if seen[i] != f.Name {
			t.Fatalf("row %d: %q, want %q", i, seen[i], f.Name)
		}
	}
	r := c.get("/download/files?page=3")
	if !strings.Contains(r.body, `Page 3 of 3`) || !strings.Contains(r.body, `<td class="file-size">`+thousands(files[50].Size)+` bytes</td>`) {
		t.Fatalf("page 3 markup:\n%s", r.body)
	}
	if r := c.get("/download/files?page=x"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("page=x: %d", r.StatusCode)
	}
}

func TestEmptyListing(t *testing.T) {
	s := startSim(t, Options{Files: 0})
	c := newClient(t, s)
	c.signIn(siteDownload)
	r := c.get("/download/files")
	if !strings.Contains(r.body, `<p class="empty">There are no files available.</p>`) || strings.Contains(r.body, `<table`) {
		t.Fatalf("empty listing:\n%s", r.body)
	}
}

// published reads DIR/published.sha256 into name -> hashes.
func published(t *testing.T, s *Sim) map[string][]string {
	t.Helper()
	f, err := os.Open(s.PublishedFile())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		hash, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		m[name] = append(m[name], hash)
	}
	return m
}

func TestOneTimeTokens(t *testing.T) {
	s := startSim(t, Options{Files: 3})
	c := newClient(t, s)
	if r := c.get("/download/fetch"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("bare GET, signed out: %d", r.StatusCode)
	}
	c.signIn(siteDownload)
	if r := c.get("/download/fetch"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("bare GET, signed in: %d", r.StatusCode)
	}
	l := c.listPage(1)
	r := c.post("/download/fetch", url.Values{"token": {l.tokens[1]}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("download: %d", r.StatusCode)
	}
	f := s.Files()[1]
	if r.Header.Get("Content-Type") != "text/csv" || r.Header.Get("Content-Length") != itoa(int(f.Size)) ||
		r.Header.Get("Content-Disposition") != `attachment; filename="`+f.Name+`"` {
		t.Fatalf("headers %v", r.Header)
	}
	sum := sha256.Sum256([]byte(r.body))
	if got, want := hex.EncodeToString(sum[:]), published(t, s)[f.Name]; len(want) != 1 || got != want[0] {
		t.Fatalf("content sha256 %s, published.sha256 says %v", got, want)
	}
	if !strings.HasPrefix(r.body, contentHeader) || !strings.HasSuffix(r.body, "\r\n") {
		t.Fatalf("content is not the CSV expected: %q...", r.body[:80])
	}
	if r := c.post("/download/fetch", url.Values{"token": {l.tokens[1]}}); r.StatusCode != http.StatusGone || !strings.Contains(r.body, "This link has expired.") {
		t.Fatalf("reused token: %d", r.StatusCode)
	}
	if r := c.post("/download/fetch", url.Values{"token": {"guessed"}}); r.StatusCode != http.StatusGone {
		t.Fatalf("guessed token: %d", r.StatusCode)
	}
	// Another session, same account: the first session's tokens are not its own.
	other := newClient(t, s)
	other.signIn(siteDownload)
	if r := other.post("/download/fetch", url.Values{"token": {l.tokens[2]}}); r.StatusCode != http.StatusGone {
		t.Fatalf("foreign token: %d", r.StatusCode)
	}
	// ...and it is still good in its own session.
	if r := c.post("/download/fetch", url.Values{"token": {l.tokens[2]}}); r.StatusCode != http.StatusOK {
		t.Fatalf("own token after a foreign attempt: %d", r.StatusCode)
	}
	// No tokenless route unless --bench-direct.
	if r := c.get("/download/direct/1"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("direct route without --bench-direct: %d", r.StatusCode)
	}
}

func TestBenchDirect(t *testing.T) {
	s := startSim(t, Options{Files: 2, BenchDirect: true})
	c := newClient(t, s)
	if r := c.get("/download/direct/1"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("direct without a session: %d", r.StatusCode)
	}
	c.signIn(siteDownload)
	r := c.get("/download/direct/2")
	f := s.Files()[1]
	if r.StatusCode != http.StatusOK || int64(len(r.body)) != f.Size {
		t.Fatalf("direct: %d, %d bytes", r.StatusCode, len(r.body))
	}
	if r := c.get("/download/direct/99"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("direct unknown: %d", r.StatusCode)
	}
}

func TestHostileNames(t *testing.T) {
	s := startSim(t, Options{Files: 1, HostileNames: true, PageSize: 100})
	c := newClient(t, s)
	c.signIn(siteDownload)
	l := c.listPage(1)
	files := s.Files()
	want := append([]string{files[0].Name}, hostileNames(DefaultProjectID)...)
	if len(l.names) != len(want) {
		t.Fatalf("listed %q", l.names)
	}
	pub := published(t, s)
	if len(pub["duplicate.csv"]) != 2 || pub["duplicate.csv"][0] == pub["duplicate.csv"][1] {
		t.Fatalf("two different files named duplicate.csv expected, published.sha256: %v", pub["duplicate.csv"])
	}
	for i, name := range want {
		if l.names[i] != name {
			t.Fatalf("row %d: %q, want %q", i, l.names[i], name)
		}
		r := c.post("/download/fetch", url.Values{"token": {l.tokens[i]}})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("%q: %d", name, r.StatusCode)
		}
		cd := r.Header.Get("Content-Disposition")
		_, params, err := mime.ParseMediaType(cd)
		if err != nil || params["filename"] != name {
			t.Fatalf("%q: Content-Disposition %q gives %q (%v)", name, cd, params["filename"], err)
		}
		sum := sha256.Sum256([]byte(r.body))
		if hex.EncodeToString(sum[:]) != files[i].SHA256 {
			t.Fatalf("%q: content differs from its published hash", name)
		}
	}
	if n := len(want[3]); n != 300 {
		t.Fatalf("long name is %d characters", n)
	}
}

func TestMarkupV2(t *testing.T) {
	s := startSim(t, Options{Files: 4, PageSize: 3, Markup: "v2"})
	c := newClient(t, s)
	env := s.Env()
	page := c.get("/download/login")
	for _, want := range []string{`id="user"`, `id="pass"`, `>Log in</button>`} {
		if !strings.Contains(page.body, want) {
			t.Fatalf("v2 login lacks %s:\n%s", want, page.body)
		}
	}
	bad := c.post("/download/login", url.Values{"csrf_token": {csrfOf(t, page.body)}, "user": {env["SEFTBOT_DOWNLOAD_USER"]}, "pass": {"nope"}})
	if !strings.Contains(bad.body, `<div class="alert alert-danger">Invalid user name or password.</div>`) {
		t.Fatalf("v2 error:\n%s", bad.body)
	}
	ok := c.post("/download/login", url.Values{"csrf_token": {csrfOf(t, bad.body)}, "user": {env["SEFTBOT_DOWNLOAD_USER"]}, "pass": {env["SEFTBOT_DOWNLOAD_PASSWORD"]}})
	if ok.StatusCode != http.StatusSeeOther {
		t.Fatalf("v2 login: %d", ok.StatusCode)
	}
	r := c.get("/download/files")
	for _, want := range []string{`<ul class="downloads">`, `<li class="item"><span class="name">` + s.Files()[0].Name + `</span>`,
		`<span class="bytes">` + itoa(int(s.Files()[0].Size)) + `</span>`, `<button type="submit" class="get">Get file</button>`,
		`<form method="get" action="files"><input type="hidden" name="page" value="2"><button type="submit" class="pager-next">Next page</button></form>`} {
		if !strings.Contains(r.body, want) {
			t.Fatalf("v2 files lacks %s:\n%s", want, r.body)
		}
	}
	if strings.Contains(r.body, "<table") || strings.Contains(r.body, "file-row") {
		t.Fatal("v2 still renders v1 markup")
	}
	// The Next form is a GET of files?page=2, whose page has no Next.
	if r := c.get("/download/files?page=2"); strings.Contains(r.body, "pager-next") || !strings.Contains(r.body, s.Files()[3].Name) {
		t.Fatalf("v2 page 2:\n%s", r.body)
	}
	// The v2 upload form works with its own field name.
	up := newClient(t, s)
	up.signIn(siteUpload)
	if r := up.get("/upload/"); !strings.Contains(r.body, `<input type="file" id="attachment" name="attachment">`) {
		t.Fatalf("v2 upload page:\n%s", r.body)
	}
	up.upload(DefaultProjectID+".csv", []byte("x\r\n"))
	if u := s.Uploads(); len(u) != 1 || u[0].Rule != RuleHeader {
		t.Fatalf("v2 upload recorded as %+v", u)
	}
}

func TestPlainHTTPForDebugging(t *testing.T) {
	s := startSim(t, Options{Files: 1, HTTP: true})
	if !strings.HasPrefix(s.PortalURL(), "http://") || !strings.HasPrefix(s.Env()["SEFTBOT_DOWNLOAD_URL"], "http://") {
		t.Fatalf("portal URL %s", s.PortalURL())
	}
	resp, err := http.Get(s.PortalURL() + "/download/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 || resp.Cookies()[0].Secure {
		t.Fatalf("over HTTP: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
}
