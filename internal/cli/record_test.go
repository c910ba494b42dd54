package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/isaric/seftbot/internal/authoring"
	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/testtool"
	"github.com/isaric/seftbot/internal/usererr"
)

// TestRecordCommandVisibleWindow runs `seftbot record` as the operator
// would: a visible Chromium on a display (Xvfb), driven with real input
// events, signing in by typing the password and pressing Enter, the
// session ended by closing the window (v1) or by Enter in the terminal
// (v3, upload). The command prints its site's instructions, writes the
// profile 0600, checks it at once against the portal (a second sign-in)
// and exits 0. Each sign-in sends the password once and seftsim refuses
// none; the v3 draft signs in the same way on three later runs.
func TestRecordCommandVisibleWindow(t *testing.T) {
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatal("chromium not installed (apt-get install chromium)")
	}
	testtool.Xvfb(t)
	for _, c := range []struct{ markup, site, end string }{
		{"v1", portal.SiteDownload, "close"}, {"v3", portal.SiteDownload, "enter"}, {"v1", portal.SiteUpload, "enter"},
	} {
		t.Run(c.markup+"-"+c.site+"-"+c.end, func(t *testing.T) {
			var logs testtool.Buffer
			s, err := sim.Start(context.Background(), sim.Options{Dir: t.TempDir(), Files: 7, PageSize: 3, FileSize: 8 << 10, Markup: c.markup,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				s.Close()
				if t.Failed() {
					t.Logf("seftsim's log:\n%s", logs.String())
				}
			})
			env := s.Env()
			key := "SEFTBOT_" + strings.ToUpper(c.site) + "_"
			user, pass := env[key+"USER"], env[key+"PASSWORD"]
			out := filepath.Join(t.TempDir(), c.site+"-profile.json")
			// Chromium's profile goes under a TMPDIR of this test's own, so
			// the browsers found there are this run's and nobody else's.
			// A short path: Chromium's socket under it must fit in 108 bytes.
			tmp, err := os.MkdirTemp("", "rec")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(tmp) })
			t.Setenv("TMPDIR", tmp)
			file := filepath.Join(t.TempDir(), "NIC-402963-P0Y5D.csv")
			if err := os.WriteFile(file, []byte("x\r\n"), 0o600); err != nil {
				t.Fatal(err)
			}

			recs := make(chan *authoring.Recorder, 1)
			stdin, enter := io.Pipe()
			t.Cleanup(func() { enter.Close() })
			var stdout, stderr bytes.Buffer
			code := make(chan int, 1)
			go func() {
				g := &globalOptions{stdin: stdin, stdout: &stdout, stderr: &stderr, recording: func(r *authoring.Recorder) { recs <- r }}
				code <- runWith(context.Background(), g, []string{"--env-file", s.EnvFile(), "record", "--site", c.site, "--out", out})
			}()
			var rec *authoring.Recorder
			select {
			case rec = <-recs:
			case n := <-code:
				t.Fatalf("record exited %d before a window opened\n%s\n%s", n, stdout.String(), stderr.String())
			case <-time.After(60 * time.Second):
				t.Fatal("no recording window within 60s")
			}
			if headful := visibleBrowser(t, tmp); !headful {
				t.Error("record's browser is headless; the operator needs a window")
			}
			passwordManagerOff(t, tmp)
			op := testtool.Operator{T: t, Ctx: rec.Context()}
			switch c.markup + c.site {
			case "v1download":
				op.TypeInto("#username", user)
				op.TypeInto("#password", pass)
				op.Press("\r")
				op.Click("#files tr.file-row .download")
				op.Click("a.next")
				op.Wait("a.prev") // page 2 is shown
			case "v3download":
				op.TypeInto("#account-name", user)
				op.Click("#next-step")
				op.TypeInto("#passphrase", pass)
				op.Press("\r")
				op.Click("#notice-read")
				op.Click("#proceed")
				op.Click("#parcels .parcel .collect")
				op.Click("#show-more")
				op.Wait("#parcels .parcel:nth-child(4)") // more rows arrived
			case "v1upload":
				op.TypeInto("#username", user)
				op.TypeInto("#password", pass)
				op.Press("\r")
				op.Wait("#file")
				if _, err := chromedp.Run(op.Ctx, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{file})); err != nil {
					t.Fatal(err)
				}
				op.Click("#upload")
				op.Wait("#received")
			}
			switch c.end {
			case "close":
				if err := chromedp.Do(op.Ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := cdp.Call(ctx, tg, page.Close, cdp.Empty{})
					return err
				})); err != nil {
					t.Fatal(err)
				}
			case "enter":
				if _, err := io.WriteString(enter, "\n"); err != nil {
					t.Fatal(err)
				}
			}
			var n int
			select {
			case n = <-code:
			case <-time.After(120 * time.Second):
				t.Fatal("record did not finish within 120s of the session's end")
			}
			o, e := stdout.String(), stderr.String()
			if n != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", n, o, e)
			}
			st, err := os.Stat(out)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("profile %s: %v %v, want mode 0600", out, st, err)
			}
			raw, _ := os.ReadFile(out)
			if strings.Contains(string(raw), pass) || strings.Contains(o+e, pass) {
				t.Fatal("the password reached the profile or the output")
			}
			wants := []string{"profile written: " + out, "checking it (no window):", "all of the profile's selectors matched", "pressing Enter is fine"}
			said, notSaid := "download one file", "choose one file and send it"
			if c.site == portal.SiteUpload {
				wants = append(wants, "ok    upload.steps[0]")
				said, notSaid = notSaid, said
			} else {
				wants = append(wants, "ok    files.download")
			}
			for _, w := range append(wants, said) {
				if !strings.Contains(o, w) {
					t.Errorf("stdout lacks %q:\n%s", w, o)
				}
			}
			if strings.Contains(o, notSaid) {
				t.Errorf("record --site %s gave the other site's instructions:\n%s", c.site, o)
			}
			// Enter in the password field comes after its fill.
			if p, err := portal.LoadProfile(out, c.site); err != nil {
				t.Errorf("the draft does not load: %v", err)
			} else if !strings.Contains(p.SendingStep(), "(press Enter in") {
				t.Errorf("the draft sends the password at %s; want the Enter", p.SendingStep())
			}
			if pids := portal.BrowserProcesses(tmp); len(pids) != 0 {
				t.Errorf("browser processes left: %v", pids)
			}
			// The check signed in on its own: the operator's password POST,
			// then the check's; nothing refused.
			acct := func() sim.AccountState { return s.State().Accounts[c.site] }
			if a := acct(); a.PasswordPosts != 2 || a.Logins != 2 || a.FailedLogins != 0 {
				t.Errorf("%d password POSTs, %d sign-ins, %d failed; want 2, 2, 0 (the operator's, then the check's)", a.PasswordPosts, a.Logins, a.FailedLogins)
			}
			if c.markup == "v3" {
				for i := 1; i <= 3; i++ {
					var so, se bytes.Buffer
					if n := run(context.Background(), []string{"--env-file", s.EnvFile(), "probe", "--site", c.site, "--check", out}, strings.NewReader(""), &so, &se); n != 0 {
						t.Fatalf("later run %d: exit %d\n%s\n%s", i, n, so.String(), se.String())
					}
					if a := acct(); a.PasswordPosts != 2+i || a.Logins != 2+i || a.FailedLogins != 0 {
						t.Fatalf("after later run %d: %d password POSTs, %d sign-ins, %d failed; want %d, %d, 0", i, a.PasswordPosts, a.Logins, a.FailedLogins, 2+i, 2+i)
					}
				}
			}
			if l := logs.String(); strings.Contains(l, "refused") || !strings.Contains(l, "login") {
				t.Errorf("seftsim's log has a refusal, or no sign-in at all:\n%s", l)
			}
		})
	}
}

// visibleBrowser says whether the Chromium processes of this test run
// with a window: at least one browser, none headless.
func visibleBrowser(t *testing.T, tmp string) bool {
	t.Helper()
	pids := portal.BrowserProcesses(tmp)
	if len(pids) == 0 {
		t.Errorf("no browser process found under %s", tmp)
		return false
	}
	for _, pid := range pids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(b), "--headless") || strings.Contains(string(b), "headless-shell") {
			return false
		}
	}
	return true
}

// TestRecordDraftRefused: when record's check of the draft is refused,
// the error says the draft was refused and names the step that sent the
// password and the fill before it; the hint says to read the draft's
// steps before lifting the latch; the latch stays and the exit code is
// still the refusal's. The refusal is real: Chromium, seftsim, a draft
// that types the user name over the password.
func TestRecordDraftRefused(t *testing.T) {
	s, err := sim.Start(context.Background(), sim.Options{Dir: t.TempDir(), Files: 2, FileSize: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	src, err := config.Load(s.EnvFile(), true, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	o, err := portal.OptionsFromSource(src, portal.SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	o.StagingDir = filepath.Join(s.Dir(), "staging")
	p := portal.DefaultProfile()
	p.Login.Steps = append(p.Login.Steps[:2:2], portal.Step{Fill: portal.Sel{"#password"}, With: "{user}"}, p.Login.Steps[2])
	o.Profile = p
	_, cerr := authoring.Check(context.Background(), o)
	err = draftError(cerr, p, "draft.json", portal.SiteDownload)
	msg, hint := err.Error(), usererr.Hint(err)
	t.Logf("%s\nhint: %s", msg, hint)
	for _, w := range []string{"record: the portal refused the draft's sign-in", "it sent the password at login.steps[3] (click", "after login.steps[1] (fill label=Password with {password})"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q: %s", w, msg)
		}
	}
	for _, w := range []string{"read the draft's login.steps in draft.json", "only then run: seftbot login-latch lift --site download"} {
		if !strings.Contains(hint, w) {
			t.Errorf("hint lacks %q: %s", w, hint)
		}
	}
	if c := exitCode(err); c != ExitLogin {
		t.Errorf("exit %d, want %d (a refusal)", c, ExitLogin)
	}
	if l, _ := portal.ReadLatch(o.StateDir, portal.SiteDownload); l == nil {
		t.Error("the draft's refusal set no latch")
	}
	// Any other error is left as it is.
	if other := errors.New("x"); draftError(other, p, "draft.json", portal.SiteDownload) != other {
		t.Error("an error that is not a refusal was rewritten")
	}
}

// passwordManagerOff fails unless the browsers under tmp were told, in
// their profile's Preferences, that the password manager and autofill
// are off: the operator's window offers to save no password.
func passwordManagerOff(t *testing.T, tmp string) {
	t.Helper()
	testtool.PasswordManagerOff(t, portal.BrowserProcesses(tmp))
}
