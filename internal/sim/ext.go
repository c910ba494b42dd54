package sim

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/isaric/seftbot/internal/atomicfile"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/isaric/seftbot/internal/sim/imapsrv"
	"github.com/isaric/seftbot/internal/sim/mailsink"
	"github.com/isaric/seftbot/internal/sim/oauthsrv"
	"github.com/isaric/seftbot/internal/sim/sftpdrop"
)

// externals are the analysts' SFTP drop and the NHSmail stand-in. Every
// method is safe on a nil *externals, so a half-started Sim can be closed.
type externals struct {
	sftp     *sftpdrop.Server
	mail     *mailsink.Server
	oauth    *oauthsrv.Server // the token endpoint; always running
	imap     *imapsrv.Server  // the operator's mailbox, where notices arrive
	smtpPass string
	imapPass string

	mu  sync.Mutex
	seq int // notices mailed, for unique Message-IDs
}

// startExternals makes the drop's host key, the one authorised client key
// (DIR/client_ed25519, 0600) and DIR/known_hosts, then starts the drop and
// the mail sink, whose STARTTLS certificate comes from seftsim's CA.
func (s *Sim) startExternals() (_ *externals, err error) {
	e := &externals{}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.smtpPass, err = passwordFrom(s.opts.SMTPPasswordFile); err != nil {
		return nil, err
	}
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	hostKey, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, err
	}
	clientPub, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(clientPriv, "seftsim client")
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(s.dir, "client_ed25519")
	if err := atomicfile.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	authorized, err := ssh.NewPublicKey(clientPub)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(keyFile+".pub", ssh.MarshalAuthorizedKey(authorized), 0o644); err != nil {
		return nil, err
	}
	e.sftp, err = sftpdrop.Start(sftpdrop.Options{
		Root:          filepath.Join(s.dir, "sftp"),
		HostKey:       hostKey,
		User:          SFTPUser,
		AuthorizedKey: authorized,
		Logger:        s.log,
		EventLog:      filepath.Join(s.dir, "sftp-events.jsonl"),
		RoutedLog:     filepath.Join(s.dir, "sftp-routed.jsonl"),
	})
	if err != nil {
		return nil, err
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(e.sftp.Addr())}, hostKey.PublicKey())
	if err := atomicfile.WriteFile(filepath.Join(s.dir, "known_hosts"), []byte(line+"\n"), 0o644); err != nil {
		return nil, err
	}
	var clientCert *x509.Certificate
	if s.opts.SMTPAuth == "xoauth2" {
		if clientCert, err = s.writeClientCert(); err != nil {
			return nil, err
		}
	}
	e.oauth, err = oauthsrv.Start(oauthsrv.Options{
		ClientCert:   clientCert,
		TLS:          s.pki.serverTLS(),
		ClientID:     "seftsim-" + strings.ToLower(rand.Text()[:12]),
		ClientSecret: rand.Text(),
		User:         SMTPUser,
		Mailboxes:    []string{ReportTo},
		TTL:          s.opts.OAuthTTL,
		AutoApprove:  s.opts.OAuthAutoApprove,
		Logger:       s.log,
	})
	if err != nil {
		return nil, err
	}
	mo := mailsink.Options{
		Dir:      filepath.Join(s.dir, "mail"),
		TLS:      s.pki.serverTLS(),
		User:     SMTPUser,
		Password: e.smtpPass,
		Logger:   s.log,
	}
	if s.opts.SMTPAuth == "xoauth2" {
		mo.XOAUTH2 = e.oauth.Check
	}
	if e.mail, err = mailsink.Start(mo); err != nil {
		return nil, err
	}
	if e.imapPass, err = passwordFrom(""); err != nil {
		return nil, err
	}
	io := imapsrv.Options{
		TLS:             s.pki.serverTLS(),
		Dir:             mo.Dir,
		User:            ReportTo,
		Password:        e.imapPass,
		UIDValidityFile: filepath.Join(s.dir, "imap-uidvalidity"),
		Logger:          s.log,
	}
	if s.opts.SMTPAuth == "xoauth2" {
		io.XOAUTH2 = e.oauth.Check
	}
	if e.imap, err = imapsrv.Start(io); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *externals) imapAddr() string {
	if e == nil || e.imap == nil {
		return ""
	}
	return e.imap.Addr()
}

// deliverNewData mails the "there is new data" notice, as NHS England does
// when matching has run.
func (e *externals) deliverNewData(project string, files int, at time.Time) error {
	if e == nil || e.mail == nil {
		return errors.New("mail sink not running")
	}
	e.mu.Lock()
	e.seq++
	seq := e.seq
	e.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "From: SEFT <%s>\r\n", noticeFrom)
	fmt.Fprintf(&b, "To: %s\r\n", ReportTo)
	b.WriteString("Subject: SEFT: new data available\r\n")
	fmt.Fprintf(&b, "Date: %s\r\n", at.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <seftsim-newdata-%d-%d@nhs.example>\r\n", at.Unix(), seq)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	fmt.Fprintf(&b, "There is new data for project %s: %d files. Sign in to SEFT to download them.\r\n", project, files)
	return e.mail.Deliver(noticeFrom, []string{ReportTo}, []byte(b.String()))
}

// writeClientCert makes the app registration's certificate credential:
// DIR/oauth-client.pem and its RSA key DIR/oauth-client.key (0600).
func (s *Sim) writeClientCert() (*x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "seftbot app registration"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, "oauth-client.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dir, "oauth-client.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// OAuthStats counts the tokens seftsim's endpoint has issued, by grant.
func (s *Sim) OAuthStats() oauthsrv.Stats {
	if s.ext == nil || s.ext.oauth == nil {
		return oauthsrv.Stats{}
	}
	return s.ext.oauth.Stats()
}

// ApproveDevice approves a device-code sign-in, as the person would on the
// verification page.
func (s *Sim) ApproveDevice(userCode string) bool {
	return s.ext != nil && s.ext.oauth != nil && s.ext.oauth.Approve(userCode)
}

// applyExternalFaults passes the SFTP and SMTP faults on.
func (s *Sim) applyExternalFaults(f Faults) {
	if s.ext == nil {
		return
	}
	if s.ext.sftp != nil {
		s.ext.sftp.SetFaults(sftpdrop.Faults{DropAfter: f.SFTPDropAfter, NoOverwrite: f.SFTPNoOverwrite, LoseRenameReply: f.SFTPLoseRenameReply})
	}
	if s.ext.mail != nil {
		s.ext.mail.SetDown(f.SMTPDown)
	}
}

// readFaults shows the drop's own view of its faults: the one-shot drop
// reads 0 once it has fired.
func (e *externals) readFaults(f *Faults) {
	if e == nil || e.sftp == nil {
		return
	}
	sf := e.sftp.Faults()
	f.SFTPDropAfter, f.SFTPNoOverwrite, f.SFTPLoseRenameReply = sf.DropAfter, sf.NoOverwrite, sf.LoseRenameReply
}

func (e *externals) close() error {
	if e == nil {
		return nil
	}
	var errs []error
	if e.sftp != nil {
		errs = append(errs, e.sftp.Close())
	}
	if e.mail != nil {
		errs = append(errs, e.mail.Close())
	}
	if e.oauth != nil {
		errs = append(errs, e.oauth.Close())
	}
	if e.imap != nil {
		errs = append(errs, e.imap.Close())
	}
	return errors.Join(errs...)
}

func (e *externals) sftpAddr() string {
	if e == nil || e.sftp == nil {
		return ""
	}
	return e.sftp.Addr()
}

func (e *externals) smtpAddr() string {
	if e == nil || e.mail == nil {
		return ""
	}
	return e.mail.Addr()
}

func (e *externals) smtpPassword() string {
	if e == nil {
		return ""
	}
	return e.smtpPass
}

// deliverNotice writes a due notice straight into the mail sink, like mail
// that arrives overnight: it does not depend on the SMTP fault.
func (e *externals) deliverNotice(n notice) error {
	if e == nil || e.mail == nil {
		return errors.New("mail sink not running")
	}
	e.mu.Lock()
	e.seq++
	seq := e.seq
	e.mu.Unlock()
	return e.mail.Deliver(noticeFrom, []string{ReportTo}, noticeMessage(n.due, seq))
}

// notice is the "next morning" mail owed for a broken upload.
type notice struct {
	due    time.Time
	upload int // index into Sim.uploads
}

// noticeMessage is the unhelpful mail the real portal sends about a broken
// file: it never says what was wrong.
func noticeMessage(at time.Time, seq int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: SEFT <%s>\r\n", noticeFrom)
	fmt.Fprintf(&b, "To: %s\r\n", ReportTo)
	b.WriteString("Subject: SEFT file processing\r\n")
	fmt.Fprintf(&b, "Date: %s\r\n", at.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <seftsim-notice-%d-%d@nhs.example>\r\n", at.Unix(), seq)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString("There was a problem processing your file.\r\n")
	return []byte(b.String())
}

// DeliverMail puts a message into the operator's mailbox as mail from
// outside would arrive, envelope sender from: tests use it for a notice
// from a domain that is not NHS England's.
func (s *Sim) DeliverMail(from string, msg []byte) error {
	if s.ext == nil || s.ext.mail == nil {
		return errors.New("mail sink not running")
	}
	return s.ext.mail.Deliver(from, []string{ReportTo}, msg)
}
