package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/usererr"
)

// probeOptions holds the flags of seftbot probe.
type probeOptions struct {
	*globalOptions
	site    string
	out     string
	browser browserFlags
}

func newProbeCmd(g *globalOptions) *cobra.Command {
	o := &probeOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "probe --site download|upload",
		Short: "Log in and report a portal's pages, to help write a site profile",
		Long: `Signs in to one site and writes a report of every page it sees: forms,
inputs, buttons, links, tables and lists, with a screenshot of each. It never
records a form value, so the report holds no password. Use it to write a site
profile for a portal the bot has not seen (see docs/site-profile.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runProbe(cmd, o, args) },
	}
	cmd.Flags().StringVar(&o.site, "site", "", "site to probe: download or upload")
	cmd.Flags().StringVar(&o.out, "out", "", "report directory (default: STATE_DIR/probe-TIME)")
	o.browser.register(cmd)
	return cmd
}

func runProbe(cmd *cobra.Command, o *probeOptions, _ []string) error {
	if o.site != portal.SiteDownload && o.site != portal.SiteUpload {
		return usererr.Errorf("use --site download or --site upload", fmt.Sprintf("probe: unknown site %q", o.site))
	}
	po, err := o.browser.options(o.globalOptions, o.site)
	if err != nil {
		return err
	}
	out := o.out
	if out == "" {
		if po.StateDir == "" {
			return usererr.Errorf("give --out DIR or set SEFTBOT_STATE_DIR", "probe: nowhere to write the report")
		}
		out = filepath.Join(po.StateDir, "probe-"+time.Now().UTC().Format("20060102T150405Z"))
	}
	report, err := portal.Probe(cmd.Context(), po, out)
	if report != "" {
		fmt.Fprintf(o.stdout, "probe report: %s\n", report)
	}
	return err
}
