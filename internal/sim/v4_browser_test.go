package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// signInV4 signs in through the v1 form.
func signInV4(t *testing.T, ctx context.Context, s *Sim) {
	t.Helper()
	env := s.Env()
	step(t, ctx, "sign in", chromedp.Navigate(s.PortalURL()+"/download/login"),
		chromedp.SendKeys(css("#username"), env["SEFTBOT_DOWNLOAD_USER"]),
		chromedp.SendKeys(css("#password"), env["SEFTBOT_DOWNLOAD_PASSWORD"]+"\r"),
		chromedp.WaitVisible(css("#transfers")))
}

// expectDownload waits for the next finished download and checks it is f,
// byte-exact, under its own name.
func expectDownload(t *testing.T, downloads <-chan download, f File) {
	t.Helper()
	select {
	case d := <-downloads:
		b, err := os.ReadFile(d.path)
		sum := sha256.Sum256(b)
		if err != nil || !d.ok || d.name != f.Name || hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Fatalf("download: %+v, %d bytes (%v), want %q", d, len(b), err, f.Name)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the download of %s did not finish", f.Name)
	}
}

// The v4 site in a real browser: a header row and numbered page links; an
// interstitial in a new tab that starts the file after its delay, by meta
// refresh; a row prepared on request, with progress in the row, whose
// one-time link works once; an expired row with no control.
func TestV4InChromium(t *testing.T) {
	s := startSim(t, Options{Files: 6, PageSize: 4, Markup: "v4",
		V4: V4Options{InterstitialDelay: time.Second, PrepareEvery: 3, ExpiredEvery: 4, PrepareTime: 500 * time.Millisecond}})
	ctx, downloads := chromium(t, s, t.TempDir())
	signInV4(t, ctx, s)
	files := s.Files()
	if files[0].Size != files[1].Size || files[2].Size != files[3].Size || files[0].Size == files[2].Size {
		t.Fatalf("v4 twins: sizes %d %d %d %d", files[0].Size, files[1].Size, files[2].Size, files[3].Size)
	}
	row := func(i int) string { return `tr.transfer:nth-of-type(` + itoa(i+2) + `)` } // row 1 is the header
	step(t, ctx, "the list", count("tr.transfer", 4), count("#transfers th", 4),
		textIs(row(0)+" .name", files[0].Name), textIs(row(3)+" .status", "Expired"),
		textIs(".pages b", "1"), textIs(".pages a", "2"))
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+row(3)+` button, `+row(3)+` a').length`)); n != 0 {
		t.Fatalf("the expired row has %d controls", n)
	}

	// Interstitial: a new tab that starts the file a second later.
	began := time.Now()
	step(t, ctx, "Download row 1", chromedp.Click(css(row(0)+" button.download")))
	expectDownload(t, downloads, files[0])
	if d := time.Since(began); d < time.Second {
		t.Fatalf("the interstitial started the file after %s, before its 1s delay", d)
	}

	// Prepare: Request, progress in the row, then a link that works once.
	step(t, ctx, "Request row 3", chromedp.Click(css(row(2)+" button.request")),
		chromedp.WaitVisible(css(row(2)+" progress")),
		chromedp.WaitVisible(css(row(2)+" a.fetch")), textIs(row(2)+" .status", "Ready"))
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+row(2)+` a.fetch').href`))
	if err != nil || !strings.HasSuffix(href, "/"+files[2].Name) {
		t.Fatalf("prepared link %q (%v): its last segment must be the file's name", href, err)
	}
	step(t, ctx, "the prepared link", chromedp.Click(css(row(2)+" a.fetch")))
	expectDownload(t, downloads, files[2])
	step(t, ctx, "the spent link", chromedp.Navigate(href), textIs("p.message", "This link has expired."))

	step(t, ctx, "the list again", chromedp.Navigate(s.PortalURL()+"/download/files"))
	next, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('.pages b + a').href`))
	if err != nil || !strings.HasSuffix(next, "/download/files?page=2") {
		t.Fatalf("the link after the current page: %q (%v)", next, err)
	}
	step(t, ctx, "page 2 by its number", chromedp.Navigate(next), count("tr.transfer", 2), textIs(".pages b", "2"))
	v := s.State().V4
	if v == nil || v.Interstitials != 1 || v.Prepares != 1 || v.LinksSpent != 1 || v.LinksRefused != 1 ||
		strings.Join(v.Expired, ",") != files[3].Name || strings.Join(v.Prepare, ",") != files[2].Name+","+files[5].Name {
		t.Fatalf("v4 state: %+v", v)
	}
	if got := s.State().Downloads; got != 2 {
		t.Fatalf("downloads whole: %d, want 2", got)
	}
}

// A delay shorter than a second is a script timer on the interstitial; the
// swap fault gives row 1 the link of row 2, whose file has the same size.
func TestV4SwapAndShortDelayInChromium(t *testing.T) {
	s := startSim(t, Options{Files: 2, Markup: "v4", V4: V4Options{InterstitialDelay: 200 * time.Millisecond, SwapTwins: 1}})
	ctx, downloads := chromium(t, s, t.TempDir())
	signInV4(t, ctx, s)
	files := s.Files()
	step(t, ctx, "Download row 1 (swapped)", chromedp.Click(css(`tr.transfer:nth-of-type(2) button.download`)))
	expectDownload(t, downloads, files[1])
	step(t, ctx, "list again, no longer swapped", chromedp.Navigate(s.PortalURL()+"/download/files"),
		chromedp.Click(css(`tr.transfer:nth-of-type(2) button.download`)))
	expectDownload(t, downloads, files[0])
	if v := s.State().V4; v.Swapped != 1 || v.SwappedSpent != 1 || v.SwapsLeft != 0 {
		t.Fatalf("v4 state: %+v", v)
	}
}

// A prepared link expires after its lifetime; a second Request of the same
// listing is refused; options that need markup v4 are refused elsewhere.
func TestV4LinkLifetimeAndOptions(t *testing.T) {
	if _, err := Start(t.Context(), Options{Dir: t.TempDir(), V4: V4Options{PrepareEvery: 2}}); err == nil || !strings.Contains(err.Error(), "only apply to markup v4") {
		t.Fatalf("v4 options with v1: %v", err)
	}
	s := startSim(t, Options{Files: 1, Markup: "v4", V4: V4Options{PrepareEvery: 1, PrepareTime: time.Millisecond, LinkLifetime: 500 * time.Millisecond}})
	ctx, _ := chromium(t, s, t.TempDir())
	signInV4(t, ctx, s)
	step(t, ctx, "Request", chromedp.Click(css("button.request")), chromedp.WaitVisible(css("a.fetch")))
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('a.fetch').href`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdvanceClock(time.Second); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "the expired link", chromedp.Navigate(href), textIs("p.message", "This link has expired."))
	if v := s.State().V4; v.LinksSpent != 0 || v.LinksRefused != 1 || s.State().Downloads != 0 {
		t.Fatalf("v4 state: %+v", v)
	}
}
