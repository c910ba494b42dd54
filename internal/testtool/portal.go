package testtool

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FormPortal serves a portal nobody at seftsim wrote, for tests of the
// engine on markup of their own: a one-page sign-in form at / (#u, #p and
// a "Go" button) that leads to /files, and /get/NAME, which sends an
// 11-byte file named NAME (its first ten characters and a newline). pages
// adds the test's own routes, /files at least.
func FormPortal(t testing.TB, pages func(mux *http.ServeMux)) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!doctype html><html><body><form method="post" action="/login">
<input id="u" name="u"><input id="p" name="p" type="password"><button>Go</button></form></body></html>`)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/files", http.StatusSeeOther)
	})
	mux.HandleFunc("/get/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		w.Header().Set("Content-Type", "text/csv")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		_, _ = fmt.Fprintf(w, "%-10.10s\n", name)
	})
	pages(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// FormPortalLogin is the login section of a site profile for FormPortal.
const FormPortalLogin = `"login": {"steps": [{"fill": "#u", "with": "{user}"}, {"fill": "#p", "with": "{password}"}, {"click": "text=Go"}],
            "outcomes": {"signed_in": "#out", "refused": ["Wrong password"]}}`
