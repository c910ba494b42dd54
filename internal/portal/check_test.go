package portal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/sim"
)

func markupProfile(t *testing.T, markup string) *Profile {
	t.Helper()
	if markup == "v1" {
		return DefaultProfile()
	}
	p, err := LoadProfile("testdata/profile-"+markup+".json", SiteDownload)
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
