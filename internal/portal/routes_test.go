package portal

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// routeFiles are served by routesServer; each row starts its download in
// another way.
var routeFiles = map[string]string{
	"confirm-data.csv": "a,b\r\n1,2\r\n",
	"ask-blob.csv":     "c,d\r\n3,4\r\n",
	"plain-post.csv":   "e,f\r\n5,6\r\n",
}

// routesPage: a list whose first row asks confirm() and then saves a data:
// URL, whose second asks "Are you sure?" in the page and then saves a blob:
// URL, and whose third posts a form.
func routesPage() string {
	data := "data:text/csv;base64," + base64.StdEncoding.EncodeToString([]byte(routeFiles["confirm-data.csv"]))
	return fmt.Sprintf(`<!doctype html><html><body>
<a id="out" href="/">Sign out</a>
<div class="row"><span class="n">confirm-data.csv (new)</span><button class="get" data-r="1">Get</button></div>
<div class="row"><span class="n">ask-blob.csv (new)</span><button class="get" data-r="2">Get</button></div>
<div class="row"><span class="n">plain-post.csv (new)</span><form method="post" action="/post"><button class="get">Get</button></form></div>
<div id="ask" hidden>Are you sure? <button id="yes">Yes</button></div>
<script>
function save(href, name) { const a = document.createElement('a'); a.href = href; a.download = name; document.body.append(a); a.click(); a.remove(); }
document.querySelector('[data-r="1"]').onclick = () => { if (confirm('Download it?')) save(%q, 'confirm-data.csv'); };
document.querySelector('[data-r="2"]').onclick = () => {
  const ask = document.getElementById('ask'); ask.hidden = false;
  document.getElementById('yes').onclick = () => { ask.hidden = true;
    save(URL.createObjectURL(new Blob([%q], {type: 'text/csv'})), 'ask-blob.csv'); };
};
</script></body></html>`, data, routeFiles["ask-blob.csv"])
}

const routesProfile = `{
  "login": {
    "steps": [{"fill": "#u", "with": "{user}"}, {"fill": "#p", "with": "{password}"}, {"click": "text=Go"}],
    "outcomes": {"signed_in": "#out", "refused": ["no"]}
  },
  "files": {
    "path": "files",
    "row": ".row",
    "name": {"in": ".n", "regex": "^(\\S+) \\(new\\)$"},
    "download": ["text=Fetch", "text=Get"],
    "after_click": [{"dialog": "accept"}, {"optional": true, "click": "text=Yes", "timeout": "1s"}]
  }
}`

// TestDownloadRoutes: a confirm() dialog answered by a profile step, an
// in-page "Are you sure?" answered by an optional step, and downloads by
// data: URL, blob: URL and form POST, each traced to its row, byte-exact;
// a download control that only matched through its second alternative is
// reported as drifted.
func TestDownloadRoutes(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`<!doctype html><form action="/files"><input id="u"><input id="p" type="password"><button>Go</button></form>`))
	})
	mux.HandleFunc("/files", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(routesPage())) })
	mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Disposition", `attachment; filename="plain-post.csv"`)
		w.Write([]byte(routeFiles["plain-post.csv"]))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p, err := ParseProfile([]byte(routesProfile), SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o := Options{URL: srv.URL, User: "u", Password: "pw", Profile: p, Concurrency: 1,
		StateDir: filepath.Join(dir, "state"), StagingDir: filepath.Join(dir, "staging"),
		Log: testLogger(t), StepTimeout: 10 * time.Second}
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	// The portal renamed its button: the night works, and says so.
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "files.download") || !strings.Contains(res.Warnings[0], "text=Get") {
		t.Errorf("warnings = %q, want one naming the drifted files.download", res.Warnings)
	}
	if len(res.New) != len(routeFiles) {
		t.Fatalf("fetched %d files, want %d", len(res.New), len(routeFiles))
	}
	for _, f := range res.New {
		b, err := os.ReadFile(filepath.Join(o.StagingDir, f.LocalName))
		if err != nil || string(b) != routeFiles[f.Name] {
			t.Errorf("%s: %q %v, want %q", f.Name, b, err, routeFiles[f.Name])
		}
	}
}
