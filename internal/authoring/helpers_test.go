package authoring

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/browser"
	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/testtool"
)

// startSim starts an in-process seftsim in a temporary directory; small
// files unless the test says otherwise.
func startSim(t *testing.T, o sim.Options) *sim.Sim {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.FileSize == 0 {
		o.FileSize = 20_000
	}
	s, err := sim.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("sim.Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// simOptions reads the download (or upload) settings exactly as seftbot
// does: from seftsim's env file, through config.
func simOptions(t *testing.T, s *sim.Sim, site string) Options {
	t.Helper()
	src, err := config.Load(s.EnvFile(), true, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	o, err := portal.OptionsFromSource(src, site)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the staging area inside the test's directory, not /dev/shm.
	o.StagingDir = filepath.Join(s.Dir(), "staging")
	o.Log = testLogger(t)
	o.StepTimeout = 20 * time.Second
	return o
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// published reads DIR/published.sha256: for each name, the hashes of the
// files listed under it, in listing order.
func published(t *testing.T, s *sim.Sim) map[string][]string {
	t.Helper()
	f, err := os.Open(s.PublishedFile())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		escaped := strings.HasPrefix(line, `\`)
		line = strings.TrimPrefix(line, `\`)
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("bad published.sha256 line %q", line)
		}
		if escaped {
			name = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r").Replace(name)
		}
		out[name] = append(out[name], sum)
	}
	return out
}

// checkStaging proves the staging directory holds exactly the manifest's
// files, each private and byte-identical to what seftsim published, and
// nothing else (bar an empty partial directory). It returns the number of files.
func checkStaging(t *testing.T, s *sim.Sim, o Options) int {
	t.Helper()
	want := published(t, s)
	files, err := staging.LoadManifest(o.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := staging.LoadEntries(o.StateDir)
	if err != nil || len(entries) != len(files) {
		t.Fatalf("manifest entries: %d, %v; want %d", len(entries), err, len(files))
	}
	inManifest := map[string]bool{}
	for i, f := range files {
		inManifest[f.LocalName] = true
		ord := entries[i].Ordinal
		sums := want[f.Name]
		if ord >= len(sums) {
			t.Errorf("manifest has %s #%d, which seftsim never listed", logName(f.Name), ord)
			continue
		}
		p := filepath.Join(o.StagingDir, f.LocalName)
		got := sha256File(t, p)
		if got != sums[ord] || f.SHA256 != sums[ord] {
			t.Errorf("%s: sha256 %s (manifest %s), published %s", logName(f.Name), got, f.SHA256, sums[ord])
		}
		st, err := os.Lstat(p)
		if err == nil && (st.Mode().Perm() != 0o600 || !st.Mode().IsRegular()) {
			t.Errorf("%s: mode %v, want regular 0600", f.LocalName, st.Mode())
		}
	}
	ents, err := os.ReadDir(o.StagingDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == staging.PartialDir {
			if left, _ := os.ReadDir(filepath.Join(o.StagingDir, staging.PartialDir)); len(left) > 0 {
				t.Errorf("%s not empty: %d entries", staging.PartialDir, len(left))
			}
			continue
		}
		if !inManifest[e.Name()] {
			t.Errorf("staging holds %q, which the manifest does not list", e.Name())
		}
	}
	if st, err := os.Stat(o.StagingDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("staging dir mode: %v %v", st.Mode(), err)
	}
	return len(files)
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Error(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func listedCount(s *sim.Sim) int { return len(s.Files()) }

// tmpRoot is this test binary's TMPDIR: chromedp makes each browser's
// profile directory in it, so a leaked browser of ours is one whose command
// line names a --user-data-dir under it.
var tmpRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authoring-test-")
	if err != nil {
		panic(err)
	}
	tmpRoot = dir
	os.Setenv("TMPDIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ourBrowsers lists the PIDs of live processes started with a profile
// directory under tmpRoot: our Chromium and its children, nobody else's.
func ourBrowsers() []int { return browser.Processes(tmpRoot) }

// checkNoLeaks fails if any browser process of ours is still alive, or a
// browser profile directory was left behind, a few seconds after a run.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	testtool.NoLeaks(t, tmpRoot, ourBrowsers)
}

func v3Options(t *testing.T, s *sim.Sim, site string) Options {
	t.Helper()
	p, err := portal.LoadProfile("../portal/testdata/profile-v3.json", site)
	if err != nil {
		t.Fatal(err)
	}
	o := simOptions(t, s, site)
	o.Profile = p
	return o
}

// LoadProfile is the site's, for tests that load one of portal's test
// profiles.
var LoadProfile = portal.LoadProfile
