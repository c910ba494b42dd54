package config

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/joho/godotenv"
)

// TestTemplateListsEverySetting: the template seftbot init writes names
// every setting (secrets as KEY_FILE), with its default, and each line
// parses back, uncommented, to what Settings says.
func TestTemplateListsEverySetting(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTemplate(&buf, "vtest"); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	set, err := godotenv.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("template does not parse as an env file: %v", err)
	}
	// Uncomment every "#KEY=" line: what a default line says must parse
	// back to the default exactly.
	uncommented := regexp.MustCompile(`(?m)^#(SEFTBOT_[A-Z0-9_]+=)`).ReplaceAllString(text, "$1")
	all, err := godotenv.Parse(strings.NewReader(uncommented))
	if err != nil {
		t.Fatalf("template with defaults uncommented does not parse: %v", err)
	}
	for _, s := range Settings {
		key := s.Key
		if s.Secret {
			key += "_FILE"
			if _, ok := all[s.Key]; ok {
				t.Errorf("template sets the secret %s itself; it must only name %s", s.Key, key)
			}
		}
		v, ok := all[key]
		if !ok {
			t.Errorf("template lacks %s", key)
			continue
		}
		if want, svc := serviceValues[s.Key]; svc {
			if set[key] != want {
				t.Errorf("%s = %q, want the service's %q", key, set[key], want)
			}
			continue
		}
		if v != s.Default {
			t.Errorf("%s reads back as %q, want its default %q", key, v, s.Default)
		}
		if s.Default != "" && set[key] != "" {
			t.Errorf("%s is set, not commented out; a default needs no line", key)
		}
		if !strings.Contains(text, "# "+firstWords(s.Help)) {
			t.Errorf("template lacks the meaning of %s (%q)", key, firstWords(s.Help))
		}
	}
	if strings.Contains(text, "/tmp") {
		t.Error("template names /tmp: a service's state must survive a reboot")
	}
}

func firstWords(s string) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(3, len(f))], " ")
}

// TestEverySettingReadIsListed: every SEFTBOT_* name seftbot's code reads is
// in Settings, so the template (and the README table) list all of them.
func TestEverySettingReadIsListed(t *testing.T) {
	re := regexp.MustCompile(`"(SEFTBOT_[A-Z0-9_]*[A-Z0-9])"`)
	seen := 0
	for _, root := range []string{"../../internal", "../../cmd/seftbot"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || d.Name() == "sim") {
				return filepath.SkipDir // seftsim writes env files; it reads no setting
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllStringSubmatch(string(b), -1) {
				seen++
				k := m[1]
				if _, ok := Lookup(k); ok {
					continue
				}
				if s, ok := Lookup(strings.TrimSuffix(k, "_FILE")); ok && s.Secret {
					continue
				}
				t.Errorf("%s reads %s, which is not in config.Settings (so not in the template or the README)", p, k)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if seen < 30 {
		t.Fatalf("found only %d setting names in the code; the scan is broken", seen)
	}
}

// TestWhereNamesTheLine: a value from the env file is traced to its line,
// one from the environment to the environment.
func TestWhereNamesTheLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(p, []byte("# c\nSEFTBOT_STATE_DIR=/a\n\nexport SEFTBOT_SFTP_HOST=h\nSEFTBOT_STATE_DIR=/b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SEFTBOT_SFTP_USER": "u"}
	src, err := Load(p, true, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"SEFTBOT_STATE_DIR": p + " line 5",
		"SEFTBOT_SFTP_HOST": p + " line 4",
		"SEFTBOT_SFTP_USER": "the environment (SEFTBOT_SFTP_USER)",
		"SEFTBOT_SMTP_HOST": "",
	} {
		if got := src.Where(key); got != want {
			t.Errorf("Where(%s) = %q, want %q", key, got, want)
		}
	}
}
