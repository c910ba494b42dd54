package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/cohort"
	"github.com/isaric/seftbot/internal/inbox"
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
	if err := readInbox(cmd.Context(), o.globalOptions, o.stateDir, s, o.inboxRead); err != nil {
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
	return nil
}

// readInbox reads the mailbox and applies it to the cohort store, printing
// one line per thing it did.
func readInbox(ctx context.Context, g *globalOptions, stateDir string, s *cohort.Store, read *cohort.InboxRead) error {
	cfg, err := inbox.FromSource(g.src)
	if err != nil {
		return err
	}
	res, err := inbox.Run(ctx, cfg, stateDir, s, read, clock, g.log)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "inbox: %d new message(s), %d notice(s)\n", res.Read, len(res.Notices))
	for _, l := range res.Lines {
		fmt.Fprintf(g.stdout, "inbox: %s\n", l)
	}
	return nil
}
