package browser

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/usererr"
)

func TestRedactURL(t *testing.T) {
	got := RedactURL("https://u:p@h/download/files?page=2&token=abcdef123456&sid=x#frag")
	if strings.Contains(got, "abcdef") || strings.Contains(got, "u:p") || strings.Contains(got, "frag") || !strings.Contains(got, "page=2") {
		t.Errorf("RedactURL = %q", got)
	}
}

// TestProfileStaleWithoutLock: a profile with no Chromium lock (the headless
// shell takes none) is stale only when no live process names it and it is
// not still empty (a browser being started).
func TestProfileStaleWithoutLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chromedp-runner1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	old := time.Now().Add(-time.Minute)
	if profileStale(dir, host, old) {
		t.Error("an empty profile made a minute ago counts as stale")
	}
	if err := os.WriteFile(filepath.Join(dir, "Local State"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A live process that names the profile, as a browser's processes do.
	cmd := exec.Command("sh", "-c", "sleep 30", "--user-data-dir="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if profileStale(dir, host, old) {
		t.Error("a profile in use by a live process counts as stale")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !profileStale(dir, host, old) {
		t.Error("a profile nobody uses does not count as stale")
	}
}

// TestFindChromiumByMode: a headless run prefers the headless shell, a
// --headful run never takes it, and a configured path wins over both.
func TestFindChromiumByMode(t *testing.T) {
	dir := t.TempDir()
	exe := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	shell, full, other := exe("chromium-headless-shell"), exe("chromium"), exe("my-chromium")
	oldH, oldC := headlessCandidates, chromiumCandidates
	t.Cleanup(func() { headlessCandidates, chromiumCandidates = oldH, oldC })
	headlessCandidates = []string{filepath.Join(dir, "missing-shell"), shell}
	chromiumCandidates = []string{full}

	for _, c := range []struct {
		configured string
		headful    bool
		want       string
	}{
		{"", false, shell},
		{"", true, full},
		{other, false, other},
		{other, true, other},
	} {
		got, err := FindChromium(c.configured, c.headful)
		if err != nil || got != c.want {
			t.Errorf("FindChromium(%q, headful=%v) = %q, %v; want %q", c.configured, c.headful, got, err, c.want)
		}
	}
	headlessCandidates = []string{filepath.Join(dir, "missing-shell")}
	if got, err := FindChromium("", false); err != nil || got != full {
		t.Errorf("without a headless shell: %q, %v; want %q", got, err, full)
	}
	chromiumCandidates = nil
	_, err := FindChromium("", false)
	if !usererr.Is(err) || !strings.Contains(usererr.Hint(err), "apt-get install chromium") {
		t.Errorf("with no browser at all: %v, want a user error with an apt-get hint", err)
	}
}
