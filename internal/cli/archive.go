package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// archiveOptions holds the flags of seftbot archive.
type archiveOptions struct{ *globalOptions }

func newArchiveCmd(g *globalOptions) *cobra.Command {
	o := &archiveOptions{globalOptions: g}
	return &cobra.Command{
		Use:    "archive",
		Short:  "Write an AES-256 encrypted 7z archive and verify it",
		Hidden: true, // not built yet
		RunE:   func(cmd *cobra.Command, args []string) error { return runArchive(cmd, o, args) },
	}
}

func runArchive(_ *cobra.Command, _ *archiveOptions, _ []string) error {
	return errors.New("seftbot archive is not built yet")
}
