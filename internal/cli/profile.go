package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/usererr"
)

// profileCheckOptions holds the flags of seftbot profile check.
type profileCheckOptions struct {
	*globalOptions
	site    string
	one     bool
	browser browserFlags
}

// newProfileCmd is seftbot profile: for now only "check", the same check
// as probe --check, under the name an operator may look for first.
func newProfileCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Work with site profiles (see also record and probe)",
		Args:  cobra.NoArgs,
	}
	o := &profileCheckOptions{globalOptions: g}
	check := &cobra.Command{
		Use:   "check --site download|upload [--one] FILE",
		Short: "Check a site profile against the portal (the same as probe --check FILE)",
		Long: `Signs in with the profile and walks the file list (or opens the upload form)
without downloading or sending anything, and prints for every selector and text
of the profile whether it matched, how many elements, the first one's text and
on which page. With --one it then downloads the first listed file, prints its
name, size and sha256 and wipes it. Exit 0 when all matched, 11 otherwise. The
same as seftbot probe --check FILE [--one]; see docs/site-profile.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.site != portal.SiteDownload && o.site != portal.SiteUpload {
				return usererr.Errorf("use --site download or --site upload", fmt.Sprintf("profile check: unknown site %q", o.site))
			}
			return runCheck(cmd, o.globalOptions, &o.browser, o.site, args[0], o.one)
		},
	}
	f := check.Flags()
	f.StringVar(&o.site, "site", "", "the profile's site: download or upload")
	f.BoolVar(&o.one, "one", false, "also download the first listed file, report its size and sha256, and wipe it")
	f.BoolVar(&o.browser.headful, "headful", false, "show the browser window (needs a display)")
	f.DurationVar(&o.browser.slowMo, "slow-mo", 0, "pause between browser steps, e.g. 500ms, to watch")
	cmd.AddCommand(check)
	return cmd
}
