// Package config resolves seftbot's settings: a flag beats the environment,
// which beats the env file. Secrets come from KEY_FILE, then KEY in the
// environment, then KEY in the env file, and are never taken from argv.
//
// Every setting is listed once, in Settings, which the README table mirrors
// (a test keeps the two in step).
package config

import (
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"

	"github.com/joho/godotenv"

	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// Prefix is shared by every variable seftbot reads.
const Prefix = "SEFTBOT_"

// Setting documents one variable.
type Setting struct {
	Key     string
	Default string
	Secret  bool // read through Secret: KEY_FILE, then KEY
	Help    string
}

// Settings is the single list of everything seftbot can be configured with.
var Settings = []Setting{
	{Key: "SEFTBOT_PROJECT_ID", Help: "NHS England project ID, e.g. NIC-402963-P0Y5D; names the cohort file and the archive"},
	{Key: "SEFTBOT_UPLOAD_URL", Help: "base URL of the SEFT upload site"},
	{Key: "SEFTBOT_UPLOAD_USER", Help: "upload account user name (starts with the project ID)"},
	{Key: "SEFTBOT_UPLOAD_PASSWORD", Secret: true, Help: "upload account password"},
	{Key: "SEFTBOT_DOWNLOAD_URL", Help: "base URL of the SEFT download site"},
	{Key: "SEFTBOT_DOWNLOAD_USER", Help: "download account user name"},
	{Key: "SEFTBOT_DOWNLOAD_PASSWORD", Secret: true, Help: "download account password"},
	{Key: "SEFTBOT_PORTAL_CA_FILE", Help: "PEM file of extra CA certificates to trust for the portal (system roots are always trusted)"},
	{Key: "SEFTBOT_PORTAL_SPKI_PIN", Help: "base64 SHA-256 SPKI pin of the portal's certificate, trusted by Chromium exactly (seftsim writes it)"},
	{Key: "SEFTBOT_PROFILE", Help: "site profile file (steps, selectors, texts) for both sites; empty = built-in profile matching seftsim"},
	{Key: "SEFTBOT_DOWNLOAD_PROFILE", Help: "site profile of the download site only; wins over SEFTBOT_PROFILE"},
	{Key: "SEFTBOT_UPLOAD_PROFILE", Help: "site profile of the upload site only; wins over SEFTBOT_PROFILE"},
	{Key: "SEFTBOT_CHROMIUM", Help: "path of the Chromium binary; empty = search, for a headless run, /usr/lib/chromium/chromium-headless-shell and chrome-headless-shell first, then /usr/bin/chromium, chromium-browser, google-chrome"},
	{Key: "SEFTBOT_CONCURRENCY", Default: "3", Help: "browser tabs downloading at once"},
	{Key: "SEFTBOT_STATE_DIR", Default: "~/.local/state/seftbot", Help: "state: manifest, ledger, run records, lock"},
	{Key: "SEFTBOT_STAGING_DIR", Help: "private 0700 staging area for clear-text downloads; empty = /dev/shm/seftbot-$UID, else under the state dir"},
	{Key: "SEFTBOT_SFTP_HOST", Help: "analysts' SFTP drop host"},
	{Key: "SEFTBOT_SFTP_PORT", Default: "22", Help: "SFTP port"},
	{Key: "SEFTBOT_SFTP_USER", Help: "SFTP user"},
	{Key: "SEFTBOT_SFTP_KEY_FILE", Help: "private key file for SFTP auth"},
	{Key: "SEFTBOT_SFTP_KEY_PASSPHRASE", Secret: true, Help: "passphrase of an encrypted SFTP key"},
	{Key: "SEFTBOT_SFTP_USE_AGENT", Default: "false", Help: "also offer keys from ssh-agent (SSH_AUTH_SOCK)"},
	{Key: "SEFTBOT_SFTP_KNOWN_HOSTS", Default: "~/.ssh/known_hosts", Help: "known_hosts file that must hold the drop's host key"},
	{Key: "SEFTBOT_SFTP_HOST_KEY_PIN", Help: "instead of known_hosts: the drop's host key SHA256 fingerprint (SHA256:...)"},
	{Key: "SEFTBOT_SFTP_REMOTE_DIR", Default: ".", Help: "directory on the drop that receives archives"},
	{Key: "SEFTBOT_SFTP_VERIFY", Default: "auto", Help: "check of the relayed copy: auto (sha256sum on the server when it allows, else size), sha256 (required) or size"},
	{Key: "SEFTBOT_SFTP_NAME_TEMPLATE", Default: "isaric-{project}-{yyyymmdd}.7z", Help: "final archive name on the drop; date in Europe/London"},
	{Key: "SEFTBOT_SMTP_HOST", Help: "SMTP submission server (NHSmail: send.nhs.net)"},
	{Key: "SEFTBOT_SMTP_PORT", Default: "587", Help: "SMTP submission port (STARTTLS required)"},
	{Key: "SEFTBOT_SMTP_USER", Help: "SMTP user"},
	{Key: "SEFTBOT_SMTP_PASSWORD", Secret: true, Help: "SMTP password"},
	{Key: "SEFTBOT_SMTP_CA_FILE", Help: "PEM file of extra CA certificates to trust for SMTP"},
	{Key: "SEFTBOT_SMTP_AUTH", Default: "password", Help: "password (SEFTBOT_SMTP_PASSWORD), or xoauth2: an OAuth 2.0 token from SEFTBOT_OAUTH_*, which NHSmail needs once Basic authentication is retired"},
	{Key: "SEFTBOT_OAUTH_FLOW", Default: "client-credentials", Help: "client-credentials (an app registration's secret) or device (a user's sign-in, made once with seftbot mail login)"},
	{Key: "SEFTBOT_OAUTH_TOKEN_URL", Help: "OAuth 2.0 token endpoint, e.g. https://login.microsoftonline.com/TENANT/oauth2/v2.0/token"},
	{Key: "SEFTBOT_OAUTH_DEVICE_URL", Help: "device authorization endpoint for the device flow, e.g. https://login.microsoftonline.com/TENANT/oauth2/v2.0/devicecode"},
	{Key: "SEFTBOT_OAUTH_CLIENT_ID", Help: "the app registration's application (client) ID"},
	{Key: "SEFTBOT_OAUTH_CLIENT_SECRET", Secret: true, Help: "the app registration's client secret (client-credentials; optional for device)"},
	{Key: "SEFTBOT_OAUTH_CLIENT_CERT_FILE", Help: "instead of a client secret: the certificate (PEM) uploaded to the app registration; client-credentials only"},
	{Key: "SEFTBOT_OAUTH_CLIENT_KEY_FILE", Help: "the RSA private key (PEM, mode 0600) of SEFTBOT_OAUTH_CLIENT_CERT_FILE; seftbot signs a short-lived client assertion with it for each token"},
	{Key: "SEFTBOT_OAUTH_SCOPE", Help: "space-separated scopes; empty = https://outlook.office365.com/.default (client-credentials), or SMTP.Send, IMAP.AccessAsUser.All and offline_access on outlook.office365.com (device)"},
	{Key: "SEFTBOT_OAUTH_CA_FILE", Help: "PEM file of extra CA certificates to trust for the token endpoint"},
	{Key: "SEFTBOT_IMAP_HOST", Help: "IMAP server of the mailbox NHS England's notices arrive in (NHSmail: outlook.office365.com); empty = notices are not read, and a cohort step is confirmed by silence alone"},
	{Key: "SEFTBOT_IMAP_PORT", Default: `993`, Help: "IMAP over TLS port (TLS from the first byte, always verified)"},
	{Key: "SEFTBOT_IMAP_USER", Help: "the mailbox's address"},
	{Key: "SEFTBOT_IMAP_AUTH", Default: `password`, Help: "password (SEFTBOT_IMAP_PASSWORD), or xoauth2: a token from SEFTBOT_OAUTH_* (Exchange Online takes only this)"},
	{Key: "SEFTBOT_IMAP_PASSWORD", Secret: true, Help: "IMAP password"},
	{Key: "SEFTBOT_IMAP_MAILBOX", Default: `INBOX`, Help: "folder to read"},
	{Key: "SEFTBOT_IMAP_CA_FILE", Help: "PEM file of extra CA certificates to trust for IMAP"},
	{Key: "SEFTBOT_IMAP_MARK_SEEN", Default: `false`, Help: "true: flag the notices seftbot acted on as seen; messages are never deleted"},
	{Key: "SEFTBOT_NOTICE_FROM", Help: "the exact sender address(es) of NHS England's notices, comma-separated; no default and no patterns: copy the From line of the first notice (required with SEFTBOT_IMAP_HOST); other mail is left alone, unread"},
	{Key: "SEFTBOT_NOTICE_CHECK_AUTH", Default: "true", Help: "true: when the mailbox server adds Authentication-Results, a notice acts only with dmarc=pass, or dkim=pass for the sender's domain; false: trust the sender address alone"},
	{Key: "SEFTBOT_NOTICE_NEW_DATA", Default: `(?i)new data|data (is|are) (now )?available|files? (is|are) (now )?available`, Help: "regular expression (subject and text) of a \"there is new data\" notice"},
	{Key: "SEFTBOT_NOTICE_ERROR", Default: `(?i)problem processing your file|could not be processed|was rejected|error processing`, Help: "regular expression (subject and text) of an error notice about an uploaded cohort file; checked first"},
	{Key: "SEFTBOT_MAIL_FROM", Help: "sender address of passphrase and report mails"},
	{Key: "SEFTBOT_PASSPHRASE_TO", Help: "comma-separated recipients of the [secure] passphrase mail"},
	{Key: "SEFTBOT_REPORT_TO", Help: "comma-separated recipients of the operator report"},
	{Key: "SEFTBOT_PASSPHRASE_DELIVERY", Default: "smtp", Help: "smtp, or file: write the passphrase 0600 into the state dir for the operator to send"},
	{Key: "SEFTBOT_PASSPHRASE", Secret: true, Help: "archive passphrase supplied by the operator (default: generated per archive)"},
	{Key: "SEFTBOT_RETRY_WINDOW", Default: "2h", Help: "how long the nightly job keeps retrying a portal that is down (backoff from 30s to 15m, a log line per attempt); 0 = no retry; a refused or unknown sign-in is never retried"},
	{Key: "SEFTBOT_ARCHIVE_METHOD", Default: "deflate", Help: "7z compression: deflate, lzma2 or copy"},
	{Key: "SEFTBOT_COHORT_HEADER_FILE", Help: "file holding the exact 24-column header row NHS England gave you; empty = built-in reconstruction"},
	{Key: "SEFTBOT_COHORT_CONFIRM_AT", Default: "09:00", Help: "HH:MM Europe/London on the day after a cohort upload when, with no error notice recorded, it counts as confirmed"},
	{Key: "SEFTBOT_STALE_AFTER", Default: "26h", Help: "with no successful fetch for longer than this, `seftbot status` exits 14 and the metric seftbot_fetch_stale is 1"},
	{Key: "SEFTBOT_LOG_FORMAT", Help: "text or json; default text on a TTY, json otherwise"},
	{Key: "SEFTBOT_METRICS_FILE", Help: "Prometheus text file rewritten after every run (node_exporter textfile collector); empty = STATE/metrics.prom"},
}

// Lookup finds a setting by key.
func Lookup(key string) (Setting, bool) {
	for _, s := range Settings {
		if s.Key == key {
			return s, true
		}
	}
	return Setting{}, false
}

// Source answers "what is KEY?" with flag > environment > env file > default.
type Source struct {
	file     map[string]string
	FileName string // env file actually read, "" if none
	flags    map[string]string
	getenv   func(string) string
}

// DefaultEnvFile is read when present and no --env-file is given.
const DefaultEnvFile = ".env"

// Load reads the env file at path. explicit says the operator named it, so a
// missing file is an error; the default ./.env is read only if it exists.
// A file that others can read is refused: it holds passwords.
func Load(path string, explicit bool, getenv func(string) string) (*Source, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	s := &Source{file: map[string]string{}, flags: map[string]string{}, getenv: getenv}
	if path == "" {
		path = DefaultEnvFile
	}
	st, err := os.Stat(path)
	if err != nil {
		if !explicit && os.IsNotExist(err) {
			return s, nil
		}
		return nil, usererr.New(fmt.Errorf("env file: %w", err), "check --env-file")
	}
	if err := CheckPrivate(path, st); err != nil {
		return nil, err
	}
	b, err := safeio.ReadFile(path, "the env file", 1<<20)
	if err != nil {
		return nil, usererr.New(err, "check --env-file")
	}
	m, err := godotenv.UnmarshalBytes(b)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("env file %s: %w", path, err), "each line must be KEY=value")
	}
	s.file, s.FileName = m, path
	return s, nil
}

// CheckPrivate refuses a secrets file that group or others may read or
// write, or that belongs to another user than seftbot's (or root): as root,
// a 0600 env file of another user could otherwise set SEFTBOT_CHROMIUM.
func CheckPrivate(path string, st fs.FileInfo) error { return layout.CheckSecretFile(path, st) }

// Set records a flag value, which beats everything else.
func (s *Source) Set(key, value string) { s.flags[key] = value }

// Get returns the value of a non-secret setting.
func (s *Source) Get(key string) string {
	if v, ok := s.flags[key]; ok {
		return expandHome(v)
	}
	if v := s.getenv(key); v != "" {
		return expandHome(v)
	}
	if v, ok := s.file[key]; ok && v != "" {
		return expandHome(v)
	}
	if st, ok := Lookup(key); ok {
		return expandHome(st.Default)
	}
	return ""
}

// Secret returns a secret: the content of KEY_FILE (first line, which must be
// private), else KEY from the environment, else KEY from the env file.
// It never looks at flags. "" with a nil error means not configured.
func (s *Source) Secret(key string) (string, error) {
	if p := s.Get(key + "_FILE"); p != "" {
		return ReadSecretFile(p)
	}
	if v := s.getenv(key); v != "" {
		return v, nil
	}
	return s.file[key], nil
}

// ReadSecretFile reads a one-line secret from a private file, dropping the
// trailing newline only.
func ReadSecretFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", usererr.New(fmt.Errorf("secret file: %w", err), "check the *_FILE setting")
	}
	if err := CheckPrivate(path, st); err != nil {
		return "", err
	}
	b, err := safeio.ReadFile(path, "the secret file", 64<<10)
	if err != nil {
		return "", usererr.New(fmt.Errorf("secret file: %w", err), "check the *_FILE setting")
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// Require returns a user error naming every missing key, or nil.
func (s *Source) Require(keys ...string) error {
	var missing []string
	for _, k := range keys {
		st, _ := Lookup(k)
		if st.Secret {
			v, err := s.Secret(k)
			if err != nil {
				return err
			}
			if v == "" {
				missing = append(missing, k+" (or "+k+"_FILE)")
			}
			continue
		}
		if s.Get(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return usererr.New(fmt.Errorf("missing configuration: %s", strings.Join(missing, ", ")),
		"set them in the environment or the env file (see README, Configuration)")
}

// List returns the comma-separated values of key, trimmed, without empties.
func (s *Source) List(key string) []string {
	var out []string
	for _, v := range strings.Split(s.Get(key), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func expandHome(v string) string {
	if v == "~" || strings.HasPrefix(v, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return h + v[1:]
		}
	}
	return v
}
