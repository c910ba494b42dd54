package sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startSim starts a small seftsim in a temporary directory.
func startSim(t *testing.T, o Options) *Sim {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.FileSize == 0 {
		o.FileSize = 2048
	}
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// client is a browser stand-in: it trusts DIR/tls/ca.pem and nothing else,
// keeps cookies and does not follow redirects, so tests see every 303.
type client struct {
	t    *testing.T
	s    *Sim
	http *http.Client
}

func newClient(t *testing.T, s *Sim) *client {
	t.Helper()
	pem, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem holds no certificate")
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &client{t: t, s: s, http: &http.Client{
		Jar:           jar,
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// response is a fully read answer.
type response struct {
	*http.Response
	body string
}

func (c *client) do(req *http.Request) response {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", req.Method, req.URL, err)
	}
	return response{resp, string(b)}
}

func (c *client) get(path string) response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.s.PortalURL()+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req)
}

func (c *client) post(path string, form url.Values) response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.s.PortalURL()+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

var (
	reCSRF  = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	reToken = regexp.MustCompile(`name="token" value="([^"]+)"`)
	reName  = regexp.MustCompile(`<td class="file-name">([^<]*)</td>`)
)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := reCSRF.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return m[1]
}

// login signs in on site ("upload" or "download") with the given password
// through the form of the markup in force and returns the answer to the POST.
func (c *client) login(site, user, password string) response {
	c.t.Helper()
	page := c.get("/" + site + "/login")
	if page.StatusCode != http.StatusOK {
		c.t.Fatalf("login page: %d", page.StatusCode)
	}
	return c.post("/"+site+"/login", url.Values{
		"csrf_token": {csrfOf(c.t, page.body)}, c.s.markup().userField: {user}, c.s.markup().passField: {password}})
}

// signIn logs in with the right credentials and insists it worked.
func (c *client) signIn(site string) {
	c.t.Helper()
	env := c.s.Env()
	key := "SEFTBOT_DOWNLOAD_"
	if site == siteUpload {
		key = "SEFTBOT_UPLOAD_"
	}
	r := c.login(site, env[key+"USER"], env[key+"PASSWORD"])
	if r.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("sign-in on %s: status %d, body:\n%s", site, r.StatusCode, r.body)
	}
}

// listing is one rendered page of the v1 file table.
type listing struct {
	names, tokens []string
	next          bool
}

func (c *client) listPage(n int) listing {
	c.t.Helper()
	r := c.get("/download/files?page=" + itoa(n))
	if r.StatusCode != http.StatusOK {
		c.t.Fatalf("files page %d: status %d", n, r.StatusCode)
	}
	var l listing
	for _, m := range reName.FindAllStringSubmatch(r.body, -1) {
		l.names = append(l.names, html.UnescapeString(m[1]))
	}
	for _, m := range reToken.FindAllStringSubmatch(r.body, -1) {
		l.tokens = append(l.tokens, m[1])
	}
	l.next = strings.Contains(r.body, `<a class="next" rel="next" href="files?page=`+itoa(n+1)+`">Next</a>`)
	if len(l.names) != len(l.tokens) {
		c.t.Fatalf("page %d: %d names but %d tokens", n, len(l.names), len(l.tokens))
	}
	return l
}

func itoa(n int) string { return strconv.Itoa(n) }

// admin calls the admin API over real HTTP and decodes the JSON answer.
func admin(t *testing.T, s *Sim, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.AdminURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&m); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, path, err, b)
	}
	return resp.StatusCode, m
}
