package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// fetchOptions holds the flags of seftbot fetch.
type fetchOptions struct{ *globalOptions }

func newFetchCmd(g *globalOptions) *cobra.Command {
	o := &fetchOptions{globalOptions: g}
	return &cobra.Command{
		Use:    "fetch",
		Short:  "The nightly job: download, archive, relay, deliver the passphrase, report",
		Hidden: true, // not built yet
		RunE:   func(cmd *cobra.Command, args []string) error { return runFetch(cmd, o, args) },
	}
}

func runFetch(_ *cobra.Command, _ *fetchOptions, _ []string) error {
	return errors.New("seftbot fetch is not built yet")
}
