package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/cohort"
	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/inbox"
	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/metrics"
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/usererr"
)

// errHealth is a failed health check: `status` after a failed or stale
// fetch, `doctor` with a failed check (exit 14).
var errHealth = errors.New("health check failed")

// staleAfter is how old an unfinished run may be before status calls it stuck.
const staleAfter = 24 * time.Hour

// OutcomeSkipped is the record of a run that found another holding the
// lock (exit 4): it did nothing, so it says nothing about health.
const OutcomeSkipped = "skipped"

// health is what status and the metrics report, read from the state
// directory without taking the run lock.
type health struct {
	StateDir, StagingDir string
	Records              []job.Record // all, oldest first
	Unfinished           *job.Batch
	Cohort               *cohort.Status // nil without a ledger
	Latches              []latchState
	StagingFiles         int
	StagingBytes         int64
	// Rejections are cohort steps NHS England rejected that the operator
	// has not acknowledged (seftbot cohort ack).
	Rejections []inbox.Rejection
	// FetchStaleAfter is SEFTBOT_STALE_AFTER: no successful fetch for
	// longer is a problem, since portal files expire after about 3 days.
	FetchStaleAfter time.Duration
}

func gatherHealth(g *globalOptions) (*health, error) {
	stateDir, stagingDir := staging.Dirs(g.src.Get("SEFTBOT_STATE_DIR"), g.src.Get("SEFTBOT_STAGING_DIR"))
	h := &health{StateDir: stateDir, StagingDir: stagingDir}
	v := g.src.Get("SEFTBOT_STALE_AFTER")
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return nil, usererr.Errorf("set SEFTBOT_STALE_AFTER to a duration such as 26h", fmt.Sprintf("SEFTBOT_STALE_AFTER %q is not a positive duration", v))
	}
	h.FetchStaleAfter = d
	st := job.State{Dir: stateDir}
	if h.Records, err = st.Records(1 << 30); err != nil {
		return nil, err
	}
	if h.Unfinished, err = st.LoadBatch(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(layout.State{Dir: stateDir}.CohortLedger()); err == nil {
		s, _, err := (&cohortOptions{globalOptions: g}).openCohort(false)
		if err != nil {
			return nil, err
		}
		if h.Cohort, err = s.Status(); err != nil {
			return nil, err
		}
	}
	if ist, err := inbox.LoadState(stateDir); err != nil {
		return nil, err
	} else {
		h.Rejections = ist.Rejections
	}
	h.Latches = readLatches(stateDir)
	h.StagingFiles, h.StagingBytes = (staging.Area{Dir: stagingDir}).Leftovers()
	return h, nil
}

// lastOf returns the last record of verb that ran (not skipped), or nil.
func (h *health) lastOf(verb string) *job.Record {
	for i := len(h.Records) - 1; i >= 0; i-- {
		if h.Records[i].Verb == verb && h.Records[i].Outcome != OutcomeSkipped {
			return &h.Records[i]
		}
	}
	return nil
}

// staleSince returns when fetch last succeeded (or, if it never has, when
// it first ran) if that is longer ago than FetchStaleAfter; zero when
// fresh, or when no fetch ever ran.
func (h *health) staleSince(now time.Time) time.Time {
	var since time.Time
	for _, r := range h.Records {
		if r.Verb != job.VerbFetch || r.Outcome == OutcomeSkipped {
			continue
		}
		if since.IsZero() {
			since = r.Started
		}
		if r.Succeeded() {
			since = r.Finished
		}
	}
	if since.IsZero() || now.Sub(since) <= h.FetchStaleAfter {
		return time.Time{}
	}
	return since
}

// problems are the reasons status exits 14: the last fetch failed, or a
// fetch left unfinished more than a day ago (the nightly run is not
// finishing it).
func (h *health) problems(now time.Time) []string {
	var out []string
	if r := h.lastOf(job.VerbFetch); r != nil && !r.Succeeded() {
		what := fmt.Sprintf("the last fetch (run %s, %s) failed with exit %d", r.RunID, r.Finished.Local().Format(time.DateTime), r.ExitCode)
		if r.Stage != "" {
			what += " at stage " + r.Stage
		}
		out = append(out, what)
	}
	if b := h.Unfinished; b != nil && now.Sub(b.Started) > staleAfter {
		out = append(out, fmt.Sprintf("run %s is unfinished since %s, more than a day", b.RunID, b.Started.Local().Format(time.DateTime)))
	}
	if since := h.staleSince(now); !since.IsZero() {
		out = append(out, fmt.Sprintf("no successful fetch since %s, more than SEFTBOT_STALE_AFTER (%s): portal files expire after about 3 days",
			since.Local().Format(time.DateTime), h.FetchStaleAfter))
	}
	for _, r := range h.Rejections {
		out = append(out, fmt.Sprintf("cohort step %s was rejected by NHS England's notice of %s (%s); once handled, `seftbot cohort ack %s`",
			r.Step, cohort.FormatTime(r.Notice), r.Subject, r.Step))
	}
	return out
}

// snapshot is the metrics' view of h.
func (h *health) snapshot(now time.Time) metrics.Snapshot {
	s := metrics.Snapshot{Records: h.Records, Unfinished: h.Unfinished, StagingFiles: h.StagingFiles, StagingBytes: h.StagingBytes,
		FetchStale: !h.staleSince(now).IsZero(), CohortRejected: len(h.Rejections)}
	if h.Cohort != nil {
		s.CohortKnown = true
		s.CohortSteps = map[string]int{}
		for _, x := range h.Cohort.Open {
			s.CohortSteps[x.State]++
			if x.State == cohort.StatePending {
				s.CohortPending++
			}
		}
	}
	for _, l := range h.Latches {
		if l.Err == "" {
			if s.Latched == nil {
				s.Latched = map[string]bool{}
			}
			s.Latched[l.Site] = l.Set
		}
	}
	return s
}

// verbOf names a command as runs.jsonl does: "fetch", "cohort submit".
func verbOf(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// afterRun records the run in runs.jsonl (unless fetch did, with its stages)
// and rewrites the metrics file. Neither changes the exit code: a failure is
// a warning on stderr. `status` and `version` are not recorded (status is
// how the record is read; recording it would bury the runs it reports), but
// status does refresh the metrics.
func (g *globalOptions) afterRun(cmd *cobra.Command, start time.Time, code int, err error) {
	if cmd == nil || cmd == cmd.Root() || !cmd.Runnable() {
		return
	}
	verb := verbOf(cmd)
	if verb == "version" || verb == "init" || verb == "help" || strings.HasPrefix(verb, "completion") || strings.HasPrefix(verb, "__complete") || strings.HasPrefix(verb, "help ") {
		return
	}
	if g.src == nil { // setup did not run (a flag error): find the state dir anyway
		src, lerr := config.Load(g.envFile, g.envFile != "", nil)
		if lerr != nil {
			return
		}
		g.src = src
	}
	stateDir := g.src.Get("SEFTBOT_STATE_DIR")
	if stateDir == "" {
		return
	}
	warn := func(what string, err error) {
		if g.log != nil { // a JSON line when logs are JSON
			g.log.Warn(what, "err", err)
			return
		}
		fmt.Fprintf(g.stderr, "seftbot: warning: %s: %v\n", what, err)
	}
	if verb != "status" && !g.recorded {
		st, oerr := job.Open(stateDir)
		if oerr != nil {
			warn("run not recorded", oerr)
			return
		}
		rec := job.Record{Verb: verb, ExitCode: code, RunID: g.runID, Started: start.UTC(), Finished: time.Now().UTC(), Outcome: "ok"}
		switch {
		case code == ExitNothingNew:
			rec.Outcome = "nothing-new"
		case code == ExitLocked:
			rec.Outcome = OutcomeSkipped // another run was doing the work
		case err != nil:
			rec.Outcome, rec.Error = "failed", err.Error()
		}
		if aerr := st.AppendRecord(rec); aerr != nil {
			warn("run not recorded", aerr)
		}
	}
	if _, serr := os.Stat(stateDir); serr != nil {
		return // status on a machine where nothing ran yet
	}
	h, herr := gatherHealth(g)
	if herr != nil {
		warn("metrics not written", herr)
		return
	}
	path := g.src.Get("SEFTBOT_METRICS_FILE")
	if path == "" {
		path = layout.State{Dir: stateDir}.Metrics()
	}
	if werr := metrics.Write(path, h.snapshot(time.Now())); werr != nil {
		warn("metrics not written", werr)
	}
}
