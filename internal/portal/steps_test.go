package portal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/usererr"
)

// A sign-in page unlike seftsim's: a cookie banner that covers the page for
// a moment, a user name labelled by aria-labelledby, a "Next" that is a div
// with role=button, a password field drawn by script a moment later, a
// "Sign in" button enabled only once something is typed, a refusal shown in
// place (no page load), then a notice with a select, a checkbox and a
// confirm() dialog before the signed-in page.
const stepsPage = `<!doctype html><html><head><title>Gate</title><style>
#banner{position:fixed;inset:0;background:#fff;z-index:9}
</style></head><body>
<div id="banner">We use cookies <button id="ok">Accept cookies</button></div>
<main id="app"></main>
<script>
const app = document.getElementById('app');
setTimeout(() => document.getElementById('ok').onclick = () => document.getElementById('banner').remove(), 0);
function step1() {
  app.innerHTML = '<span id="acct-l">Account</span><input aria-labelledby="acct-l" id="acct">' +
    '<div role="button" tabindex="0" id="next">Next</div>';
  document.getElementById('next').onclick = () => { app.innerHTML = '<p>Loading…</p>'; setTimeout(step2, 300); };
}
function step2() {
  app.innerHTML = '<label for="pw">Secret</label><input type="password" id="pw">' +
    '<button id="go" disabled>Sign in</button><p id="msg"></p>';
  const pw = document.getElementById('pw'), go = document.getElementById('go');
  pw.oninput = () => { go.disabled = !pw.value; };
  go.onclick = () => fetch('/login', {method: 'POST', body: pw.value}).then(r => r.text()).then(t => {
    if (t === 'ok') notice(); else document.getElementById('msg').textContent = 'Those details do not match.';
  });
}
function notice() {
  app.innerHTML = '<h1>Notice</h1><label>Organisation <select id="org"><option>Pick</option><option value="isa">ISARIC</option></select></label>' +
    '<label><input type="checkbox" id="read"> I have read the notice</label><button id="proceed">Proceed</button>';
  document.getElementById('proceed').onclick = () => {
    if (document.getElementById('org').value !== 'isa' || !document.getElementById('read').checked) return;
    if (confirm('Continue to your files?')) app.innerHTML = '<a id="whoami" href="#">Signed in</a>';
  };
}
step1();
</script></body></html>`

const stepsProfile = `{
  "name": "steps-test",
  "login": {
    "path": "",
    "steps": [
      {"optional": true, "click": "text=Accept cookies"},
      {"fill": ["#no-such-field", "label=Account"], "with": "{user}"},
      {"click": "role=button[name=\"Next\"]"},
      {"fill": "label=Secret", "with": "{password}"},
      {"click": "xpath=//button[.='Sign in']"},
      {"select": "label=Organisation", "with": "ISARIC"},
      {"check": "label=I have read the notice"},
      {"optional": true, "click": "text=Not there", "timeout": "200ms"},
      {"dialog": "accept"},
      {"click": "text=Proceed"}
    ],
    "outcomes": {"signed_in": "#whoami", "refused": ["do not match"]}
  }
}`

func stepsServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(stepsPage))
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		b := make([]byte, 64)
		k, _ := r.Body.Read(b)
		if string(b[:k]) == "right" {
			w.Write([]byte("ok"))
			return
		}
		w.Write([]byte("no"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &n
}

func stepsOptions(t *testing.T, url, password string) Options {
	p, err := ParseProfile([]byte(stepsProfile), "")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Site: SiteDownload, URL: url, User: "someone", Password: password, Profile: p,
		StateDir: t.TempDir(), Log: testLogger(t), StepTimeout: 5 * time.Second}
	if err := o.normalise(); err != nil {
		t.Fatal(err)
	}
	return o
}

func signIn(t *testing.T, o Options) (*browserRun, error) {
	b, err := startBrowser(context.Background(), &o, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	tb, err := b.NewTab(true)
	if err != nil {
		t.Fatal(err)
	}
	return b, b.login(tb)
}

// TestLoginSteps drives that page by profile alone, and names the drifted
// selector (the first alternative for the account field matches nothing).
func TestLoginSteps(t *testing.T) {
	srv, n := stepsServer(t)
	b, err := signIn(t, stepsOptions(t, srv.URL, "right"))
	if err != nil {
		t.Fatal(err)
	}
	if n.Load() != 1 {
		t.Errorf("%d password POSTs, want 1", n.Load())
	}
	if d := b.Drift(); d["login.steps[1]"] != "label=Account" || len(d) != 1 {
		t.Errorf("drift = %v, want login.steps[1] -> label=Account only", d)
	}
}

// TestLoginRefusedInPlace: a refusal shown by script, with no page load, is
// recognised as a refusal (not an unknown outcome), sent once, and latched.
func TestLoginRefusedInPlace(t *testing.T) {
	srv, n := stepsServer(t)
	o := stepsOptions(t, srv.URL, "wrong")
	_, err := signIn(t, o)
	// Read once instead of watched, the page would show no outcome and the
	// run would end "unknown" after the outcome timeout.
	if !errors.Is(err, ErrLoginRejected) || errors.Is(err, ErrLatched) || errors.Is(err, ErrLoginUnknown) {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if n.Load() != 1 {
		t.Errorf("%d password POSTs, want 1", n.Load())
	}
	if _, err := signIn(t, o); !errors.Is(err, ErrLatched) || n.Load() != 1 {
		t.Errorf("second run: %v with %d POSTs; want ErrLatched and still 1", err, n.Load())
	}
}

// TestProfileMismatchBeforeSecret: a required step whose element never
// shows is a profile mismatch, and nothing was sent.
func TestProfileMismatchBeforeSecret(t *testing.T) {
	srv, n := stepsServer(t)
	o := stepsOptions(t, srv.URL, "right")
	o.Profile.Login.Steps[3].Fill = Sel{"label=Passphrase"}
	o.StepTimeout = 2 * time.Second
	_, err := signIn(t, o)
	if !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), "login.steps[3]") {
		t.Fatalf("err = %v, want ErrProfile naming login.steps[3]", err)
	}
	if n.Load() != 0 {
		t.Errorf("%d password POSTs, want 0", n.Load())
	}
	if l, _ := ReadLatch(o.StateDir, o.Site); l != nil {
		t.Errorf("a mismatch before sending latched: %+v", l)
	}
}

// TestSelectorSyntax: a selector that can never work is a configuration
// error naming its field when the profile loads.
func TestSelectorSyntax(t *testing.T) {
	for _, c := range []struct{ sel, field string }{
		{`role=button[name=Save]`, "login.steps[0]"},
		{`txt=Sign in`, "login.steps[0]"},
		{`label=`, "login.steps[0]"},
	} {
		prof := strings.Replace(stepsProfile, `{"optional": true, "click": "text=Accept cookies"}`, `{"click": "`+strings.ReplaceAll(c.sel, `"`, `\"`)+`"}`, 1)
		_, err := ParseProfile([]byte(prof), "")
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: err = %v, want one naming %s", c.sel, err, c.field)
		}
	}
}

// TestSelectorSyntaxInBrowser: CSS the browser cannot parse is found before
// anything is typed, and named by its field.
func TestSelectorSyntaxInBrowser(t *testing.T) {
	srv, n := stepsServer(t)
	o := stepsOptions(t, srv.URL, "right")
	o.Profile.Login.Outcomes.SignedIn = Sel{"div >> [[oops"}
	_, err := signIn(t, o)
	if !errors.Is(err, ErrProfile) || !usererr.Is(err) || !strings.Contains(err.Error(), "login.outcomes.signed_in") {
		t.Fatalf("err = %v, want a user error naming login.outcomes.signed_in", err)
	}
	if n.Load() != 0 {
		t.Errorf("%d password POSTs, want 0", n.Load())
	}
}
