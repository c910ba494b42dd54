package relay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/usererr"
)

func sourceWith(t *testing.T, env map[string]string) *config.Source {
	t.Helper()
	src, err := config.Load(filepath.Join(t.TempDir(), "none.env"), false, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestFromSource(t *testing.T) {
	pass := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pass, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := FromSource(sourceWith(t, map[string]string{
		"SEFTBOT_PROJECT_ID": "NIC-1", "SEFTBOT_SFTP_HOST": "drop.example", "SEFTBOT_SFTP_PORT": "2222",
		"SEFTBOT_SFTP_USER": "analyst", "SEFTBOT_SFTP_KEY_FILE": "/k", "SEFTBOT_SFTP_KEY_PASSPHRASE_FILE": pass,
		"SEFTBOT_SFTP_REMOTE_DIR": "/in", "SEFTBOT_SFTP_KNOWN_HOSTS": "/kh",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Host: "drop.example", Port: 2222, User: "analyst", KeyFile: "/k", KeyPassphrase: "s3cret",
		KnownHosts: "/kh", RemoteDir: "/in", NameTemplate: DefaultNameTemplate, Project: "NIC-1"}
	if cfg.Host != want.Host || cfg.Port != want.Port || cfg.User != want.User || cfg.KeyFile != want.KeyFile ||
		cfg.KeyPassphrase != want.KeyPassphrase || cfg.KnownHosts != want.KnownHosts || cfg.RemoteDir != want.RemoteDir ||
		cfg.NameTemplate != want.NameTemplate || cfg.Project != want.Project || cfg.UseAgent || cfg.HostKeyPin != "" {
		t.Fatalf("got %+v", cfg)
	}

	_, err = FromSource(sourceWith(t, map[string]string{"SEFTBOT_SFTP_USE_AGENT": "yes please"}))
	if !usererr.Is(err) || !strings.Contains(err.Error(), "not a boolean") {
		t.Fatalf("got %v", err)
	}
	_, err = FromSource(sourceWith(t, map[string]string{"SEFTBOT_SFTP_HOST_KEY_PIN": "SHA256:x", "SEFTBOT_SFTP_NAME_TEMPLATE": "drop.7z"}))
	if !usererr.Is(err) || !strings.HasSuffix(err.Error(), "missing configuration: SEFTBOT_SFTP_HOST, SEFTBOT_SFTP_KEY_FILE, SEFTBOT_SFTP_USER") {
		t.Fatalf("got %v", err)
	}
}
