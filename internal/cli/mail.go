package cli

import (
	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/mailauth"
)

// mailOptions holds the flags of seftbot mail and its verbs.
type mailOptions struct{ *globalOptions }

func newMailCmd(g *globalOptions) *cobra.Command {
	o := &mailOptions{g}
	cmd := &cobra.Command{
		Use:   "mail",
		Short: "NHSmail's OAuth 2.0 sign-in for sending (SMTP) and reading notices (IMAP)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "login",
		Short: "Sign in once with the device-code flow (SEFTBOT_OAUTH_FLOW=device); the sign-in is kept 0600 in the state directory",
		Long: "Prints a web address and a code: open the address on any device, sign in as the NHSmail\n" +
			"user seftbot sends and reads as, and enter the code. seftbot keeps the refresh token 0600\n" +
			"in the state directory and renews the access token by itself from then on.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMailLogin(cmd, o) },
	})
	cmd.AddCommand(newMailStatusCmd(g), newMailLogoutCmd(g))
	return cmd
}

func runMailLogin(cmd *cobra.Command, o *mailOptions) error {
	cfg, err := mailauth.FromSource(o.src)
	if err != nil {
		return err
	}
	if _, err := job.Open(o.src.Get("SEFTBOT_STATE_DIR")); err != nil { // creates it 0700, or checks it is private
		return err
	}
	return mailauth.Login(cmd.Context(), cfg, o.stdout, nil)
}
