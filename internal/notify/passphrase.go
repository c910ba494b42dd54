package notify

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/isaric/seftbot/internal/usererr"
)

// PassphraseMail is what the analysts need to open one archive.
type PassphraseMail struct {
	ArchiveName   string
	ArchiveSHA256 string // lower-case hex
	Passphrase    string
	Project       string // optional
}

// SubjectPrefix makes NHSmail encrypt the mail to non-accredited domains.
const SubjectPrefix = "[secure] "

// PassphraseLinePrefix starts the one line that carries the passphrase.
const PassphraseLinePrefix = "Passphrase: "

// SendPassphrase mails the passphrase to cfg.PassphraseTo. The Message-ID
// depends only on the archive, so a resend after a crash is recognisably
// the same mail.
func SendPassphrase(ctx context.Context, cfg Config, p PassphraseMail) error {
	subject, body, err := renderPassphrase(p)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMail, err)
	}
	id := "seftbot-passphrase." + p.ArchiveSHA256[:32] + "@" + domainOf(cfg.From)
	return send(ctx, cfg, "passphrase", cfg.PassphraseTo, subject, body, id)
}

// WritePassphraseFile writes the same text as the mail (subject line, blank
// line, body) to path, mode 0600, for --passphrase-delivery file. It never
// replaces an existing file; an existing file with exactly this text is
// accepted, so a resumed run succeeds. The text is written to a private
// O_EXCL temporary file first and then linked into place, so path never
// holds half a passphrase.
func WritePassphraseFile(path string, p PassphraseMail) error {
	subject, body, err := renderPassphrase(p)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMail, err)
	}
	text := []byte("Subject: " + subject + "\n\n" + body)
	fail := func(err error) error { return fmt.Errorf("%w: passphrase file: %w", ErrMail, err) }

	tmp, err := os.CreateTemp(filepath.Dir(path), ".passphrase-*") // O_CREATE|O_EXCL, 0600
	if err != nil {
		return usererr.New(fail(err), "check that the state directory exists and is writable")
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(text)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if old, rerr := os.ReadFile(path); rerr == nil && bytes.Equal(old, text) {
				return nil
			}
			return usererr.New(fail(fmt.Errorf("%s already exists with other content", path)),
				"the operator may not have sent the previous passphrase yet; move that file away once it is sent")
		}
		return fail(err)
	}
	return nil
}

// renderPassphrase builds the subject and the plain-text body, refusing
// anything that would break the "Passphrase: " line or the subject.
func renderPassphrase(p PassphraseMail) (subject, body string, err error) {
	if p.ArchiveName == "" || strings.ContainsFunc(p.ArchiveName+p.Project, unicode.IsControl) {
		return "", "", errors.New("archive name missing or not printable")
	}
	if b, err := hex.DecodeString(p.ArchiveSHA256); err != nil || len(b) != 32 || strings.ToLower(p.ArchiveSHA256) != p.ArchiveSHA256 {
		return "", "", errors.New("archive sha256 must be 64 lower-case hex digits")
	}
	if p.Passphrase == "" || strings.ContainsFunc(p.Passphrase, unicode.IsControl) || strings.TrimSpace(p.Passphrase) != p.Passphrase {
		return "", "", usererr.Errorf("use a passphrase without line breaks, control characters or surrounding spaces (SEFTBOT_PASSPHRASE), or let seftbot generate one",
			"the passphrase cannot be written on one line")
	}
	var b strings.Builder
	b.WriteString("This is the passphrase of a 7-Zip archive (AES-256) that seftbot\n")
	b.WriteString("relayed to the analysts' SFTP drop. It travels separately from the\n")
	b.WriteString("archive on purpose: never forward it together with the archive.\n\n")
	if p.Project != "" {
		fmt.Fprintf(&b, "Project:  %s\n", p.Project)
	}
	fmt.Fprintf(&b, "Archive:  %s\n", p.ArchiveName)
	fmt.Fprintf(&b, "SHA-256:  %s\n\n", p.ArchiveSHA256)
	fmt.Fprintf(&b, "%s%s\n\n", PassphraseLinePrefix, p.Passphrase)
	b.WriteString("Check the archive first: sha256sum must print the SHA-256 above.\n")
	b.WriteString("Then extract it with: 7z x ARCHIVE (7-Zip asks for the passphrase).\n\n")
	b.WriteString("-- \nseftbot\n")
	return SubjectPrefix + "seftbot archive passphrase: " + p.ArchiveName, b.String(), nil
}

// domainOf is the domain of a mail address, for Message-IDs.
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.TrimRight(addr[i+1:], ">")
	}
	return "seftbot.invalid"
}
