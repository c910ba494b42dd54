package mailauth_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/mailauth"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/sim/mailsink/mailsinktest"
	"github.com/isaric/seftbot/internal/sim/oauthsrv"
	"github.com/isaric/seftbot/internal/usererr"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func deviceCfg(s *mailsinktest.Sink, o *mailsinktest.OAuth, dir string) mailauth.Config {
	return mailauth.Config{Flow: mailauth.FlowDevice, TokenURL: o.TokenURL(), DeviceURL: o.DeviceURL(), ClientID: o.ClientID,
		Scopes: strings.Fields(mailauth.DefaultUserScope), CAFile: s.CAFile, CacheFile: layout.State{Dir: dir}.TokenCache()}
}

// approve plays the person: open the printed address and enter the code.
func approve(t *testing.T, caFile, line string) {
	t.Helper()
	m := regexp.MustCompile(`open (\S+) in a web browser and enter the code (\S+)$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("login printed %q, want the address and the code", line)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.PostForm(m[1], url.Values{"user_code": {m[2]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("approving the code: %s", resp.Status)
	}
}

// TestDeviceLoginAndRefresh signs in once with the device-code flow, then
// uses the cached sign-in, refreshing it when the access token expires and
// keeping the rotated refresh token (the old one no longer works).
func TestDeviceLoginAndRefresh(t *testing.T) {
	clk := &clock{t: time.Now()}
	const ttl = 5 * time.Minute
	s, o := mailsinktest.StartOAuth(t, ttl, clk.Now)
	dir := t.TempDir()
	cfg := deviceCfg(s, o, dir)

	// No sign-in yet: a user error that says what to run.
	_, err := mailauth.New(cfg, nil, clk.Now).Token(context.Background())
	if !errors.Is(err, mailauth.ErrToken) || !strings.Contains(usererr.Hint(err), "seftbot mail login") {
		t.Fatalf("before login: %v (hint %q)", err, usererr.Hint(err))
	}

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- mailauth.Login(context.Background(), cfg, pw, clk.Now); pw.Close() }()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatal("login printed nothing")
	}
	approve(t, s.CAFile, sc.Text())
	var out strings.Builder
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "signed in") || strings.Contains(out.String(), "sim-at-") || strings.Contains(out.String(), "sim-rt-") {
		t.Errorf("login output: %q", out.String())
	}
	st, err := os.Stat(cfg.CacheFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token cache: %v, mode %v", err, st.Mode().Perm())
	}
	before, _ := os.ReadFile(cfg.CacheFile)

	src := mailauth.New(cfg, nil, clk.Now)
	tok1, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !o.Check("seftbot@nhs.test", tok1) {
		t.Fatal("the cached access token is not accepted")
	}
	if n := o.Stats().Issued[oauthsrv.GrantRefreshToken]; n != 0 {
		t.Fatalf("%d refreshes while the login's token lives", n)
	}

	clk.Add(ttl + time.Second)
	tok2, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok2 == tok1 || !o.Check("seftbot@nhs.test", tok2) || o.Check("seftbot@nhs.test", tok1) {
		t.Fatal("the expired token was not replaced by a live one")
	}
	if n := o.Stats().Issued[oauthsrv.GrantRefreshToken]; n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	after, _ := os.ReadFile(cfg.CacheFile)
	if string(after) == string(before) {
		t.Fatal("the rotated refresh token was not kept")
	}
	// A new process (a new Source) reads the cache: the current token, no refresh.
	tok3, err := mailauth.New(cfg, nil, clk.Now).Token(context.Background())
	if err != nil || tok3 != tok2 {
		t.Fatalf("second process: %v (same token %v)", err, tok3 == tok2)
	}
	// The next expiry is refreshed from the rotated token, not the spent one.
	clk.Add(ttl + time.Second)
	if _, err := mailauth.New(cfg, nil, clk.Now).Token(context.Background()); err != nil {
		t.Fatalf("refresh with the rotated token: %v", err)
	}
}

// TestClientCredentialsRefused: a wrong secret is ErrToken with a hint, and
// the error carries neither the secret nor the endpoint's raw answer.
func TestClientCredentialsRefused(t *testing.T) {
	s, o := mailsinktest.StartOAuth(t, time.Minute, nil)
	cfg := mailauth.Config{Flow: mailauth.FlowClientCredentials, TokenURL: o.TokenURL(), ClientID: o.ClientID,
		ClientSecret: "wrong-secret", CAFile: s.CAFile}
	_, err := mailauth.New(cfg, nil, nil).Token(context.Background())
	if !errors.Is(err, mailauth.ErrToken) || !usererr.Is(err) || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Error("error shows the secret")
	}
	// Without the endpoint's CA the TLS check fails: no way around it.
	cfg.ClientSecret, cfg.CAFile = o.ClientSecret, ""
	if _, err := mailauth.New(cfg, nil, nil).Token(context.Background()); !errors.Is(err, mailauth.ErrToken) {
		t.Fatalf("untrusted endpoint: %v", err)
	}
}

// TestClientCertificate: the certificate credential of client credentials,
// a signed client assertion instead of a secret; the endpoint checks the
// signature, so a key of another certificate is refused.
func TestClientCertificate(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, o := mailsinktest.StartOAuth(t, time.Minute, clk.Now)
	cfg := mailauth.Config{Flow: mailauth.FlowClientCredentials, TokenURL: o.TokenURL(), ClientID: o.ClientID,
		CertFile: o.CertFile, KeyFile: o.KeyFile, CAFile: s.CAFile}
	tok, err := mailauth.New(cfg, nil, clk.Now).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !o.Check("seftbot@nhs.test", tok) {
		t.Fatal("the token from a client assertion is not accepted")
	}
	// Another certificate and key (of a second endpoint's client): refused.
	_, o2 := mailsinktest.StartOAuth(t, time.Minute, nil)
	cfg.CertFile, cfg.KeyFile = o2.CertFile, o2.KeyFile
	_, err = mailauth.New(cfg, nil, clk.Now).Token(context.Background())
	if !errors.Is(err, mailauth.ErrToken) || !strings.Contains(err.Error(), "invalid_client") ||
		!strings.Contains(usererr.Hint(err), "SEFTBOT_OAUTH_CLIENT_CERT_FILE") {
		t.Fatalf("foreign certificate: %v (hint %q)", err, usererr.Hint(err))
	}
	// A key file others can read is refused before anything is sent.
	os.Chmod(o.KeyFile, 0o644)
	cfg.CertFile, cfg.KeyFile = o.CertFile, o.KeyFile
	if _, err := mailauth.New(cfg, nil, clk.Now).Token(context.Background()); !usererr.Is(err) || !strings.Contains(err.Error(), "accessible by other users") {
		t.Fatalf("shared key file: %v", err)
	}
}

// login signs in with the device flow against o, approving at once.
func login(t *testing.T, s *mailsinktest.Sink, cfg mailauth.Config, now func() time.Time) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- mailauth.Login(context.Background(), cfg, pw, now); pw.Close() }()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatal("login printed nothing")
	}
	approve(t, s.CAFile, sc.Text())
	for sc.Scan() {
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestRotationIsKeptBeforeUse: a renewed token set that cannot be written to
// the cache is not used (the run fails now, not the next one after mailing);
// a refresh token the endpoint refuses (here: spent by that refresh) is a
// user error that names seftbot mail login, in the error itself.
func TestRotationIsKeptBeforeUse(t *testing.T) {
	clk := &clock{t: time.Now()}
	const ttl = 5 * time.Minute
	s, o := mailsinktest.StartOAuth(t, ttl, clk.Now)
	dir := t.TempDir()
	cfg := deviceCfg(s, o, dir)
	login(t, s, cfg, clk.Now)
	clk.Add(ttl + time.Second)

	// The cache cannot be replaced: the renewed token is not handed out.
	src := mailauth.New(mailauth.WithCacheFault(cfg, errors.New("no space left on device")), nil, clk.Now)
	tok, err := src.Token(context.Background())
	if err == nil || tok != "" || !strings.Contains(err.Error(), "keeping the renewed OAuth sign-in") {
		t.Fatalf("token handed out: %v, err %v: want none and the write named", tok != "", err)
	}
	if n := o.Stats().Issued[oauthsrv.GrantRefreshToken]; n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
	// The same Source does not fall back on the token it could not keep.
	if tok, err := src.Token(context.Background()); err == nil || tok != "" {
		t.Fatalf("second call: token handed out (%v)", err)
	}

	// The cache holds the spent refresh token, as after a kill in that instant.
	_, err = mailauth.New(cfg, nil, clk.Now).Token(context.Background())
	if !errors.Is(err, mailauth.ErrToken) || !usererr.Is(err) ||
		!strings.Contains(err.Error(), "invalid_grant): run seftbot mail login") ||
		!strings.Contains(usererr.Hint(err), "seftbot mail login") {
		t.Fatalf("spent refresh token: %v (hint %q)", err, usererr.Hint(err))
	}
	if strings.Contains(err.Error(), "sim-rt-") || strings.Contains(err.Error(), "sim-at-") {
		t.Fatal("a token in the error")
	}
}

// TestHeldCacheLockIsBounded: a token cache lock another process holds is
// waited on no longer than the context lives (SIGTERM) and names no secret.
func TestHeldCacheLockEndsWithContext(t *testing.T) {
	clk := &clock{t: time.Now()}
	s, o := mailsinktest.StartOAuth(t, time.Minute, clk.Now)
	cfg := deviceCfg(s, o, t.TempDir())
	login(t, s, cfg, clk.Now)
	clk.Add(2 * time.Minute)
	// Another open file description holds the lock, as another process would.
	unlock, err := safeio.Lock(context.Background(), cfg.CacheFile+".lock", "held", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := mailauth.New(cfg, nil, clk.Now).Token(ctx); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Token still waits on the held lock 2 s after its context ended")
	}
	// Past the bound, the error names the holder's PID.
	defer mailauth.SetCacheLockWait(200 * time.Millisecond)()
	_, err = mailauth.New(cfg, nil, clk.Now).Token(context.Background())
	if !errors.Is(err, safeio.ErrLockHeld) || !strings.Contains(err.Error(), "held by process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("err %v, want the holder named", err)
	}
}
