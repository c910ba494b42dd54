package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/cohort"
	"github.com/isaric/seftbot/internal/inbox"
	"github.com/isaric/seftbot/internal/job"
)

// statusOptions holds the flags of seftbot status.
type statusOptions struct {
	*globalOptions
	runs  int
	files bool
	json  bool
}

func newStatusCmd(g *globalOptions) *cobra.Command {
	o := &statusOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show recent runs, an unfinished run, cohort steps, login latches and clear text left in staging",
		Long: "Show recent runs, an unfinished run, cohort steps, login latches and clear text left in staging.\n" +
			"Exits 14 when the last fetch failed, no fetch succeeded for SEFTBOT_STALE_AFTER, a run has been\n" +
			"unfinished for more than a day, or a cohort rejection is not acknowledged,\n" +
			"so a cron-style check can alert on it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStatus(o) },
	}
	cmd.Flags().IntVar(&o.runs, "runs", 10, "how many recent runs to show")
	cmd.Flags().BoolVar(&o.files, "files", false, "list the files each run fetched")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object instead of text")
	return cmd
}

func runStatus(o *statusOptions) error {
	h, err := gatherHealth(o.globalOptions)
	if err != nil {
		return err
	}
	problems := h.problems(time.Now())
	if o.json {
		if err := writeStatusJSON(o, h, problems); err != nil {
			return err
		}
	} else {
		writeStatusText(o, h, problems)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", errHealth, strings.Join(problems, "; "))
	}
	return nil
}

func writeStatusText(o *statusOptions, h *health, problems []string) {
	w := o.stdout
	fmt.Fprintf(w, "state: %s\n", h.StateDir)
	recs := h.Records
	if len(recs) > o.runs {
		recs = recs[len(recs)-o.runs:]
	}
	if len(recs) == 0 {
		fmt.Fprintln(w, "runs: none yet")
	}
	for _, r := range recs {
		printRecord(w, r, o.files)
	}
	if b := h.Unfinished; b != nil {
		done, left := b.Describe()
		fmt.Fprintf(w, "UNFINISHED run %s (started %s): %s\n", b.RunID, b.Started.Local().Format(time.DateTime), strings.Join(done, "; "))
		fmt.Fprintf(w, "  left: %s; the next `seftbot fetch` does only these, then fetches what is new\n", strings.Join(left, ", "))
	}
	if h.Cohort != nil {
		fmt.Fprintln(w, "cohort:")
		_ = h.Cohort.Write(w)
	}
	for _, l := range h.Latches {
		switch {
		case l.Err != "":
			fmt.Fprintf(w, "login latch %s: unknown (%s)\n", l.Site, l.Err)
		case l.Set:
			fmt.Fprintf(w, "LOGIN LATCHED %s: %s (%q) at %s; no password is sent until a person looks\n",
				l.Site, l.Kind, l.Reason, l.At.Local().Format(time.DateTime))
		}
	}
	if h.StagingFiles > 0 {
		fmt.Fprintf(w, "WARNING: %d clear-text file(s), %d bytes, in staging %s\n", h.StagingFiles, h.StagingBytes, h.StagingDir)
		fmt.Fprintln(w, "  re-run `seftbot fetch` to relay them, or `seftbot clean` to wipe them")
	}
	for _, p := range problems {
		fmt.Fprintf(w, "UNHEALTHY: %s\n", p)
	}
}

// statusJSON is `status --json`: stable field names for scripts and checks,
// documented by docs/status.schema.json (status_schema_test.go holds the
// two together).
type statusJSON struct {
	StateDir    string                `json:"state_dir"`
	Healthy     bool                  `json:"healthy"`
	Problems    []string              `json:"problems"`
	Runs        []job.Record          `json:"runs"`          // the last --runs runs, oldest first
	Last        map[string]job.Record `json:"last"`          // the last run of each verb
	LastSuccess map[string]time.Time  `json:"last_success"`  // when each verb last succeeded (exit 0 or 3)
	Unfinished  *unfinishedJSON       `json:"unfinished"`    // null when none
	Cohort      *cohortJSON           `json:"cohort"`        // null without a ledger
	Latches     []latchState          `json:"login_latches"` // one per site
	Staging     stagingJSON           `json:"staging"`
	Rejections  []inbox.Rejection     `json:"cohort_rejections"` // not yet acknowledged
}

type unfinishedJSON struct {
	RunID      string    `json:"run_id"`
	Started    time.Time `json:"started"`
	AgeSeconds float64   `json:"age_seconds"`
	Done       []string  `json:"done"`
	Files      int       `json:"files"`
	RemotePath string    `json:"remote_path,omitempty"`
}

type cohortJSON struct {
	Held         int         `json:"held"`
	Confirmed    int         `json:"confirmed"`
	PendingSteps int         `json:"pending_steps"`
	Steps        []stepJSON  `json:"open_steps"`
	NextStep     string      `json:"next_step,omitempty"`
	NextDue      *time.Time  `json:"next_due,omitempty"`
	NextWhy      string      `json:"next_why,omitempty"`
	Last         *submitJSON `json:"last_submission,omitempty"`
}

type stepJSON struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	Rows   int    `json:"rows"`
	State  string `json:"state"`
	Plan   string `json:"plan"`
}

type submitJSON struct {
	Step    string    `json:"step"`
	Action  string    `json:"action"`
	Rows    int       `json:"rows"`
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"`
}

type stagingJSON struct {
	Dir   string `json:"dir"`
	Files int    `json:"cleartext_files"`
	Bytes int64  `json:"cleartext_bytes"`
}

func writeStatusJSON(o *statusOptions, h *health, problems []string) error {
	out := statusJSON{
		StateDir: h.StateDir, Healthy: len(problems) == 0, Problems: problems,
		Runs: []job.Record{}, Last: map[string]job.Record{}, LastSuccess: map[string]time.Time{},
		Latches: h.Latches, Rejections: h.Rejections,
		Staging: stagingJSON{Dir: h.StagingDir, Files: h.StagingFiles, Bytes: h.StagingBytes},
	}
	if out.Rejections == nil {
		out.Rejections = []inbox.Rejection{}
	}
	if out.Problems == nil {
		out.Problems = []string{}
	}
	for i, r := range h.Records {
		if !o.files {
			r.FileNames = nil
		}
		out.Last[r.Verb] = r
		if r.Succeeded() {
			out.LastSuccess[r.Verb] = r.Finished
		}
		if i >= len(h.Records)-o.runs {
			out.Runs = append(out.Runs, r)
		}
	}
	if b := h.Unfinished; b != nil {
		out.Unfinished = &unfinishedJSON{RunID: b.RunID, Started: b.Started, AgeSeconds: time.Since(b.Started).Seconds(),
			Done: b.Done, Files: len(b.Files), RemotePath: b.RemotePath}
	}
	if c := h.Cohort; c != nil {
		cj := &cohortJSON{Held: c.Held, Confirmed: c.Confirmed, NextWhy: c.NextWhy, Steps: []stepJSON{}}
		for _, x := range c.Open {
			cj.Steps = append(cj.Steps, stepJSON{ID: x.ID, Action: string(x.Action), Rows: x.Count, State: x.State, Plan: x.Plan})
			if x.State == cohort.StatePending {
				cj.PendingSteps++
			}
		}
		if c.NextStep != nil {
			cj.NextStep = c.NextStep.ID
		}
		if !c.NextDue.IsZero() {
			cj.NextDue = &c.NextDue
		}
		if l := c.Last; l != nil {
			cj.Last = &submitJSON{Step: l.Step, Action: string(l.Action), Rows: l.Count, At: l.At, Outcome: l.Outcome}
		}
		out.Cohort = cj
	}
	enc := json.NewEncoder(o.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func printRecord(w io.Writer, r job.Record, files bool) {
	line := fmt.Sprintf("%s  %-18s %-11s", r.Started.Local().Format(time.DateTime), r.Verb, r.Outcome)
	if r.Verb == job.VerbFetch {
		line += fmt.Sprintf(" files=%d bytes=%d", r.Files, r.Bytes)
	}
	if len(r.Unavailable) > 0 {
		line += fmt.Sprintf(" unavailable=%d", len(r.Unavailable)) // listed, marked not downloadable
	}
	line += fmt.Sprintf(" exit=%d", r.ExitCode)
	if r.RemotePath != "" {
		line += " remote=" + r.RemotePath
	}
	if r.Outcome == "failed" {
		if r.Stage != "" {
			line += " stage=" + r.Stage
		}
		line += fmt.Sprintf(" error=%q", r.Error)
	}
	fmt.Fprintf(w, "%s  run=%s\n", line, r.RunID)
	if !files {
		return
	}
	for _, n := range r.FileNames {
		fmt.Fprintf(w, "    %s\n", n)
	}
	for _, n := range r.Unavailable {
		fmt.Fprintf(w, "    unavailable on the portal: %s\n", n)
	}
}
