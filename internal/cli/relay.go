package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// relayOptions holds the flags of seftbot relay.
type relayOptions struct{ *globalOptions }

func newRelayCmd(g *globalOptions) *cobra.Command {
	o := &relayOptions{globalOptions: g}
	return &cobra.Command{
		Use:    "relay",
		Short:  "Relay an archive to the analysts' SFTP drop",
		Hidden: true, // not built yet
		RunE:   func(cmd *cobra.Command, args []string) error { return runRelay(cmd, o, args) },
	}
}

func runRelay(_ *cobra.Command, _ *relayOptions, _ []string) error {
	return errors.New("seftbot relay is not built yet")
}
