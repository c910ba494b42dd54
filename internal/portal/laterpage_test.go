package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

const laterPageProfile = `{
  "login": {
    "steps": [{"fill": "#u", "with": "{user}"}, {"fill": "#p", "with": "{password}"}, {"click": "text=Go"}],
    "outcomes": {"signed_in": "#out", "refused": ["Wrong password"]}
  },
  "session_expired": {"text": ["Your session has expired"]},
  "files": {"path": "files", "row": ".row", "name": {"in": ".n"}, "download": "text=Get"}
}`

// TestPageDrawnAfterLoad: a download click that loads a page instead,
// whose "session expired" text a script draws only after the load event.
// seftbot must wait for the page to say what it is, recognise the expiry,
// sign in again (the one case that allows a second password) and then get
// the file; read at the load event, the page says nothing and every retry
// meets the same dead session.
func TestPageDrawnAfterLoad(t *testing.T) {
	const body = "x,y\r\n1,2\r\n"
	var logins atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<!doctype html><form method="post" action="/login"><input id="u" name="u"><input id="p" name="p" type="password"><button>Go</button></form>`))
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		n := logins.Add(1)
		http.SetCookie(w, &http.Cookie{Name: "s", Value: string(rune('0' + n)), Path: "/"})
		http.Redirect(w, r, "/files", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /files", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<!doctype html><a id="out" href="/">Sign out</a><div class="row"><span class="n">a.csv</span><a href="/get">Get</a></div>`))
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("s"); err != nil || c.Value == "1" {
			// The first session has died; the page says so by script.
			w.Write([]byte(`<!doctype html><body><script>setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<p>Your session has expired</p>'), 300)</script></body>`))
			return
		}
		w.Header().Set("Content-Disposition", `attachment; filename="a.csv"`)
		w.Write([]byte(body))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p, err := ParseProfile([]byte(laterPageProfile), SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := Options{URL: srv.URL, User: "u", Password: "pw", Profile: p, Concurrency: 1, Retries: 3,
		StateDir: filepath.Join(dir, "state"), StagingDir: filepath.Join(dir, "staging"),
		Log: testLogger(t), StepTimeout: 10 * time.Second}
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatalf("%v (sign-ins: %d)", err, logins.Load())
	}
	if n := logins.Load(); n != 2 {
		t.Errorf("%d sign-ins, want 2: one, then one after the recognised expiry", n)
	}
	if len(res.New) != 1 {
		t.Fatalf("fetched %d files, want 1", len(res.New))
	}
	if b, err := os.ReadFile(filepath.Join(o.StagingDir, res.New[0].LocalName)); err != nil || string(b) != body {
		t.Errorf("a.csv: %q %v", b, err)
	}
}
