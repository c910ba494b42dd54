package browser

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/testtool"
)

// framedForm is a form inside an iframe: the name typed is echoed below it
// when Go is clicked (by a real mouse click at the button's centre).
const framedForm = `<!doctype html><title>inner</title><body style="margin:40px">
<label>Name <input id="n"></label> <button id="go" onclick="document.getElementById('done').textContent = 'Done: ' + document.getElementById('n').value">Go</button>
<p id="done"></p>
<label>File <input type="file" id="up"></label>`

// TestStepsInFrames: steps whose targets read frame=IFRAME >> INNER fill,
// click and wait inside an iframe of the same origin, of another origin of
// the same site, and of another site (a process of its own, reached by
// attaching to its target). The click is a mouse click at the point the
// frame's offset puts it.
func TestStepsInFrames(t *testing.T) {
	var inner string
	mux := http.NewServeMux()
	mux.HandleFunc("/inner", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, framedForm)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><title>outer</title><body style="margin:25px"><h1>Outer</h1>
<iframe id="f" src="%s" style="width:600px;height:300px;border:7px solid"></iframe>`, inner)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	other := httptest.NewServer(mux) // another port: another origin, same site
	defer other.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	for _, c := range []struct{ name, inner string }{
		{"same-origin", srv.URL + "/inner"},
		{"cross-origin", other.URL + "/inner"},
		{"cross-site", "http://localhost:" + port + "/inner"},
	} {
		t.Run(c.name, func(t *testing.T) {
			inner = c.inner
			var logs testtool.Buffer
			tab := startForTest(t, Options{Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err := tab.Navigate(srv.URL + "/"); err != nil {
				t.Fatal(err)
			}
			b := tab.Browser()
			file := filepath.Join(t.TempDir(), "cohort.csv")
			if err := os.WriteFile(file, []byte("x\r\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			for i, s := range []Step{
				{WaitFor: Sel{"frame=#f >> #go"}},
				{Fill: Sel{"frame=#f >> label=Name"}, With: "{user}"},
				{Click: Sel{"frame=#f >> text=Go"}},
				{WaitText: []string{"Done: ada"}, WaitFor: Sel{"frame=#f >> #done"}},
				{File: Sel{"frame=#f >> label=File"}},
			} {
				if _, err := b.RunStep(tab, fmt.Sprintf("steps[%d]", i), s, Vars{User: "ada", File: file}); err != nil {
					t.Fatalf("step %d (%s): %v", i, s.Describe(), err)
				}
			}
			var r struct {
				Text string `json:"text"`
			}
			if err := tab.EvalIn(Sel{"#f"}, "text", map[string]any{"sel": "#done"}, &r); err != nil || r.Text != "Done: ada" {
				t.Fatalf("the frame says %q (%v), want Done: ada", r.Text, err)
			}
			if attached := strings.Contains(logs.String(), "attached to its target"); attached != (c.name == "cross-site") {
				t.Errorf("attached to the frame's own target: %v; only a frame of another site runs in a process of its own", attached)
			}
			chosen, err := tab.EvalExprIn(Sel{"#f"}, `(() => { const f = document.getElementById("up").files; return f.length ? f[0].name : ""; })()`, 10*time.Second)
			if err != nil || string(chosen) != `"cohort.csv"` {
				t.Errorf("the frame's file input holds %s (%v), want cohort.csv", chosen, err)
			}
			var top struct {
				Found bool `json:"found"`
			}
			if err := tab.Eval("text", map[string]any{"sel": "#done"}, &top); err != nil || top.Found {
				t.Errorf("#done found in the top page (%v): the ops did not run in the frame", err)
			}
		})
	}
}

// TestFrameNotThere: an op in a frame the page does not have fails with
// ErrNoFrame once its wait is over, instead of waiting for ever.
func TestFrameNotThere(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<!doctype html><title>t</title><p>no frames here`)
	}))
	defer srv.Close()
	tab := startForTest(t, Options{})
	if err := tab.Navigate(srv.URL); err != nil {
		t.Fatal(err)
	}
	var r struct {
		OK bool `json:"ok"`
	}
	err := tab.AwaitIn(Sel{"#nope"}, "waitCond", map[string]any{"sel": "p"}, 500*time.Millisecond, &r)
	if err == nil || !strings.Contains(err.Error(), "frame not found") {
		t.Fatalf("err %v, want frame not found", err)
	}
}
