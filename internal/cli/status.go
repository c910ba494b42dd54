package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/job"
)

// statusOptions holds the flags of seftbot status.
type statusOptions struct {
	*globalOptions
	runs  int
	files bool
}

func newStatusCmd(g *globalOptions) *cobra.Command {
	o := &statusOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show recent runs, an unfinished run, and clear text left in staging",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runStatus(o) },
	}
	cmd.Flags().IntVar(&o.runs, "runs", 10, "how many recent runs to show")
	cmd.Flags().BoolVar(&o.files, "files", false, "list the files each run fetched")
	return cmd
}

func runStatus(o *statusOptions) error {
	stateDir, stagingDir := job.Dirs(o.src.Get("SEFTBOT_STATE_DIR"), o.src.Get("SEFTBOT_STAGING_DIR"))
	st := job.State{Dir: stateDir}
	w := o.stdout
	recs, err := st.Records(o.runs)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "state: %s\n", stateDir)
	if len(recs) == 0 {
		fmt.Fprintln(w, "runs: none yet")
	}
	for _, r := range recs {
		printRecord(w, r, o.files)
	}
	b, err := st.LoadBatch()
	if err != nil {
		return err
	}
	if b != nil {
		fmt.Fprintf(w, "UNFINISHED run %s (started %s): done %v; the next `seftbot fetch` finishes it\n",
			b.RunID, b.Started.Local().Format(time.DateTime), b.Done)
	}
	if err := statusCohort(o); err != nil {
		return err
	}
	if n, bytes := (job.Staging{Dir: stagingDir}).Leftovers(); n > 0 {
		fmt.Fprintf(w, "WARNING: %d clear-text file(s), %d bytes, in staging %s\n", n, bytes, stagingDir)
		fmt.Fprintln(w, "  re-run `seftbot fetch` to relay them, or `seftbot clean` to wipe them")
	}
	return nil
}

func printRecord(w io.Writer, r job.Record, files bool) {
	line := fmt.Sprintf("%s  %-11s files=%d bytes=%d", r.Started.Local().Format(time.DateTime), r.Outcome, r.Files, r.Bytes)
	if r.RemotePath != "" {
		line += " remote=" + r.RemotePath
	}
	if r.Outcome == "failed" {
		line += fmt.Sprintf(" stage=%s error=%q", r.Stage, r.Error)
	}
	fmt.Fprintf(w, "%s  run=%s\n", line, r.RunID)
	if !files {
		return
	}
	for _, n := range r.FileNames {
		fmt.Fprintf(w, "    %s\n", n)
	}
}

// statusCohort adds the cohort's pending steps, when a ledger exists.
func statusCohort(o *statusOptions) error {
	ledger := filepath.Join(o.src.Get("SEFTBOT_STATE_DIR"), "cohort", "ledger.json")
	if _, err := os.Stat(ledger); err != nil {
		return nil
	}
	s, _, err := (&cohortOptions{globalOptions: o.globalOptions}).openCohort(false)
	if err != nil {
		return err
	}
	st, err := s.Status()
	if err != nil {
		return err
	}
	fmt.Fprintln(o.stdout, "cohort:")
	return st.Write(o.stdout)
}
