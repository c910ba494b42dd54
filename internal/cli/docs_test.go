package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestDocsCoverEveryCommand: the man pages made from the command tree have
// a page per command naming each of its flags, which man renders without a
// warning, and the completions load in bash and name the verbs.
func TestDocsCoverEveryCommand(t *testing.T) {
	dir := t.TempDir()
	if err := WriteDocs(dir, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	pages := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || !c.IsAvailableCommand() && c.HasParent() {
			return
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		b, err := os.ReadFile(filepath.Join(dir, "man", name))
		if err != nil {
			t.Errorf("no man page for %q: %v", c.CommandPath(), err)
			return
		}
		pages++
		c.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden && !strings.Contains(string(b), `\fB--`+f.Name+`\fP`) {
				t.Errorf("%s does not document --%s", name, f.Name)
			}
		})
		if _, err := exec.LookPath("man"); err == nil {
			cmd := exec.Command("man", "--warnings", "-l", "-P", "cat", filepath.Join(dir, "man", name))
			cmd.Env = append(os.Environ(), "MANWIDTH=80")
			out, err := cmd.CombinedOutput()
			if err != nil || strings.Contains(string(out), "warning:") {
				t.Errorf("man %s: %v\n%s", name, err, out)
			}
		} else if os.Getenv("CI") != "" {
			t.Error("man is not installed (apt-get install man-db)")
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(docsRoot())
	if pages < 20 {
		t.Fatalf("only %d man pages checked; the walk is broken", pages)
	}
	for _, want := range []string{"seftbot-fetch.1", "seftbot-init.1", "seftbot-mail-status.1", "seftbot-completion-bash.1"} {
		if _, err := os.Stat(filepath.Join(dir, "man", want)); err != nil {
			t.Errorf("missing %s", want)
		}
	}

	// bash loads the completion and registers it for seftbot.
	out, err := exec.Command("bash", "-c", "source "+filepath.Join(dir, "completions", "seftbot.bash")+" && complete -p seftbot").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "seftbot") {
		t.Errorf("bash completion: %v\n%s", err, out)
	}
	for _, f := range []string{"_seftbot", "seftbot.fish"} {
		b, err := os.ReadFile(filepath.Join(dir, "completions", f))
		if err != nil || !strings.Contains(string(b), "__complete") {
			t.Errorf("completion %s: %v", f, err)
		}
	}
}
