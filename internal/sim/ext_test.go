package sim

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/isaric/seftbot/internal/sim/sftpdrop"
)

// TestSFTPWithWrittenKeys connects the way seftbot will: only with the key,
// known_hosts and address that seftbot.env names.
func TestSFTPWithWrittenKeys(t *testing.T) {
	s := startSim(t, Options{Files: 1})
	env := s.Env()
	keyPEM, err := os.ReadFile(env["SEFTBOT_SFTP_KEY_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hostKeys, err := knownhosts.New(env["SEFTBOT_SFTP_KNOWN_HOSTS"])
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(env["SEFTBOT_SFTP_HOST"], env["SEFTBOT_SFTP_PORT"])
	conn, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User: env["SEFTBOT_SFTP_USER"], Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh: %v", err)
	}
	defer conn.Close()
	c, err := sftp.NewClient(conn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := []byte("7z archive stand-in")
	f, err := c.Create(env["SEFTBOT_SFTP_REMOTE_DIR"] + "isaric-test.7z")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	routed, err := sftpdrop.ReadRouted(filepath.Join(s.Dir(), "sftp-routed.jsonl"))
	sum := sha256.Sum256(data)
	if err != nil || len(routed) != 1 || routed[0].Name != "/isaric-test.7z" || routed[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("routed %+v %v", routed, err)
	}
	// A different host key in known_hosts is refused.
	other := strings.Replace(mustRead(t, env["SEFTBOT_SFTP_KNOWN_HOSTS"]), "[127.0.0.1]", "[127.0.0.2]", 1)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(other), 0o644)
	wrong, _ := knownhosts.New(kh)
	if _, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: SFTPUser, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: wrong, Timeout: 10 * time.Second}); err == nil {
		t.Fatal("a known_hosts without this drop was accepted")
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSMTPWithWrittenSettings submits a mail over STARTTLS, trusting only
// DIR/tls/ca.pem, with the user and password seftbot.env names.
func TestSMTPWithWrittenSettings(t *testing.T) {
	s := startSim(t, Options{Files: 1})
	env := s.Env()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(mustRead(t, env["SEFTBOT_SMTP_CA_FILE"])))
	addr := net.JoinHostPort(env["SEFTBOT_SMTP_HOST"], env["SEFTBOT_SMTP_PORT"])
	send := func() error {
		c, err := smtp.DialStartTLS(addr, &tls.Config{RootCAs: pool, ServerName: env["SEFTBOT_SMTP_HOST"]})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", env["SEFTBOT_SMTP_USER"], env["SEFTBOT_SMTP_PASSWORD"])); err != nil {
			return err
		}
		msg := "From: " + MailFrom + "\r\nTo: " + PassphraseTo + "\r\nSubject: [secure] test\r\n\r\nhello\r\n"
		return c.SendMail(env["SEFTBOT_MAIL_FROM"], []string{env["SEFTBOT_PASSPHRASE_TO"]}, strings.NewReader(msg))
	}
	if err := send(); err != nil {
		t.Fatalf("send: %v", err)
	}
	if m := mails(t, s); len(m) != 1 || m[0].Subject != "[secure] test" {
		t.Fatalf("mail dir: %+v", m)
	}
	if code, _ := admin(t, s, "POST", "/admin/faults", `{"smtp_down":true}`); code != 200 {
		t.Fatal(code)
	}
	if err := send(); err == nil {
		t.Fatal("smtp_down: mail accepted")
	}
	if m := mails(t, s); len(m) != 1 {
		t.Fatalf("smtp_down: %d mails", len(m))
	}
}
