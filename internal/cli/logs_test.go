package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeJournalctlLine runs the README's log filter, as written, over
// the stderr of a failed run without a terminal: journalctl -o cat prints
// exactly those lines, so jq must parse every one and select the error
// with its hint.
func TestReadmeJournalctlLine(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ +journalctl .* -o cat \| jq '([^']+)'$`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no `journalctl ... -o cat | jq '...'` line")
	}
	filter := string(m[1])
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Fatalf("jq is not installed (scripts/install-deps.sh installs it): %v", err)
	}

	dir := t.TempDir()
	t.Setenv("SEFTBOT_LOG_FORMAT", "")
	t.Setenv("SEFTBOT_STATE_DIR", filepath.Join(dir, "state"))
	t.Setenv("SEFTBOT_STAGING_DIR", filepath.Join(dir, "staging"))
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"archive", "--in", filepath.Join(dir, "nowhere"), "--out", filepath.Join(dir, "x.7z")},
		strings.NewReader(""), &stdout, &stderr)
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitUsage, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	for _, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("a stderr line is not JSON: %q", l)
		}
		for _, k := range []string{"time", "level", "msg", "run_id", "verb"} {
			if _, ok := obj[k]; !ok {
				t.Errorf("line lacks %q: %s", k, l)
			}
		}
	}

	cmd := exec.Command(jq, "-c", filter)
	cmd.Stdin = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jq %s: %v (it stops at the first line that is not JSON)", filter, err)
	}
	var got struct {
		Level, Msg, Hint, Verb string
		ExitCode               int `json:"exit_code"`
	}
	if n := strings.Count(string(out), "\n"); n != 1 {
		t.Fatalf("jq selected %d lines, want the one error:\n%s", n, out)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Level != "ERROR" || !strings.HasPrefix(got.Msg, "seftbot: ") || !strings.Contains(got.Msg, "nowhere") ||
		got.Hint == "" || got.Verb != "archive" || got.ExitCode != ExitUsage {
		t.Errorf("the error line: %+v", got)
	}
}
