package authoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/testtool"
)

// TestRecord: an operator signs in, passes the notice (v3), downloads one
// file and pages on, in a recorded browser; the profile recorded, with no
// hand edits, passes the check and downloads every file byte-exact. The
// password never reaches the profile.
func TestRecord(t *testing.T) {
	for _, markup := range []string{"v1", "v2", "v3", "v3-inplace"} {
		t.Run(markup, func(t *testing.T) {
			paging := ""
			if markup == "v3-inplace" {
				markup, paging = "v3", sim.PagingInPlace
			}
			s := startSim(t, sim.Options{Files: 12, PageSize: 5, Markup: markup, Paging: paging})
			o := simOptions(t, s, SiteDownload)
			rec, err := StartRecord(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			// What the recorded browser downloads lands in a private
			// directory of the state directory, gone when the recording ends.
			recDirs, _ := filepath.Glob(filepath.Join(o.StateDir, ".record-*"))
			if len(recDirs) != 1 {
				t.Fatalf("record directories in the state directory: %v, want one", recDirs)
			}
			if st, err := os.Lstat(recDirs[0]); err != nil || st.Mode().Perm() != 0o700 {
				t.Fatalf("record directory %s: %v %v, want 0700", recDirs[0], st.Mode(), err)
			}
			op := testtool.Operator{T: t, Ctx: rec.Context()}
			switch markup {
			case "v1":
				op.TypeInto("#username", o.User)
				op.TypeInto("#password", o.Password)
				op.Click("#sign-in")
				op.Click("#files tr.file-row .download")
				op.Click("a.next")
			case "v2":
				op.TypeInto("#user", o.User)
				op.TypeInto("#pass", o.Password)
				op.Click("form.login button")
				op.Click("ul.downloads li.item .get")
				op.Click(".pager-next")
			case "v3":
				op.TypeInto("#account-name", o.User)
				op.Click("#next-step")
				op.TypeInto("#passphrase", o.Password)
				op.Click("#enter")
				op.Click("#notice-read")
				op.Click("#proceed")
				op.Click("#parcels .parcel .collect")
				if paging == sim.PagingInPlace {
					op.Click("#page-older")
				} else {
					op.Click("#show-more")
				}
			}
			p, notes, err := rec.Stop()
			if err != nil {
				t.Fatalf("%v (notes: %v)", err, notes)
			}
			testtool.WaitFor(t, 10*time.Second, "the record directory removed", func() bool {
				_, err := os.Lstat(recDirs[0])
				return errors.Is(err, os.ErrNotExist)
			})
			path := filepath.Join(t.TempDir(), "recorded.json")
			if err := WriteProfile(path, p); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(path)
			t.Logf("recorded profile:\n%s\nnotes: %v", raw, notes)
			if strings.Contains(string(raw), o.Password) || strings.Contains(string(raw), o.User) {
				t.Fatal("the profile holds the password or the user name")
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
				t.Errorf("profile mode %v, want 0600", st.Mode())
			}
			wantMode := map[string]string{"v1": MoreNavigate, "v2": MoreNavigate, "v3": MoreAppend}[markup]
			if paging == sim.PagingInPlace {
				wantMode = MoreInPlace
			}
			if p.Files == nil || p.Files.More == nil || p.Files.More.Mode != wantMode {
				t.Fatalf("paging not recorded as %s: %+v", wantMode, p.Files)
			}
			loaded, err := LoadProfile(path, SiteDownload)
			if err != nil {
				t.Fatal(err)
			}
			o.Profile = loaded
			res, err := Check(context.Background(), o)
			if err != nil {
				t.Fatalf("check: %v\n%s", err, printed(res))
			}
			got, err := portal.Download(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if n := checkStaging(t, s, o); n != 12 || len(got.New) != 12 {
				t.Fatalf("staging %d, new %d; want 12", n, len(got.New))
			}
			checkNoLeaks(t)
		})
	}
}

// TestRecordUpload: an operator signs in to the upload site, chooses a
// file (the chooser sets the input, as DOM.setFileInputFiles does) and
// sends it; the recorded profile, unedited, uploads the next day's file.
func TestRecordUpload(t *testing.T) {
	for _, markup := range []string{"v1", "v3"} {
		t.Run(markup, func(t *testing.T) {
			s := startSim(t, sim.Options{Markup: markup})
			o := simOptions(t, s, SiteUpload)
			file := filepath.Join(t.TempDir(), "NIC-402963-P0Y5D.csv")
			if err := os.WriteFile(file, []byte("x\r\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			rec, err := StartRecord(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			op := testtool.Operator{T: t, Ctx: rec.Context()}
			input, send := "#file", "#upload"
			switch markup {
			case "v1":
				op.TypeInto("#username", o.User)
				op.TypeInto("#password", o.Password)
				op.Click("#sign-in")
			case "v3":
				op.TypeInto("#account-name", o.User)
				op.Click("#next-step")
				op.TypeInto("#passphrase", o.Password)
				op.Click("#enter")
				op.Click("#notice-read")
				op.Click("#proceed")
				// The chooser's button: its click only opens the dialog
				// (which the test answers through CDP below).
				op.Click("#choose-file")
				input, send = "#cohort-file", "#send-file"
			}
			if _, err := chromedp.Run(op.Ctx, chromedp.SetUploadFiles(chromedp.CSS(input), []string{file})); err != nil {
				t.Fatal(err)
			}
			op.Click(send)
			p, notes, err := rec.Stop()
			if err != nil {
				t.Fatalf("%v (notes: %v)", err, notes)
			}
			raw, _ := json.MarshalIndent(p, "", "  ")
			t.Logf("recorded profile:\n%s\nnotes: %v", raw, notes)
			if strings.Contains(string(raw), o.Password) || strings.Contains(string(raw), o.User) {
				t.Fatal("the profile holds the password or the user name")
			}
			if len(s.Uploads()) != 1 {
				t.Fatalf("%d uploads while recording, want 1", len(s.Uploads()))
			}
			if _, err := s.AdvanceClock(24 * time.Hour); err != nil {
				t.Fatal(err)
			}
			o.Profile = p
			text, err := portal.Upload(context.Background(), o, file)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Uploads()) != 2 || text == "" {
				t.Errorf("confirmation %q, %d uploads; want a confirmation and 2", text, len(s.Uploads()))
			}
			checkNoLeaks(t)
		})
	}
}

// TestRecordWindowClosed: closing the browser window ends the recording
// (Done), and what was recorded up to then is the draft.
func TestRecordWindowClosed(t *testing.T) {
	s := startSim(t, sim.Options{Files: 12, PageSize: 5})
	o := simOptions(t, s, SiteDownload)
	rec, err := StartRecord(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	op := testtool.Operator{T: t, Ctx: rec.Context()}
	op.TypeInto("#username", o.User)
	op.TypeInto("#password", o.Password)
	op.Click("#sign-in")
	op.Click("#files tr.file-row .download")
	op.Click("a.next")
	op.Wait("a.prev") // page 2 is shown
	if err := chromedp.Do(op.Ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.Close, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("closing the window did not end the recording")
	}
	p, notes, err := rec.Stop()
	if err != nil {
		t.Fatalf("%v (notes %v)", err, notes)
	}
	if p.Files == nil || p.Files.More == nil || p.Files.More.Mode != MoreNavigate || len(p.Login.Steps) != 3 {
		t.Fatalf("draft %+v, files %+v", p.Login.Steps, p.Files)
	}
	checkNoLeaks(t)
}

// actions lists what each login step does, "?" marking an optional one.
func actions(ss []Step) string {
	var out []string
	for _, s := range ss {
		a := s.Action()
		if s.Optional {
			a += "?"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

// TestRecordKeyboard: an operator signs in with the keyboard in a visible
// window (Xvfb, real key and mouse events), as the walkthrough allows: Enter in the password field (v1, v3), Enter in the
// account name field of the two-step login, Tab to the button then Enter.
// The draft has every fill before the key press or click that followed
// it, no separate step for the click Chromium makes for Enter, and signs
// in with exactly one password POST each time (seftsim's counters) and no
// refusal in seftsim's log: v3's on its check and on three later runs.
func TestRecordKeyboard(t *testing.T) {
	testtool.Xvfb(t)
	for _, c := range []struct {
		name, markup, want string
		runs               int
	}{
		{"v1-enter-password", "v1", "fill fill press", 1},
		{"v1-tab-enter", "v1", "fill fill click", 1},
		{"v3-enter-password", "v3", "fill click fill press check? click?", 4},
		{"v3-enter-user", "v3", "fill press fill press check? click?", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs testtool.Buffer
			s := startSim(t, sim.Options{Files: 8, PageSize: 5, Markup: c.markup, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			o := simOptions(t, s, SiteDownload)
			acct := func() sim.AccountState { return s.State().Accounts[SiteDownload] }
			// A visible window, as seftbot record opens; the checks after
			// run headless, as record's own check does.
			o.Headful = true
			rec, err := StartRecord(context.Background(), o)
			o.Headful = false
			if err != nil {
				t.Fatal(err)
			}
			// A subtest that fails midway closes its window all the same,
			// or the next one finds its browser left behind.
			stopped := false
			t.Cleanup(func() {
				if !stopped {
					rec.Stop()
				}
			})
			for _, pid := range ourBrowsers() {
				if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(b), "--headless") || strings.Contains(string(b), "headless-shell") {
					t.Fatal("the recording browser is headless; the operator needs a window")
				}
			}
			op := testtool.Operator{T: t, Ctx: rec.Context()}
			switch c.name {
			case "v1-enter-password":
				op.TypeInto("#username", o.User)
				op.TypeInto("#password", o.Password)
				op.Press("\r")
			case "v1-tab-enter":
				op.TypeInto("#username", o.User)
				op.Press("\t")
				op.TypeText(o.Password)
				op.Press("\t") // to the Sign in button
				op.Press("\r")
			case "v3-enter-password":
				op.TypeInto("#account-name", o.User)
				op.Click("#next-step")
				op.TypeInto("#passphrase", o.Password)
				op.Press("\r")
			case "v3-enter-user":
				op.TypeInto("#account-name", o.User)
				op.Press("\r")
				op.TypeInto("#passphrase", o.Password)
				op.Press("\r")
			}
			switch c.markup {
			case "v1":
				op.Click("#files tr.file-row .download")
				op.Click("a.next")
				op.Wait("a.prev")
			case "v3":
				op.Click("#notice-read")
				op.Click("#proceed")
				op.Click("#parcels .parcel .collect")
				op.Click("#show-more")
				op.Wait("#parcels .parcel:nth-child(6)")
			}
			p, notes, err := rec.Stop()
			stopped = true
			if err != nil {
				t.Fatalf("%v (notes: %v)", err, notes)
			}
			raw, _ := json.MarshalIndent(p.Login.Steps, "", "  ")
			t.Logf("recorded login steps:\n%s", raw)
			if got := actions(p.Login.Steps); got != c.want {
				t.Fatalf("recorded login steps %q, want %q", got, c.want)
			}
			if a := acct(); a.PasswordPosts != 1 || a.Logins != 1 {
				t.Fatalf("while recording: %d password POSTs, %d sign-ins; want 1 and 1", a.PasswordPosts, a.Logins)
			}
			o.Profile = p
			for run := 1; run <= c.runs; run++ {
				res, err := Check(context.Background(), o)
				if err != nil {
					t.Fatalf("run %d: %v\n%s", run, err, printed(res))
				}
				if a := acct(); a.PasswordPosts != 1+run || a.Logins != 1+run || a.FailedLogins != 0 {
					t.Fatalf("after run %d: %d password POSTs, %d sign-ins, %d failed; want %d, %d, 0", run, a.PasswordPosts, a.Logins, a.FailedLogins, 1+run, 1+run)
				}
			}
			if l := logs.String(); strings.Contains(l, "refused") {
				t.Fatalf("seftsim refused a sign-in:\n%s", l)
			}
			if strings.Contains(logs.String(), "login") == false {
				t.Fatal("seftsim logged no sign-in at all: the log is not being read")
			}
			checkNoLeaks(t)
		})
	}
}

// TestRecorderPasswordManagerOff: the recorder's browser, the one an
// operator types into, has Chromium's password manager and autofill off.
func TestRecorderPasswordManagerOff(t *testing.T) {
	s := startSim(t, sim.Options{Files: 1})
	rec, err := StartRecord(context.Background(), simOptions(t, s, SiteDownload))
	if err != nil {
		t.Fatal(err)
	}
	testtool.PasswordManagerOff(t, ourBrowsers())
	if _, _, err := rec.Stop(); err == nil {
		t.Error("a recording with nothing done gave a complete profile")
	}
	checkNoLeaks(t)
}

// TestRecordNumberedPager: on v4 the operator downloads a file, then
// clicks page link "2". The link is one of a repeated set, yet it is the
// pager: the profile pages by the link after the current page (navigate),
// not "mode": "none", and the check walks every page with it.
func TestRecordNumberedPager(t *testing.T) {
	s := startSim(t, sim.Options{Files: 20, PageSize: 4, Markup: "v4"}) // 5 pages: links 2 to 5 repeat
	o := simOptions(t, s, SiteDownload)
	rec, err := StartRecord(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	op := testtool.Operator{T: t, Ctx: rec.Context()}
	op.TypeInto("#username", o.User)
	op.TypeInto("#password", o.Password)
	op.Click("#sign-in")
	op.Click("#transfers tr.transfer .download")
	op.Click("p.pages a")
	p, notes, err := rec.Stop()
	if err != nil {
		t.Fatalf("%v (notes: %v)", err, notes)
	}
	if p.Files == nil || p.Files.More == nil || p.Files.More.Mode != MoreNavigate || len(p.Files.More.Control) != 1 || p.Files.More.Control[0] != "p.pages > b + a" {
		t.Fatalf("paging not recorded as navigate by the link after the current page: %+v (notes %v)", p.Files.More, notes)
	}
	o.Profile = p
	res, err := Check(context.Background(), o)
	if err != nil {
		t.Fatalf("check: %v\n%s", err, printed(res))
	}
	if res.Pages != 5 || res.Rows != 20 {
		t.Errorf("check walked %d rows on %d pages, want 20 on 5\n%s", res.Rows, res.Pages, printed(res))
	}
	checkNoLeaks(t)
}

// TestRecordFragmentPager: a pager whose links only change the #fragment
// (the page redraws its rows by script) is recorded as in_place, not
// navigate: a navigate pager there never sees a new page load.
func TestRecordFragmentPager(t *testing.T) {
	const pg = `<!doctype html><html><head><title>Files</title></head><body>
<table id="list">
 <tr><th>File</th><th>Bytes</th><th>Get</th></tr>
 <tr><td>alpha_001.csv</td><td>1024</td><td><button type="button" class="get">Get</button></td></tr>
 <tr><td>alpha_002.csv</td><td>2048</td><td><button type="button" class="get">Get</button></td></tr>
 <tr><td>alpha_003.csv</td><td>4096</td><td><button type="button" class="get">Get</button></td></tr>
</table>
<nav id="pg"><a href="#p1" aria-current="page">1</a> <a href="#p2">2</a> <a href="#p3">3</a></nav>
<script>
addEventListener('hashchange', () => {
  const n = location.hash.slice(2);
  document.querySelectorAll('#list td:first-child').forEach((td, i) => { td.textContent = 'page' + n + '_00' + (i + 1) + '.csv'; });
});
</script>
</body></html>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, pg)
	}))
	defer srv.Close()
	dir := t.TempDir()
	o := Options{Site: SiteDownload, URL: srv.URL + "/", User: "u", Password: "pw-never-sent",
		StateDir: filepath.Join(dir, "state"), StagingDir: filepath.Join(dir, "staging"),
		Log: testLogger(t), StepTimeout: 10 * time.Second}
	rec, err := StartRecord(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	op := testtool.Operator{T: t, Ctx: rec.Context()}
	op.Click("#list tr:nth-child(2) .get")
	op.Click("#pg a[href='#p2']")
	p, notes, _ := rec.Stop() // no sign-in was recorded: the profile is incomplete, its files part is what counts
	if p == nil || p.Files == nil || p.Files.More == nil || p.Files.More.Mode != MoreInPlace {
		var m any
		if p != nil && p.Files != nil {
			m = p.Files.More
		}
		t.Fatalf("a #fragment pager not recorded as in_place: %+v (notes %v)", m, notes)
	}
	// The header row is not the clicked row's kind: rows and cells come
	// from the data rows.
	if p.Files.Row.String() != "#list tr:has(td)" || p.Files.Name.In.String() != "td:nth-child(1)" || p.Files.Size.In.String() != "td:nth-child(2)" {
		t.Errorf("row %s, name %s, size %s; want #list tr:has(td), td:nth-child(1), td:nth-child(2) (notes %v)", p.Files.Row, p.Files.Name.In, p.Files.Size.In, notes)
	}
}
