package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/usererr"
)

// cleanOptions holds the flags of seftbot clean.
type cleanOptions struct {
	*globalOptions
	force bool
}

func newCleanCmd(g *globalOptions) *cobra.Command {
	o := &cleanOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Wipe clear-text files from the staging area",
		Long: "Wipe clear-text files from the staging area. If a run is unfinished, its files\n" +
			"have been downloaded but not yet relayed, and wiping them loses them: --force\n" +
			"is then required, and the pending run is discarded.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runClean(o) },
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "also discard an unfinished run and its files")
	return cmd
}

func runClean(o *cleanOptions) error {
	stateDir, stagingDir := staging.Dirs(o.src.Get("SEFTBOT_STATE_DIR"), o.src.Get("SEFTBOT_STAGING_DIR"))
	st, err := job.Open(stateDir)
	if err != nil {
		return err
	}
	unlock, err := st.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	b, err := st.LoadBatch()
	if err != nil && !o.force {
		return err
	}
	if b != nil && !o.force {
		return usererr.New(errors.New("run "+b.RunID+" is unfinished; its files have not reached the analysts"),
			"run `seftbot fetch` to finish it, or `seftbot clean --force` and later `seftbot download --all`")
	}
	stg := staging.Area{Dir: stagingDir}
	n, bytes := stg.Leftovers()
	if err := stg.Wipe(); err != nil {
		return err
	}
	if o.force {
		if err := st.Discard(); err != nil {
			return err
		}
	}
	o.log.Info("staging wiped", "dir", stagingDir, "files", n, "bytes", bytes)
	fmt.Fprintf(o.stdout, "wiped %d file(s), %d bytes from %s\n", n, bytes, stagingDir)
	return nil
}
