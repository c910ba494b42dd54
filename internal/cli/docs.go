package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// docsRoot is the command tree as the binary has it, with cobra's own
// completion and help verbs, for pages and completions made from it.
func docsRoot() *cobra.Command {
	root := newRootCmd(&globalOptions{stdin: os.Stdin, stdout: io.Discard, stderr: io.Discard})
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	root.DisableAutoGenTag = true // no "generated on" line: a rebuild gives the same pages
	return root
}

// WriteDocs writes man pages (DIR/man/*.1) and shell completions
// (DIR/completions/seftbot.bash, _seftbot, seftbot.fish) made from the
// command tree itself, so they cannot drift from the binary. date is the
// pages' date (the commit's, for a reproducible package).
func WriteDocs(dir string, date time.Time) error {
	root := docsRoot()
	man := filepath.Join(dir, "man")
	comp := filepath.Join(dir, "completions")
	for _, d := range []string{man, comp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	hdr := &doc.GenManHeader{Title: "SEFTBOT", Section: "1", Source: "seftbot " + Version(), Manual: "seftbot manual", Date: &date}
	if err := doc.GenManTree(root, hdr, man); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	if err := root.GenBashCompletionFileV2(filepath.Join(comp, "seftbot.bash"), true); err != nil {
		return err
	}
	if err := root.GenZshCompletionFile(filepath.Join(comp, "_seftbot")); err != nil {
		return err
	}
	return root.GenFishCompletionFile(filepath.Join(comp, "seftbot.fish"), true)
}
