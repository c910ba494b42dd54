package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/portal"
)

// downloadOptions holds the flags of seftbot download.
type downloadOptions struct {
	*globalOptions
	out         string
	all         bool
	concurrency int
	browser     browserFlags
}

// browserFlags are the flags of every verb that drives Chromium.
type browserFlags struct {
	headful bool
	slowMo  time.Duration
	profile string
}

func (b *browserFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&b.headful, "headful", false, "show the browser window (needs a display)")
	f.DurationVar(&b.slowMo, "slow-mo", 0, "pause between browser steps, e.g. 500ms, to watch")
	f.StringVar(&b.profile, "profile", "", "site profile file (default: SEFTBOT_PROFILE, else built-in)")
}

// options resolves the portal options of site, flags first.
func (b *browserFlags) options(g *globalOptions, site string) (portal.Options, error) {
	b.setProfile(g, site)
	o, err := portal.OptionsFromSource(g.src, site)
	if err != nil {
		return o, err
	}
	b.apply(g, &o)
	return o, nil
}

// setProfile makes --profile the profile of site, before options are
// resolved: it wins over SEFTBOT_<SITE>_PROFILE and SEFTBOT_PROFILE.
func (b *browserFlags) setProfile(g *globalOptions, site string) {
	if b.profile != "" {
		g.src.Set("SEFTBOT_"+strings.ToUpper(site)+"_PROFILE", b.profile)
	}
}

// apply sets the browser flags on options resolved elsewhere.
func (b *browserFlags) apply(g *globalOptions, o *portal.Options) {
	o.Headful, o.SlowMo = b.headful, b.slowMo
	o.Debug, o.Log = g.debug, g.log
}

func newDownloadCmd(g *globalOptions) *cobra.Command {
	o := &downloadOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "download",
		Short: "Download new files from the SEFT download site",
		Long: `Signs in to the SEFT download site with the download account, walks every page
of the file list and clicks each file the manifest does not have yet. Each file
is checked against the listed and announced sizes and moved atomically into the
private staging directory; the manifest in the state directory records it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runDownload(cmd, o, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "staging directory for the files (default: SEFTBOT_STAGING_DIR)")
	f.BoolVar(&o.all, "all", false, "fetch every listed file again, even those fetched before (fetch sends delivered ones again only with --resend)")
	f.IntVar(&o.concurrency, "concurrency", 0, "browser tabs downloading at once (default: SEFTBOT_CONCURRENCY)")
	o.browser.register(cmd)
	return cmd
}

func runDownload(cmd *cobra.Command, o *downloadOptions, _ []string) error {
	if o.out != "" {
		o.src.Set("SEFTBOT_STAGING_DIR", o.out)
	}
	if cmd.Flags().Changed("concurrency") {
		o.src.Set("SEFTBOT_CONCURRENCY", strconv.Itoa(o.concurrency))
	}
	po, err := o.browser.options(o.globalOptions, portal.SiteDownload)
	if err != nil {
		return err
	}
	po.All = o.all
	// The manifest is shared with the nightly job: hold the state lock, so
	// a fetch never archives a half-finished manual download.
	st, err := job.Open(po.StateDir)
	if err != nil {
		return err
	}
	unlock, err := st.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	st.Sweep(o.log)
	m, finish := o.meter("downloading", true, 0)
	if m != nil {
		po.Progress = m.setFiles
	}
	res, err := portal.Download(cmd.Context(), po)
	finish()
	if res != nil {
		fmt.Fprintf(o.stdout, "new %d, skipped %d, failed %d, %s in %s\n",
			len(res.New), res.Skipped, len(res.Failed), humanBytes(res.Bytes), res.Duration.Round(10*time.Millisecond))
		o.log.Info("download finished", "new", len(res.New), "skipped", res.Skipped, "failed", len(res.Failed),
			"bytes", res.Bytes, "seconds", res.Duration.Seconds(), "staging", po.StagingDir)
	}
	return err
}

// humanBytes prints a byte count for people: 1.5 MB.
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %cB", v, "kMGT"[i-1])
}
