package sim

import (
	"encoding/json"
	"fmt"
	"github.com/isaric/seftbot/internal/atomicfile"
	"net"
	"path/filepath"
	"strings"
)

// writeEnv writes DIR/seftbot.env (0600): everything seftbot needs to run
// against this seftsim, passwords included.
func (s *Sim) writeEnv() error {
	sftpHost, sftpPort, _ := net.SplitHostPort(s.ext.sftpAddr())
	smtpHost, smtpPort, _ := net.SplitHostPort(s.ext.smtpAddr())
	s.mu.Lock()
	up, down := s.accounts[siteUpload], s.accounts[siteDownload]
	s.mu.Unlock()
	s.env = [][2]string{
		{"SEFTBOT_PROJECT_ID", s.opts.ProjectID},
		{"SEFTBOT_UPLOAD_URL", s.portalURL + "/upload/"},
		{"SEFTBOT_UPLOAD_USER", up.User},
		{"SEFTBOT_UPLOAD_PASSWORD", up.password},
		{"SEFTBOT_DOWNLOAD_URL", s.portalURL + "/download/"},
		{"SEFTBOT_DOWNLOAD_USER", down.User},
		{"SEFTBOT_DOWNLOAD_PASSWORD", down.password},
		{"SEFTBOT_PORTAL_CA_FILE", s.CAFile()},
		{"SEFTBOT_PORTAL_SPKI_PIN", s.pki.pin},
		{"SEFTBOT_SFTP_HOST", sftpHost},
		{"SEFTBOT_SFTP_PORT", sftpPort},
		{"SEFTBOT_SFTP_USER", SFTPUser},
		{"SEFTBOT_SFTP_KEY_FILE", filepath.Join(s.dir, "client_ed25519")},
		{"SEFTBOT_SFTP_KNOWN_HOSTS", filepath.Join(s.dir, "known_hosts")},
		{"SEFTBOT_SFTP_REMOTE_DIR", "/"},
		{"SEFTBOT_SMTP_HOST", smtpHost},
		{"SEFTBOT_SMTP_PORT", smtpPort},
		{"SEFTBOT_SMTP_USER", SMTPUser},
		{"SEFTBOT_SMTP_PASSWORD", s.ext.smtpPassword()},
		{"SEFTBOT_SMTP_CA_FILE", s.CAFile()},
		{"SEFTBOT_MAIL_FROM", MailFrom},
		{"SEFTBOT_PASSPHRASE_TO", PassphraseTo},
		{"SEFTBOT_REPORT_TO", ReportTo},
		{"SEFTBOT_STATE_DIR", filepath.Join(s.dir, "state")},
		{"SEFTBOT_STAGING_DIR", filepath.Join(s.dir, "staging")},
		{"SEFTBOT_COHORT_HEADER_FILE", s.HeaderFile()},
	}
	imapHost, imapPort, _ := net.SplitHostPort(s.ext.imapAddr())
	s.env = append(s.env, [][2]string{
		{"SEFTBOT_IMAP_HOST", imapHost},
		{"SEFTBOT_IMAP_PORT", imapPort},
		{"SEFTBOT_IMAP_USER", ReportTo},
		{"SEFTBOT_IMAP_AUTH", s.opts.SMTPAuth},
		{"SEFTBOT_IMAP_PASSWORD", s.ext.imapPass},
		{"SEFTBOT_IMAP_CA_FILE", s.CAFile()},
		{"SEFTBOT_NOTICE_FROM", noticeFrom},
	}...)
	if s.opts.SMTPAuth == "xoauth2" {
		// The password stays in the file: an operator who sets
		// SEFTBOT_SMTP_AUTH=password sees the 550 5.7.30 Exchange will give.
		s.env = append(s.env, [][2]string{
			{"SEFTBOT_SMTP_AUTH", "xoauth2"},
			{"SEFTBOT_OAUTH_FLOW", "client-credentials"},
			{"SEFTBOT_OAUTH_TOKEN_URL", s.ext.oauth.TokenURL()},
			{"SEFTBOT_OAUTH_DEVICE_URL", s.ext.oauth.DeviceURL()},
			{"SEFTBOT_OAUTH_CLIENT_ID", s.ext.oauth.ClientID()},
			{"SEFTBOT_OAUTH_CLIENT_SECRET", s.ext.oauth.ClientSecret()},
			{"SEFTBOT_OAUTH_CA_FILE", s.CAFile()},
		}...)
	}
	var b strings.Builder
	b.WriteString("# Written by seftsim for seftbot. Holds passwords: keep it 0600.\n")
	for _, kv := range s.env {
		if strings.ContainsAny(kv[1], "'\n\r") {
			return fmt.Errorf("%s would hold a quote or a newline, which seftbot.env cannot carry (check --dir)", kv[0])
		}
		fmt.Fprintf(&b, "%s=%s\n", kv[0], envQuote(kv[1]))
	}
	s.envFile = filepath.Join(s.dir, "seftbot.env")
	return atomicfile.WriteFile(s.envFile, []byte(b.String()), 0o600)
}

// envQuote makes v safe for godotenv: plain when it can be, else single
// quotes, which godotenv takes literally (no escapes, no $ expansion).
// Values holding ' are refused before this is called.
func envQuote(v string) string {
	plain := v != ""
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@+=,", r)) {
			plain = false
		}
	}
	if plain {
		return v
	}
	return "'" + v + "'"
}

// writeJSONInfo writes DIR/seftsim.json for tests.
func (s *Sim) writeJSONInfo() error {
	b, err := json.MarshalIndent(map[string]string{
		"admin_url":  s.adminURL,
		"portal_url": s.portalURL,
		"sftp_addr":  s.ext.sftpAddr(),
		"smtp_addr":  s.ext.smtpAddr(),
		"imap_addr":  s.ext.imapAddr(),
	}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.dir, "seftsim.json"), append(b, '\n'), 0o600)
}
