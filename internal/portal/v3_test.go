package portal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/sim"
)

func v3Options(t *testing.T, s *sim.Sim, site string) Options {
	t.Helper()
	p, err := LoadProfile("testdata/profile-v3.json", site)
	if err != nil {
		t.Fatal(err)
	}
	o := simOptions(t, s, site)
	o.Profile = p
	return o
}

// TestMarkupV3 drives seftsim's single-page app by the profile alone: a
// two-step login, a notice to accept, rows drawn by script with the full
// name only in an attribute, "Show more" (append) or an in-place pager,
// and downloads by a script-built POST with a one-time ticket and by blob:
// URL. With faults on (server errors shown in place, a session expiry shown
// as a dialog), every file arrives byte-exact.
func TestMarkupV3(t *testing.T) {
	for _, paging := range []string{sim.PagingAppend, sim.PagingInPlace} {
		t.Run(paging, func(t *testing.T) {
			s := startSim(t, sim.Options{Files: 23, PageSize: 5, Markup: "v3", Paging: paging, Seed: 5,
				Faults: sim.Faults{ErrorRate: 0.05, ExpireAfter: 60}})
			o := v3Options(t, s, SiteDownload)
			if paging == sim.PagingInPlace {
				// The same portal with its other pager: one line of the profile.
				o.Profile.Files.More = &More{Mode: MoreInPlace, Control: Sel{`role=button[name="Older"]`}}
			}
			o.Concurrency = 2
			res, err := Download(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if n := checkStaging(t, s, o); n != 23 || len(res.New) != 23 {
				t.Fatalf("staging %d, new %d; want 23", n, len(res.New))
			}
			st := s.State().Accounts["download"]
			if st.PasswordChangePosts != 0 {
				t.Errorf("%d password-change POSTs", st.PasswordChangePosts)
			}
			checkNoLeaks(t)
		})
	}
}

// TestMarkupV3WrongPassword: on v3 a wrong password is POSTed exactly once
// (seftsim's counter), the run exits 5, and the next run sends nothing.
func TestMarkupV3WrongPassword(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2, Markup: "v3"})
	prof, err := filepath.Abs("testdata/profile-v3.json")
	if err != nil {
		t.Fatal(err)
	}
	for night := 1; night <= 2; night++ {
		cmd, _, stderr := seftbotCmd(t, s, []string{"SEFTBOT_DOWNLOAD_PASSWORD=wrong-pass-1", "SEFTBOT_DOWNLOAD_PROFILE=" + prof}, "download")
		if code := exitCode(cmd.Run()); code != 5 || posts(s, "download") != 1 {
			t.Fatalf("night %d: exit %d, %d password POSTs; want 5 and 1\n%s", night, code, posts(s, "download"), stderr)
		}
	}
	checkNoLeaks(t)
}

// TestMarkupV3PasswordExpired: a page demanding a new password latches the
// site; nothing is typed into the change form.
func TestMarkupV3PasswordExpired(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2, Markup: "v3"})
	if err := s.SetPasswordExpired("download", true); err != nil {
		t.Fatal(err)
	}
	o := v3Options(t, s, SiteDownload)
	_, err := Download(context.Background(), o)
	l, _ := ReadLatch(o.StateDir, SiteDownload)
	if !errors.Is(err, ErrLoginRejected) || l == nil || l.Kind != LatchPasswordExpired {
		t.Fatalf("err %v, latch %+v; want a password_expired latch", err, l)
	}
	if a := s.State().Accounts["download"]; a.PasswordChangePosts != 0 || a.PasswordPosts != 1 {
		t.Errorf("password POSTs %d, change POSTs %d; want 1 and 0", a.PasswordPosts, a.PasswordChangePosts)
	}
}

// TestMarkupV3SlowLogin: v3's answer to the password takes longer than the
// step timeout; it is waited for and the password is sent once.
func TestMarkupV3SlowLogin(t *testing.T) {
	s := startSim(t, sim.Options{Files: 3, Markup: "v3", Faults: sim.Faults{SlowLogin: 3 * time.Second}})
	o := v3Options(t, s, SiteDownload)
	o.StepTimeout = 2 * time.Second
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.New) != 3 || posts(s, "download") != 1 {
		t.Errorf("fetched %d, %d password POSTs; want 3 and 1", len(res.New), posts(s, "download"))
	}
}

// TestUploadV3: a hidden file input behind "Choose file", a separate Send,
// and the confirmation shown in place.
func TestUploadV3(t *testing.T) {
	s := startSim(t, sim.Options{Markup: "v3"})
	o := v3Options(t, s, SiteUpload)
	file := filepath.Join(t.TempDir(), "NIC-402963-P0Y5D.csv")
	if err := os.WriteFile(file, []byte("x\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text, err := Upload(context.Background(), o, file)
	if err != nil {
		t.Fatal(err)
	}
	if text != "Upload received" || len(s.Uploads()) != 1 {
		t.Errorf("confirmation %q, %d uploads; want Upload received and 1", text, len(s.Uploads()))
	}
}

// TestUploadUnknown: when neither the confirmation nor a refusal shows
// after the file was sent, the outcome is unknown: an error that says so,
// one upload at the portal, and no second send.
func TestUploadUnknown(t *testing.T) {
	s := startSim(t, sim.Options{})
	o := simOptions(t, s, SiteUpload)
	p := DefaultProfile()
	p.Upload.Confirmed = Sel{"#not-on-the-page"}
	p.Upload.OutcomeTimeout = Duration(time.Second)
	o.Profile = p
	file := filepath.Join(t.TempDir(), "NIC-402963-P0Y5D.csv")
	if err := os.WriteFile(file, []byte("x\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Upload(context.Background(), o, file)
	if !errors.Is(err, ErrUploadUnknown) || len(s.Uploads()) != 1 {
		t.Fatalf("err %v with %d uploads; want ErrUploadUnknown and 1", err, len(s.Uploads()))
	}
}
