package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// probeOptions holds the flags of seftbot probe.
type probeOptions struct{ *globalOptions }

func newProbeCmd(g *globalOptions) *cobra.Command {
	o := &probeOptions{globalOptions: g}
	return &cobra.Command{
		Use:    "probe",
		Short:  "Log in and report a portal's pages, to help write a site profile",
		Hidden: true, // not built yet
		RunE:   func(cmd *cobra.Command, args []string) error { return runProbe(cmd, o, args) },
	}
}

func runProbe(_ *cobra.Command, _ *probeOptions, _ []string) error {
	return errors.New("seftbot probe is not built yet")
}
