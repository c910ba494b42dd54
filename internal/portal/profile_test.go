package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/isaric/seftbot/internal/sim"
)

// TestMarkupV2 retargets the bot at seftsim's second markup with an edited
// profile file and no code change: a 2-page listing and an upload. Markup v2
// also opens every download in a new tab, with faults on: the downloads are
// traced to the tab that clicked, error pages and an expired session shown
// in the new tab are handled, and no opened tab is left behind.
func TestMarkupV2(t *testing.T) {
	s := startSim(t, sim.Options{Files: 30, Markup: "v2", Seed: 2,
		Faults: sim.Faults{ErrorRate: 0.2, ExpireAfter: 25}})
	p, err := LoadProfile("testdata/profile-v2.json", "")
	if err != nil {
		t.Fatal(err)
	}
	o := simOptions(t, s, SiteDownload)
	o.Profile = p
	o.Concurrency = 2
	o.Debug = true
	var logs bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(io.MultiWriter(&logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelWarn}))
	var mu sync.Mutex
	maxOpen, clicks := 0, 0
	o.afterClick = func(tb *tab) {
		ts, err := chromedp.Targets(tb.Ctx())
		if err != nil {
			return
		}
		open := 0
		for _, x := range ts {
			if x.Type == "page" && x.OpenerID != "" {
				open++
			}
		}
		mu.Lock()
		maxOpen, clicks = max(maxOpen, open), clicks+1
		mu.Unlock()
	}
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	o.afterClick = nil
	if n := checkStaging(t, s, o); n != 30 || len(res.New) != 30 {
		t.Fatalf("staging %d, new %d; want 30", n, len(res.New))
	}
	if s.State().Accounts["download"].Logins < 2 {
		t.Error("the session expiry did not cause a re-login")
	}
	// An error page shown in the new tab is read there and retried, not
	// waited out until the step timeout.
	if l := logs.String(); !strings.Contains(l, `page says \"Please try again later\" at https://`+strings.TrimPrefix(s.PortalURL(), "https://")) ||
		!strings.Contains(l, "/download/fetch") || strings.Contains(l, "started no download") {
		t.Errorf("no error page read from a new tab, or a click timed out:\n%s", l)
	}
	// With --debug, a page shown in a new tab is kept before the tab closes.
	pages, _ := filepath.Glob(filepath.Join(o.StateDir, "debug", "*-new-tab-page", "page.html"))
	kept := false
	for _, p := range pages {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "Please try again later") {
			kept = true
		}
	}
	if !kept {
		t.Errorf("no debug bundle of an error page shown in a new tab among %d new-tab bundles", len(pages))
	}
	// Opened tabs are closed as soon as their download has begun (Chromium
	// takes a few clicks' time to finish closing them); leaked ones would
	// pile up to one per file.
	if clicks < 30 || maxOpen > 10 {
		t.Errorf("%d clicks; up to %d tabs opened by clicks were open at once, want <= 10", clicks, maxOpen)
	}

	if err := s.SetFaults(sim.Faults{}); err != nil { // an upload is never retried
		t.Fatal(err)
	}

	// The built-in v1 profile must not "work" on v2: it cannot find the form.
	o.Profile = DefaultProfile()
	o.Retries = 1
	// It fills the fields v2 shares, then cannot find v1's button: a
	// profile mismatch (exit 11) naming that step and its selector, not
	// any error at all.
	v1 := DefaultProfile().Login.Steps
	send := fmt.Sprintf("login.steps[%d]: %s not found", secretStep(v1), v1[secretStep(v1)].Target())
	_, err = Download(context.Background(), o)
	if err == nil {
		t.Error("the v1 profile worked against markup v2; the profile is not what drives the bot")
	} else if !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), send) {
		t.Errorf("v1 profile on markup v2: %v; want ErrProfile naming %q", err, send)
	}

	uo := simOptions(t, s, SiteUpload)
	uo.Profile = p
	file := filepath.Join(t.TempDir(), "NIC-402963-P0Y5D.csv")
	if err := os.WriteFile(file, []byte("a,b\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text, err := Upload(context.Background(), uo, file)
	if err != nil {
		t.Fatal(err)
	}
	if text != "Your file has been received." {
		t.Errorf("confirmation %q", text)
	}
	ups := s.Uploads()
	if len(ups) != 1 || ups[0].Name != "NIC-402963-P0Y5D.csv" {
		t.Errorf("seftsim saw uploads %+v, want one NIC-402963-P0Y5D.csv", ups)
	}
	checkNoLeaks(t)
}

// TestUploadV1 uses the built-in profile and the upload account.
func TestUploadV1(t *testing.T) {
	s := startSim(t, sim.Options{})
	o := simOptions(t, s, SiteUpload)
	file := filepath.Join(t.TempDir(), "NIC-402963-P0Y5D.csv")
	if err := os.WriteFile(file, []byte("x\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text, err := Upload(context.Background(), o, file)
	if err != nil {
		t.Fatal(err)
	}
	if text != "Your file has been received." {
		t.Errorf("confirmation %q", text)
	}
	st := s.State()
	if st.Accounts["upload"].Logins != 1 || st.Accounts["download"].Logins != 0 {
		t.Errorf("logins: upload %d, download %d; the upload must use the upload account only",
			st.Accounts["upload"].Logins, st.Accounts["download"].Logins)
	}
	if len(s.Uploads()) != 1 {
		t.Errorf("seftsim recorded %d uploads, want 1", len(s.Uploads()))
	}
	checkNoLeaks(t)
}

// TestDebugBundle: a failure leaves a bundle whose path is in the error,
// with the form values redacted.
func TestDebugBundle(t *testing.T) {
	s := startSim(t, sim.Options{Files: 3, Faults: sim.Faults{Maintenance: true}})
	o := simOptions(t, s, SiteDownload)
	o.Retries = 2
	_, err := Download(context.Background(), o)
	if err == nil || !errors.Is(err, ErrPortal) {
		t.Fatalf("err = %v, want ErrPortal", err)
	}
	_, dir, ok := strings.Cut(err.Error(), "debug bundle: ")
	if !ok {
		t.Fatalf("no bundle path in %q", err)
	}
	dir = strings.TrimSuffix(dir, ")")
	if got := DebugBundle(err); got != dir {
		t.Errorf("DebugBundle(err) = %q, want %q from the message", got, dir)
	}
	for _, f := range []string{"screenshot.png", "page.html", "url.txt", "console.txt", "requests.txt", "error.txt"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, err, st)
		}
	}
	html, _ := os.ReadFile(filepath.Join(dir, "page.html"))
	if !strings.Contains(string(html), "maintenance") {
		t.Errorf("page.html is not the failing page: %.200s", html)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("bundle dir mode %v %v", st, err)
	}

	// A login page's bundle has its CSRF token and typed values redacted.
	s2 := startSim(t, sim.Options{})
	o2 := simOptions(t, s2, SiteDownload)
	o2.Password = "wrong-password-Qz9"
	_, err = Download(context.Background(), o2)
	if !errors.Is(err, ErrLoginRejected) {
		t.Fatalf("err = %v, want ErrLoginRejected", err)
	}
	_, dir, _ = strings.Cut(err.Error(), "debug bundle: ")
	dir = strings.TrimSuffix(dir, ")")
	html, err = os.ReadFile(filepath.Join(dir, "page.html"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(html), "wrong-password-Qz9") || !strings.Contains(string(html), `value="[redacted]"`) {
		t.Errorf("login page HTML not redacted:\n%s", html)
	}
	checkNoLeaks(t)
}
