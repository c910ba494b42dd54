package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// doctorOptions holds the flags of seftbot doctor.
type doctorOptions struct{ *globalOptions }

func newDoctorCmd(g *globalOptions) *cobra.Command {
	o := &doctorOptions{globalOptions: g}
	return &cobra.Command{
		Use:    "doctor",
		Short:  "Check the installation and configuration",
		Hidden: true, // not built yet
		RunE:   func(cmd *cobra.Command, args []string) error { return runDoctor(cmd, o, args) },
	}
}

func runDoctor(_ *cobra.Command, _ *doctorOptions, _ []string) error {
	return errors.New("seftbot doctor is not built yet")
}
