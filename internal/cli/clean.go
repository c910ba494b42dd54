package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// cleanOptions holds the flags of seftbot clean.
type cleanOptions struct{ *globalOptions }

func newCleanCmd(g *globalOptions) *cobra.Command {
	o := &cleanOptions{globalOptions: g}
	return &cobra.Command{
		Use:    "clean",
		Short:  "Wipe the staging area",
		Hidden: true, // not built yet
		RunE:   func(cmd *cobra.Command, args []string) error { return runClean(cmd, o, args) },
	}
}

func runClean(_ *cobra.Command, _ *cleanOptions, _ []string) error {
	return errors.New("seftbot clean is not built yet")
}
