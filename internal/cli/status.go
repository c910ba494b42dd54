package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// statusOptions holds the flags of seftbot status.
type statusOptions struct{ *globalOptions }

func newStatusCmd(g *globalOptions) *cobra.Command {
	o := &statusOptions{globalOptions: g}
	return &cobra.Command{
		Use:    "status",
		Short:  "Show recent runs, pending cohort steps and staging warnings",
		Hidden: true, // not built yet
		RunE:   func(cmd *cobra.Command, args []string) error { return runStatus(cmd, o, args) },
	}
}

func runStatus(_ *cobra.Command, _ *statusOptions, _ []string) error {
	return errors.New("seftbot status is not built yet")
}
