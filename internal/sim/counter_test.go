package sim

import (
	"net/http"
	"net/url"
	"testing"
)

// Every login POST that carries a password counts, whatever becomes of it:
// refused, accepted, a bad CSRF token, the wrong user name, a locked account.
func TestPasswordPostsCounted(t *testing.T) {
	for _, markup := range []string{"v1", "v2"} {
		t.Run(markup, func(t *testing.T) {
			s := startSim(t, Options{Files: 1, Markup: markup})
			m := s.markup()
			c := newClient(t, s)
			env := s.Env()
			user, pass := env["SEFTBOT_DOWNLOAD_USER"], env["SEFTBOT_DOWNLOAD_PASSWORD"]
			posts := func() int { return s.State().Accounts[siteDownload].PasswordPosts }

			c.login(siteDownload, user, pass+"x")
			if n := posts(); n != 1 {
				t.Fatalf("after one wrong password: password_posts %d", n)
			}
			// A POST without the CSRF token still carried the password.
			c.post("/download/login", url.Values{m.userField: {user}, m.passField: {pass}})
			c.login(siteDownload, "someone-else", pass)
			// A POST without a password field does not count.
			c.post("/download/login", url.Values{m.userField: {user}})
			if n := posts(); n != 3 {
				t.Fatalf("password_posts %d, want 3", n)
			}
			if r := c.login(siteDownload, user, pass); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("login: %d", r.StatusCode)
			}
			_, st := admin(t, s, "GET", "/admin/state", "")
			acct := st["accounts"].(map[string]any)[siteDownload].(map[string]any)
			if acct["password_posts"] != float64(4) {
				t.Fatalf("admin state: %v", acct)
			}
			if up := s.State().Accounts[siteUpload].PasswordPosts; up != 0 {
				t.Fatalf("upload account counted %d", up)
			}
			if err := s.Reset(); err != nil {
				t.Fatal(err)
			}
			if n := posts(); n != 0 {
				t.Fatalf("after reset: %d", n)
			}
		})
	}
}

// Every file body sent whole counts as one download, in State and in the
// admin API; a refused (spent) token does not. Reset
// clears the count.
func TestDownloadsCounted(t *testing.T) {
	s := startSim(t, Options{Files: 3})
	c := newClient(t, s)
	c.signIn(siteDownload)
	l := c.listPage(1)
	if r := c.post("/download/fetch", url.Values{"token": {l.tokens[0]}}); r.StatusCode != http.StatusOK {
		t.Fatalf("fetch: %d", r.StatusCode)
	}
	// The spent token is refused: no second download.
	if r := c.post("/download/fetch", url.Values{"token": {l.tokens[0]}}); r.StatusCode != http.StatusGone {
		t.Fatalf("spent token: %d", r.StatusCode)
	}
	if n := s.State().Downloads; n != 1 {
		t.Fatalf("downloads %d, want 1", n)
	}
	_, st := admin(t, s, "GET", "/admin/state", "")
	if st["downloads"] != float64(1) {
		t.Fatalf("admin state downloads: %v", st["downloads"])
	}
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if n := s.State().Downloads; n != 0 {
		t.Fatalf("after reset: %d", n)
	}
}
