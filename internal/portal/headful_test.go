package portal

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/testtool"
	"github.com/isaric/seftbot/internal/usererr"
)

// TestHeadfulXvfb runs a visible-window download for real, on a virtual
// display of its own.
func TestHeadfulXvfb(t *testing.T) {
	testtool.Xvfb(t)

	s := startSim(t, sim.Options{Files: 3})
	o := simOptions(t, s, SiteDownload)
	o.Headful = true
	o.SlowMo = 50 * time.Millisecond
	var headless, seen int
	o.Progress = func(done, total int, bytes int64) {
		for _, pid := range ourBrowsers() {
			seen++
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(b), "--headless") || strings.Contains(string(b), "headless-shell") {
				headless++
			}
		}
	}
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if n := checkStaging(t, s, o); n != 3 || len(res.New) != 3 {
		t.Fatalf("staging %d, new %d; want 3", n, len(res.New))
	}
	if seen == 0 || headless > 0 {
		t.Errorf("saw %d browser processes, %d of them headless; want a visible browser", seen, headless)
	}
	checkNoLeaks(t)
}

// TestHeadfulNoDisplay: no silent fallback to headless.
func TestHeadfulNoDisplay(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	o := Options{Site: SiteDownload, URL: "https://127.0.0.1:1/download/", User: "u", Password: "p", Headful: true}
	if err := o.normalise(); err != nil {
		t.Fatal(err)
	}
	_, err := startBrowser(context.Background(), &o, "")
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "DISPLAY") {
		t.Fatalf("err = %v, want a user error about DISPLAY", err)
	}
	if len(ourBrowsers()) != 0 {
		t.Error("a browser started anyway")
	}
}
