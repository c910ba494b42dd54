package portal

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/sim"
)

func posts(s *sim.Sim, site string) int { return s.State().Accounts[site].PasswordPosts }

// TestWrongPasswordLatched: a refused password is POSTed exactly once, the
// run exits 5, and the next run sends nothing at all until the password
// setting changes (then it is sent once more, and works).
func TestWrongPasswordLatched(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2})
	const wrong = "not-the-password-Xy7"
	run := func(env ...string) (int, string) {
		cmd, stdout, stderr := seftbotCmd(t, s, env, "download")
		err := cmd.Run()
		if strings.Contains(stdout.String()+stderr.String(), wrong) {
			t.Error("the password was printed")
		}
		return exitCode(err), stderr.String()
	}
	code, stderr := run("SEFTBOT_DOWNLOAD_PASSWORD=" + wrong)
	if code != 5 || posts(s, "download") != 1 {
		t.Fatalf("first run: exit %d, %d password POSTs; want 5 and 1\n%s", code, posts(s, "download"), stderr)
	}
	for night := 2; night <= 3; night++ {
		code, stderr = run("SEFTBOT_DOWNLOAD_PASSWORD=" + wrong)
		if code != 5 || posts(s, "download") != 1 {
			t.Fatalf("night %d: exit %d, %d password POSTs; want 5 and still 1\n%s", night, code, posts(s, "download"), stderr)
		}
		if !strings.Contains(stderr, "latch") || !strings.Contains(stderr, "login-latch lift") {
			t.Errorf("night %d: the error does not name the latch and how to lift it:\n%s", night, stderr)
		}
	}
	if a := s.State().Accounts["download"]; a.Locked {
		t.Fatal("the account was locked")
	}
	// The operator fixes the password setting: the latch lifts by itself.
	code, stderr = run()
	if code != 0 || posts(s, "download") != 2 {
		t.Fatalf("with the right password: exit %d, %d POSTs; want 0 and 2\n%s", code, posts(s, "download"), stderr)
	}
	if l, err := ReadLatch(filepath.Join(s.Dir(), "state"), SiteDownload); err != nil || l != nil {
		t.Errorf("latch after a changed password: %+v %v", l, err)
	}
	checkNoLeaks(t)
}

// TestSlowLoginAnswer: an answer to the password that takes longer than the
// step timeout is waited for (the outcome timeout), not taken for a
// failure and not sent again.
func TestSlowLoginAnswer(t *testing.T) {
	s := startSim(t, sim.Options{Files: 3, Faults: sim.Faults{SlowLogin: 3 * time.Second}})
	o := simOptions(t, s, SiteDownload)
	o.StepTimeout = time.Second
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.New) != 3 || posts(s, "download") != 1 {
		t.Errorf("fetched %d, password POSTs %d; want 3 and 1", len(res.New), posts(s, "download"))
	}
}

// TestUnknownOutcomeLatched: after the password, a page that shows none of
// the profile's outcomes is "unknown": the run stops with ErrLoginUnknown,
// never sends the password again, and latches, because the portal may have
// counted a failure.
func TestUnknownOutcomeLatched(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2})
	o := simOptions(t, s, SiteDownload)
	p := DefaultProfile()
	p.Login.Outcomes.SignedIn = Sel{"#not-on-any-page"}
	p.Login.OutcomeTimeout = Duration(2 * time.Second)
	o.Profile = p
	_, err := Download(context.Background(), o)
	if !errors.Is(err, ErrLoginUnknown) {
		t.Fatalf("err = %v, want ErrLoginUnknown", err)
	}
	if n := posts(s, "download"); n != 1 {
		t.Fatalf("%d password POSTs, want 1", n)
	}
	l, err := ReadLatch(o.StateDir, SiteDownload)
	if err != nil || l == nil || l.Kind != LatchUnknown {
		t.Fatalf("latch %+v %v, want kind unknown", l, err)
	}
	b, _ := os.ReadFile(latchPath(o.StateDir, SiteDownload))
	if strings.Contains(string(b), o.Password) {
		t.Fatal("the latch file holds the password")
	}
	// The next run, even with a profile that would work, sends nothing.
	o.Profile = DefaultProfile()
	_, err = Download(context.Background(), o)
	if !errors.Is(err, ErrLatched) || posts(s, "download") != 1 {
		t.Fatalf("second run: %v, %d POSTs; want ErrLatched and still 1", err, posts(s, "download"))
	}
	if err := LiftLatch(o.StateDir, SiteDownload); err != nil {
		t.Fatal(err)
	}
	if _, err := Download(context.Background(), o); err != nil {
		t.Fatalf("after lifting: %v", err)
	}
}

// TestLockedAccountLatched: "locked" is recognised as its own outcome and
// latches the same way.
func TestLockedAccountLatched(t *testing.T) {
	s := startSim(t, sim.Options{Files: 1})
	o := simOptions(t, s, SiteDownload)
	pw := o.Password
	o.Password = "wrong-1"
	for range 3 { // seftsim locks after 3 failures; lift the latch by hand each time
		_, err := Download(context.Background(), o)
		if !errors.Is(err, ErrLoginRejected) {
			t.Fatalf("err = %v", err)
		}
		LiftLatch(o.StateDir, SiteDownload)
	}
	if !s.State().Accounts["download"].Locked {
		t.Fatal("seftsim did not lock the account")
	}
	o.Password = pw
	_, err := Download(context.Background(), o)
	l, _ := ReadLatch(o.StateDir, SiteDownload)
	if !errors.Is(err, ErrLoginRejected) || l == nil || l.Kind != LatchLocked {
		t.Fatalf("err %v latch %+v; want a locked latch", err, l)
	}
}

// TestEnterBeforePasswordOnOnePageForm: a profile that presses Enter in
// the user name field before the password is typed loads (on a two-step
// sign-in that Enter only leads on), but on a one-page form it would send
// an empty password. The page shows the password field in the same form,
// so the step is refused before it runs: no password POST, no failed
// sign-in, no latch, a profile error naming both steps.
func TestEnterBeforePasswordOnOnePageForm(t *testing.T) {
	s := startSim(t, sim.Options{Files: 1})
	for _, c := range []struct{ name, step string }{
		{"enter", `{"press": "Enter", "in": "label=User name"}`},
		{"submit-click", `{"click": "text=Sign in"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The built-in profile with the step put before the password fill.
			p := DefaultProfile()
			var st Step
			if err := json.Unmarshal([]byte(c.step), &st); err != nil {
				t.Fatal(err)
			}
			p.Login.Steps = append([]Step{p.Login.Steps[0], st}, p.Login.Steps[1:]...)
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			if p, err = ParseProfile(b, SiteDownload); err != nil {
				t.Fatalf("the profile does not load: %v", err)
			}
			o := simOptions(t, s, SiteDownload)
			o.Profile = p
			_, err = Download(context.Background(), o)
			if !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), "login.steps[1]") || !strings.Contains(err.Error(), "login.steps[2]") || !strings.Contains(err.Error(), "empty password") {
				t.Fatalf("err %v, want a profile error naming login.steps[1] and [2]", err)
			}
			a := s.State().Accounts[SiteDownload]
			if a.PasswordPosts != 0 || a.FailedLogins != 0 {
				t.Errorf("%d password POSTs, %d failed sign-ins; want none", a.PasswordPosts, a.FailedLogins)
			}
			if l, _ := ReadLatch(o.StateDir, SiteDownload); l != nil {
				t.Errorf("latched: %+v", l)
			}
		})
	}
}
