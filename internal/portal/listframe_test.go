package portal

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/testtool"
)

// TestFrameListStreamed: the list's pages load inside a frame and arrive
// in two parts, the rows first and the page links half a second later, as
// a large page over a slow link does. A page still being parsed is not
// read: every page is walked and every file fetched, not only those of
// the pages before the first one caught half-drawn (the walk used to end
// there, without a word, having read no page links yet).
func TestFrameListStreamed(t *testing.T) {
	const pages, perPage = 3, 3
	srv := testtool.FormPortal(t, func(mux *http.ServeMux) {
		mux.HandleFunc("/files", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, `<!doctype html><html><body><a id="out" href="/">Sign out</a><h1>Files</h1>
	<iframe id="list-frame" src="/list?page=1" style="width:100%;height:30em"></iframe></body></html>`)
		})
		mux.HandleFunc("/list", func(w http.ResponseWriter, r *http.Request) {
			n, _ := strconv.Atoi(r.URL.Query().Get("page"))
			n = max(n, 1)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><html><body><table id="list">`)
			for i := 1; i <= perPage; i++ {
				name := fmt.Sprintf("f%d_%d.csv", n, i)
				fmt.Fprintf(w, `<tr class="file"><td class="name">%s</td><td>11</td><td><a href="/get/%s">Download</a></td></tr>`, name, name)
			}
			fmt.Fprint(w, `</table>`)
			w.(http.Flusher).Flush()
			select { // the page links come later, as over a slow link
			case <-time.After(500 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
			fmt.Fprint(w, `<p class="pages">`)
			for p := 1; p <= pages; p++ {
				if p == n {
					fmt.Fprintf(w, `<b>%d</b> `, p)
				} else {
					fmt.Fprintf(w, `<a href="/list?page=%d">%d</a> `, p, p)
				}
			}
			fmt.Fprint(w, `</p></body></html>`)
		})
	})
	o := formPortalOptions(t, srv, `  "files": {"path": "files", "frame": "#list-frame", "row": "#list tr.file", "name": ".name", "size": "td:nth-child(2)",
            "download": "text=Download", "more": {"mode": "in_place", "control": ".pages b + a"}}`)
	res, err := Download(context.Background(), o)
	if err != nil || len(res.New) != pages*perPage {
		t.Fatalf("err %v, new %d; want %d", err, len(res.New), pages*perPage)
	}
	checkNoLeaks(t)
}

// TestAppendNoAnswerWarned: a "load more" control that brings no rows
// while it stays on offer ends the list (some portals never hide it), but
// not silently: the run's warnings, which the report mail carries, say
// the list was taken as complete with the control still shown.
func TestAppendNoAnswerWarned(t *testing.T) {
	srv := testtool.FormPortal(t, func(mux *http.ServeMux) {
		mux.HandleFunc("/files", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><html><body><a id="out" href="/">Sign out</a><table id="list">`)
			for i := 1; i <= 3; i++ {
				fmt.Fprintf(w, `<tr class="file"><td class="name">f_%d.csv</td><td>11</td><td><a href="/get/f_%d.csv">Download</a></td></tr>`, i, i)
			}
			fmt.Fprint(w, `</table><button type="button" id="more">Load more</button></body></html>`) // it loads nothing
		})
	})
	o := formPortalOptions(t, srv, `  "files": {"path": "files", "row": "#list tr.file", "name": ".name", "size": "td:nth-child(2)",
            "download": "text=Download", "more": {"mode": "append", "control": "#more"}}`)
	o.StepTimeout = 2 * time.Second
	res, err := Download(context.Background(), o)
	if err != nil || len(res.New) != 3 {
		t.Fatalf("err %v, new %d; want 3", err, len(res.New))
	}
	if !slicesContainsPart(res.Warnings, "was still shown after 3 rows") {
		t.Errorf("no warning that the list was taken as complete: %q", res.Warnings)
	}
}

func slicesContainsPart(ss []string, part string) bool {
	for _, s := range ss {
		if strings.Contains(s, part) {
			return true
		}
	}
	return false
}

// formPortalOptions runs against testtool.FormPortal srv with the profile
// whose sections after login are rest: one tab, two attempts per file, a
// 10 s step timeout.
func formPortalOptions(t *testing.T, srv *httptest.Server, rest string) Options {
	t.Helper()
	p, err := ParseProfile([]byte("{\n  "+testtool.FormPortalLogin+",\n"+rest+"\n}"), SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return Options{Site: SiteDownload, URL: srv.URL + "/", User: "u", Password: "pw", Profile: p, Retries: 2, Concurrency: 1,
		StateDir: filepath.Join(dir, "state"), StagingDir: filepath.Join(dir, "staging"), Log: testLogger(t), StepTimeout: 10 * time.Second}
}
