package portal

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/testtool"
)

// redrawPage is a list nobody at seftsim wrote: each row must be requested;
// a moment later the whole table is drawn again from scratch, in the
// other order, the requested row now holding its link. An element held
// from before the redraw is gone, and a row's place has changed: only its
// name finds it again.
const redrawPage = `<!doctype html><html><head><title>Files</title></head><body><a id="out" href="/">Sign out</a>
<table id="list"></table>
<script>
const files = [{name: 'alpha_001.csv', size: 11}, {name: 'beta_002.csv', size: 11}, {name: 'gamma_003.csv', size: 11}];
const ready = {};
let flip = false;
function draw() {
  const rows = flip ? files.slice().reverse() : files;
  document.getElementById('list').innerHTML = '<tr><th>Name</th><th>Bytes</th><th></th></tr>' + rows.map((f) =>
    '<tr class="file"><td class="name">' + f.name + '</td><td>' + f.size + '</td><td>' +
    (ready[f.name] ? '<a href="/get/' + f.name + '">Download</a>' : '<button type="button" class="req" data-name="' + f.name + '">Request</button>') +
    '</td></tr>').join('');
}
document.addEventListener('click', (ev) => {
  const b = ev.target.closest('button.req');
  if (!b) return;
  b.disabled = true;
  setTimeout(() => { ready[b.dataset.name] = true; flip = !flip; draw(); }, 300);
});
draw();
</script></body></html>`

// TestRowStepsRedrawnList: files.download as steps (Request, wait for the
// link, click it) on a list drawn again, reordered, while files are
// prepared. Every step finds its row again by name: each file arrives
// under its own name, with its own bytes.
func TestRowStepsRedrawnList(t *testing.T) {
	srv := testtool.FormPortal(t, func(mux *http.ServeMux) {
		mux.HandleFunc("/files", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, redrawPage)
		})
	})
	o := formPortalOptions(t, srv, `  "files": {"path": "files", "row": "#list tr.file", "name": ".name", "size": "td:nth-child(2)",
            "download": [{"click": "text=Request", "optional": true}, {"wait_for": "text=Download"}, {"click": "text=Download"}]}`)
	res, err := Download(context.Background(), o)
	if err != nil || len(res.New) != 3 {
		t.Fatalf("err %v, new %d; want 3", err, len(res.New))
	}
	for _, f := range res.New {
		b, err := os.ReadFile(filepath.Join(o.StagingDir, f.LocalName))
		if err != nil || strings.TrimSpace(string(b)) != f.Name[:10] {
			t.Errorf("%s holds %q (%v): another row's file", f.Name, b, err)
		}
	}
	checkNoLeaks(t)
}

// TestPlanRowSteps: the steps before the first wait are the request, the
// waits and clicks after it (the last click aside) the collection.
func TestPlanRowSteps(t *testing.T) {
	p, err := ParseProfile([]byte(`{
  "login": {"steps": [{"fill": "#u", "with": "{user}"}, {"fill": "#p", "with": "{password}"}, {"click": "text=Go"}],
            "outcomes": {"signed_in": "#out", "refused": ["no"]}},
  "files": {"row": ".r", "name": ".n", "download": [{"click": "text=Request", "optional": true}, {"wait_for": "a.get"}, {"click": "a.get"}]}
}`), SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	if rp := planRowSteps(p.Files.DownloadSteps); len(rp.request) != 1 || len(rp.collect) != 1 || rp.first != 1 {
		t.Errorf("plan %+v; want request [click], collect [wait] from step 1", rp)
	}
}

// readyPage: the first row takes 3 s to prepare, the second 200 ms; a
// prepared link works for 1.5 s after it is made.
const readyPage = `<!doctype html><html><head><title>Files</title></head><body><a id="out" href="/">Sign out</a>
<table id="list">
<tr class="file" data-delay="3000"><td class="name">slow_001.csv</td><td>11</td><td><button type="button" class="req">Request</button></td></tr>
<tr class="file" data-delay="200"><td class="name">fast_002.csv</td><td>11</td><td><button type="button" class="req">Request</button></td></tr>
</table>
<script>
document.addEventListener('click', (ev) => {
  const b = ev.target.closest('button.req');
  if (!b) return;
  const tr = b.closest('tr'), name = tr.querySelector('.name').textContent;
  b.disabled = true;
  setTimeout(async () => {
    const url = await (await fetch('/make/' + name)).text();
    b.parentElement.innerHTML = '<a href="' + url + '">Download</a>';
  }, +tr.dataset.delay);
});
</script></body></html>`

// TestRowStepsReadyFirst: files prepared at different speeds are
// collected in the order they become ready, so the quick one's short-lived
// link is used at once instead of expiring behind the slow one.
func TestRowStepsReadyFirst(t *testing.T) {
	var mu sync.Mutex
	made := map[string]time.Time{}
	expired := 0
	srv := testtool.FormPortal(t, func(mux *http.ServeMux) {
		mux.HandleFunc("/files", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, readyPage)
		})
		mux.HandleFunc("/make/{name}", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			made[r.PathValue("name")] = time.Now()
			mu.Unlock()
			_, _ = io.WriteString(w, "/ready/"+r.PathValue("name"))
		})
		mux.HandleFunc("/ready/{name}", func(w http.ResponseWriter, r *http.Request) {
			name := r.PathValue("name")
			mu.Lock()
			at, ok := made[name]
			late := !ok || time.Since(at) > 1500*time.Millisecond
			if late {
				expired++
			}
			mu.Unlock()
			if late {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(http.StatusGone)
				_, _ = io.WriteString(w, "<p>This link has expired.</p>")
				return
			}
			http.Redirect(w, r, "/get/"+name, http.StatusFound) // FormPortal's file
		})
	})
	o := formPortalOptions(t, srv, `  "files": {"path": "files", "row": "#list tr.file", "name": ".name", "size": "td:nth-child(2)",
            "download": [{"click": "text=Request", "optional": true}, {"wait_for": "text=Download"}, {"click": "text=Download"}]},
  "link_expired_text": ["This link has expired"]`)
	res, err := Download(context.Background(), o)
	if err != nil || len(res.New) != 2 {
		t.Fatalf("err %v, new %d; want 2", err, len(res.New))
	}
	mu.Lock()
	defer mu.Unlock()
	if expired != 0 {
		t.Errorf("%d links used after they expired: the quick file waited behind the slow one", expired)
	}
}
