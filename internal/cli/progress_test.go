package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/sim"
)

// screen replays what a terminal does with the meter's output: \r returns
// to column 0, ESC[K clears to the end of the line, \n starts a new line.
// It returns the lines as a person would see them.
func screen(out string) []string {
	lines := []string{""}
	col := 0
	for i := 0; i < len(out); i++ {
		cur := &lines[len(lines)-1]
		switch {
		case out[i] == '\r':
			col = 0
		case out[i] == '\n':
			lines = append(lines, "")
			col = 0
		case strings.HasPrefix(out[i:], "\x1b[K"):
			*cur = (*cur)[:col]
			i += 2
		default:
			if col < len(*cur) {
				*cur = (*cur)[:col] + string(out[i]) + (*cur)[col+1:]
			} else {
				*cur += string(out[i])
			}
			col++
		}
	}
	return lines
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestMeterFilesBar: files done/total, bytes, a rate and an ETA, and a
// first reading that is not a rate measured over a millisecond.
func TestMeterFilesBar(t *testing.T) {
	var out bytes.Buffer
	clk := &fakeClock{t: time.Date(2026, 12, 3, 2, 30, 0, 0, time.UTC)}
	m := newMeter(&out, "downloading", true, 0, clk.now)

	// The first file lands 1 ms after the listing: no rate yet.
	clk.advance(time.Millisecond)
	m.setFiles(1, 160, 1_000_000)
	first := screen(out.String())
	if got := first[len(first)-1]; !strings.Contains(got, "(1/160) files, 1.0 MB, measuring rate") || strings.Contains(got, "/s") {
		t.Errorf("first reading %q: want 1/160 files, 1.0 MB and no rate yet", got)
	}

	// Two seconds and 4 files (4 MB) later: 2 MB/s, 155 files to go at
	// 2 files/s.
	clk.advance(2 * time.Second)
	m.setFiles(5, 160, 5_000_000)
	lines := screen(out.String())
	got := lines[len(lines)-1]
	for _, want := range []string{"downloading", "3%", "(5/160)", "files, 5.0 MB", "2.0 MB/s", "ETA 1m18s"} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
	if len(lines) != 1 {
		t.Errorf("the meter used %d lines, want 1: %q", len(lines), lines)
	}
	// Updates closer together than redrawEvery are not drawn, except the last.
	n := out.Len()
	clk.advance(time.Millisecond)
	m.setFiles(6, 160, 6_000_000)
	if out.Len() != n {
		t.Error("redrawn within redrawEvery")
	}
	m.setFiles(160, 160, 160_000_000)
	if l := screen(out.String()); !strings.Contains(l[len(l)-1], "100%") {
		t.Errorf("final state not drawn: %q", l[len(l)-1])
	}
	m.finish()
	if l := screen(out.String()); l[len(l)-1] != "" {
		t.Errorf("finish left %q", l[len(l)-1])
	}
}

// TestMeterLogLinesAbove: a log line written while the meter is shown ends
// up on its own line above the meter, and the meter is redrawn below it.
func TestMeterLogLinesAbove(t *testing.T) {
	var out bytes.Buffer
	clk := &fakeClock{t: time.Now()}
	m := newMeter(&out, "downloading", true, 0, clk.now)
	sink := &logSink{w: &out}
	sink.show(m)
	m.setFiles(3, 10, 3000)
	if _, err := sink.Write([]byte("level=INFO msg=\"page done\" page=1\n")); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Second)
	m.setFiles(4, 10, 4000)
	sink.Write([]byte("level=WARN msg=\"retrying\"\n"))
	got := screen(out.String())
	if len(got) != 3 || got[0] != `level=INFO msg="page done" page=1` || got[1] != `level=WARN msg="retrying"` ||
		!strings.Contains(got[2], "(4/10)") {
		t.Fatalf("screen:\n%s", strings.Join(got, "\n"))
	}
	sink.show(nil)
	m.finish()
	sink.Write([]byte("after\n"))
	if got := screen(out.String()); got[len(got)-2] != "after" {
		t.Errorf("after the meter, logs go straight: %q", got)
	}
}

// TestMeterBytes: archive and relay count bytes against a known total.
func TestMeterBytes(t *testing.T) {
	var out bytes.Buffer
	clk := &fakeClock{t: time.Now()}
	m := newMeter(&out, "relay", false, 10_000_000, clk.now)
	m.add(1_000_000)
	clk.advance(4 * time.Second)
	m.add(4_000_000)
	l := screen(out.String())
	got := l[len(l)-1]
	for _, want := range []string{"relay", "50%", "5.0 MB of 10.0 MB", "1.0 MB/s", "ETA 5s"} {
		if !strings.Contains(got, want) {
			t.Errorf("line %q lacks %q", got, want)
		}
	}
}

// TestNoTTYPureJSON: without a terminal, stderr holds only JSON log lines,
// whatever the verb draws on a terminal.
func TestNoTTYPureJSON(t *testing.T) {
	in := t.TempDir()
	for i := range 20 {
		if err := os.WriteFile(filepath.Join(in, "f"+string(rune('a'+i))+".csv"), bytes.Repeat([]byte("x,y\r\n"), 50_000), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SEFTBOT_PASSPHRASE", "a passphrase long enough for the test")
	t.Setenv("SEFTBOT_STATE_DIR", filepath.Join(t.TempDir(), "state"))
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--debug", "archive", "--in", in, "--out", filepath.Join(t.TempDir(), "x.7z")},
		strings.NewReader(""), &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("no log lines: nothing was checked")
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("not a JSON line: %q", l)
		}
	}
}

// TestTTYShowsBar runs the real binary under a pseudo-terminal (script(1))
// and checks the meter reaches the terminal. It proves the TTY path is
// taken and the bar drawn; the numbers are TestMeter*'s.
func TestTTYShowsBar(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Fatal("script (util-linux) is needed to run seftbot on a pseudo-terminal")
	}
	exe, err := exec.LookPath("seftbot") // testscript.Main put this test binary there as seftbot
	if err != nil {
		t.Fatal(err)
	}
	in := t.TempDir()
	for i := range 8 {
		if err := os.WriteFile(filepath.Join(in, "f"+string(rune('a'+i))+".csv"), bytes.Repeat([]byte("1,2,3\r\n"), 300_000), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "x.7z")
	cmd := exec.Command(script, "-qefc", exe+" archive --in "+in+" --out "+out, "/dev/null")
	cmd.Env = append(os.Environ(), "SEFTBOT_PASSPHRASE=a passphrase long enough for the test",
		"SEFTBOT_STATE_DIR="+filepath.Join(t.TempDir(), "state"), "TERM=xterm")
	cmd.Stdin = strings.NewReader("")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%q", err, b)
	}
	if !regexp.MustCompile(`\r\x1b\[Karchiving +100% \|[^|]+\| \d+\.\d MB of \d+\.\d MB`).Match(b) {
		t.Errorf("no bar on the terminal:\n%q", b)
	}
	if !strings.Contains(string(b), "archive: "+out) {
		t.Errorf("no summary:\n%q", b)
	}
}

// TestDownloadTTY downloads from seftsim with real Chromium, with seftbot on
// a pseudo-terminal (script(1)), and replays what the terminal shows: the
// bar reached all the files, every log line stands on a line of its own
// (none drawn through the bar), and the bar is gone before the summary.
func TestDownloadTTY(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Fatal("script (util-linux) is needed to run seftbot on a pseudo-terminal")
	}
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatal("chromium not installed (scripts/install-deps.sh)")
	}
	exe, err := exec.LookPath("seftbot")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.Start(context.Background(), sim.Options{Dir: filepath.Join(t.TempDir(), "sim"), Files: 6, FileSize: 64 << 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cmd := exec.Command(script, "-qefc", exe+" --env-file "+s.EnvFile()+" download", "/dev/null")
	cmd.Env = append(os.Environ(), "TERM=xterm", "COLUMNS=200")
	cmd.Stdin = strings.NewReader("")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%q", err, b)
	}
	out := strings.ReplaceAll(string(b), "\r\n", "\n") // the pty's own newline translation
	if !regexp.MustCompile(`\x1b\[Kdownloading +100% \|[^|]+\| \(6/6\) files, \d+\.\d kB`).MatchString(out) {
		t.Errorf("the bar never showed 6/6 files:\n%q", out)
	}
	lines := screen(out)
	logs := 0
	for _, l := range lines {
		if strings.Contains(l, "level=") {
			logs++
			if strings.Contains(l, "downloading ") || strings.Contains(l, "files, ") {
				t.Errorf("a log line drawn through the bar: %q", l)
			}
		}
		if strings.Contains(l, "%") && strings.Contains(l, " files, ") {
			t.Errorf("bar left on the screen: %q", l)
		}
	}
	if logs == 0 {
		t.Errorf("no log lines on the terminal: nothing was checked\n%s", strings.Join(lines, "\n"))
	}
	if !strings.Contains(out, "new 6, skipped 0, failed 0") {
		t.Errorf("no summary:\n%s", strings.Join(lines, "\n"))
	}
}

// TestFetchTTYByteBars runs fetch against seftsim on a pseudo-terminal: the
// archive and relay stages draw byte bars against their totals, not a bare
// counter.
func TestFetchTTYByteBars(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Fatal("script (util-linux) is needed to run seftbot on a pseudo-terminal")
	}
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatal("chromium not installed (scripts/install-deps.sh)")
	}
	exe, err := exec.LookPath("seftbot")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.Start(context.Background(), sim.Options{Dir: filepath.Join(t.TempDir(), "sim"), Files: 4, FileSize: 256 << 10, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cmd := exec.Command(script, "-qefc", exe+" --env-file "+s.EnvFile()+" fetch", "/dev/null")
	cmd.Env = append(os.Environ(), "TERM=xterm", "COLUMNS=200")
	cmd.Stdin = strings.NewReader("")
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%q", err, b)
	}
	out := string(b)
	for _, stage := range []string{"archiving", "relaying"} {
		if !regexp.MustCompile(`\x1b\[K` + stage + ` +100% \|█+\| \d+\.\d [kM]B of \d+\.\d [kM]B`).MatchString(out) {
			t.Errorf("no %s byte bar reached 100%%:\n%q", stage, out)
		}
	}
	if !strings.Contains(out, "delivered 4 file(s)") {
		t.Errorf("no summary:\n%q", out)
	}
}
