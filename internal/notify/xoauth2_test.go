package notify_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/mailauth"
	"github.com/isaric/seftbot/internal/notify"
	"github.com/isaric/seftbot/internal/sim/mailsink/mailsinktest"
	"github.com/isaric/seftbot/internal/sim/oauthsrv"
	"github.com/isaric/seftbot/internal/usererr"
)

// fakeClock is shared by the bot's token source and the token endpoint, so
// moving it expires a token on both sides without waiting.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func oauthCfg(s *mailsinktest.Sink, o *mailsinktest.OAuth, clock *fakeClock, log *slog.Logger) notify.Config {
	cfg := cfgFor(s)
	cfg.Auth, cfg.Password = notify.AuthXOAUTH2, ""
	cfg.Tokens = mailauth.New(mailauth.Config{Flow: mailauth.FlowClientCredentials, TokenURL: o.TokenURL(),
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, Scopes: []string{mailauth.DefaultAppScope}, CAFile: s.CAFile},
		log, clock.Now)
	return cfg
}

// TestXOAUTH2SendsAndRefreshes sends the passphrase and report mails over
// XOAUTH2 with client-credentials tokens, and gets a new token once the
// first has expired mid-run: the sink would refuse the old one.
func TestXOAUTH2SendsAndRefreshes(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	const ttl = 10 * time.Minute
	s, o := mailsinktest.StartOAuth(t, ttl, clock.Now)
	var logs bytes.Buffer
	cfg := oauthCfg(s, o, clock, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := context.Background()

	if err := notify.SendPassphrase(ctx, cfg, mailIn); err != nil {
		t.Fatal(err)
	}
	if err := notify.SendReport(ctx, cfg, report(true)); err != nil {
		t.Fatal(err)
	}
	if n := o.Stats().Issued[oauthsrv.GrantClientCredentials]; n != 1 {
		t.Fatalf("%d tokens issued for two mails, want 1 (the token is reused while it lives)", n)
	}
	clock.Add(ttl + time.Second) // the first token is now dead on both sides
	if err := notify.SendReport(ctx, cfg, report(false)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n := o.Stats().Issued[oauthsrv.GrantClientCredentials]; n != 2 {
		t.Fatalf("%d tokens issued, want 2: the expired token was not replaced", n)
	}
	if ms := messages(t, s); len(ms) != 3 {
		t.Fatalf("%d messages, want 3", len(ms))
	}
	if strings.Contains(logs.String(), "sim-at-") || strings.Contains(logs.String(), o.ClientSecret) {
		t.Errorf("a token or the client secret was logged:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "replaces_expired=true") {
		t.Errorf("the refresh was not logged:\n%s", logs.String())
	}
}

// TestPasswordAfterBasicAuthRetired: a password login answered 550 5.7.30,
// as Exchange Online will, is a plain-words user error whose hint names the
// fix.
func TestPasswordAfterBasicAuthRetired(t *testing.T) {
	s, _ := mailsinktest.StartOAuth(t, time.Hour, nil)
	err := notify.SendPassphrase(context.Background(), cfgFor(s), mailIn)
	mustFail(t, s, err, true, "SEFTBOT_SMTP_AUTH=xoauth2")
	if !strings.Contains(err.Error(), "Basic authentication") || !strings.Contains(err.Error(), "no longer accepts") {
		t.Errorf("error does not say plainly that passwords are refused: %v", err)
	}
}

// TestXOAUTH2BadSecret: a refused client secret is a token-endpoint error
// (its own exit code), with a hint, and never shows the secret.
func TestXOAUTH2BadSecret(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	s, o := mailsinktest.StartOAuth(t, time.Hour, nil)
	o.ClientSecret += "x"
	cfg := oauthCfg(s, o, clock, nil)
	err := notify.SendPassphrase(context.Background(), cfg, mailIn)
	mustFail(t, s, err, true, "SEFTBOT_OAUTH_CLIENT_SECRET")
	if !errors.Is(err, mailauth.ErrToken) {
		t.Errorf("err does not wrap mailauth.ErrToken: %v", err)
	}
	if strings.Contains(err.Error(), o.ClientSecret) || strings.Contains(usererr.Hint(err), o.ClientSecret) {
		t.Error("error shows the client secret")
	}
}

// TestXOAUTH2BadToken: a token the server does not know is refused with
// Exchange's 535 5.7.3, and the hint points at the app's permissions.
func TestXOAUTH2BadToken(t *testing.T) {
	s, _ := mailsinktest.StartOAuth(t, time.Hour, nil)
	cfg := cfgFor(s)
	cfg.Auth, cfg.Password = notify.AuthXOAUTH2, ""
	cfg.Tokens = staticToken("not-a-token")
	err := notify.SendPassphrase(context.Background(), cfg, mailIn)
	mustFail(t, s, err, true, "SMTP.Send")
	if strings.Contains(err.Error(), "not-a-token") {
		t.Error("error shows the token")
	}
}

type staticToken string

func (s staticToken) Token(context.Context) (string, error) { return string(s), nil }
