package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/authoring"
	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/usererr"
)

// probeOptions holds the flags of seftbot probe.
type probeOptions struct {
	*globalOptions
	site    string
	out     string
	check   string
	one     bool
	browser browserFlags
}

func newProbeCmd(g *globalOptions) *cobra.Command {
	o := &probeOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "probe --site download|upload [--profile FILE | --check FILE [--one]]",
		Short: "Report a portal's pages (no profile needed), or check a site profile against it",
		Long: `Without a profile, probe opens the site URL, finds the sign-in form by its
password field (a login in two steps: a text field and its button, then the
password field), signs in once and reports the page that follows. With
--profile (or SEFTBOT_*_PROFILE) it signs in by the profile's steps and also
reports the file list or upload form. Each page is read once it has gone
quiet: repeated structures with a suggested row selector and one example row,
the cells that look like a file name or a size, download and paging
controls, iframes, fields (never a value) and the page's texts, with a
screenshot. A refused or unanswered sign-in latches the password as any
sign-in does. Probe exits 0 whenever it wrote a report, which says where it
stopped and why.

With --check FILE it signs in with that profile and walks the file list
without downloading, printing for every selector and text of the profile
whether it matched, how many elements, the first one's text and on which
page; it exits 0 when all matched and 11 otherwise. With --one it then
downloads the first listed file through the profile's download control, as
a download run would, into a private directory in the state directory, and
prints its name, size and sha256 before wiping it (never its content, and
nothing goes to staging or the manifest). A control that starts no
download fails that line (exit 11); a portal that keeps failing exits 6.
See docs/site-profile.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runProbe(cmd, o, args) },
	}
	cmd.Flags().StringVar(&o.site, "site", "", "site to probe: download or upload")
	cmd.Flags().StringVar(&o.out, "out", "", "report directory (default: STATE_DIR/probe-TIME)")
	cmd.Flags().StringVar(&o.check, "check", "", "check this site profile against the portal instead of reporting its pages")
	cmd.Flags().BoolVar(&o.one, "one", false, "with --check: also download the first listed file, report its size and sha256, and wipe it")
	o.browser.register(cmd)
	return cmd
}

func runProbe(cmd *cobra.Command, o *probeOptions, _ []string) error {
	if o.site != portal.SiteDownload && o.site != portal.SiteUpload {
		return usererr.Errorf("use --site download or --site upload", fmt.Sprintf("probe: unknown site %q", o.site))
	}
	if o.one && o.check == "" {
		return usererr.Errorf("give --check PROFILE with --one", "probe: --one downloads a file only as part of a profile check")
	}
	if o.check != "" {
		if o.browser.profile != "" {
			return usererr.Errorf("give the profile once, as --check FILE", "probe: --check and --profile both given")
		}
		return runCheck(cmd, o.globalOptions, &o.browser, o.site, o.check, o.one)
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
		out = layout.State{Dir: po.StateDir}.Probe(time.Now())
	}
	report, err := authoring.Probe(cmd.Context(), po, out)
	if report == "" {
		return err
	}
	// A report was written: it says where the probe stopped and why.
	fmt.Fprintf(o.stdout, "probe report: %s\n", report)
	if err != nil {
		fmt.Fprintf(o.stdout, "probe stopped early (see the report): %v\n", err)
	}
	return nil
}

// runCheck checks a site profile against the portal: exit 0 when every
// selector matched, 11 (profile mismatch) otherwise. With one it also
// downloads the first listed file (see portal.Options.CheckOne).
func runCheck(cmd *cobra.Command, g *globalOptions, bf *browserFlags, site, file string, one bool) error {
	if one && site != portal.SiteDownload {
		return usererr.Errorf("use --one with --site download", "probe: --one downloads a file, and only the download site lists files")
	}
	prof, err := portal.LoadProfile(file, site)
	if err != nil {
		return err
	}
	po, err := bf.options(g, site)
	if err != nil {
		return err
	}
	po.Profile = prof
	po.CheckOne = one
	if one {
		// The file is written (briefly) in the state directory, which the
		// nightly job sweeps under this lock.
		st, err := job.Open(po.StateDir)
		if err != nil {
			return err
		}
		unlock, err := st.Lock()
		if err != nil {
			return err
		}
		defer unlock()
	}
	fmt.Fprintf(g.stdout, "checking profile %s (%q) against the %s site\n", file, prof.Name, site)
	res, err := authoring.Check(cmd.Context(), po)
	res.Print(g.stdout)
	if err == nil {
		fmt.Fprintf(g.stdout, "all of the profile's selectors matched\n")
	}
	return err
}
