package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/testtool"
	"github.com/isaric/seftbot/internal/usererr"
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "x.env")
	writeFile(t, f, "SEFTBOT_SFTP_HOST=from-file\nSEFTBOT_SFTP_USER=file-user\n", 0o600)
	s, err := Load(f, true, env(map[string]string{"SEFTBOT_SFTP_HOST": "from-env"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Get("SEFTBOT_SFTP_HOST"); got != "from-env" {
		t.Errorf("env should beat file: got %q", got)
	}
	if got := s.Get("SEFTBOT_SFTP_USER"); got != "file-user" {
		t.Errorf("file value: got %q", got)
	}
	if got := s.Get("SEFTBOT_SFTP_PORT"); got != "22" {
		t.Errorf("default: got %q", got)
	}
	s.Set("SEFTBOT_SFTP_HOST", "from-flag")
	if got := s.Get("SEFTBOT_SFTP_HOST"); got != "from-flag" {
		t.Errorf("flag should beat env: got %q", got)
	}
}

func TestSecretOrder(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "x.env")
	writeFile(t, envFile, "SEFTBOT_SMTP_PASSWORD=from-envfile\n", 0o600)
	secret := filepath.Join(dir, "pw")
	writeFile(t, secret, "from-secret-file\n", 0o600)

	s, _ := Load(envFile, true, env(nil))
	if v, _ := s.Secret("SEFTBOT_SMTP_PASSWORD"); v != "from-envfile" {
		t.Errorf("env file: got %q", v)
	}
	s, _ = Load(envFile, true, env(map[string]string{"SEFTBOT_SMTP_PASSWORD": "from-env"}))
	if v, _ := s.Secret("SEFTBOT_SMTP_PASSWORD"); v != "from-env" {
		t.Errorf("env beats env file: got %q", v)
	}
	s, _ = Load(envFile, true, env(map[string]string{"SEFTBOT_SMTP_PASSWORD": "from-env", "SEFTBOT_SMTP_PASSWORD_FILE": secret}))
	if v, _ := s.Secret("SEFTBOT_SMTP_PASSWORD"); v != "from-secret-file" {
		t.Errorf("file beats env: got %q", v)
	}
	// A flag can never carry a secret.
	s.Set("SEFTBOT_SMTP_PASSWORD", "from-flag")
	if v, _ := s.Secret("SEFTBOT_SMTP_PASSWORD"); v == "from-flag" {
		t.Error("a flag value was used as a secret")
	}
	// A secret file others can read is refused.
	os.Chmod(secret, 0o644)
	if _, err := s.Secret("SEFTBOT_SMTP_PASSWORD"); err == nil || !usererr.Is(err) {
		t.Errorf("world-readable secret file: err = %v", err)
	}
}

func TestEnvFilePermissions(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "x.env")
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o666} {
		writeFile(t, f, "A=b\n", mode)
		_, err := Load(f, true, env(nil))
		if err == nil || !strings.Contains(usererr.Hint(err), "chmod 600") {
			t.Errorf("mode %o: err = %v, want a chmod hint", mode, err)
		}
	}
	writeFile(t, f, "A=b\n", 0o400)
	if _, err := Load(f, true, env(nil)); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
	// The default file is optional, a named one is not.
	if _, err := Load(filepath.Join(dir, "missing"), false, env(nil)); err != nil {
		t.Errorf("missing default: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing"), true, env(nil)); err == nil {
		t.Error("missing named env file accepted")
	}
}

func TestRequireNamesEveryMissingKey(t *testing.T) {
	s, _ := Load(filepath.Join(t.TempDir(), "none"), false, env(map[string]string{"SEFTBOT_SFTP_HOST": "h"}))
	err := s.Require("SEFTBOT_SFTP_HOST", "SEFTBOT_SFTP_USER", "SEFTBOT_SMTP_PASSWORD")
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"SEFTBOT_SFTP_USER", "SEFTBOT_SMTP_PASSWORD (or SEFTBOT_SMTP_PASSWORD_FILE)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "SEFTBOT_SFTP_HOST") {
		t.Errorf("%v names a key that is set", err)
	}
}

// TestReadmeDocumentsEverySetting keeps the README's configuration table and
// the Settings registry in step, in both directions.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(SEFTBOT_[A-Z0-9_]+)`").FindAllStringSubmatch(readme, -1) {
		documented[m[1]] = true
	}
	for _, s := range Settings {
		if !documented[s.Key] {
			t.Errorf("README configuration table lacks %s", s.Key)
		}
		delete(documented, s.Key)
	}
	for k := range documented {
		t.Errorf("README documents %s, which is not in Settings", k)
	}
}

// TestSecretFilesOfAnotherUser: a 0600 env file or *_FILE secret owned by
// another user is refused, even when seftbot runs as root and can read it
// (such a file could set SEFTBOT_CHROMIUM).
func TestSecretFilesOfAnotherUser(t *testing.T) {
	testtool.NeedRoot(t, "to make a file owned by another user (CI runs as root)")
	dir := t.TempDir()
	f := filepath.Join(dir, "x.env")
	writeFile(t, f, "SEFTBOT_CHROMIUM=/tmp/evil\n", 0o600)
	if err := os.Chown(f, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(f, true, env(nil)); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Errorf("another user's env file: %v", err)
	}
	secret := filepath.Join(dir, "pw")
	writeFile(t, secret, "x\n", 0o600)
	os.Chown(secret, 65534, 65534)
	if _, err := ReadSecretFile(secret); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Errorf("another user's secret file: %v", err)
	}
}
