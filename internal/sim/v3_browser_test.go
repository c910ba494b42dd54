package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// chromium starts a headless Chromium that trusts exactly seftsim's key and
// saves downloads by GUID into dir; it reports each finished download on
// the channel.
func chromium(t *testing.T, s *Sim, dir string, extra ...chromedp.ExecAllocatorOption) (context.Context, <-chan download) {
	t.Helper()
	exe := ""
	for _, p := range []string{"/usr/lib/chromium/chromium-headless-shell", "/usr/bin/chromium"} {
		if _, err := os.Stat(p); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		t.Fatal("no Chromium: install it with scripts/install-deps.sh")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Flag("no-sandbox", os.Geteuid() == 0),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", s.SPKIPin()),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
	)
	opts = append(opts, extra...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var mu sync.Mutex
	names := map[string]string{}
	done := make(chan download, 16)
	chromedp.ListenBrowser(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *browser.EventDownloadWillBegin:
			names[ev.GUID] = ev.SuggestedFilename
		case *browser.EventDownloadProgress:
			if ev.State == browser.DownloadProgressStateCompleted || ev.State == browser.DownloadProgressStateCanceled {
				done <- download{names[ev.GUID], filepath.Join(dir, ev.GUID), ev.State == browser.DownloadProgressStateCompleted}
			}
		}
	})
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true),
	}); err != nil {
		t.Fatal(err)
	}
	return ctx, done
}

// download is a finished (or failed) browser download: the name the page
// suggested and where Chromium saved it.
type download struct {
	name, path string
	ok         bool
}

// step runs actions with a deadline, so a missing element fails the test
// instead of hanging it.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.outerHTML`))
		t.Fatalf("%s: %v\npage: %s", what, err, html)
	}
}

// The v3 site in a real browser: both login steps typed with real key
// events, a refusal in place, the notice, rows drawn late, Show more, both
// download routes byte-exact under the full name, and the expiry dialog.
func TestV3InChromium(t *testing.T) {
	s := startSim(t, Options{Files: 5, PageSize: 2, Markup: "v3"})
	dir := t.TempDir()
	ctx, downloads := chromium(t, s, dir)
	env := s.Env()
	user, pass := env["SEFTBOT_DOWNLOAD_USER"], env["SEFTBOT_DOWNLOAD_PASSWORD"]
	step(t, ctx, "sign-in, step 1", chromedp.Navigate(s.PortalURL()+"/download/"),
		chromedp.WaitVisible(css("#account-name")),
		chromedp.SendKeys(css("#account-name"), user),
		chromedp.Click(css("#next-step")),
		chromedp.WaitVisible(css("#passphrase")),
		textIs("#who-name", user))
	step(t, ctx, "a wrong passphrase", chromedp.SendKeys(css("#passphrase"), pass+"x"),
		chromedp.Click(css("#enter")),
		textIs("#signin-problem", "Those details do not match our records."))
	if a := s.State().Accounts[siteDownload]; a.PasswordPosts != 1 || a.FailedLogins != 1 {
		t.Fatalf("after one refusal in the browser: %+v", a)
	}
	step(t, ctx, "the right passphrase and the notice", chromedp.SendKeys(css("#passphrase"), pass+"\r"),
		chromedp.WaitVisible(css("#notice-read")))
	if dis, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#proceed').disabled`)); !dis {
		t.Fatal("Proceed is enabled before the box is ticked")
	}
	step(t, ctx, "Proceed", chromedp.Click(css("#notice-read")), chromedp.WaitEnabled(css("#proceed")),
		chromedp.Click(css("#proceed")), count(".parcel", 2))

	files := s.Files()
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`[...document.querySelectorAll('#parcels .parcel')].map(r =>
		[r.dataset.file, r.dataset.route, r.querySelector('.parcel-label').textContent, r.querySelector('.parcel-weight').textContent])`))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if r[0] != files[i].Name || r[1] != map[bool]string{true: "form", false: "blob"}[i%2 == 0] || r[2] != string([]rune(files[i].Name)[:18])+"…" || !strings.HasSuffix(r[3], " KB") && !strings.HasSuffix(r[3], " MB") {
			t.Fatalf("row %d: %q", i, r)
		}
	}
	step(t, ctx, "Show more", chromedp.Click(css("#show-more")), count(".parcel", 4),
		chromedp.Click(css("#show-more")), count(".parcel", 5), chromedp.WaitNotPresent(css("#show-more")))

	// Row 1 takes route (a), row 2 route (b): both save the full name, byte-exact.
	for i := range 2 {
		step(t, ctx, "Collect "+itoa(i+1), chromedp.Click(css(`.parcel[data-file="`+files[i].Name+`"] .collect`)))
		select {
		case d := <-downloads:
			b, err := os.ReadFile(d.path)
			sum := sha256.Sum256(b)
			if err != nil || !d.ok || d.name != files[i].Name || hex.EncodeToString(sum[:]) != files[i].SHA256 {
				t.Fatalf("download %d: %+v, %d bytes (%v), want %q", i+1, d, len(b), err, files[i].Name)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("download %d did not finish", i+1)
		}
	}
	// A spent link is shown in place.
	step(t, ctx, "a spent link", chromedp.Click(css(`.parcel[data-file="`+files[1].Name+`"] .collect`)),
		textIs(`.parcel[data-file="`+files[1].Name+`"] .parcel-note`, "This link is no longer available"))

	// An expired session is a dialog on the page.
	if _, err := s.AdvanceClock(DefaultSessionIdle + time.Minute); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "the expiry dialog", chromedp.Click(css(`.parcel[data-file="`+files[2].Name+`"] .collect`)),
		textIs(`[role=dialog] h2`, "You have been signed out"),
		chromedp.Click(css("#return-to-sign-in")), chromedp.WaitVisible(css("#account-name")))
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

// textIs waits until sel is shown with exactly the text want.
func textIs(sel, want string) chromedp.Action[chromedp.Void] {
	return poll(`(() => { const e = document.querySelector(` + jsString(sel) +
		`); return !!e && !e.hidden && e.textContent === ` + jsString(want) + ` })()`)
}

// count waits until exactly n elements match sel.
func count(sel string, n int) chromedp.Action[chromedp.Void] {
	return poll(`document.querySelectorAll(` + jsString(sel) + `).length === ` + itoa(n))
}

func poll(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr))
		return err
	})
}

// signInV3 signs in through both steps and passes the notice.
func signInV3(t *testing.T, ctx context.Context, s *Sim, site string) {
	t.Helper()
	key := map[string]string{siteDownload: "SEFTBOT_DOWNLOAD_", siteUpload: "SEFTBOT_UPLOAD_"}[site]
	env := s.Env()
	step(t, ctx, "sign in", chromedp.Navigate(s.PortalURL()+"/"+site+"/"),
		chromedp.SendKeys(css("#account-name"), env[key+"USER"]+"\r"),
		chromedp.SendKeys(css("#passphrase"), env[key+"PASSWORD"]+"\r"),
		chromedp.Click(css("#notice-read")), chromedp.Click(css("#proceed")))
}

// In-place paging redraws the rows; the list's own empty text.
func TestV3InChromiumInPlaceAndEmpty(t *testing.T) {
	s := startSim(t, Options{Files: 3, PageSize: 2, Markup: "v3", Paging: PagingInPlace})
	ctx, _ := chromium(t, s, t.TempDir())
	signInV3(t, ctx, s, siteDownload)
	files := s.Files()
	first := `.parcel[data-file="` + files[0].Name + `"]`
	step(t, ctx, "page 1", count(".parcel", 2), chromedp.WaitVisible(css(first)),
		textIs("#page-where", "Page 1 of 2"), chromedp.WaitEnabled(css("#page-older")))
	if dis, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#page-newer').disabled`)); !dis {
		t.Fatal("Newer is enabled on page 1")
	}
	step(t, ctx, "Older", chromedp.Click(css("#page-older")), count(".parcel", 1),
		chromedp.WaitVisible(css(`.parcel[data-file="`+files[2].Name+`"]`)), textIs("#page-where", "Page 2 of 2"))
	if dis, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#page-older').disabled`)); !dis {
		t.Fatal("Older is enabled on the last page")
	}
	step(t, ctx, "Newer", chromedp.Click(css("#page-newer")), chromedp.WaitVisible(css(first)), count(".parcel", 2))

	if _, err := s.AdvanceClock(DefaultRetention + time.Minute); err != nil {
		t.Fatal(err)
	}
	signInV3(t, ctx, s, siteDownload)
	step(t, ctx, "empty list", textIs("#nothing", "Nothing to collect right now."), count(".parcel", 0))
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}

// The upload site: a hidden file input behind a button, Send by fetch, the
// receipt in place, and the same rules as v1.
func TestV3UploadInChromium(t *testing.T) {
	s := startSim(t, Options{Markup: "v3"})
	toNoon(t, s)
	ctx, _ := chromium(t, s, t.TempDir())
	signInV3(t, ctx, s, siteUpload)
	f := filepath.Join(t.TempDir(), DefaultProjectID+".csv")
	if err := os.WriteFile(f, cohortFile(t, s, "ADD", "9990000042"), 0o600); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "the upload view", chromedp.WaitVisible(css("#choose-file")))
	if dis, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#send-file').disabled`)); !dis {
		t.Fatal("Send is enabled before a file is chosen")
	}
	step(t, ctx, "choose and send", chromedp.SetUploadFiles(css("#cohort-file"), []string{f}),
		textIs("#chosen-name", DefaultProjectID+".csv"), chromedp.WaitEnabled(css("#send-file")),
		chromedp.Click(css("#send-file")), textIs("#send-done", "Upload received"))
	u := s.Uploads()
	if len(u) != 1 || u[0].Verdict != Accepted || u[0].Name != DefaultProjectID+".csv" {
		t.Fatalf("uploads: %+v", u)
	}
}

// Faults in place: a 500 on the ticket and a body cut off on the blob route
// both say "Service temporarily unavailable" in the row; a cut-off form
// download fails in the browser.
func TestV3FaultsInChromium(t *testing.T) {
	s := startSim(t, Options{Files: 3, Markup: "v3", FileSize: 200_000})
	ctx, downloads := chromium(t, s, t.TempDir())
	signInV3(t, ctx, s, siteDownload)
	files := s.Files()
	row := func(i int) string { return `.parcel[data-file="` + files[i].Name + `"]` }
	step(t, ctx, "rows", count(".parcel", 3))
	if err := s.SetFaults(Faults{ErrorRate: 1}); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "a 500 on the ticket", chromedp.Click(css(row(0)+" .collect")),
		textIs(row(0)+" .parcel-note", "Service temporarily unavailable"))
	if err := s.SetFaults(Faults{TruncateRate: 1}); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "a cut-off blob", chromedp.Click(css(row(1)+" .collect")),
		textIs(row(1)+" .parcel-note", "Service temporarily unavailable"))
	step(t, ctx, "a cut-off form download", chromedp.Click(css(row(2)+" .collect")))
	select {
	case d := <-downloads:
		if d.ok || d.name != files[2].Name {
			t.Fatalf("a truncated download: %+v", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the cut-off download neither finished nor failed")
	}
}
