package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/usererr"
)

// latchOptions holds the flags of seftbot login-latch.
type latchOptions struct {
	*globalOptions
	site string
}

func newLatchCmd(g *globalOptions) *cobra.Command {
	o := &latchOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "login-latch show|lift",
		Short: "Show or lift the latch that stops seftbot sending a refused password",
		Long: `After the portal refuses a password, says the account is locked or the password
has expired, or gives no answer seftbot recognises, seftbot latches that site:
no later run sends its password, because the real portal locks accounts and only
NHS England can unlock them. Check the account by hand first. The latch lifts by
itself when the password setting changes; "lift" removes it for the same password.`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"show", "lift"},
		RunE:      func(cmd *cobra.Command, args []string) error { return runLatch(o, args[0]) },
	}
	cmd.Flags().StringVar(&o.site, "site", "", "download or upload (default: show both; lift needs it)")
	return cmd
}

func runLatch(o *latchOptions, verb string) error {
	if err := o.src.Require("SEFTBOT_STATE_DIR"); err != nil {
		return err
	}
	stateDir, _ := staging.Dirs(o.src.Get("SEFTBOT_STATE_DIR"), "")
	sites := []string{portal.SiteDownload, portal.SiteUpload}
	if o.site != "" {
		if o.site != portal.SiteDownload && o.site != portal.SiteUpload {
			return usererr.Errorf("use --site download or --site upload", fmt.Sprintf("unknown site %q", o.site))
		}
		sites = []string{o.site}
	}
	switch verb {
	case "show":
		for _, s := range sites {
			l, err := portal.ReadLatch(stateDir, s)
			switch {
			case err != nil:
				return err
			case l == nil:
				fmt.Fprintf(o.stdout, "%s: not latched\n", s)
			default:
				fmt.Fprintf(o.stdout, "%s: LATCHED (%s): %s\n", s, l.Kind, l.Describe())
			}
		}
		return nil
	case "lift":
		if o.site == "" {
			return usererr.Errorf("name the site: seftbot login-latch lift --site download", "lift needs --site")
		}
		l, err := portal.ReadLatch(stateDir, o.site)
		if err != nil {
			return err
		}
		if l == nil {
			fmt.Fprintf(o.stdout, "%s: not latched\n", o.site)
			return nil
		}
		if err := portal.LiftLatch(stateDir, o.site); err != nil {
			return err
		}
		o.log.Warn("login latch lifted by the operator", "site", o.site, "kind", l.Kind, "was", l.Reason)
		fmt.Fprintf(o.stdout, "%s: latch lifted; the next run will send the password once\n", o.site)
		return nil
	}
	return usererr.Errorf("seftbot login-latch show|lift --site SITE", fmt.Sprintf("unknown action %q", verb))
}

// latchState is one site's login latch as status and the metrics show it.
type latchState struct {
	Site   string     `json:"site"`
	Set    bool       `json:"set"`
	Kind   string     `json:"kind,omitempty"`
	Reason string     `json:"reason,omitempty"`
	At     *time.Time `json:"at,omitempty"`
	Err    string     `json:"error,omitempty"` // the latch could not be read
}

// readLatches reads each site's login latch.
func readLatches(stateDir string) []latchState {
	var out []latchState
	for _, s := range []string{portal.SiteDownload, portal.SiteUpload} {
		ls := latchState{Site: s}
		l, err := portal.ReadLatch(stateDir, s)
		switch {
		case err != nil:
			ls.Err = err.Error()
		case l != nil:
			at := l.At
			ls.Set, ls.Kind, ls.Reason, ls.At = true, l.Kind, l.Reason, &at
		}
		out = append(out, ls)
	}
	return out
}
