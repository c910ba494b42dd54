package browser

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// callerPage draws its button by script after the load event, so an op
// that finds it must wait.
const callerPage = `<!doctype html><title>t</title><body><p id="p">hello
<script>setTimeout(() => { const b = document.createElement('button'); b.textContent = 'Ready'; document.body.append(b); }, 300);</script>`

// callerScript registers two ops with page.js's helpers and config.
const callerScript = `(function (E) {
  E.register('greeting', (a) => E.waitFor(() => {
    const e = E.visibleFirst(a.sel);
    return { ok: !!e, text: e ? E.norm(E.textOf(e)) : '', want: E.P.want };
  }, a.ms));
  E.register('count', (a) => ({ n: E.all(a.sel).els.length, alt: E.all(a.sel).alt }));
})`

func startForTest(t *testing.T, o Options) *Tab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	o.StepTimeout = 30 * time.Second
	b, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	t.Cleanup(b.Close)
	tab, err := b.NewTab(true)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// TestCallerOps: ops a caller's PageScript registers are called by name
// through Await and Eval in real Chromium, with page.js's helpers (waiting,
// locators) and the caller's PageConfig; an engine op's name cannot be
// taken.
func TestCallerOps(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, callerPage)
	}))
	defer srv.Close()

	tab := startForTest(t, Options{PageConfig: map[string]string{"want": "from the config"}, PageScript: callerScript})
	if err := tab.Navigate(srv.URL); err != nil {
		t.Fatal(err)
	}
	var g struct {
		OK   bool   `json:"ok"`
		Text string `json:"text"`
		Want string `json:"want"`
	}
	if err := tab.Await("greeting", map[string]any{"sel": []string{"#missing", "text=Ready"}}, 20*time.Second, &g); err != nil {
		t.Fatalf("Await of a registered op: %v", err)
	}
	if !g.OK || g.Text != "Ready" || g.Want != "from the config" {
		t.Fatalf("greeting = %+v; want ok, text Ready, want from the config", g)
	}
	var c struct {
		N   int `json:"n"`
		Alt int `json:"alt"`
	}
	if err := tab.Eval("count", map[string]any{"sel": []string{"#missing", "css=#p"}}, &c); err != nil {
		t.Fatalf("Eval of a registered op: %v", err)
	}
	if c.N != 1 || c.Alt != 1 {
		t.Fatalf("count = %+v; want n 1 at alternative 1", c)
	}
	// The engine's own ops still answer beside the caller's.
	var tx struct {
		Found bool   `json:"found"`
		Text  string `json:"text"`
	}
	if err := tab.Eval("text", map[string]any{"sel": "#p"}, &tx); err != nil || !tx.Found || tx.Text != "hello" {
		t.Fatalf("text = %+v, %v; want found, hello", tx, err)
	}
	if err := tab.Eval("nosuch", map[string]any{}, nil); err == nil || !strings.Contains(err.Error(), "unknown op nosuch") {
		t.Fatalf("an op nobody registered: %v; want unknown op", err)
	}

	steal := startForTest(t, Options{PageScript: `(function (E) { E.register('locate', () => ({ ok: true })); })`})
	if err := steal.Navigate(srv.URL); err != nil {
		t.Fatal(err)
	}
	if err := steal.Eval("text", map[string]any{"sel": "#p"}, nil); err == nil || !strings.Contains(err.Error(), "op locate registered twice") {
		t.Fatalf("a caller taking the engine's locate: %v; want registered twice", err)
	}
}
