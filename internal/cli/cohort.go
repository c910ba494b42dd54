package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// cohortOptions holds the flags of seftbot cohort.
type cohortOptions struct{ *globalOptions }

func newCohortCmd(g *globalOptions) *cobra.Command {
	o := &cohortOptions{globalOptions: g}
	return &cobra.Command{
		Use:    "cohort",
		Short:  "Build, validate, plan and submit cohort files",
		Hidden: true, // not built yet
		RunE:   func(cmd *cobra.Command, args []string) error { return runCohort(cmd, o, args) },
	}
}

func runCohort(_ *cobra.Command, _ *cohortOptions, _ []string) error {
	return errors.New("seftbot cohort is not built yet")
}
