package portal

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/sim"
)

func v4Options(t *testing.T, s *sim.Sim) Options {
	t.Helper()
	p, err := LoadProfile("testdata/profile-v4.json", SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	o := simOptions(t, s, SiteDownload)
	o.Profile = p
	return o
}

// TestInterstitialDownload: every Download opens a new tab that says the
// download will start shortly and starts it 2 s later by a meta refresh.
// The page is watched, not taken for a failure: every file arrives
// byte-exact, through numbered page links, with one sign-in.
func TestInterstitialDownload(t *testing.T) {
	s := startSim(t, sim.Options{Files: 7, PageSize: 4, Markup: "v4"})
	o := v4Options(t, s)
	o.Concurrency = 2
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if n := checkStaging(t, s, o); n != 7 || len(res.New) != 7 {
		t.Fatalf("staging %d, new %d; want 7", n, len(res.New))
	}
	st := s.State()
	if a := st.Accounts["download"]; a.Logins != 1 || a.PasswordPosts != 1 {
		t.Errorf("%d sign-ins, %d password POSTs; want 1 and 1", a.Logins, a.PasswordPosts)
	}
	if st.V4.Interstitials != 7 || st.Downloads != 7 {
		t.Errorf("%d interstitial pages, %d downloads; want 7 and 7", st.V4.Interstitials, st.Downloads)
	}
	checkNoLeaks(t)
}

// TestInterstitialSteps: a page that would start the file only after a
// long wait has a "start it now" link; files.interstitial clicks it, well
// inside files.download_start_timeout.
func TestInterstitialSteps(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2, Markup: "v4", V4: sim.V4Options{InterstitialDelay: 50 * time.Second}})
	o := v4Options(t, s)
	o.Profile.Files.DownloadStartTimeout = Duration(20 * time.Second)
	o.Profile.Files.Interstitial = []Step{{Click: Sel{"text=start it now"}}}
	start := time.Now()
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.New) != 2 || checkStaging(t, s, o) != 2 {
		t.Fatalf("fetched %d; want 2", len(res.New))
	}
	if d := time.Since(start); d > 40*time.Second {
		t.Errorf("took %s: the meta refresh, not the step, started the files", d)
	}
}

// TestInterstitialTimesOut: when nothing begins within
// files.download_start_timeout, the page is "a page, not a download" and
// the file fails after its attempts; the run exits as a portal failure.
func TestInterstitialTimesOut(t *testing.T) {
	s := startSim(t, sim.Options{Files: 1, Markup: "v4", V4: sim.V4Options{InterstitialDelay: 30 * time.Second}})
	o := v4Options(t, s)
	o.Profile.Files.DownloadStartTimeout = Duration(500 * time.Millisecond)
	o.Retries = 2
	var logs bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := Download(context.Background(), o)
	if err == nil || len(res.New) != 0 || len(res.Failed) != 1 {
		t.Fatalf("err %v, new %d, failed %v; want a failure of the one file", err, len(res.New), res.Failed)
	}
	if !strings.Contains(logs.String(), "click gave a page, not a download") {
		t.Errorf("log does not say the click gave a page:\n%s", logs.String())
	}
	if st := s.State(); st.V4.Interstitials != 2 || st.Downloads != 0 {
		t.Errorf("%d interstitials, %d downloads; want 2 and 0", st.V4.Interstitials, st.Downloads)
	}
}

// TestNameCheckSwappedTwins: the portal gives row 1 the link of row 2 and
// row 2 the link of row 1; both files have the same size, so only the name
// tells. Each download is refused as a mix-up and its row retried: both
// files arrive byte-exact under their own names.
func TestNameCheckSwappedTwins(t *testing.T) {
	s := startSim(t, sim.Options{Files: 4, Markup: "v4", V4: sim.V4Options{InterstitialDelay: 100 * time.Millisecond, SwapTwins: 2}})
	files := s.Files()
	if files[0].Size != files[1].Size {
		t.Fatalf("twins of sizes %d and %d", files[0].Size, files[1].Size)
	}
	o := v4Options(t, s)
	var logs bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	if n := checkStaging(t, s, o); n != 4 || len(res.New) != 4 {
		t.Fatalf("staging %d, new %d; want 4", n, len(res.New))
	}
	if v := s.State().V4; v.SwappedSpent != 2 || strings.Count(logs.String(), "download mix-up") != 2 {
		t.Errorf("%d swapped links used; want 2, each refused as a mix-up; log:\n%s", v.SwappedSpent, logs.String())
	}
}

// TestNameCheckOff: files.name_check false takes a renamed download for
// its row, and logs each pair it accepted that way.
func TestNameCheckOff(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2, Markup: "v4", V4: sim.V4Options{InterstitialDelay: 100 * time.Millisecond, SwapTwins: 1}})
	files := s.Files()
	o := v4Options(t, s)
	o.Profile.Files.NameCheck = new(false)
	o.Concurrency = 1
	var logs bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if _, err := Download(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	l := logs.String()
	for _, pair := range [][2]string{{files[0].Name, files[1].Name}, {files[1].Name, files[0].Name}} {
		if !strings.Contains(l, `row="\"`+pair[0]+`\"" download="\"`+pair[1]+`\""`) {
			t.Errorf("no log of the accepted pair %s <- %s:\n%s", pair[0], pair[1], l)
		}
	}
}

func TestSameFileName(t *testing.T) {
	long := strings.Repeat("n", 290) + ".csv"
	for _, c := range []struct {
		row, suggested string
		same           bool
	}{
		{"NIC-1_HES_APC_001.csv", "NIC-1_HES_APC_001.csv", true},
		{"../x.csv", "_.._x.csv", true},
		{"a/b.csv", "a_b.csv", true},
		{"ctrl\abell\ttab\x1bname.csv", "ctrl_bell_tab_name.csv", true},
		{"données_é.csv", "donne\u0301es_e\u0301.csv", true},
		{long, strings.Repeat("n", 251) + ".csv", true},
		{"NIC-1_HES_APC_001.csv", "NIC-1_HES_OP_002.csv", false},
		{"NIC-1_HES_APC_001.csv", "", false},
		{"NIC-1_HES_APC_001.csv", "download", false},
		{long, strings.Repeat("n", 251) + ".txt", false},
		{"short.csv", "sho.csv", false},
	} {
		if got := sameFileName(c.row, c.suggested); got != c.same {
			t.Errorf("sameFileName(%q, %q) = %v, want %v", c.row, c.suggested, got, c.same)
		}
	}
}

// TestUnavailableRows: rows the portal lists as expired, with no control,
// are marked by files.unavailable: never clicked, not failures, named in
// the result and its warning; every other file arrives and the run
// succeeds.
func TestUnavailableRows(t *testing.T) {
	for _, by := range []string{"text", "selector"} {
		t.Run(by, func(t *testing.T) { testUnavailableRows(t, by) })
	}
}

func testUnavailableRows(t *testing.T, by string) {
	s := startSim(t, sim.Options{Files: 9, PageSize: 4, Markup: "v4", V4: sim.V4Options{InterstitialDelay: 100 * time.Millisecond, ExpiredEvery: 3}})
	o := v4Options(t, s)
	if by == "text" {
		o.Profile.Files.UnavailableText = []string{"expired"} // any case, anywhere in the row
	} else {
		o.Profile.Files.UnavailableText = nil
		o.Profile.Files.Unavailable = Sel{"td:last-child:empty"}
	}
	start := time.Now()
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	expired := s.State().V4.Expired
	if len(expired) != 3 || len(res.New) != 6 || len(res.Failed) != 0 {
		t.Fatalf("new %d, failed %v, expired at the portal %v; want 6, none, 3", len(res.New), res.Failed, expired)
	}
	var quoted []string
	for _, n := range expired {
		quoted = append(quoted, logName(n))
	}
	if strings.Join(res.Unavailable, ",") != strings.Join(quoted, ",") {
		t.Errorf("unavailable %v, want %v", res.Unavailable, quoted)
	}
	want := "3 files listed as unavailable on the portal: " + strings.Join(quoted, ", ")
	if !slicesContains(res.Warnings, want) {
		t.Errorf("warnings %q lack %q", res.Warnings, want)
	}
	if d := time.Since(start); d > 40*time.Second {
		t.Errorf("took %s: were the expired rows retried?", d)
	}
}

// TestNoControlRows: without files.unavailable, a row with no control is
// listed again once and then reported as having no download control,
// naming the profile fields; it costs no six attempts with backoff.
func TestNoControlRows(t *testing.T) {
	s := startSim(t, sim.Options{Files: 3, Markup: "v4", V4: sim.V4Options{InterstitialDelay: 100 * time.Millisecond, ExpiredEvery: 3}})
	o := v4Options(t, s)
	o.Profile.Files.UnavailableText = nil // the profile does not know the portal's "Expired"
	o.StepTimeout = 3 * time.Second
	var logs bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	res, err := Download(context.Background(), o)
	if err == nil || len(res.New) != 2 || len(res.Failed) != 1 || res.Failed[0] != logName(s.State().V4.Expired[0]) {
		t.Fatalf("err %v, new %d, failed %v; want a failure of the expired file only", err, len(res.New), res.Failed)
	}
	l := logs.String()
	if strings.Count(l, "listing it again once") != 1 || strings.Count(l, "will retry") != 0 ||
		!strings.Contains(l, "no download control in the row") || !strings.Contains(l, "files.unavailable") || !strings.Contains(l, "attempts=1") {
		t.Errorf("log:\n%s", l)
	}
}

func slicesContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func v4PrepareOptions(t *testing.T, s *sim.Sim) Options {
	t.Helper()
	o := v4Options(t, s)
	p, err := LoadProfile("testdata/profile-v4-prepare.json", SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	o.Profile = p
	return o
}

// TestPreparedRows: rows that must be requested, prepared and then fetched
// through a one-time link that appears in the row, beside rows that open
// an interstitial page and rows listed as expired. files.download's steps
// run inside each row; preparations overlap (seftsim saw two files being
// prepared at once with one tab); every downloadable file arrives
// byte-exact, with one sign-in and one Request per prepared row.
func TestPreparedRows(t *testing.T) {
	s := startSim(t, sim.Options{Files: 10, PageSize: 5, Markup: "v4",
		V4: sim.V4Options{InterstitialDelay: 100 * time.Millisecond, PrepareEvery: 2, ExpiredEvery: 5, PrepareTime: time.Second}})
	o := v4PrepareOptions(t, s)
	o.Concurrency = 1
	var logs bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	st := s.State()
	// Files 1–10: 5 and 10 expired; 2, 4, 6, 8 prepared; 1, 3, 7, 9 interstitial.
	if n := checkStaging(t, s, o); n != 8 || len(res.New) != 8 || len(res.Unavailable) != 2 {
		t.Fatalf("staging %d, new %d, unavailable %v; want 8, 8, 2", n, len(res.New), res.Unavailable)
	}
	if a := st.Accounts["download"]; a.Logins != 1 || a.PasswordPosts != 1 {
		t.Errorf("%d sign-ins, %d password POSTs; want 1 and 1", a.Logins, a.PasswordPosts)
	}
	if v := st.V4; v.Prepares != 4 || v.LinksSpent != 4 || v.LinksRefused != 0 || v.Interstitials != 4 {
		t.Errorf("prepares %d, links spent %d, refused %d, interstitials %d; want 4, 4, 0, 4", v.Prepares, v.LinksSpent, v.LinksRefused, v.Interstitials)
	}
	if v := st.V4; v.MaxPreparing < 2 {
		t.Errorf("at most %d file prepared at a time: the preparations did not overlap", v.MaxPreparing)
	}
	checkNoLeaks(t)
}

// TestPreparedLinkSpoiled: a prepared link that turns out expired when
// used sends its row back to the first of files.download's steps, on a
// fresh listing: the file is requested again and arrives.
func TestPreparedLinkSpoiled(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2, Markup: "v4",
		V4: sim.V4Options{PrepareEvery: 1, PrepareTime: 200 * time.Millisecond, SpoilLinks: 1}})
	o := v4PrepareOptions(t, s)
	o.Concurrency = 1
	var logs bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	if n := checkStaging(t, s, o); n != 2 || len(res.New) != 2 {
		t.Fatalf("staging %d, new %d; want 2", n, len(res.New))
	}
	v := s.State().V4
	if v.LinksSpoiled != 1 || v.LinksSpent != 2 || v.Prepares < 3 {
		t.Errorf("spoiled %d, spent %d, prepares %d; want 1, 2 and at least 3 (the spoiled row requested again)", v.LinksSpoiled, v.LinksSpent, v.Prepares)
	}
	if !strings.Contains(logs.String(), "one-time link expired") {
		t.Errorf("the log does not say the link expired:\n%s", logs.String())
	}
}

// TestPrepareTimeout: a file whose preparation outlasts
// files.prepare_timeout is not waited for without end: each attempt gives
// up at the timeout, and the error names the profile field.
func TestPrepareTimeout(t *testing.T) {
	s := startSim(t, sim.Options{Files: 1, Markup: "v4", V4: sim.V4Options{PrepareEvery: 1, PrepareTime: time.Minute}})
	o := v4PrepareOptions(t, s)
	o.Profile.Files.PrepareTimeout = Duration(300 * time.Millisecond)
	o.Retries = 2
	var logs bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := Download(context.Background(), o)
	if err == nil || len(res.Failed) != 1 || len(res.New) != 0 {
		t.Fatalf("err %v, new %d, failed %v; want the one file failed", err, len(res.New), res.Failed)
	}
	if l := logs.String(); !strings.Contains(l, "files.prepare_timeout") || !strings.Contains(l, "files.download[1]") {
		t.Errorf("the log does not name files.download[1] and files.prepare_timeout:\n%s", l)
	}
	if v := s.State().V4; v.Prepares != 2 || v.LinksSpent != 0 {
		t.Errorf("prepares %d, links spent %d; want 2 (one per attempt) and 0", v.Prepares, v.LinksSpent)
	}
}

// TestListInFrame: the file list sits in an iframe, on the portal's origin
// or on another site (a frame Chrome runs in a process of its own).
// files.frame names the iframe; rows, names, the download controls (an
// interstitial tab and prepared links opened from inside the frame) and
// the pager (which loads the frame's next page: in_place) are all read in
// the frame. Every file arrives byte-exact, with one sign-in.
func TestListInFrame(t *testing.T) {
	for _, mode := range []string{"same", "cross"} {
		t.Run(mode, func(t *testing.T) {
			s := startSim(t, sim.Options{Files: 7, PageSize: 3, Markup: "v4",
				V4: sim.V4Options{Frame: mode, InterstitialDelay: 100 * time.Millisecond, PrepareEvery: 3, PrepareTime: 200 * time.Millisecond}})
			o := v4Options(t, s)
			p, err := LoadProfile("testdata/profile-v4-frame.json", SiteDownload)
			if err != nil {
				t.Fatal(err)
			}
			o.Profile = p
			// Row steps inside the frame, as in profile-v4-prepare.json.
			o.Profile.Files.DownloadSteps = []Step{{Click: Sel{"text=Request"}, Optional: true}, {WaitFor: Sel{"text=Download"}}, {Click: Sel{"text=Download"}}}
			o.Profile.Files.Download = Sel{"text=Download"}
			o.Concurrency = 2
			var logs bytes.Buffer
			o.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			res, err := Download(context.Background(), o)
			if err != nil {
				t.Fatalf("%v\n%s", err, logs.String())
			}
			if n := checkStaging(t, s, o); n != 7 || len(res.New) != 7 {
				t.Fatalf("staging %d, new %d; want 7", n, len(res.New))
			}
			st := s.State()
			if a := st.Accounts["download"]; a.Logins != 1 || a.PasswordPosts != 1 {
				t.Errorf("%d sign-ins, %d password POSTs; want 1 and 1", a.Logins, a.PasswordPosts)
			}
			if st.V4.FrameLoads == 0 || st.V4.Prepares != 2 {
				t.Errorf("frame loads %d, prepares %d; want some and 2", st.V4.FrameLoads, st.V4.Prepares)
			}
			attached := strings.Contains(logs.String(), "attached to its target")
			if want := mode == "cross"; attached != want {
				t.Errorf("attached to the frame's own target: %v, want %v", attached, want)
			}
			checkNoLeaks(t)
		})
	}
}

// TestFramePopupWatched: a Download inside a frame of another site opens
// the interstitial tab; that tab is known as the frame's (its opener is
// the frame's own target), so its page is watched and files.interstitial
// runs on it, well before the page's own long delay.
func TestFramePopupWatched(t *testing.T) {
	s := startSim(t, sim.Options{Files: 1, Markup: "v4", V4: sim.V4Options{Frame: "cross", InterstitialDelay: 50 * time.Second}})
	o := v4Options(t, s)
	o.Profile.Files.Frame = Sel{"#transfers-frame"}
	o.Profile.Files.DownloadStartTimeout = Duration(20 * time.Second)
	o.Profile.Files.Interstitial = []Step{{Click: Sel{"text=start it now"}}}
	o.StepTimeout = 10 * time.Second
	start := time.Now()
	res, err := Download(context.Background(), o)
	if err != nil || len(res.New) != 1 {
		t.Fatalf("err %v, new %d; want the one file", err, len(res.New))
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %s: the page's own delay, not the step, started the file", d)
	}
}

// TestFrameMissing: a profile whose files.frame the signed-in page does
// not have is a profile mismatch naming files.frame, found within the step
// timeout, with no retries against the portal.
func TestFrameMissing(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2, Markup: "v4"}) // the list in the page itself
	o := v4Options(t, s)
	o.Profile.Files.Frame = Sel{"#transfers-frame"}
	o.StepTimeout = 3 * time.Second
	_, err := Download(context.Background(), o)
	if !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), "files.frame") {
		t.Fatalf("err %v, want a profile mismatch naming files.frame", err)
	}
	if st := s.State(); st.Downloads != 0 || st.Accounts["download"].PasswordPosts != 1 {
		t.Errorf("%d downloads, %d password POSTs; want 0 and 1", st.Downloads, st.Accounts["download"].PasswordPosts)
	}
}
