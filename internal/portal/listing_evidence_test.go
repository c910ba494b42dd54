package portal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const evidenceProfile = `{
  "login": {
    "steps": [{"fill": "#u", "with": "{user}"}, {"fill": "#p", "with": "{password}"}, {"click": "text=Go"}],
    "outcomes": {"signed_in": "#out", "refused": ["no"]}
  },
  "files": {
    "path": "files",
    "row": ".row",
    "name": {"in": ".n"},
    "download": "text=Get",
    "more": {"mode": "navigate", "control": "a.next-page"}
  }
}`

// TestListingMoreEvidence: a list that ends on its first page while the
// profile's more control matched nothing is reported as "files are being
// missed" only with evidence on the page (a next link or button, "page 1
// of N" with N > 1, a count above the rows read); a list that simply fits
// on one page, "Page 1 of 1" included, is no alarm.
func TestListingMoreEvidence(t *testing.T) {
	cases := []struct {
		name, extra string
		evidence    string // "" = no warning
	}{
		{"one page, nothing else", ``, ""},
		{"page 1 of 1", `<p class="pager">Page 1 of 1</p>`, ""},
		{"a count equal to the rows", `<p>2 files</p>`, ""},
		{"page 1 of 3", `<p class="pager">Page 1 of 3</p>`, `the text "Page 1 of 3"`},
		{"a count above the rows", `<p>Showing 2 of 160 files</p>`, `the text "160 files"`},
		{"a renamed next link", `<p><a class="forward" rel="next" href="files?page=2">Next</a></p>`, `a control "Next"`},
		{"a load-more button", `<button type="button">Load more</button>`, `a control "Load more"`},
	}
	var page string
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<!doctype html><form action="/files"><input id="u"><input id="p" type="password"><button>Go</button></form>`))
	})
	mux.HandleFunc("/files", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(page)) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p, err := ParseProfile([]byte(evidenceProfile), SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			page = `<!doctype html><html><body><p id="out">Signed in</p>
<div class="row"><span class="n">a.csv</span> <a href="data:text/csv,a" download="a.csv">Get</a></div>
<div class="row"><span class="n">b.csv</span> <a href="data:text/csv,b" download="b.csv">Get</a></div>
` + c.extra + `</body></html>`
			dir := t.TempDir()
			o := Options{URL: srv.URL, User: "u", Password: "pw", Profile: p, Concurrency: 1,
				StateDir: filepath.Join(dir, "state"), StagingDir: filepath.Join(dir, "staging"),
				Log: testLogger(t), StepTimeout: 10 * time.Second}
			res, err := Download(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.New) != 2 {
				t.Fatalf("fetched %d files, want 2", len(res.New))
			}
			switch {
			case c.evidence == "" && len(res.Warnings) != 0:
				t.Errorf("a one-page list raised %q", res.Warnings)
			case c.evidence != "" && (len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "but the page shows "+c.evidence) ||
				!strings.Contains(res.Warnings[0], "files are being missed")):
				t.Errorf("warnings %q, want one naming %s", res.Warnings, c.evidence)
			}
		})
	}
}
