package authoring

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/testtool"
)

func markupProfile(t *testing.T, markup string) *Profile {
	t.Helper()
	if markup == "v1" {
		return DefaultProfile()
	}
	p, err := LoadProfile("../portal/testdata/profile-"+markup+".json", SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func printed(r *CheckResult) string {
	var b bytes.Buffer
	r.Print(&b)
	return b.String()
}

// TestCheck: each markup's profile matches its portal everywhere, the
// whole listing is walked, and nothing is downloaded.
func TestCheck(t *testing.T) {
	for _, markup := range []string{"v1", "v2", "v3"} {
		t.Run(markup, func(t *testing.T) {
			s := startSim(t, sim.Options{Files: 12, PageSize: 5, Markup: markup})
			o := simOptions(t, s, SiteDownload)
			o.Profile = markupProfile(t, markup)
			res, err := Check(context.Background(), o)
			out := printed(res)
			if os.Getenv("PROBE_SHOW") != "" {
				t.Log("\n" + out)
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if res.Rows != 12 || res.Pages != 3 {
				t.Errorf("%d rows on %d pages, want 12 on 3", res.Rows, res.Pages)
			}
			wantAll(t, "check", out, "ok    login.steps[0]", "ok    files.row", "ok    files.download", "ok    files.more.control",
				"ok    login.outcomes.signed_in", "n/a   login.outcomes.refused[0]")
			if strings.Contains(out, "FAIL") {
				t.Errorf("a line failed:\n%s", out)
			}
			if ents, _ := os.ReadDir(o.StagingDir); len(ents) != 0 {
				t.Errorf("staging holds %d entries: the check downloaded", len(ents))
			}
			if n := s.State().Downloads; n != 0 {
				t.Errorf("seftsim sent %d files: the check downloaded", n)
			}
			checkNoLeaks(t)
		})
	}
}

// TestCheckMismatch: a wrong selector fails its own line and the check
// wraps ErrProfile (exit 11); a wrong login step fails before the password
// is sent.
func TestCheckMismatch(t *testing.T) {
	s := startSim(t, sim.Options{Files: 4, Markup: "v3"})
	o := simOptions(t, s, SiteDownload)
	o.StepTimeout = 3 * time.Second
	o.Profile = markupProfile(t, "v3")
	o.Profile.Files.Download = Sel{"text=Download"}
	res, err := Check(context.Background(), o)
	out := printed(res)
	if !errors.Is(err, ErrProfile) {
		t.Fatalf("err %v, want ErrProfile\n%s", err, out)
	}
	wantAll(t, "check", out, `FAIL  files.download               text=Download`, "ok    files.row")

	o.Profile = markupProfile(t, "v3")
	o.Profile.Login.Steps[2].Fill = Sel{"label=Password"}
	res, err = Check(context.Background(), o)
	out = printed(res)
	if !errors.Is(err, ErrProfile) {
		t.Fatalf("err %v, want ErrProfile\n%s", err, out)
	}
	wantAll(t, "check", out, "ok    login.steps[0]", "FAIL  login.steps[2]               label=Password")
	if a := s.State().Accounts["download"]; a.PasswordPosts != 1 {
		t.Errorf("%d password POSTs, want 1 (the first check's)", a.PasswordPosts)
	}
}

// TestCheckOne: with CheckOne the check downloads exactly the first listed
// file through the profile's download route, reports its name, size and
// sha256 (byte-exact with what seftsim sent), and wipes it: nothing is left
// in the state directory, staging or the manifest.
func TestCheckOne(t *testing.T) {
	for _, markup := range []string{"v1", "v3"} {
		t.Run(markup, func(t *testing.T) {
			s := startSim(t, sim.Options{Files: 7, PageSize: 3, Markup: markup})
			o := simOptions(t, s, SiteDownload)
			o.Profile = markupProfile(t, markup)
			o.CheckOne = true
			res, err := Check(context.Background(), o)
			out := printed(res)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if res.Rows != 7 {
				t.Errorf("%d rows, want 7: the whole listing is still walked", res.Rows)
			}
			first := s.Files()[0]
			f := res.One
			if f == nil {
				t.Fatalf("no file reported\n%s", out)
			}
			if f.Name != first.Name || f.Size != first.Size || f.SHA256 != published(t, s)[first.Name][0] {
				t.Errorf("got %s %d %s, seftsim sent %s %d %s", logName(f.Name), f.Size, f.SHA256, logName(first.Name), first.Size, first.SHA256)
			}
			if n := s.State().Downloads; n != 1 {
				t.Errorf("seftsim sent %d files, want exactly 1", n)
			}
			wantAll(t, "check", out, "ok    files.download (one file)", f.SHA256, strconv.FormatInt(first.Size, 10)+" bytes")
			if strings.Contains(out, "FAIL") {
				t.Errorf("a line failed:\n%s", out)
			}
			if left, _ := filepath.Glob(filepath.Join(o.StateDir, ".check-one-*")); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
			if ents, _ := os.ReadDir(o.StagingDir); len(ents) != 0 {
				t.Errorf("staging holds %d entries", len(ents))
			}
			if files, err := staging.LoadManifest(o.StateDir); err != nil || len(files) != 0 {
				t.Errorf("manifest: %d files, %v; the check must not record what it fetched", len(files), err)
			}
			checkNoLeaks(t)
		})
	}
}

// TestCheckOneWrongDownload: a download selector that matches something in
// the row but starts no download passes the walk, and fails the one-file
// line; the check wraps ErrProfile (exit 11) and leaves nothing behind.
func TestCheckOneWrongDownload(t *testing.T) {
	for markup, wrong := range map[string]Sel{"v1": {".file-name"}, "v3": {".parcel-weight"}} {
		t.Run(markup, func(t *testing.T) {
			s := startSim(t, sim.Options{Files: 3, Markup: markup})
			o := simOptions(t, s, SiteDownload)
			o.StepTimeout = 3 * time.Second
			o.Profile = markupProfile(t, markup)
			o.Profile.Files.Download = wrong
			o.CheckOne = true
			res, err := Check(context.Background(), o)
			out := printed(res)
			if !errors.Is(err, ErrProfile) {
				t.Fatalf("err %v, want ErrProfile\n%s", err, out)
			}
			wantAll(t, "check", out, "ok    files.download ")
			if !regexp.MustCompile(`(?m)^FAIL  files\.download \(one file\) +` + regexp.QuoteMeta(wrong[0]) + ` .*started no download`).MatchString(out) {
				t.Errorf("no FAIL line for files.download (one file) naming %s", wrong[0])
			}
			if t.Failed() {
				t.Log("\n" + out)
			}
			if res.One != nil {
				t.Errorf("reported a file: %+v", res.One)
			}
			if n := s.State().Downloads; n != 0 {
				t.Errorf("seftsim sent %d files", n)
			}
			if left, _ := filepath.Glob(filepath.Join(o.StateDir, ".check-one-*")); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
			checkNoLeaks(t)
		})
	}
}

// TestCheckOnePortalFailure: a portal that cuts every download short is
// the portal's failure, not the profile's: the check tries again within
// the retry budget, then wraps ErrPortal (exit 6) and not ErrProfile, marks
// no line FAIL and leaves nothing behind.
func TestCheckOnePortalFailure(t *testing.T) {
	s := startSim(t, sim.Options{Files: 3, Faults: sim.Faults{TruncateRate: 1}})
	o := simOptions(t, s, SiteDownload)
	o.Profile = DefaultProfile()
	o.Retries = 2
	o.CheckOne = true
	res, err := Check(context.Background(), o)
	out := printed(res)
	if !errors.Is(err, ErrPortal) || errors.Is(err, ErrProfile) {
		t.Fatalf("err %v, want ErrPortal only\n%s", err, out)
	}
	if strings.Contains(out, "FAIL") || !strings.Contains(out, "n/a   files.download (one file)") || res.One != nil {
		t.Errorf("the profile is right; no line may fail:\n%s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(o.StateDir, ".check-one-*")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	checkNoLeaks(t)
}

// TestCheckBlamesSendingStep: a check whose sign-in is refused, or gets no
// answer the profile knows, fails the line of the step that sent the
// password and names the {password} fill before it; the latch is set all
// the same, and the password went once.
func TestCheckBlamesSendingStep(t *testing.T) {
	for _, kind := range []string{LatchRefused, LatchUnknown} {
		t.Run(kind, func(t *testing.T) {
			s := startSim(t, sim.Options{Files: 2})
			o := simOptions(t, s, SiteDownload)
			p := DefaultProfile()
			// The user name typed over the password: a wrong password, sent
			// once by the click.
			p.Login.Steps = []Step{p.Login.Steps[0], p.Login.Steps[1], {Fill: Sel{"#password"}, With: "{user}"}, p.Login.Steps[2]}
			if kind == LatchUnknown {
				p.Login.Outcomes.Refused = []string{"a wording this portal never uses"}
				p.Login.OutcomeTimeout = Duration(2 * time.Second)
			}
			o.Profile = p
			res, err := Check(context.Background(), o)
			out := printed(res)
			if portal.LatchedNow(err) != kind {
				t.Fatalf("err %v (latched now %q), want a %s latch\n%s", err, portal.LatchedNow(err), kind, out)
			}
			note := map[string]string{LatchRefused: "sent the password and the portal refused it",
				LatchUnknown: "sent the password and no answer the profile knows followed"}[kind]
			wantAll(t, "check", out, "FAIL  login.steps[3]", note,
				`login.steps[3] (click [text=Sign in | role=button[name="Sign in"]]), after login.steps[1] (fill label=Password with {password})`)
			if l, _ := portal.ReadLatch(o.StateDir, SiteDownload); l == nil || l.Kind != kind {
				t.Fatalf("latch %+v, want one of kind %s", l, kind)
			}
			if kind == LatchUnknown && !strings.Contains(err.Error(), "after login.steps[3] (click") {
				t.Errorf("the unknown outcome does not name the sending step: %v", err)
			}
			if a := s.State().Accounts[SiteDownload]; a.PasswordPosts != 1 {
				t.Errorf("%d password POSTs, want 1", a.PasswordPosts)
			}
			checkNoLeaks(t)
		})
	}
}

// TestCheckOneInterstitial: probe --check --one takes the same path as a
// run: the file that a new tab starts 2 s later is the check's one file.
func TestCheckOneInterstitial(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2, Markup: "v4"})
	checkOneFile(t, s, "../portal/testdata/profile-v4.json")
}

// checkOneFile runs probe --check --one with the profile at path and
// requires the portal's first file, byte-exact.
func checkOneFile(t *testing.T, s *sim.Sim, path string) *CheckResult {
	t.Helper()
	p, err := LoadProfile(path, SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	o := simOptions(t, s, SiteDownload)
	o.Profile = p
	o.CheckOne = true
	res, err := Check(context.Background(), o)
	if err != nil {
		t.Fatalf("%v\n%s", err, printed(res))
	}
	f := s.Files()[0]
	if res.One == nil || res.One.Name != f.Name || res.One.SHA256 != f.SHA256 {
		t.Fatalf("one file: %+v, want %s\n%s", res.One, f.Name, printed(res))
	}
	return res
}

// TestCheckOnePrepared: with files.download as row steps, a first row
// that must be prepared shows only its Request control: the check passes
// on it, and --one requests the file, waits for its link in the row and
// downloads it.
func TestCheckOnePrepared(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2, Markup: "v4", V4: sim.V4Options{PrepareEvery: 1, PrepareTime: 300 * time.Millisecond}})
	res := checkOneFile(t, s, "../portal/testdata/profile-v4-prepare.json")
	wantAll(t, "check", printed(res), "ok    files.download[0]", "n/a   files.download[1]", "ok    files.download ")
	if v := s.State().V4; v.Prepares != 1 || v.LinksSpent != 1 {
		t.Errorf("prepares %d, links spent %d; want 1 and 1", v.Prepares, v.LinksSpent)
	}
}

// tableSite serves testtool.FormPortal with /files?page=N as page(N) (N
// is 1 without it).
func tableSite(t *testing.T, page func(n int) string) *httptest.Server {
	t.Helper()
	return testtool.FormPortal(t, func(mux *http.ServeMux) {
		mux.HandleFunc("/files", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			n, _ := strconv.Atoi(r.URL.Query().Get("page"))
			_, _ = io.WriteString(w, page(max(n, 1)))
		})
	})
}

// tableProfile reads tableSite's pages, with control as a navigate pager.
func tableProfile(t *testing.T, control string) *Profile {
	t.Helper()
	c, _ := json.Marshal(control)
	p, err := parseProfile([]byte(`{
  `+testtool.FormPortalLogin+`,
  "files": {"path": "files", "row": "#list tr:has(td)", "name": {"in": "td:nth-child(1)"}, "size": {"in": "td:nth-child(2)"},
            "download": "text=Fetch", "more": {"mode": "navigate", "control": `+string(c)+`}}
}`), SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckFragmentNavigate: a profile that says "navigate" for a pager
// that only changes the #fragment never sees a new page load. That is the
// profile's fault, not the portal's: the check exits 11 (ErrProfile),
// never 6 (ErrPortal), and names files.more.mode.
func TestCheckFragmentNavigate(t *testing.T) {
	srv := tableSite(t, func(int) string {
		return strings.Replace(tablePage, "<h1>Files</h1>", `<h1>Files</h1><a id="out" href="/">Sign out</a>`, 1)
	})
	p := tableProfile(t, "#pg > a[aria-current] + a")
	dir := t.TempDir()
	o := Options{Site: SiteDownload, URL: srv.URL + "/", User: "u", Password: "pw", Profile: p, Retries: 1,
		StateDir: filepath.Join(dir, "state"), StagingDir: filepath.Join(dir, "staging"),
		Log: testLogger(t), StepTimeout: 2 * time.Second}
	res, err := Check(context.Background(), o)
	if !errors.Is(err, ErrProfile) || errors.Is(err, ErrPortal) {
		t.Fatalf("err %v, want ErrProfile and not ErrPortal\n%s", err, printed(res))
	}
	if out := printed(res); !strings.Contains(out, "files.more.mode") || !strings.Contains(out, "in_place") {
		t.Errorf("the check does not name files.more.mode and in_place:\n%s", out)
	}
}
