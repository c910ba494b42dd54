package portal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/isaric/seftbot/internal/sim"
)

// operator drives the recorded browser as a person would: real mouse
// events at an element's centre, and typed text.
type operator struct {
	t   *testing.T
	ctx context.Context
}

// click waits for css to be visible and clicks its centre with the mouse.
func (op operator) click(css string) {
	op.t.Helper()
	var pt []float64
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`, css)
	if _, err := chromedp.Run(op.ctx, chromedp.WaitVisible(chromedp.CSS(css))); err != nil {
		op.t.Fatalf("wait for %s: %v", css, err)
	}
	var err error
	if pt, err = chromedp.Run(op.ctx, chromedp.Evaluate[[]float64](js)); err != nil {
		op.t.Fatalf("find %s: %v", css, err)
	}
	if err := chromedp.Do(op.ctx, chromedp.MouseClickXY(pt[0], pt[1])); err != nil {
		op.t.Fatalf("click %s: %v", css, err)
	}
}

// typeInto clicks a field and types text into it (Input.insertText).
func (op operator) typeInto(css, text string) {
	op.t.Helper()
	op.click(css)
	if err := chromedp.Do(op.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})); err != nil {
		op.t.Fatal(err)
	}
}

// press presses a key (Enter, Tab) where the focus is, as a keyboard
// does: key down, char, key up (Input.dispatchKeyEvent).
func (op operator) press(key string) {
	op.t.Helper()
	if err := chromedp.Do(op.ctx, chromedp.KeyEvent(key)); err != nil {
		op.t.Fatalf("press %q: %v", key, err)
	}
}

// typeText types text where the focus is (Input.insertText).
func (op operator) typeText(text string) {
	op.t.Helper()
	if err := chromedp.Do(op.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})); err != nil {
		op.t.Fatal(err)
	}
}

// wait waits until css is visible.
func (op operator) wait(css string) {
	op.t.Helper()
	if _, err := chromedp.Run(op.ctx, chromedp.WaitVisible(chromedp.CSS(css))); err != nil {
		op.t.Fatalf("wait for %s: %v", css, err)
	}
}

// TestRecord: an operator signs in, passes the notice (v3), downloads one
// file and pages on, in a recorded browser; the profile recorded, with no
// hand edits, passes the check and downloads every file byte-exact. The
// password never reaches the profile.
func TestRecord(t *testing.T) {
	for _, markup := range []string{"v1", "v2", "v3", "v3-inplace"} {
		t.Run(markup, func(t *testing.T) {
			paging := ""
			if markup == "v3-inplace" {
				markup, paging = "v3", sim.PagingInPlace
			}
			s := startSim(t, sim.Options{Files: 12, PageSize: 5, Markup: markup, Paging: paging})
			o := simOptions(t, s, SiteDownload)
			rec, err := StartRecord(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			op := operator{t, rec.Context()}
			switch markup {
			case "v1":
				op.typeInto("#username", o.User)
				op.typeInto("#password", o.Password)
				op.click("#sign-in")
				op.click("#files tr.file-row .download")
				op.click("a.next")
			case "v2":
				op.typeInto("#user", o.User)
				op.typeInto("#pass", o.Password)
				op.click("form.login button")
				op.click("ul.downloads li.item .get")
				op.click(".pager-next")
			case "v3":
				op.typeInto("#account-name", o.User)
				op.click("#next-step")
				op.typeInto("#passphrase", o.Password)
				op.click("#enter")
				op.click("#notice-read")
				op.click("#proceed")
				op.click("#parcels .parcel .collect")
				if paging == sim.PagingInPlace {
					op.click("#page-older")
				} else {
					op.click("#show-more")
				}
			}
			p, notes, err := rec.Stop()
			if err != nil {
				t.Fatalf("%v (notes: %v)", err, notes)
			}
			path := filepath.Join(t.TempDir(), "recorded.json")
			if err := WriteProfile(path, p); err != nil {
				t.Fatal(err)
			}
			raw, _ := os.ReadFile(path)
			t.Logf("recorded profile:\n%s\nnotes: %v", raw, notes)
			if strings.Contains(string(raw), o.Password) || strings.Contains(string(raw), o.User) {
				t.Fatal("the profile holds the password or the user name")
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
				t.Errorf("profile mode %v, want 0600", st.Mode())
			}
			wantMode := map[string]string{"v1": MoreNavigate, "v2": MoreNavigate, "v3": MoreAppend}[markup]
			if paging == sim.PagingInPlace {
				wantMode = MoreInPlace
			}
			if p.Files == nil || p.Files.More == nil || p.Files.More.Mode != wantMode {
				t.Fatalf("paging not recorded as %s: %+v", wantMode, p.Files)
			}
			loaded, err := LoadProfile(path, SiteDownload)
			if err != nil {
				t.Fatal(err)
			}
			o.Profile = loaded
			res, err := Check(context.Background(), o)
			if err != nil {
				t.Fatalf("check: %v\n%s", err, printed(res))
			}
			got, err := Download(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if n := checkStaging(t, s, o); n != 12 || len(got.New) != 12 {
				t.Fatalf("staging %d, new %d; want 12", n, len(got.New))
			}
			checkNoLeaks(t)
		})
	}
}

// TestRecordUpload: an operator signs in to the upload site, chooses a
// file (the chooser sets the input, as DOM.setFileInputFiles does) and
// sends it; the recorded profile, unedited, uploads the next day's file.
func TestRecordUpload(t *testing.T) {
	for _, markup := range []string{"v1", "v3"} {
		t.Run(markup, func(t *testing.T) {
			s := startSim(t, sim.Options{Markup: markup})
			o := simOptions(t, s, SiteUpload)
			file := filepath.Join(t.TempDir(), "NIC-402963-P0Y5D.csv")
			if err := os.WriteFile(file, []byte("x\r\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			rec, err := StartRecord(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			op := operator{t, rec.Context()}
			input, send := "#file", "#upload"
			switch markup {
			case "v1":
				op.typeInto("#username", o.User)
				op.typeInto("#password", o.Password)
				op.click("#sign-in")
			case "v3":
				op.typeInto("#account-name", o.User)
				op.click("#next-step")
				op.typeInto("#passphrase", o.Password)
				op.click("#enter")
				op.click("#notice-read")
				op.click("#proceed")
				// The chooser's button: its click only opens the dialog
				// (which the test answers through CDP below).
				op.click("#choose-file")
				input, send = "#cohort-file", "#send-file"
			}
			if _, err := chromedp.Run(op.ctx, chromedp.SetUploadFiles(chromedp.CSS(input), []string{file})); err != nil {
				t.Fatal(err)
			}
			op.click(send)
			p, notes, err := rec.Stop()
			if err != nil {
				t.Fatalf("%v (notes: %v)", err, notes)
			}
			raw, _ := json.MarshalIndent(p, "", "  ")
			t.Logf("recorded profile:\n%s\nnotes: %v", raw, notes)
			if strings.Contains(string(raw), o.Password) || strings.Contains(string(raw), o.User) {
				t.Fatal("the profile holds the password or the user name")
			}
			if len(s.Uploads()) != 1 {
				t.Fatalf("%d uploads while recording, want 1", len(s.Uploads()))
			}
			if _, err := s.AdvanceClock(24 * time.Hour); err != nil {
				t.Fatal(err)
			}
			o.Profile = p
			text, err := Upload(context.Background(), o, file)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Uploads()) != 2 || text == "" {
				t.Errorf("confirmation %q, %d uploads; want a confirmation and 2", text, len(s.Uploads()))
			}
			checkNoLeaks(t)
		})
	}
}

// TestRecordWindowClosed: closing the browser window ends the recording
// (Done), and what was recorded up to then is the draft.
func TestRecordWindowClosed(t *testing.T) {
	s := startSim(t, sim.Options{Files: 12, PageSize: 5})
	o := simOptions(t, s, SiteDownload)
	rec, err := StartRecord(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	op := operator{t, rec.Context()}
	op.typeInto("#username", o.User)
	op.typeInto("#password", o.Password)
	op.click("#sign-in")
	op.click("#files tr.file-row .download")
	op.click("a.next")
	op.wait("a.prev") // page 2 is shown
	if err := chromedp.Do(op.ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.Close, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("closing the window did not end the recording")
	}
	p, notes, err := rec.Stop()
	if err != nil {
		t.Fatalf("%v (notes %v)", err, notes)
	}
	if p.Files == nil || p.Files.More == nil || p.Files.More.Mode != MoreNavigate || len(p.Login.Steps) != 3 {
		t.Fatalf("draft %+v, files %+v", p.Login.Steps, p.Files)
	}
	checkNoLeaks(t)
}

// simLog collects seftsim's log, to find the refusals it logs.
type simLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *simLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *simLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// actions lists what each login step does, "?" marking an optional one.
func actions(ss []Step) string {
	var out []string
	for _, s := range ss {
		a := s.action()
		if s.Optional {
			a += "?"
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

// TestRecordKeyboard: an operator signs in with the keyboard in a visible
// window (Xvfb, real key and mouse events), as the walkthrough allows: Enter in the password field (v1, v3), Enter in the
// account name field of the two-step login, Tab to the button then Enter.
// The draft has every fill before the key press or click that followed
// it, no separate step for the click Chromium makes for Enter, and signs
// in with exactly one password POST each time (seftsim's counters) and no
// refusal in seftsim's log: v3's on its check and on three later runs.
func TestRecordKeyboard(t *testing.T) {
	startXvfb(t)
	for _, c := range []struct {
		name, markup, want string
		runs               int
	}{
		{"v1-enter-password", "v1", "fill fill press", 1},
		{"v1-tab-enter", "v1", "fill fill click", 1},
		{"v3-enter-password", "v3", "fill click fill press check? click?", 4},
		{"v3-enter-user", "v3", "fill press fill press check? click?", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs simLog
			s := startSim(t, sim.Options{Files: 8, PageSize: 5, Markup: c.markup, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			o := simOptions(t, s, SiteDownload)
			acct := func() sim.AccountState { return s.State().Accounts[SiteDownload] }
			// A visible window, as seftbot record opens; the checks after
			// run headless, as record's own check does.
			o.Headful = true
			rec, err := StartRecord(context.Background(), o)
			o.Headful = false
			if err != nil {
				t.Fatal(err)
			}
			for _, pid := range ourBrowsers() {
				if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(b), "--headless") || strings.Contains(string(b), "headless-shell") {
					t.Fatal("the recording browser is headless; the operator needs a window")
				}
			}
			op := operator{t, rec.Context()}
			switch c.name {
			case "v1-enter-password":
				op.typeInto("#username", o.User)
				op.typeInto("#password", o.Password)
				op.press("\r")
			case "v1-tab-enter":
				op.typeInto("#username", o.User)
				op.press("\t")
				op.typeText(o.Password)
				op.press("\t") // to the Sign in button
				op.press("\r")
			case "v3-enter-password":
				op.typeInto("#account-name", o.User)
				op.click("#next-step")
				op.typeInto("#passphrase", o.Password)
				op.press("\r")
			case "v3-enter-user":
				op.typeInto("#account-name", o.User)
				op.press("\r")
				op.typeInto("#passphrase", o.Password)
				op.press("\r")
			}
			switch c.markup {
			case "v1":
				op.click("#files tr.file-row .download")
				op.click("a.next")
				op.wait("a.prev")
			case "v3":
				op.click("#notice-read")
				op.click("#proceed")
				op.click("#parcels .parcel .collect")
				op.click("#show-more")
				op.wait("#parcels .parcel:nth-child(6)")
			}
			p, notes, err := rec.Stop()
			if err != nil {
				t.Fatalf("%v (notes: %v)", err, notes)
			}
			raw, _ := json.MarshalIndent(p.Login.Steps, "", "  ")
			t.Logf("recorded login steps:\n%s", raw)
			if got := actions(p.Login.Steps); got != c.want {
				t.Fatalf("recorded login steps %q, want %q", got, c.want)
			}
			if a := acct(); a.PasswordPosts != 1 || a.Logins != 1 {
				t.Fatalf("while recording: %d password POSTs, %d sign-ins; want 1 and 1", a.PasswordPosts, a.Logins)
			}
			o.Profile = p
			for run := 1; run <= c.runs; run++ {
				res, err := Check(context.Background(), o)
				if err != nil {
					t.Fatalf("run %d: %v\n%s", run, err, printed(res))
				}
				if a := acct(); a.PasswordPosts != 1+run || a.Logins != 1+run || a.FailedLogins != 0 {
					t.Fatalf("after run %d: %d password POSTs, %d sign-ins, %d failed; want %d, %d, 0", run, a.PasswordPosts, a.Logins, a.FailedLogins, 1+run, 1+run)
				}
			}
			if l := logs.String(); strings.Contains(l, "refused") {
				t.Fatalf("seftsim refused a sign-in:\n%s", l)
			}
			if strings.Contains(logs.String(), "login") == false {
				t.Fatal("seftsim logged no sign-in at all: the log is not being read")
			}
			checkNoLeaks(t)
		})
	}
}

// startXvfb starts a virtual display of the test's own and points DISPLAY
// at it; Xvfb writes its number to -displayfd once it accepts clients. A
// missing Xvfb fails the test (scripts/install-deps.sh installs it).
func startXvfb(t *testing.T) {
	t.Helper()
	xvfb, err := exec.LookPath("Xvfb")
	if err != nil {
		t.Fatal("Xvfb not installed (scripts/install-deps.sh installs it): the visible-window tests need it")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(xvfb, "-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		w.Close()
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	n, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("Xvfb gave no display: %v", err)
	}
	t.Setenv("DISPLAY", ":"+strings.TrimSpace(n))
	t.Setenv("WAYLAND_DISPLAY", "")
}
