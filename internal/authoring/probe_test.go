package authoring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/sim"
)

// probeOnce runs a probe into a fresh directory and returns report.txt and
// report.json.
func probeOnce(t *testing.T, o Options) (txt, js string, err error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "probe")
	report, err := Probe(context.Background(), o, out)
	if report == "" {
		t.Fatalf("no report written (err %v)", err)
	}
	a, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatal(rerr)
	}
	b, _ := os.ReadFile(filepath.Join(out, "report.json"))
	if strings.Contains(string(a)+string(b), o.Password) {
		t.Fatal("the report holds the password")
	}
	if os.Getenv("PROBE_SHOW") != "" {
		t.Log(string(a))
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("report dir mode %v %v, want 0700", st.Mode(), err)
	}
	return string(a), string(b), err
}

func wantAll(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// TestProbeNoProfile: with no profile, probe finds the sign-in form by its
// password field (v1, v2) or a text field then the password field (v3's
// two steps), signs in once and reports the page that follows.
func TestProbeNoProfile(t *testing.T) {
	for _, markup := range []string{"v1", "v2", "v3"} {
		t.Run(markup, func(t *testing.T) {
			s := startSim(t, sim.Options{Files: 30, Markup: markup})
			o := simOptions(t, s, SiteDownload)
			o.Profile = nil
			txt, _, err := probeOnce(t, o)
			if err != nil {
				t.Fatalf("probe stopped: %v\n%s", err, txt)
			}
			wantAll(t, "report", txt, "No site profile", "after-sign-in", "== stopped at after-sign-in: signed in")
			if a := s.State().Accounts["download"]; a.PasswordPosts != 1 || a.Logins != 1 {
				t.Errorf("password POSTs %d, logins %d; want 1 and 1", a.PasswordPosts, a.Logins)
			}
			switch markup {
			case "v1":
				wantAll(t, "report", txt, `suggested files.row: "#files tr.file-row"`, "looks like: file name", "looks like: size",
					`"text=Download"`, `files.more {"mode": "navigate"`)
			case "v2":
				wantAll(t, "report", txt, `li.item`, "looks like: file name", `"text=Get file"`, "Next page")
			case "v3":
				wantAll(t, "report", txt, "login-step-2", "I have read the notice", `"role=button[name=\"Proceed\"]"`)
			}
			checkNoLeaks(t)
		})
	}
}

// TestProbeProfileV3: with a profile, probe follows its steps and reads
// the list drawn by script once it has arrived: one example row and a
// count, never 25 copies; the name in an attribute; the load-more control.
func TestProbeProfileV3(t *testing.T) {
	s := startSim(t, sim.Options{Files: 30, PageSize: 25, Markup: "v3"})
	o := v3Options(t, s, SiteDownload)
	txt, js, err := probeOnce(t, o)
	if err != nil {
		t.Fatalf("probe stopped: %v\n%s", err, txt)
	}
	wantAll(t, "report", txt, "== 3. files-page-1", `25 x <div>   suggested files.row: "#parcels div.parcel"`,
		"row attribute data-file=", `files.name: {"attr": "data-file"}`, `files.size: ".parcel-weight"`,
		`"role=button[name=\"Collect\"]"`, `"Show more": files.more {"mode": "append"`, "30 x <div>", "== stopped at end: done")
	if n := strings.Count(txt, "parcel-weight\"   (e.g."); n > 3 {
		t.Errorf("the example row is repeated %d times", n)
	}
	if strings.Contains(js, `"value":"`) && strings.Contains(js, o.User) {
		t.Error("the report records a form value")
	}
	checkNoLeaks(t)
}

// TestProbeRefused: a wrong password is sent once, the latch is set, the
// report says so and probe still reports; the next probe sends nothing.
func TestProbeRefused(t *testing.T) {
	for _, markup := range []string{"v1", "v3"} {
		t.Run(markup, func(t *testing.T) {
			s := startSim(t, sim.Options{Files: 3, Markup: markup})
			o := simOptions(t, s, SiteDownload)
			o.Profile, o.Password = nil, "wrong-password-1"
			txt, _, err := probeOnce(t, o)
			if !errors.Is(err, ErrLoginRejected) {
				t.Fatalf("err %v, want ErrLoginRejected\n%s", err, txt)
			}
			wantAll(t, "report", txt, "sign-in refused, and the login latch is set")
			l, _ := portal.ReadLatch(o.StateDir, SiteDownload)
			if l == nil || l.Kind != LatchRefused {
				t.Fatalf("latch %+v, want refused", l)
			}
			txt, _, err = probeOnce(t, o)
			if !errors.Is(err, ErrLatched) {
				t.Fatalf("second probe: err %v, want ErrLatched", err)
			}
			wantAll(t, "report", txt, "login latch is set, so the password is not sent", "== 1. start")
			if a := s.State().Accounts["download"]; a.PasswordPosts != 1 {
				t.Errorf("%d password POSTs, want 1", a.PasswordPosts)
			}
			checkNoLeaks(t)
		})
	}
}

// TestProbeMismatch: a profile that does not fit the portal (v2's on v3)
// gives a report that says so, and nothing is sent.
func TestProbeMismatch(t *testing.T) {
	s := startSim(t, sim.Options{Files: 3, Markup: "v3"})
	o := simOptions(t, s, SiteDownload)
	p, err := LoadProfile("../portal/testdata/profile-v2.json", SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	o.Profile = p
	o.StepTimeout = 3 * time.Second
	txt, _, err := probeOnce(t, o)
	if !errors.Is(err, ErrProfile) {
		t.Fatalf("err %v, want ErrProfile", err)
	}
	wantAll(t, "report", txt, "profile mismatch", "Account name")
	if a := s.State().Accounts["download"]; a.PasswordPosts != 0 {
		t.Errorf("%d password POSTs, want 0", a.PasswordPosts)
	}
}

// TestProbeTableV4: v4's table opens with a header row of <th> cells and
// pages by numbered links with the current page in bold. Probe takes a
// data row as the example, proposes the name and size cells by their
// column (labelled by the header) and the link after the current page as
// a navigate pager.
func TestProbeTableV4(t *testing.T) {
	s := startSim(t, sim.Options{Files: 30, PageSize: 10, Markup: "v4"})
	o := simOptions(t, s, SiteDownload)
	o.Profile = nil
	txt, _, err := probeOnce(t, o)
	if err != nil {
		t.Fatalf("probe stopped: %v\n%s", err, txt)
	}
	wantAll(t, "report", txt, "looks like: file name", "looks like: size",
		`files.name: ".name"   (e.g. "NIC-402963-P0Y5D_HES_APC_001.csv", column "Name")`, `(column "Bytes")`,
		`files.size: ".bytes"   (e.g. "15311", column "Bytes")`,
		`"the link after the current page (now 2)": files.more {"mode": "navigate", "control": "p.pages > b + a"}`)
	if strings.Contains(txt, `"2": files.more`) {
		t.Errorf("each numbered link is offered as a pager of its own\n%s", txt)
	}
	if strings.Contains(txt, `example row (1 of 10): "Name Bytes`) || strings.Contains(txt, `example row (1 of 11): "Name Bytes`) {
		t.Errorf("the header row was taken as the example row\n%s", txt)
	}
	checkNoLeaks(t)
}

// tablePage is a list no seftsim markup has: a table without classes whose
// first row is a header, and page links that only change the #fragment
// (the page redraws itself), the current page a link marked aria-current.
const tablePage = `<!doctype html><html><head><title>Files</title></head><body>
<h1>Files</h1>
<table id="list">
 <tr><th>File</th><th>Bytes</th><th>Get</th></tr>
 <tr><td>alpha_001.csv</td><td>1024</td><td><a href="/f/1">Fetch</a></td></tr>
 <tr><td>alpha_002.csv</td><td>2048</td><td><a href="/f/2">Fetch</a></td></tr>
 <tr><td>alpha_003.csv</td><td>4096</td><td><a href="/f/3">Fetch</a></td></tr>
</table>
<nav id="pg"><a href="#p1" aria-current="page">1</a> <a href="#p2">2</a> <a href="#p3">3</a> <a href="#p2">Next</a></nav>
</body></html>`

// TestProbeTableHeaderFragment: the header row is not the example row and
// not a row of the list; classless cells are proposed by their column
// (td:nth-child(N)) and labelled by its header; a pager that only changes
// the #fragment is in_place, not navigate.
func TestProbeTableHeaderFragment(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, tablePage)
	}))
	defer srv.Close()
	dir := t.TempDir()
	o := Options{Site: SiteDownload, URL: srv.URL + "/", User: "u", Password: "pw-never-sent",
		StateDir: filepath.Join(dir, "state"), StagingDir: filepath.Join(dir, "staging"),
		Log: testLogger(t), StepTimeout: 10 * time.Second}
	txt, _, err := probeOnce(t, o)
	if !errors.Is(err, ErrProfile) { // no sign-in form on this page
		t.Fatalf("err %v, want ErrProfile (no sign-in form)\n%s", err, txt)
	}
	wantAll(t, "report", txt, `3 x <tr>   suggested files.row: "#list tr:has(td)"`,
		`example row (1 of 3): "alpha_001.csv 1024 Fetch"`,
		`files.name: "td:nth-child(1)"   (e.g. "alpha_001.csv", column "File")`,
		`files.size: "td:nth-child(2)"   (e.g. "1024", column "Bytes")`,
		`"the link after the current page (now 2)": files.more {"mode": "in_place", "control": "#pg > a[aria-current] + a"}`,
		`"Next": files.more {"mode": "in_place"`)
	if strings.Contains(txt, "form was found") {
		t.Errorf("the report claims a sign-in form on a page with none\n%s", txt)
	}
	if strings.Contains(txt, `"mode": "navigate"`) {
		t.Errorf("a #fragment pager is offered as navigate\n%s", txt)
	}
}

// TestProbeFrames: on a portal whose list sits in an iframe of another
// site, probe (with no profile) reads the frame in its own document and
// reports its rows, name, size and controls, with the selector that
// reaches the frame; probe --check with files.frame passes on it.
func TestProbeFrames(t *testing.T) {
	s := startSim(t, sim.Options{Files: 6, PageSize: 3, Markup: "v4", V4: sim.V4Options{Frame: "cross"}})
	o := simOptions(t, s, SiteDownload)
	o.Profile = nil
	txt, _, err := probeOnce(t, o)
	if err != nil {
		t.Fatalf("probe stopped: %v\n%s", err, txt)
	}
	wantAll(t, "report", txt, `inside the iframe "#transfers-frame": a list here is "files.frame": "#transfers-frame"`,
		`frame=#transfers-frame >> LOCATOR`, `files.name: ".name"`, `files.size: ".bytes"`, `suggested files.row:`,
		`files.more {"mode": "in_place", "control": "p.pages > b + a"}`)

	p, err := LoadProfile("../portal/testdata/profile-v4.json", SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	p.Files.Frame = Sel{"#transfers-frame"}
	p.Files.More = &More{Mode: MoreInPlace, Control: Sel{".pages b + a"}}
	o.Profile = p
	o.CheckOne = true
	res, err := Check(context.Background(), o)
	if err != nil {
		t.Fatalf("%v\n%s", err, printed(res))
	}
	if res.Rows != 6 || res.One == nil || res.One.Name != s.Files()[0].Name {
		t.Fatalf("rows %d, one %+v; want 6 and the first file\n%s", res.Rows, res.One, printed(res))
	}
	wantAll(t, "check", printed(res), "ok    files.frame", "ok    files.row")
	checkNoLeaks(t)
}

// TestProbeBareCurrentPage: numbered page links whose current page is a
// bare number between them ("1 2 3", the 1 not a link and in no element
// of its own). CSS cannot select the link after a text, so probe offers an
// XPath control, and a profile with it walks every page and stops on the
// last.
func TestProbeBareCurrentPage(t *testing.T) {
	page := func(n int) string {
		var rows, pager strings.Builder
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(&rows, "<tr><td>f%d_%d.csv</td><td>%d</td><td><a href=\"/f/%d/%d\">Fetch</a></td></tr>\n", n, i, 1000*n+i, n, i)
		}
		for p := 1; p <= 3; p++ {
			if p == n {
				fmt.Fprintf(&pager, "%d ", p)
			} else {
				fmt.Fprintf(&pager, "<a href=\"/files?page=%d\">%d</a> ", p, p)
			}
		}
		return fmt.Sprintf(`<!doctype html><html><head><title>Files</title></head><body><a id="out" href="/">Sign out</a>
<table id="list"><tr><th>File</th><th>Bytes</th><th>Get</th></tr>
%s</table><p class="pages">%s</p></body></html>`, rows.String(), pager.String())
	}
	srv := tableSite(t, page)
	dir := t.TempDir()
	o := Options{Site: SiteDownload, URL: srv.URL + "/files", User: "u", Password: "pw-never-sent",
		StateDir: filepath.Join(dir, "state"), StagingDir: filepath.Join(dir, "staging"),
		Log: testLogger(t), StepTimeout: 10 * time.Second}
	txt, _, _ := probeOnce(t, o) // no sign-in form: the report still reads the page
	const control = `xpath=//p[contains(concat(\" \", normalize-space(@class), \" \"), \" pages \")]/a[preceding-sibling::node()[1][self::text()][translate(normalize-space(), \"0123456789\", \"\") = \"\" and normalize-space() != \"\"]]`
	wantAll(t, "report", txt, `"the link after the current page (now 2)": files.more {"mode": "navigate", "control": "`+control+`"}`)

	p := tableProfile(t, strings.ReplaceAll(control, `\"`, `"`))
	o.URL, o.Profile = srv.URL+"/", p
	res, err := Check(context.Background(), o)
	if err != nil || res.Pages != 3 || res.Rows != 9 {
		t.Fatalf("err %v, %d pages, %d rows; want 3 and 9\n%s", err, res.Pages, res.Rows, printed(res))
	}
}
