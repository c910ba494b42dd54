package notify_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/notify"
	"github.com/isaric/seftbot/internal/sim/mailsink"
	"github.com/isaric/seftbot/internal/sim/mailsink/mailsinktest"
	"github.com/isaric/seftbot/internal/usererr"
)

const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// A passphrase that quoted-printable must encode ('=' and non-ASCII).
var mailIn = notify.PassphraseMail{
	ArchiveName: "isaric-NIC-402963-P0Y5D-20261122.7z", ArchiveSHA256: sha,
	Passphrase: "Xq7=vR9+tLm2/wÖ", Project: "NIC-402963-P0Y5D",
}

func cfgFor(s *mailsinktest.Sink) notify.Config {
	return notify.Config{
		Host: s.Host, Port: s.Port, User: s.User, Password: s.Password, CAFile: s.CAFile,
		From: "seftbot@nhs.test", PassphraseTo: []string{"analyst1@example.org", "analyst2@example.org"},
		ReportTo: []string{"operator@nhs.test"}, Timeout: 5 * time.Second,
	}
}

func messages(t *testing.T, s *mailsinktest.Sink) []mailsink.Message {
	t.Helper()
	ms, err := mailsink.ReadMessages(s.Dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return ms
}

func TestSendPassphrase(t *testing.T) {
	s := mailsinktest.Start(t, false)
	cfg := cfgFor(s)
	ctx := context.Background()
	if err := notify.SendPassphrase(ctx, cfg, mailIn); err != nil {
		t.Fatal(err)
	}
	if err := notify.SendPassphrase(ctx, cfg, mailIn); err != nil { // a resend
		t.Fatal(err)
	}
	ms := messages(t, s)
	if len(ms) != 2 {
		t.Fatalf("%d messages, want 2", len(ms))
	}
	m := ms[0]
	if !strings.HasPrefix(strings.ToLower(m.Subject), "[secure]") || !strings.Contains(m.Subject, mailIn.ArchiveName) {
		t.Errorf("subject %q", m.Subject)
	}
	if !slices.Equal(m.EnvelopeTo, cfg.PassphraseTo) || m.EnvelopeFrom != cfg.From {
		t.Errorf("envelope %q -> %q", m.EnvelopeFrom, m.EnvelopeTo)
	}
	if to := m.Header.Get("To"); !strings.Contains(to, "analyst1@example.org") || !strings.Contains(to, "analyst2@example.org") {
		t.Errorf("To: %q", to)
	}
	var pass []string
	for _, l := range strings.Split(m.Text, "\n") {
		if strings.HasPrefix(l, notify.PassphraseLinePrefix) {
			pass = append(pass, l)
		}
	}
	if !slices.Equal(pass, []string{"Passphrase: " + mailIn.Passphrase}) {
		t.Errorf("passphrase lines %q", pass)
	}
	for _, want := range []string{mailIn.ArchiveName, sha} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Text)
		}
	}
	id := m.Header.Get("Message-Id")
	if id == "" || id != ms[1].Header.Get("Message-Id") {
		t.Errorf("Message-IDs %q and %q: want one stable id per archive", id, ms[1].Header.Get("Message-Id"))
	}
	if _, err := m.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
}

func report(ok bool) notify.Report {
	r := notify.Report{
		RunID: "20261122T020000Z-ab12", Project: "NIC-402963-P0Y5D", Started: time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC),
		Files: 160, Bytes: 167772160, ArchiveName: mailIn.ArchiveName, RemotePath: "/" + mailIn.ArchiveName,
		Stages: []notify.StageTime{{"download", 62 * time.Second}, {"archive", 4 * time.Second}, {"relay", 3 * time.Second}},
	}
	if !ok {
		r.Err = fmt.Errorf("%w: connection lost", errors.New("relay failed"))
		r.FailedStage = "relay"
		r.DebugBundle = "/var/lib/seftbot/debug/20261122T020000Z-ab12.tar.gz"
	}
	return r
}

func TestSendReport(t *testing.T) {
	s := mailsinktest.Start(t, false)
	cfg := cfgFor(s)
	for _, ok := range []bool{true, false} {
		r := report(ok)
		r.Redact = []string{mailIn.Passphrase, cfg.Password}
		if err := notify.SendReport(context.Background(), cfg, r); err != nil {
			t.Fatal(err)
		}
	}
	ms := messages(t, s)
	if len(ms) != 2 {
		t.Fatalf("%d messages, want 2", len(ms))
	}
	okm, bad := ms[0], ms[1]
	if !strings.HasPrefix(okm.Subject, "seftbot: OK ") || !strings.HasPrefix(bad.Subject, "seftbot: FAILED at relay ") {
		t.Errorf("subjects %q, %q", okm.Subject, bad.Subject)
	}
	if !slices.Equal(okm.EnvelopeTo, cfg.ReportTo) {
		t.Errorf("report went to %q", okm.EnvelopeTo)
	}
	for _, want := range []string{"20261122T020000Z-ab12", "160", "167772160", mailIn.ArchiveName, "/" + mailIn.ArchiveName, "download", "1m2s", "total"} {
		if !strings.Contains(okm.Text, want) {
			t.Errorf("OK report lacks %q:\n%s", want, okm.Text)
		}
	}
	for _, want := range []string{"relay", "connection lost", "/var/lib/seftbot/debug/20261122T020000Z-ab12.tar.gz"} {
		if !strings.Contains(bad.Text, want) {
			t.Errorf("FAILED report lacks %q:\n%s", want, bad.Text)
		}
	}
	for _, m := range ms {
		raw, _ := os.ReadFile(m.Path)
		if strings.Contains(m.Text, mailIn.Passphrase) || strings.Contains(string(raw), "Xq7") || strings.Contains(string(raw), cfg.Password) {
			t.Errorf("report %d carries a secret", m.N)
		}
	}
}

func TestReportRedactRefuses(t *testing.T) {
	s := mailsinktest.Start(t, false)
	r := report(false)
	r.Err = fmt.Errorf("7z said: wrong password %s", mailIn.Passphrase) // a bug upstream
	r.Redact = []string{"", mailIn.Passphrase}
	err := notify.SendReport(context.Background(), cfgFor(s), r)
	if !errors.Is(err, notify.ErrMail) || strings.Contains(err.Error(), mailIn.Passphrase) {
		t.Fatalf("err = %v: want ErrMail without the secret", err)
	}
	if ms := messages(t, s); len(ms) != 0 {
		t.Fatalf("%d messages sent despite a secret in the report", len(ms))
	}
}

// mustFail checks a failed send: it wraps notify.ErrMail, is (or is not) a
// user error, and nothing reached the sink.
func mustFail(t *testing.T, s *mailsinktest.Sink, err error, user bool, hint string) {
	t.Helper()
	if err == nil {
		t.Fatal("send succeeded")
	}
	t.Logf("err: %v; hint: %s", err, usererr.Hint(err))
	if !errors.Is(err, notify.ErrMail) {
		t.Errorf("err does not wrap notify.ErrMail: %v", err)
	}
	if usererr.Is(err) != user || !strings.Contains(usererr.Hint(err), hint) {
		t.Errorf("err = %v, hint %q: want user error %v with hint containing %q", err, usererr.Hint(err), user, hint)
	}
	if ms := messages(t, s); len(ms) != 0 {
		t.Errorf("%d messages reached the sink", len(ms))
	}
}

func TestStartTLSMandatory(t *testing.T) {
	s := mailsinktest.Start(t, true) // no STARTTLS offered
	err := notify.SendPassphrase(context.Background(), cfgFor(s), mailIn)
	mustFail(t, s, err, true, "STARTTLS")
}

func TestWrongCA(t *testing.T) {
	s := mailsinktest.Start(t, false)
	cfg := cfgFor(s)
	cfg.CAFile = mailsinktest.NewCA(t).WritePEM(t, t.TempDir())
	mustFail(t, s, notify.SendPassphrase(context.Background(), cfg, mailIn), true, "SEFTBOT_SMTP_CA_FILE")
	cfg.CAFile = "" // system roots alone do not know the sink's CA either
	mustFail(t, s, notify.SendPassphrase(context.Background(), cfg, mailIn), true, "SEFTBOT_SMTP_CA_FILE")
}

func TestWrongPassword(t *testing.T) {
	s := mailsinktest.Start(t, false)
	cfg := cfgFor(s)
	cfg.Password += "x"
	err := notify.SendPassphrase(context.Background(), cfg, mailIn)
	mustFail(t, s, err, true, "SEFTBOT_SMTP_PASSWORD")
	if strings.Contains(err.Error(), cfg.Password) {
		t.Error("error shows the password")
	}
}

func TestDownSink(t *testing.T) {
	s := mailsinktest.Start(t, false)
	s.SetDown(true)
	err := notify.SendPassphrase(context.Background(), cfgFor(s), mailIn)
	mustFail(t, s, err, false, "")
	s.SetDown(false) // the next run's retry goes through
	if err := notify.SendPassphrase(context.Background(), cfgFor(s), mailIn); err != nil {
		t.Fatal(err)
	}
}

func TestFromSource(t *testing.T) {
	load := func(env string) *config.Source {
		p := filepath.Join(t.TempDir(), "seftbot.env")
		if err := os.WriteFile(p, []byte(env), 0o600); err != nil {
			t.Fatal(err)
		}
		src, err := config.Load(p, true, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	_, err := notify.FromSource(load("SEFTBOT_SMTP_HOST=mail.test\n"))
	if !usererr.Is(err) || !strings.Contains(err.Error(), "SEFTBOT_SMTP_PASSWORD") || !strings.Contains(err.Error(), "SEFTBOT_PASSPHRASE_TO") {
		t.Fatalf("missing keys: %v", err)
	}

	full := "SEFTBOT_SMTP_HOST=mail.test\nSEFTBOT_SMTP_USER=bot\nSEFTBOT_SMTP_PASSWORD=pw\n" +
		"SEFTBOT_MAIL_FROM=bot@nhs.test\nSEFTBOT_REPORT_TO=op@nhs.test\n"
	cfg, err := notify.FromSource(load(full + "SEFTBOT_PASSPHRASE_TO=a@x.org, b@x.org\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Port != 587 || cfg.Password != "pw" || !slices.Equal(cfg.PassphraseTo, []string{"a@x.org", "b@x.org"}) {
		t.Fatalf("cfg = %+v", cfg)
	}
	if strings.Contains(cfg.String(), "pw") || strings.Contains(fmt.Sprint(cfg), "pw") {
		t.Error("Config prints its password")
	}
	if _, err := notify.FromSource(load(full + "SEFTBOT_PASSPHRASE_DELIVERY=file\n")); err != nil {
		t.Fatalf("file delivery still wants PASSPHRASE_TO: %v", err)
	}
	if _, err := notify.FromSource(load(full + "SEFTBOT_PASSPHRASE_TO=a@x.org\nSEFTBOT_SMTP_PORT=smtp\n")); !usererr.Is(err) {
		t.Fatalf("bad port: %v", err)
	}
	if _, err := notify.FromSource(load(full + "SEFTBOT_PASSPHRASE_TO=not an address\n")); !usererr.Is(err) {
		t.Fatalf("bad address: %v", err)
	}
}

func TestWritePassphraseFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "passphrase.txt")
	if err := notify.WritePassphraseFile(p, mailIn); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, err %v", fi.Mode().Perm(), err)
	}
	b, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(b), "Subject: [secure] ") || !strings.Contains(string(b), "\nPassphrase: "+mailIn.Passphrase+"\n") {
		t.Fatalf("file text:\n%s", b)
	}
	if err := notify.WritePassphraseFile(p, mailIn); err != nil {
		t.Fatalf("rewrite of identical text (a resumed run): %v", err)
	}
	other := mailIn
	other.Passphrase = "another-one"
	if err := notify.WritePassphraseFile(p, other); !errors.Is(err, notify.ErrMail) {
		t.Fatalf("overwrite with other text: err = %v", err)
	}
	if b2, _ := os.ReadFile(p); string(b2) != string(b) {
		t.Fatal("file replaced")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %d entries", len(ents))
	}
	bad := mailIn
	bad.Passphrase = "two\nlines"
	if err := notify.WritePassphraseFile(filepath.Join(dir, "x"), bad); err == nil {
		t.Fatal("multi-line passphrase accepted")
	}
}

// TestSendRejections: the rejection mail goes to the report recipients and
// names the step, the notice's day and subject, and how to acknowledge it.
func TestSendRejections(t *testing.T) {
	s := mailsinktest.Start(t, false)
	cfg := cfgFor(s)
	r := notify.Rejection{Step: "S3", Notice: time.Date(2026, 11, 21, 7, 0, 0, 0, time.UTC), Subject: "SEFT file processing"}
	if err := notify.SendRejections(context.Background(), cfg, "NIC-402963-P0Y5D", []notify.Rejection{r}); err != nil {
		t.Fatal(err)
	}
	ms := messages(t, s)
	if len(ms) != 1 || !slices.Equal(ms[0].EnvelopeTo, cfg.ReportTo) || ms[0].Subject != "seftbot: REJECTED cohort step S3 (NIC-402963-P0Y5D)" {
		t.Fatalf("messages %+v", ms)
	}
	for _, want := range []string{"Step:          S3", "Sat 21 Nov 2026 07:00 GMT", "Subject:       SEFT file processing", "seftbot cohort ack S3", "exits 14"} {
		if !strings.Contains(ms[0].Text, want) {
			t.Errorf("rejection mail lacks %q:\n%s", want, ms[0].Text)
		}
	}
}
