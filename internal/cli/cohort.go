package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/cohort"
	"github.com/isaric/seftbot/internal/inbox"
	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// cohortOptions holds the flags of seftbot cohort and its verbs.
type cohortOptions struct {
	*globalOptions
	strategy string
	dryRun   bool
	browser  browserFlags // submit drives the portal like download does

	stateDir  string
	inboxRead *cohort.InboxRead // set by openCohort when a mailbox is configured
}

func newCohortCmd(g *globalOptions) *cobra.Command {
	o := &cohortOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "cohort",
		Short: "Build, validate, plan and submit cohort files; keep the ledger of what NHS England holds",
		Long: `The cohort verbs keep a ledger of the NHS numbers NHS England holds for the
project and change it one validated file a day: never ADD and DELETE in one
file, never two uploads on the same Europe/London day. FILE is CSV or TSV with
a header naming template columns (NHS_NO or NHS_NUMBER at least), or a plain
list of NHS numbers; "-" reads standard input.`,
		Args: userArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	file := func(use, short string, run func(*cobra.Command, *cohortOptions, string) error) *cobra.Command {
		return &cobra.Command{Use: use + " FILE", Short: short, Args: userArgs(cobra.ExactArgs(1)),
			RunE: func(c *cobra.Command, a []string) error { return run(c, o, a[0]) }}
	}
	step := func(use, short string, run func(*cobra.Command, *cohortOptions, string) error) *cobra.Command {
		return &cobra.Command{Use: use + " STEP", Short: short, Args: userArgs(cobra.ExactArgs(1)),
			RunE: func(c *cobra.Command, a []string) error { return run(c, o, a[0]) }}
	}
	replace := file("replace", "Plan the change from the held set to the cohort in FILE", runCohortReplace)
	replace.Flags().StringVar(&o.strategy, "strategy", "diff", "diff: DELETE only leavers, then ADD only joiners; full: DELETE all held, then ADD all")
	submit := &cobra.Command{Use: "submit", Short: "Upload the next due step, or say why not (safe to run nightly)", Args: userArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error { return runCohortSubmit(c, o) }}
	submit.Flags().BoolVar(&o.dryRun, "dry-run", false, "write the exact file and show what would be uploaded, without uploading")
	o.browser.register(submit)
	cmd.AddCommand(
		file("import-held", "Seed the ledger with identifiers you know NHS England holds", runCohortImport),
		&cobra.Command{Use: "status", Short: "Show the held count, pending steps and the last submission", Args: userArgs(cobra.NoArgs),
			RunE: func(c *cobra.Command, _ []string) error { return runCohortStatus(c, o) }},
		file("add", "Plan an ADD-only step for the identifiers in FILE", runCohortAdd),
		file("remove", "Plan a DELETE-only step for the identifiers in FILE", runCohortRemove),
		replace,
		step("reject", "Record an error notice for an uploaded step; stops the plan", runCohortReject),
		step("confirm", "Confirm an uploaded step before its quiet period ends", runCohortConfirm),
		step("ack", "Acknowledge NHS England's rejection of a step, once handled: status is healthy again", runCohortAck),
		&cobra.Command{Use: "cancel", Short: "Drop every pending (not yet uploaded) step", Args: userArgs(cobra.NoArgs),
			RunE: func(c *cobra.Command, _ []string) error { return runCohortCancel(c, o) }},
		submit,
	)
	return cmd
}

// userArgs makes a wrong argument count a usage error (exit 2) with a hint,
// not a bug.
func userArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		return usererr.New(check(cmd, args), "see "+cmd.CommandPath()+" --help")
	}
}

// clock is the cohort verbs' time. Only the script tests move it (to
// midnight, into a quiet period); nothing in the binary can.
var clock = time.Now

// cohortUploader reaches the portal's upload site with the upload account.
// A refused login, or a problem found before the browser submits (both user
// errors), certainly sent nothing; anything else might have, and the cohort
// ledger then leaves the outcome to the operator.
func cohortUploader(o *cohortOptions) (cohort.Uploader, error) {
	opts, err := o.browser.options(o.globalOptions, portal.SiteUpload)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, path string) (string, error) {
		conf, err := portal.Upload(ctx, opts, path)
		// Both stop before the file could leave: a mismatch is found by a
		// step that never became ready, before the sending step.
		if err != nil && (errors.Is(err, portal.ErrLoginRejected) || errors.Is(err, portal.ErrProfile) || usererr.Is(err)) {
			err = fmt.Errorf("%w: %w", cohort.ErrNotSent, err)
		}
		return conf, err
	}, nil
}

// openCohort resolves settings and opens the store. Verbs that change state
// hold the state lock until done (the returned func releases it).
func (o *cohortOptions) openCohort(mutating bool) (*cohort.Store, func(), error) {
	src := o.src
	if err := src.Require("SEFTBOT_PROJECT_ID", "SEFTBOT_STATE_DIR"); err != nil {
		return nil, nil, err
	}
	header, err := cohort.LoadHeader(src.Get("SEFTBOT_COHORT_HEADER_FILE"))
	if err != nil {
		return nil, nil, usererr.New(err, "check SEFTBOT_COHORT_HEADER_FILE")
	}
	now := clock
	state, err := job.Open(src.Get("SEFTBOT_STATE_DIR"))
	if err != nil {
		return nil, nil, err
	}
	unlock := func() {}
	if mutating {
		if unlock, err = state.Lock(); err != nil {
			return nil, nil, err
		}
	}
	o.stateDir = state.Dir
	if inbox.Configured(src) {
		ist, err := inbox.LoadState(state.Dir)
		if err != nil {
			unlock()
			return nil, nil, err
		}
		o.inboxRead = ist.CohortRead()
	}
	s, err := cohort.Open(cohort.Options{
		Inbox:     o.inboxRead,
		Dir:       layout.State{Dir: state.Dir}.Cohort(),
		Project:   src.Get("SEFTBOT_PROJECT_ID"),
		Header:    header,
		ConfirmAt: src.Get("SEFTBOT_COHORT_CONFIRM_AT"),
		Now:       now,
		Uploader:  func() (cohort.Uploader, error) { return cohortUploader(o) },
	})
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return s, unlock, nil
}

// openInput opens FILE, or standard input for "-".
func (o *cohortOptions) openInput(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(o.stdin), nil
	}
	// Only a regular file, opened without blocking: a FIFO would block
	// open(2) until a writer came, beyond the reach of SIGTERM.
	f, err := safeio.Open(name, "the cohort file")
	if errors.Is(err, safeio.ErrNotRegular) {
		return nil, usererr.New(err, "give a CSV or TSV file, or - for standard input")
	}
	if err != nil {
		return nil, usererr.New(err, "check the file name")
	}
	return f, nil
}

// cohortMemLimit is the Go heap's soft limit while a cohort file is read.
const cohortMemLimit = 160 << 20

// limitMemory sets it, unless the operator set GOMEMLIMIT. What parsing
// keeps is bounded (at most 96 MiB of rows), and a step file by what it was
// made from; the soft limit keeps the garbage of reading them from doubling
// that, so the process stays well under 300 MB whatever the input.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cohortMemLimit)
	}
}

// withInput runs a planning verb on FILE under the lock. The file is opened
// first, so a wrong one is refused before the lock is taken.
func (o *cohortOptions) withInput(name string, run func(*cohort.Store, io.Reader) error) error {
	in, err := o.openInput(name)
	if err != nil {
		return err
	}
	defer in.Close()
	limitMemory()
	s, unlock, err := o.openCohort(true)
	if err != nil {
		return err
	}
	defer unlock()
	return run(s, in)
}

func runCohortImport(cmd *cobra.Command, o *cohortOptions, name string) error {
	return o.withInput(name, func(s *cohort.Store, in io.Reader) error {
		res, err := s.ImportHeld(cmd.Context(), in, name)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.stdout, "held set seeded from %s: %d identifiers (was %d)\n", name, res.After, res.Before)
		return err
	})
}

func runCohortAdd(cmd *cobra.Command, o *cohortOptions, name string) error {
	return o.withInput(name, func(s *cohort.Store, in io.Reader) error {
		res, err := s.Add(cmd.Context(), in, name)
		return o.printPlan(s, res, err)
	})
}

func runCohortRemove(cmd *cobra.Command, o *cohortOptions, name string) error {
	return o.withInput(name, func(s *cohort.Store, in io.Reader) error {
		res, err := s.Remove(cmd.Context(), in, name)
		return o.printPlan(s, res, err)
	})
}

func runCohortReplace(cmd *cobra.Command, o *cohortOptions, name string) error {
	return o.withInput(name, func(s *cohort.Store, in io.Reader) error {
		res, err := s.Replace(cmd.Context(), in, name, cohort.Strategy(o.strategy))
		if err == nil {
			fmt.Fprintf(o.stdout, "unchanged: %d identifiers stay held\n", res.Unchanged)
		}
		return o.printPlan(s, res, err)
	})
}

func (o *cohortOptions) printPlan(s *cohort.Store, res *cohort.PlanResult, err error) error {
	if err != nil {
		return err
	}
	if len(res.Steps) == 0 {
		fmt.Fprintln(o.stdout, "nothing to change: no step planned")
	}
	for _, st := range res.Steps {
		fmt.Fprintf(o.stdout, "planned step %s: %s of %s (%s), sha256 %s\n", st.ID, st.Action, cohort.Rows(st.Count), st.Plan, st.SHA256)
	}
	if len(res.Steps) > 0 {
		fmt.Fprintln(o.stdout, "one step is uploaded per day by seftbot cohort submit; see seftbot cohort status")
	}
	return nil
}

func runCohortStatus(_ *cobra.Command, o *cohortOptions) error {
	s, _, err := o.openCohort(false)
	if err != nil {
		return err
	}
	st, err := s.Status()
	if err != nil {
		return err
	}
	if err := st.Write(o.stdout); err != nil {
		return err
	}
	ist, err := inbox.LoadState(o.stateDir)
	if err != nil {
		return err
	}
	for _, r := range ist.Rejections {
		fmt.Fprintf(o.stdout, "REJECTED step %s by NHS England's notice of %s (%s), not acknowledged: `seftbot status` exits 14 until `seftbot cohort ack %s`\n",
			r.Step, cohort.FormatTime(r.Notice), r.Subject, r.Step)
	}
	return nil
}

// runCohortAck acknowledges a rejection: the operator has seen it and
// handled the file with NHS England, so status may be healthy again.
func runCohortAck(_ *cobra.Command, o *cohortOptions, id string) error {
	_, unlock, err := o.openCohort(true)
	if err != nil {
		return err
	}
	defer unlock()
	acked, err := inbox.Acknowledge(o.stateDir, id)
	if err != nil {
		return err
	}
	if len(acked) == 0 {
		return usererr.Errorf("`seftbot cohort status` lists the rejections waiting to be acknowledged",
			fmt.Sprintf("no unacknowledged rejection of step %s", id))
	}
	fmt.Fprintf(o.stdout, "rejection of step %s acknowledged\n", id)
	return nil
}

func runCohortReject(_ *cobra.Command, o *cohortOptions, id string) error {
	s, unlock, err := o.openCohort(true)
	if err != nil {
		return err
	}
	defer unlock()
	res, err := s.Reject(id)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "step %s rejected: the ledger keeps the held set as it was (%d identifiers)\n", id, s.HeldCount())
	if res.Undone {
		fmt.Fprintf(o.stdout, "its quiet-period confirmation was undone\n")
	}
	for _, c := range res.Cancelled {
		fmt.Fprintf(o.stdout, "step %s cancelled: the plan has stopped\n", c)
	}
	return nil
}

func runCohortConfirm(_ *cobra.Command, o *cohortOptions, id string) error {
	s, unlock, err := o.openCohort(true)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := s.Confirm(id)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.stdout, "step %s confirmed (%s of %s); held: %d identifiers\n", st.ID, st.Action, cohort.Rows(st.Count), s.HeldCount())
	return err
}

func runCohortCancel(_ *cobra.Command, o *cohortOptions) error {
	s, unlock, err := o.openCohort(true)
	if err != nil {
		return err
	}
	defer unlock()
	ids, err := s.Cancel()
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		fmt.Fprintln(o.stdout, "no pending steps to cancel")
	}
	for _, id := range ids {
		fmt.Fprintf(o.stdout, "step %s cancelled\n", id)
	}
	return nil
}

func runCohortSubmit(cmd *cobra.Command, o *cohortOptions) error {
	limitMemory() // the step file is read whole, and checked
	s, unlock, err := o.openCohort(true)
	if err != nil {
		return err
	}
	defer unlock()
	// The mailbox first: an error notice about yesterday's file stops the
	// plan before today's goes. A mailbox that cannot be read stops
	// nothing already safe: the step stays unconfirmed, so nothing new is
	// sent after it, and the exit code says the mailbox failed.
	var inboxErr error
	if o.inboxRead != nil && !o.dryRun {
		_, inboxErr = readInbox(cmd.Context(), o.globalOptions, o.stateDir, s, o.inboxRead)
	}
	return errors.Join(submitCohort(cmd.Context(), o, s), inboxErr)
}

// submitCohort submits and reports what happened.
func submitCohort(ctx context.Context, o *cohortOptions, s *cohort.Store) error {
	res, err := s.Submit(ctx, o.dryRun)
	if res == nil {
		return err
	}
	st := res.Step
	if st != nil && !o.dryRun && (res.Uploaded || err != nil) {
		// The ledger is the record; the log line ties it to this run.
		o.log.Info("cohort submit", "step", st.ID, "action", string(st.Action), "rows", st.Count,
			"sha256", st.SHA256, "state", st.State, "uploaded", res.Uploaded)
	}
	switch {
	case res.DryRun && res.Path != "":
		fmt.Fprintf(o.stdout, "dry run: step %s (%s of %s, %s) would be uploaded as %s\n", st.ID, st.Action, cohort.Rows(st.Count), st.Plan, filepath.Base(res.Path))
		fmt.Fprintf(o.stdout, "file: %s (%d bytes, sha256 %s, mode 0600)\n", res.Path, res.Size, st.SHA256)
		if res.Reason != "" {
			fmt.Fprintf(o.stdout, "not due yet: %s\n", res.Reason)
		}
		fmt.Fprintln(o.stdout, "nothing was uploaded")
	case res.Uploaded:
		fmt.Fprintf(o.stdout, "uploaded step %s: %s of %s, sha256 %s\n", st.ID, st.Action, cohort.Rows(st.Count), st.SHA256)
		fmt.Fprintf(o.stdout, "portal said: %s\n", res.Confirmation)
		fmt.Fprintf(o.stdout, "confirmed at %s unless an error notice is recorded (seftbot cohort reject %s)\n",
			cohort.FormatTime(*st.ConfirmAfter), st.ID)
	case err == nil:
		fmt.Fprintf(o.stdout, "nothing uploaded: %s\n", res.Reason)
	}
	return err
}
