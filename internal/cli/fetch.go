package cli

import (
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/inbox"
	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/portal"
)

// fetchOptions holds the flags of seftbot fetch.
type fetchOptions struct {
	*globalOptions
	browser  browserFlags
	delivery string
	resend   bool
	dryRun   bool
}

func newFetchCmd(g *globalOptions) *cobra.Command {
	o := &fetchOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "fetch",
		Short: "The nightly job: download new files, archive, relay, send the passphrase, report",
		Long: "Download every new file from the portal, archive them into an encrypted 7z, verify it,\n" +
			"relay it to the SFTP drop as isaric-*, deliver the passphrase separately, report, and\n" +
			"wipe the clear text. Every stage is recorded: after a failure or a kill, running fetch\n" +
			"again finishes the job without repeating finished work. Exit 3 means nothing new.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFetch(cmd, o) },
	}
	o.browser.register(cmd)
	cmd.Flags().BoolVar(&o.resend, "resend", false, "also send files in staging that were delivered before (fetched again with download --all)")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "sign in once and list, then say what would be downloaded, archived and sent, and to whom, without doing it")
	cmd.Flags().StringVar(&o.delivery, "passphrase-delivery", "", "smtp (mail it) or file (write it 0600 for you to send); default SEFTBOT_PASSPHRASE_DELIVERY")
	return cmd
}

func runFetch(cmd *cobra.Command, o *fetchOptions) error {
	if o.delivery != "" {
		o.src.Set("SEFTBOT_PASSPHRASE_DELIVERY", o.delivery)
	}
	o.browser.setProfile(o.globalOptions, portal.SiteDownload)
	jo, err := job.OptionsFromSource(o.src)
	if err != nil {
		return err
	}
	o.browser.apply(o.globalOptions, &jo.Portal)
	jo.Log = o.log
	jo.RunID = o.runID
	jo.ExitCode = func(err error) int { return exitCode(interrupted(cmd.Context(), err)) }
	if inbox.Configured(o.src) {
		jo.Notices = fetchNotices{g: o.globalOptions, stateDir: jo.StateDir}
	}
	meters := &stageMeters{g: o.globalOptions}
	jo.Portal.Progress = func(done, total int, bytes int64) {
		if m := meters.stage("downloading", true); m != nil {
			m.setFiles(done, total, bytes)
		}
	}
	// Archive and relay draw byte bars against the stage's total.
	jo.StageTotal = func(stage string, total int64) {
		switch stage {
		case job.StageArchive:
			meters.start("archiving", false, total)
		case job.StageRelay:
			meters.start("relaying", false, total)
		}
	}
	jo.ArchiveProgress = func(n int64) {
		if m := meters.stage("archiving", false); m != nil {
			m.add(n)
		}
	}
	jo.RelayProgress = func(n int64) {
		if m := meters.stage("relaying", false); m != nil {
			m.add(n)
		}
	}
	jo.Resend = o.resend
	if o.dryRun {
		return runFetchDryRun(cmd.Context(), o, jo)
	}
	res, err := job.Fetch(cmd.Context(), jo)
	meters.close()
	if res != nil {
		// The error line names the run the record does (a resumed one's).
		o.runID = res.Record.RunID
		o.log = o.log.With("run_id", o.runID)
		o.recorded = true // with its stages and files, in runs.jsonl
		printFetch(o, res)
	}
	return err
}

func printFetch(o *fetchOptions, res *job.Result) {
	r := res.Record
	w := o.stdout
	if res.Resumed {
		p := r
		if res.Previous != nil {
			p = *res.Previous
		}
		fmt.Fprintf(w, "resumed unfinished run %s\n", p.RunID)
		if res.Previous != nil {
			fmt.Fprintf(w, "delivered %d file(s), %d bytes, as %s (run %s)\n", p.Files, p.Bytes, p.RemotePath, p.RunID)
		}
	}
	switch r.Outcome {
	case "nothing-new":
		fmt.Fprintln(w, "nothing new on the portal; no archive sent")
	case "ok":
		fmt.Fprintf(w, "delivered %d file(s), %d bytes, as %s (run %s, %s)\n",
			r.Files, r.Bytes, r.RemotePath, r.RunID, r.Finished.Sub(r.Started).Round(time.Second))
	default:
		fmt.Fprintf(w, "run %s failed at %s; staging kept for the next run\n", r.RunID, r.Stage)
	}
}

// stageMeters shows one progress line per stage of a fetch, on a terminal.
type stageMeters struct {
	g    *globalOptions
	mu   sync.Mutex
	name string
	cur  *meter
	done func()
}

// stage returns the meter of the named stage, ending the previous one; nil
// when stderr is not a terminal.
func (s *stageMeters) stage(name string, files bool) *meter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.name != name {
		s.begin(name, files, 0)
	}
	return s.cur
}

// start begins the named stage's meter with its total, ending the previous.
func (s *stageMeters) start(name string, files bool, total int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.begin(name, files, total)
}

func (s *stageMeters) begin(name string, files bool, total int64) {
	if s.done != nil {
		s.done()
	}
	s.name = name
	s.cur, s.done = s.g.meter(name, files, total)
}

func (s *stageMeters) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		s.done()
	}
	s.name, s.cur, s.done = "", nil, nil
}
