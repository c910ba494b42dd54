package mailsink_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/isaric/seftbot/internal/sim/mailsink"
	"github.com/isaric/seftbot/internal/sim/mailsink/mailsinktest"
)

func trust(t *testing.T, s *mailsinktest.Sink) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("bad CA PEM")
	}
	return &tls.Config{RootCAs: pool, ServerName: s.Host}
}

// login dials with STARTTLS, verified against the sink's CA, and AUTH PLAIN.
func login(t *testing.T, s *mailsinktest.Sink, password string) (*smtp.Client, error) {
	t.Helper()
	c, err := smtp.DialStartTLS(s.Addr(), trust(t, s))
	if err != nil {
		return nil, err
	}
	if err := c.Auth(sasl.NewPlainClient("", s.User, password)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

const msg = "From: seftbot@nhs.test\r\nTo: a@example.org\r\nSubject: =?utf-8?q?hello_=C3=A9?=\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"line one=3D1\r\nline two\r\n"

func TestSubmitAndRead(t *testing.T) {
	s := mailsinktest.Start(t, false)
	c, err := login(t, s, s.Password)
	if err != nil {
		t.Fatal(err)
	}
	rcpts := []string{"a@example.org", "b@example.org"}
	if err := c.SendMail("seftbot@nhs.test", rcpts, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	if err := s.Deliver("seftsim@nhs.test", []string{"c@example.org"}, []byte("Subject: SEFT file processing\r\n\r\nThere was a problem processing your file.\r\n")); err != nil {
		t.Fatal(err)
	}

	ms, err := mailsink.ReadMessages(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].N != 1 || ms[1].N != 2 {
		t.Fatalf("got %d messages: %+v", len(ms), ms)
	}
	m := ms[0]
	if m.EnvelopeFrom != "seftbot@nhs.test" || !slices.Equal(m.EnvelopeTo, rcpts) {
		t.Errorf("envelope = %q %q", m.EnvelopeFrom, m.EnvelopeTo)
	}
	if m.Subject != "hello é" || m.Text != "line one=1\nline two\n" {
		t.Errorf("subject %q, text %q", m.Subject, m.Text)
	}
	if ms[1].Subject != "SEFT file processing" || ms[1].EnvelopeTo[0] != "c@example.org" {
		t.Errorf("delivered notice = %+v", ms[1])
	}
	ents, _ := os.ReadDir(s.Dir)
	for _, e := range ents {
		fi, _ := e.Info()
		if !strings.HasSuffix(e.Name(), ".eml") || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (want only 0600 .eml files)", e.Name(), fi.Mode().Perm())
		}
	}

	// A restarted sink on the same directory continues the numbering.
	s2, err := mailsink.Start(mailsink.Options{Dir: s.Dir, User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Deliver("x@nhs.test", []string{"y@nhs.test"}, []byte("Subject: 3\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "3.eml")); err != nil {
		t.Fatalf("restart did not continue numbering: %v", err)
	}
}

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestWrongPasswordRefused(t *testing.T) {
	s := mailsinktest.Start(t, false)
	_, err := login(t, s, s.Password+"x")
	if smtpCode(err) != 535 {
		t.Fatalf("wrong password: err = %v, want 535", err)
	}
}

func TestAuthBeforeStartTLSRefused(t *testing.T) {
	s := mailsinktest.Start(t, false)
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH advertised before STARTTLS")
	}
	err = c.Auth(sasl.NewPlainClient("", s.User, s.Password))
	if smtpCode(err) != 523 {
		t.Fatalf("AUTH before STARTTLS: err = %v, want 523", err)
	}
	if err := c.Mail("seftbot@nhs.test", nil); smtpCode(err) != 502 {
		t.Fatalf("MAIL without AUTH: err = %v, want 502", err)
	}
}

func TestDownRefuses(t *testing.T) {
	s := mailsinktest.Start(t, false)
	s.SetDown(true)
	_, err := login(t, s, s.Password)
	if err == nil || !strings.Contains(err.Error(), "421") {
		t.Fatalf("down sink: err = %v, want 421", err)
	}
	s.SetDown(false)
	c, err := login(t, s, s.Password)
	if err != nil {
		t.Fatalf("sink still down after SetDown(false): %v", err)
	}
	c.Close()
}
