package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/authoring"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/usererr"
)

// recordOptions holds the flags of seftbot record.
type recordOptions struct {
	*globalOptions
	site    string
	out     string
	browser browserFlags
}

func newRecordCmd(g *globalOptions) *cobra.Command {
	o := &recordOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "record --site download|upload --out PROFILE",
		Short: "Write a site profile by watching you use the portal in a browser window",
		Long: `Opens a visible Chromium at the site's URL. Sign in, click through any notice,
then on the download site download one file and go to the next page or load
more; on the upload site choose one file and send it. seftbot watches each
fill, click and Enter and drafts a site profile from them, in the order you
acted: several locators per step (label, role and name, text, id, CSS), the
row structure of the file list from the download you clicked, and how the list
pages. What you type into the user name and password fields is never recorded
or logged: it becomes {user} and {password}. The browser never offers to save
or fill in a password.

Close the window or press Enter here when done. The profile is written (0600)
to --out and checked at once, as seftbot probe --check does: exit 0 when every
selector matched, 11 otherwise. If the portal refuses the draft's sign-in (exit 5)
or gives no answer it recognises (12), the step that sent the password is named
and the site is latched as on any run: read the draft's steps before lifting it.
See docs/site-profile.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runRecord(cmd, o) },
	}
	cmd.Flags().StringVar(&o.site, "site", "", "site to record: download or upload")
	cmd.Flags().StringVar(&o.out, "out", "", "profile file to write (must not exist)")
	o.browser.register(cmd)
	return cmd
}

func runRecord(cmd *cobra.Command, o *recordOptions) error {
	if o.site != portal.SiteDownload && o.site != portal.SiteUpload {
		return usererr.Errorf("use --site download or --site upload", fmt.Sprintf("record: unknown site %q", o.site))
	}
	if o.out == "" {
		return usererr.Errorf("give --out FILE, e.g. --out download-profile.json", "record: nowhere to write the profile")
	}
	if _, err := os.Stat(o.out); err == nil {
		return usererr.Errorf("choose another --out, or move the old profile away", "record: "+o.out+" exists; not overwriting it")
	}
	if st, err := os.Stat(filepath.Dir(o.out)); err != nil || !st.IsDir() {
		return usererr.Errorf("create the directory first", "record: no directory for "+o.out)
	}
	o.browser.headful = true // the operator uses the window
	po, err := o.browser.options(o.globalOptions, o.site)
	if err != nil {
		return err
	}
	po.Profile = nil
	rec, err := authoring.StartRecord(cmd.Context(), po)
	if err != nil {
		return err
	}
	if o.recording != nil {
		o.recording(rec)
	}
	if o.site == portal.SiteUpload {
		fmt.Fprintf(o.stdout, "Recording. In the browser window: sign in, pass any notice, choose one file and send it, and wait until the portal says it was received.\n")
	} else {
		fmt.Fprintf(o.stdout, "Recording. In the browser window: sign in, pass any notice, download one file, then show the next page or more files.\n")
	}
	fmt.Fprintf(o.stdout, "Typing the password and pressing Enter is fine; so is clicking the button.\n")
	fmt.Fprintf(o.stdout, "Then close the window or press Enter here.\n")
	enter := make(chan struct{})
	go func() {
		_, _ = bufio.NewReader(o.stdin).ReadString('\n')
		close(enter)
	}()
	select {
	case <-enter:
	case <-rec.Done():
	case <-cmd.Context().Done():
	}
	p, notes, err := rec.Stop()
	for _, n := range notes {
		fmt.Fprintf(o.stdout, "note: %s\n", n)
	}
	if err != nil && p == nil {
		return err
	}
	if p != nil {
		if werr := authoring.WriteProfile(o.out, p); werr != nil {
			return werr
		}
		fmt.Fprintf(o.stdout, "profile written: %s\n", o.out)
	}
	if err != nil {
		return usererr.New(err, "the draft was written anyway: complete it by hand (see the notes above and docs/site-profile.md)")
	}
	if cmd.Context().Err() != nil {
		return errors.New("record: interrupted before the check")
	}
	fmt.Fprintf(o.stdout, "checking it (no window):\n")
	o.browser.headful = false
	return draftError(runCheck(cmd, o.globalOptions, &o.browser, o.site, o.out, false), p, o.out, o.site)
}

// draftError says, when the check's sign-in with the draft was refused or
// got no answer the draft knows, that it is the draft's doing and which
// step sent the password. The latch the check set stays: the portal may
// have counted a failure, whoever is to blame.
func draftError(err error, p *portal.Profile, out, site string) error {
	k := portal.LatchedNow(err)
	if k != portal.LatchRefused && k != portal.LatchUnknown {
		return err
	}
	what := "the portal refused the draft's sign-in"
	if k == portal.LatchUnknown {
		what = "the draft's sign-in got no answer the draft recognises"
	}
	return usererr.New(fmt.Errorf("record: %s; it sent the password at %s: %w", what, p.SendingStep(), err),
		fmt.Sprintf("read the draft's login.steps in %s (the {password} fill must come before the step that sends it, and nothing before may send the form) and fix them; check the account by hand, and only then run: seftbot login-latch lift --site %s", out, site))
}
