package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/cohort"
	"github.com/isaric/seftbot/internal/inbox"
	"github.com/isaric/seftbot/internal/notify"
	"github.com/isaric/seftbot/internal/usererr"
)

// inboxOptions holds the flags of seftbot inbox.
type inboxOptions struct{ *cohortOptions }

func newInboxCmd(g *globalOptions) *cobra.Command {
	o := &inboxOptions{&cohortOptions{globalOptions: g}}
	return &cobra.Command{
		Use:   "inbox",
		Short: "Read NHS England's notices: reject a cohort step an error notice is about, record new data, confirm quiet steps",
		Long: "Reads the messages that arrived in SEFTBOT_IMAP_MAILBOX since the last read. An error notice\n" +
			"rejects the cohort step uploaded the day before and stops its plan; a \"new data\" notice is\n" +
			"recorded for seftbot fetch. Other mail is left alone, and nothing is ever deleted. A step whose\n" +
			"quiet period has ended is confirmed only after such a read. fetch and cohort submit read the\n" +
			"inbox too; run this alone after SEFTBOT_COHORT_CONFIRM_AT to confirm a step that morning.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runInbox(cmd, o) },
	}
}

func runInbox(cmd *cobra.Command, o *inboxOptions) error {
	if !inbox.Configured(o.src) {
		return usererr.Errorf("set SEFTBOT_IMAP_HOST and the other SEFTBOT_IMAP_* settings (README: NHSmail and OAuth 2.0)", "no mailbox configured")
	}
	s, unlock, err := o.openCohort(true)
	if err != nil {
		return err
	}
	defer unlock()
	rejected, err := readInbox(cmd.Context(), o.globalOptions, o.stateDir, s, o.inboxRead)
	if err != nil {
		return err
	}
	confirmed, err := s.Settle()
	if err != nil {
		return err
	}
	for _, st := range confirmed {
		fmt.Fprintf(o.stdout, "step %s confirmed: no error notice by %s (%s of %s); held: %d identifiers\n",
			st.ID, cohort.FormatTime(*st.ConfirmAfter), st.Action, cohort.Rows(st.Count), s.HeldCount())
	}
	if len(rejected) > 0 {
		var steps []string
		for _, r := range rejected {
			steps = append(steps, r.Step)
		}
		return usererr.New(fmt.Errorf("%w: step %s, by NHS England's error notice", errRejected, strings.Join(steps, ", ")),
			"check the file with NHS England, then `seftbot cohort ack STEP`; `seftbot cohort status` shows the step")
	}
	return nil
}

// errRejected is an inbox read that rejected a cohort step (exit 16): the
// one outcome of a good read that a person must act on.
var errRejected = errors.New("NHS England rejected a cohort step")

// readInbox reads the mailbox and applies it to the cohort store, printing
// one line per thing it did, and mails the operator about any step it
// rejected.
func readInbox(ctx context.Context, g *globalOptions, stateDir string, s *cohort.Store, read *cohort.InboxRead) ([]inbox.Rejection, error) {
	cfg, err := inbox.FromSource(g.src)
	if err != nil {
		return nil, err
	}
	res, err := inbox.Run(ctx, cfg, stateDir, s, read, clock, g.log)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(g.stdout, "inbox: %d new message(s), %d notice(s)\n", res.Read, len(res.Notices))
	for _, l := range noticeWarnings(res) {
		fmt.Fprintf(g.stdout, "inbox: %s\n", l)
	}
	for _, l := range res.Lines {
		fmt.Fprintf(g.stdout, "inbox: %s\n", l)
	}
	mailRejections(ctx, g, res, g.log)
	return res.Rejections, nil
}

// mailRejections tells SEFTBOT_REPORT_TO at once about each step a notice
// rejected. A mail that cannot go out is logged as an error; status stays
// unhealthy until the rejection is acknowledged either way.
func mailRejections(ctx context.Context, g *globalOptions, res *inbox.Result, log *slog.Logger) {
	if len(res.Rejections) == 0 {
		return
	}
	var rs []notify.Rejection
	for i, r := range res.Rejections {
		nr := notify.Rejection{Step: r.Step, Notice: r.Notice, Subject: r.Subject}
		if i < len(res.Rejected) {
			nr.Line = res.Rejected[i]
		}
		rs = append(rs, nr)
	}
	if g.src.Get("SEFTBOT_SMTP_HOST") == "" || g.src.Get("SEFTBOT_REPORT_TO") == "" {
		log.Error("a cohort step was rejected, and no mail can say so: set SEFTBOT_SMTP_HOST and SEFTBOT_REPORT_TO", "steps", len(rs))
		return
	}
	cfg, err := notify.FromSource(g.src)
	if err == nil {
		cfg.Log = log
		err = notify.SendRejections(ctx, cfg, g.src.Get("SEFTBOT_PROJECT_ID"), rs)
	}
	if err != nil {
		log.Error("the rejection mail could not be sent", "err", err)
	}
}

// fetchNotices is the mailbox stage of seftbot fetch: it runs inside the
// job's lock, so it opens the cohort ledger without taking it again.
type fetchNotices struct {
	g        *globalOptions
	stateDir string
}

func (n fetchNotices) Read(ctx context.Context, log *slog.Logger) ([]string, []string, error) {
	cfg, err := inbox.FromSource(n.g.src)
	if err != nil {
		return nil, nil, err
	}
	co := &cohortOptions{globalOptions: n.g}
	s, _, err := co.openCohort(false)
	if err != nil {
		return nil, nil, err
	}
	res, err := inbox.Run(ctx, cfg, n.stateDir, s, co.inboxRead, clock, log)
	if err != nil {
		return nil, nil, err
	}
	mailRejections(ctx, n.g, res, log)
	warnings := noticeWarnings(res)
	for _, w := range warnings {
		fmt.Fprintf(n.g.stdout, "inbox: %s\n", w)
	}
	lines := res.Lines
	confirmed, err := s.Settle()
	if err != nil {
		return lines, warnings, err
	}
	for _, st := range confirmed {
		lines = append(lines, fmt.Sprintf("step %s confirmed: no error notice by %s (%s of %s)",
			st.ID, cohort.FormatTime(*st.ConfirmAfter), st.Action, cohort.Rows(st.Count)))
	}
	for _, l := range lines {
		fmt.Fprintf(n.g.stdout, "inbox: %s\n", l)
	}
	return lines, warnings, nil
}

// noticeWarnings are what a read found that the operator must look at: a
// notice it could not read, a mailbox gone back in time, a notice from a
// sender not trusted.
func noticeWarnings(res *inbox.Result) []string {
	var out []string
	for _, w := range res.Warnings {
		out = append(out, "WARNING: "+w)
	}
	return append(out, res.Ignored...)
}

func (n fetchNotices) Downloaded(files int, log *slog.Logger) []string {
	stale, err := inbox.StaleNewData(n.stateDir, files, clock())
	if err != nil {
		log.Warn("reading the recorded new data notices", "err", err)
		return nil
	}
	var out []string
	for _, nd := range stale {
		w := fmt.Sprintf("NHS England's notice of %s said there is new data, but a day later the portal still shows nothing new: "+
			"check the portal by hand, and the site profile", cohort.FormatTime(nd.Received))
		log.Warn("new data notice not followed by new files", "notice", nd.Received, "message_id", nd.MessageID)
		out = append(out, w)
	}
	return out
}
