package portal

import (
	"context"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/testtool"
)

// TestReloginLogsCause: every extra sign-in in a run is explained in its
// log, with where the run was, the profile check that said the session had
// ended, and the page.
func TestReloginLogsCause(t *testing.T) {
	s := startSim(t, sim.Options{Files: 6, Faults: sim.Faults{ExpireAfter: 4}})
	o := simOptions(t, s, SiteDownload)
	o.Concurrency = 1
	var out testtool.Buffer
	o.Log = slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.New) != 6 {
		t.Fatalf("%d new files, want 6", len(res.New))
	}
	log := out.String()
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "signing in again") {
			lines = append(lines, l)
		}
	}
	logins := s.State().Accounts["download"].Logins
	if logins < 2 || len(lines) != logins-1 {
		t.Fatalf("%d sign-ins, %d explained re-logins; want every sign-in after the first explained:\n%s", logins, len(lines), log)
	}
	cause := regexp.MustCompile(`cause="(reading the list|clicking [^:]+): the (profile's session_expired text or selector matched|login form was shown without login\.outcomes\.signed_in), at https://127\.0\.0\.1:\d+/`)
	for _, l := range lines {
		if !cause.MatchString(l) {
			t.Errorf("re-login without its cause: %s", l)
		}
	}
	checkNoLeaks(t)
}

// TestSignInThroughIdP: the sign-in steps run on an identity provider on
// another site (a cookie banner over its pages, the e-mail, then the
// password, then "stay signed in?"), and a second sign-in in the same run,
// after the portal ended its session, finds the provider's session and
// skips the form: one password POST for the whole run, and every file
// byte-exact.
func TestSignInThroughIdP(t *testing.T) {
	s := startSim(t, sim.Options{Files: 6, Markup: "v4", V4: sim.V4Options{IdP: true, InterstitialDelay: 100 * time.Millisecond},
		Faults: sim.Faults{ExpireAfter: 6}})
	p, err := LoadProfile("testdata/profile-v4-idp.json", SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	o := simOptions(t, s, SiteDownload)
	o.Profile = p
	o.User += "@nhs.example" // the provider's account name is an e-mail address
	o.Concurrency = 1
	var out testtool.Buffer
	o.Log = slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := Download(context.Background(), o)
	log := out.String()
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if n := checkStaging(t, s, o); n != 6 || len(res.New) != 6 {
		t.Fatalf("staging %d, new %d; want 6", n, len(res.New))
	}
	st := s.State()
	a, v := st.Accounts["download"], st.V4
	if a.PasswordPosts != 1 || a.FailedLogins != 0 {
		t.Errorf("%d password POSTs, %d failed; want 1 and 0", a.PasswordPosts, a.FailedLogins)
	}
	if v.IdPSignIns < 2 || v.IdPSkipped < 1 {
		t.Errorf("%d sign-ins through the IdP, %d with its form skipped; want the session to end once and the form skipped then\n%s", v.IdPSignIns, v.IdPSkipped, log)
	}
	// The portal's redirects renewed the session through the provider by
	// themselves (inside a download's tab here); a sign-in seftbot makes
	// itself says why.
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "signing in again") && !strings.Contains(l, "cause=") {
			t.Errorf("re-login without its cause: %s", l)
		}
	}
	checkNoLeaks(t)
}

// TestSingleSignOnRenewalLogged: the portal's session ends while the
// identity provider's lives on; the next page of the list comes back
// signed in through the provider's redirects alone, with no password and
// no sign-in of seftbot's. That renewal is logged with its cause (the page
// and the site it passed through), as seftbot's own re-logins are.
func TestSingleSignOnRenewalLogged(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2, PageSize: 1, Markup: "v4", V4: sim.V4Options{IdP: true, InterstitialDelay: 100 * time.Millisecond}})
	p, err := LoadProfile("testdata/profile-v4-idp.json", SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	o := simOptions(t, s, SiteDownload)
	o.Profile = p
	o.User += "@nhs.example"
	o.Concurrency = 1
	var once sync.Once
	o.afterClick = func(*tab) {
		// After the first click: the portal's idle timeout passes, the
		// provider's session (a day) does not.
		once.Do(func() {
			if _, err := s.AdvanceClock(20 * time.Minute); err != nil {
				t.Error(err)
			}
		})
	}
	var out testtool.Buffer
	o.Log = slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := Download(context.Background(), o)
	log := out.String()
	if err != nil || len(res.New) != 2 {
		t.Fatalf("err %v, new %d (%+v); want 2\n%s", err, len(res.New), res.New, log)
	}
	v := s.State().V4
	if v.IdPSignIns != 2 || v.IdPSkipped != 1 || s.State().Accounts["download"].PasswordPosts != 1 {
		t.Fatalf("IdP sign-ins %d, skipped forms %d; want 2 and 1, one password POST\n%s", v.IdPSignIns, v.IdPSkipped, log)
	}
	u, err := url.Parse(s.PortalURL())
	if err != nil {
		t.Fatal(err)
	}
	idp := "https://localhost:" + u.Port()
	if !strings.Contains(log, "single sign-on") || !strings.Contains(log, "via="+idp) || !strings.Contains(log, "cause=\"opening ") {
		t.Errorf("the renewal through %s is not logged with its cause:\n%s", idp, log)
	}
}
