package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// abs makes a request to an absolute URL (the other site's pages).
func (c *client) abs(method, u string, form url.Values) response {
	c.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return c.do(req)
}

func cookieOf(r response, name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

var (
	reIdPCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	reFrame   = regexp.MustCompile(`<iframe id="transfers-frame" title="Transfers" src="([^"]+)"`)
	reV4Tok   = regexp.MustCompile(`name="t" value="([^"]+)"`)
)

func match(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in page:\n%s", re, body)
	}
	return m[1]
}

// The IdP sign-in over HTTP: the portal sends the browser to the other
// site; e-mail, password (one POST counted each, failures counted), "stay
// signed in?", then back with a code the portal takes once; a second
// sign-in in the same browser skips the form.
func TestV4IdPHTTP(t *testing.T) {
	s := startSim(t, Options{Files: 2, Markup: "v4", V4: V4Options{IdP: true}})
	c := newClient(t, s)
	env := s.Env()
	away := s.origin(true)
	if !strings.HasPrefix(away, "https://localhost:") {
		t.Fatalf("the IdP's origin is %s", away)
	}

	r := c.get("/download/login")
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, away+"/idp/authorize?") {
		t.Fatalf("portal login: %d to %q", r.StatusCode, loc)
	}
	if r := c.get("/idp/authorize?" + strings.SplitN(loc, "?", 2)[1]); r.StatusCode != http.StatusNotFound {
		t.Fatalf("the IdP on the portal's host name: %d", r.StatusCode)
	}
	r = c.abs("GET", loc, nil)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `id="cookie-banner"`) || !strings.Contains(r.body, `id="email"`) {
		t.Fatalf("IdP e-mail page: %d\n%s", r.StatusCode, r.body)
	}
	csrf := match(t, reIdPCSRF, r.body)
	r = c.abs("POST", away+"/idp/email", url.Values{"csrf": {csrf}, "email": {env["SEFTBOT_DOWNLOAD_USER"] + "@nhs.example"}})
	if !strings.Contains(r.body, `id="passwd"`) {
		t.Fatalf("IdP password page: %d\n%s", r.StatusCode, r.body)
	}
	r = c.abs("POST", away+"/idp/password", url.Values{"csrf": {csrf}, "passwd": {"wrong"}})
	if !strings.Contains(r.body, msgInvalid) {
		t.Fatalf("wrong password: %d\n%s", r.StatusCode, r.body)
	}
	if a := s.State().Accounts[siteDownload]; a.PasswordPosts != 1 || a.FailedLogins != 1 {
		t.Fatalf("after a wrong password: %+v", a)
	}
	r = c.abs("POST", away+"/idp/password", url.Values{"csrf": {csrf}, "passwd": {env["SEFTBOT_DOWNLOAD_PASSWORD"]}})
	if !strings.Contains(r.body, `id="stay-yes"`) {
		t.Fatalf("stay signed in page: %d\n%s", r.StatusCode, r.body)
	}
	r = c.abs("POST", away+"/idp/stay", url.Values{"csrf": {csrf}, "stay": {"yes"}})
	back := r.Header.Get("Location")
	if k := cookieOf(r, idpCookie); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(back, s.PortalURL()+"/download/callback?") ||
		k == nil || k.MaxAge != 86400 || !k.Secure || !k.HttpOnly {
		t.Fatalf("stay yes: %d to %q, cookie %+v", r.StatusCode, back, k)
	}
	code := must(url.ParseQuery(strings.SplitN(back, "?", 2)[1])).Get("code")
	r = c.abs("GET", back, nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/download/files" {
		t.Fatalf("callback: %d to %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	if r := c.get("/download/files"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `id="transfers"`) {
		t.Fatalf("the list after the IdP: %d", r.StatusCode)
	}

	// Sign out, start again: the old code, with this browser's new state, is refused.
	c.get("/download/logout")
	r = c.get("/download/login")
	loc = r.Header.Get("Location")
	state := must(url.ParseQuery(strings.SplitN(loc, "?", 2)[1])).Get("state")
	if r := c.get("/download/callback?" + url.Values{"code": {code}, "state": {state}}.Encode()); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("a spent code: %d", r.StatusCode)
	}
	// The IdP session exists: straight back, no form.
	r = c.abs("GET", loc, nil)
	back = r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(back, s.PortalURL()+"/download/callback?") {
		t.Fatalf("second sign-in at the IdP: %d to %q\n%s", r.StatusCode, back, r.body)
	}
	if r := c.abs("GET", back, nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("second callback: %d", r.StatusCode)
	}
	v, a := s.State().V4, s.State().Accounts[siteDownload]
	if a.PasswordPosts != 2 || a.FailedLogins != 0 || v.IdPSignIns != 2 || v.IdPSkipped != 1 || v.CodesIssued != 2 || v.CodesRefused != 1 || !v.Options.IdP {
		t.Fatalf("state: account %+v, v4 %+v", a, v)
	}
	// The v1 form is gone; a forged form is refused and its password counted.
	if r := c.post("/download/login", url.Values{"password": {"x"}}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("POST /download/login with the IdP: %d", r.StatusCode)
	}
	if r := c.abs("POST", away+"/idp/password", url.Values{"csrf": {"forged"}, "passwd": {"x"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("forged IdP form: %d", r.StatusCode)
	}
	if a := s.State().Accounts[siteDownload]; a.PasswordPosts != 3 {
		t.Fatalf("a forged password POST is not counted: %+v", a)
	}
}

// The cookie banner is not drawn once accepted; "No" keeps the IdP session
// for the browser's life only.
func TestV4IdPBannerAndStayNo(t *testing.T) {
	s := startSim(t, Options{Files: 1, Markup: "v4", V4: V4Options{IdP: true}})
	c := newClient(t, s)
	away := s.origin(true)
	u := must(url.Parse(away + "/idp/"))
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: idpConsent, Value: "accepted", Path: "/idp"}})
	r := c.abs("GET", c.get("/download/login").Header.Get("Location"), nil)
	if strings.Contains(r.body, "cookie-banner") {
		t.Fatal("the banner is drawn after it was accepted")
	}
	csrf := match(t, reIdPCSRF, r.body)
	c.abs("POST", away+"/idp/email", url.Values{"csrf": {csrf}, "email": {DownloadUser}})
	c.abs("POST", away+"/idp/password", url.Values{"csrf": {csrf}, "passwd": {s.Env()["SEFTBOT_DOWNLOAD_PASSWORD"]}})
	r = c.abs("POST", away+"/idp/stay", url.Values{"csrf": {csrf}, "stay": {"no"}})
	if k := cookieOf(r, idpCookie); k == nil || k.MaxAge != 0 || r.StatusCode != http.StatusSeeOther {
		t.Fatalf("stay no: %d, cookie %+v", r.StatusCode, k)
	}
}

// The cross-site frame over HTTP: the shell frames the list from the other
// host name with a one-time token, spent for a SameSite=None; Secure cookie
// there; the list and its downloads work with that cookie; the list is not
// served on the portal's host name.
func TestV4CrossFrameHTTP(t *testing.T) {
	s := startSim(t, Options{Files: 3, PageSize: 2, Markup: "v4", V4: V4Options{Frame: "cross"}})
	c := newClient(t, s)
	c.signIn(siteDownload)
	r := c.get("/download/files")
	src := match(t, reFrame, r.body)
	src = strings.ReplaceAll(src, "&amp;", "&")
	away := s.origin(true)
	if !strings.HasPrefix(src, away+"/download/list?ft=") {
		t.Fatalf("frame src %q", src)
	}
	if r := c.get("/download/list"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("the cross-site list on the portal's host name: %d", r.StatusCode)
	}
	if r := newClient(t, s).abs("GET", away+"/download/list", nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the framed list without a cookie: %d", r.StatusCode)
	}
	r = c.abs("GET", src, nil)
	k := cookieOf(r, cookieName)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/download/list" || k == nil ||
		k.SameSite != http.SameSiteNoneMode || !k.Secure || !k.HttpOnly || k.Path != "/download" {
		t.Fatalf("frame token: %d to %q, cookie %+v", r.StatusCode, r.Header.Get("Location"), k)
	}
	if r := newClient(t, s).abs("GET", src, nil); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a spent frame token: %d", r.StatusCode)
	}
	r = c.abs("GET", away+"/download/list", nil)
	if r.StatusCode != http.StatusOK || strings.Contains(r.body, `id="sign-out"`) || !strings.Contains(r.body, `href="list?page=2"`) {
		t.Fatalf("framed list: %d\n%s", r.StatusCode, r.body)
	}
	tok := match(t, reV4Tok, r.body)
	r = c.abs("POST", away+"/download/get", url.Values{"t": {tok}})
	file := regexp.MustCompile(`id="start-now" href="([^"]+)"`).FindStringSubmatch(r.body)
	if file == nil {
		t.Fatalf("interstitial from the frame: %d\n%s", r.StatusCode, r.body)
	}
	r = c.abs("GET", away+file[1], nil)
	sum := sha256.Sum256([]byte(r.body))
	if f := s.Files()[0]; r.StatusCode != http.StatusOK || hex.EncodeToString(sum[:]) != f.SHA256 {
		t.Fatalf("download from the frame: %d, %d bytes", r.StatusCode, len(r.body))
	}
	if v := s.State().V4; v.FrameLoads != 1 || v.FrameTokens != 1 || v.FrameRefused != 1 || v.Options.Frame != "cross" {
		t.Fatalf("state: %+v", v)
	}
}

// The same-origin frame: the list at /download/list on the portal's host.
func TestV4SameFrameHTTPAndOptions(t *testing.T) {
	s := startSim(t, Options{Files: 1, Markup: "v4", V4: V4Options{Frame: "same"}})
	c := newClient(t, s)
	c.signIn(siteDownload)
	if src := match(t, reFrame, c.get("/download/files").body); src != "list" {
		t.Fatalf("frame src %q", src)
	}
	if r := c.get("/download/list"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `id="transfers"`) {
		t.Fatalf("same-origin list: %d", r.StatusCode)
	}
	if r := c.abs("GET", s.origin(true)+"/download/list", nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("same-origin list on the other host name: %d", r.StatusCode)
	}
	for _, o := range []Options{
		{Markup: "v4", V4: V4Options{Frame: "sideways"}},
		{Markup: "v4", HTTP: true, V4: V4Options{Frame: "cross"}},
		{Markup: "v1", V4: V4Options{IdP: true}},
	} {
		o.Dir = t.TempDir()
		if s, err := Start(t.Context(), o); err == nil {
			s.Close()
			t.Fatalf("options %+v were accepted", o.V4)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
