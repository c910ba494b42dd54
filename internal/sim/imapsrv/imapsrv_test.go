package imapsrv_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/client"

	"github.com/isaric/seftbot/internal/sim/imapsrv"
	"github.com/isaric/seftbot/internal/sim/mailsink/mailsinktest"
)

type xoauth2 struct{ user, token string }

func (x xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}
func (x xoauth2) Next([]byte) ([]byte, error) { return []byte{}, nil }

func start(t *testing.T, tokens func(user, token string) bool) (*imapsrv.Server, string, *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	ca := mailsinktest.NewCA(t)
	pem, _ := os.ReadFile(ca.WritePEM(t, dir))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	mail := filepath.Join(dir, "mail")
	os.MkdirAll(mail, 0o700)
	for name, msg := range map[string]string{
		"1.eml": "Return-Path: <seft-noreply@nhs.example>\r\nX-Envelope-To: op@nhs.test\r\nSubject: one\r\n\r\nbody\r\n",
		"2.eml": "Return-Path: <bot@nhs.test>\r\nX-Envelope-To: analysts@x.org\r\nSubject: not for op\r\n\r\nbody\r\n",
		"3.eml": "Return-Path: <seft-noreply@nhs.example>\r\nX-Envelope-To: OP@nhs.test, x@y.org\r\nSubject: three\r\n\r\nbody\r\n",
	} {
		os.WriteFile(filepath.Join(mail, name), []byte(msg), 0o600)
	}
	s, err := imapsrv.Start(imapsrv.Options{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "127.0.0.1")}},
		Dir: mail, User: "op@nhs.test", Password: "pw", XOAUTH2: tokens, UIDValidityFile: filepath.Join(dir, "uidvalidity")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, mail, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// TestMailbox: INBOX holds the user's messages with their numbers as UIDs;
// nothing can be deleted.
func TestMailbox(t *testing.T) {
	s, mail, cfg := start(t, nil)
	c, err := client.DialTLS(s.Addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout()
	c.Timeout = 10 * time.Second
	if err := c.Login("op@nhs.test", "wrong"); err == nil {
		t.Fatal("a wrong password logged in")
	}
	if err := c.Login("op@nhs.test", "pw"); err != nil {
		t.Fatal(err)
	}
	st, err := c.Select("INBOX", false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 2 || st.UidValidity != s.UIDValidity() || st.UidValidity == 0 {
		t.Fatalf("status %+v", st)
	}
	set := new(imap.SeqSet)
	set.AddRange(1, 0)
	ch := make(chan *imap.Message, 4)
	if err := c.UidFetch(set, []imap.FetchItem{imap.FetchUid, imap.FetchEnvelope}, ch); err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range ch {
		got = append(got, m.Envelope.Subject+"@"+string(rune('0'+m.Uid)))
	}
	if strings.Join(got, ",") != "one@1,three@3" {
		t.Fatalf("INBOX = %v", got)
	}
	del := new(imap.SeqSet)
	del.AddNum(1)
	if err := c.UidStore(del, imap.FormatFlagsOp(imap.AddFlags, true), []any{imap.DeletedFlag}, nil); err == nil {
		t.Error("\\Deleted was accepted")
	}
	if err := c.Expunge(nil); err == nil {
		t.Error("EXPUNGE was accepted")
	}
	if _, err := os.Stat(filepath.Join(mail, "1.eml")); err != nil {
		t.Fatal("a message is gone")
	}
}

// TestXOAUTH2Only: like Exchange Online, a password is refused and a token
// the endpoint knows is accepted, for this mailbox only.
func TestXOAUTH2Only(t *testing.T) {
	s, _, cfg := start(t, func(user, token string) bool { return token == "good" })
	dial := func() *client.Client {
		c, err := client.DialTLS(s.Addr(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Timeout = 10 * time.Second
		t.Cleanup(func() { c.Logout() })
		return c
	}
	if err := dial().Login("op@nhs.test", "pw"); err == nil || !strings.Contains(err.Error(), "LOGIN failed") {
		t.Fatalf("password with xoauth2 only: %v", err)
	}
	if err := dial().Authenticate(xoauth2{"op@nhs.test", "bad"}); err == nil {
		t.Fatal("a bad token was accepted")
	}
	if err := dial().Authenticate(xoauth2{"someone@else", "good"}); err == nil {
		t.Fatal("a token opened another mailbox")
	}
	c := dial()
	if err := c.Authenticate(xoauth2{"op@nhs.test", "good"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", true); err != nil {
		t.Fatal(err)
	}
}

// TestCloseAtOnce: a server closed straight after it starts stops (the
// listener may not be registered with go-imap yet).
func TestCloseAtOnce(t *testing.T) {
	for range 50 {
		s, _, _ := start(t, nil)
		done := make(chan error, 1)
		go func() { done <- s.Close() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Close hung")
		}
	}
}
