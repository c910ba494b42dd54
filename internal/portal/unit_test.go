package portal

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/usererr"
)

func TestLocalName(t *testing.T) {
	cases := map[string]string{
		"NIC-402963-P0Y5D_HES_APC_001.csv": "NIC-402963-P0Y5D_HES_APC_001.csv", // clean names stay
		"../x.csv":                         "_x~",
		"a/b.csv":                          "a_b~",
		"..":                               "file~",
		"":                                 "file~",
		".hidden":                          "hidden~",
		"-rf":                              "rf~",
		"ctrl\x07bell\ttab\x1bname.csv":    "ctrl_bell_tab_name~",
		"données_é.csv":                    "donn_es__~",
	}
	for in, prefix := range cases {
		got := localName(in)
		if !strings.HasPrefix(got, prefix) {
			t.Errorf("localName(%q) = %q, want prefix %q", in, got, prefix)
		}
		if got != localName(in) {
			t.Errorf("localName(%q) is not deterministic", in)
		}
		if strings.ContainsAny(got, "/\\\x00") || strings.HasPrefix(got, ".") || got == PartialDir {
			t.Errorf("localName(%q) = %q is unsafe", in, got)
		}
		// The original's extension survives sanitising (the old check
		// compared got with its own extension, which cannot fail).
		if ext := filepath.Ext(in); ext != "" && ext != "." && ext != in && !strings.HasSuffix(got, ext) {
			t.Errorf("localName(%q) = %q lost the extension %q", in, got, ext)
		}
	}
	long := strings.Repeat("L", 300) + ".csv"
	if got := localName(long); len(got) > maxLocalName || !strings.HasSuffix(got, ".csv") {
		t.Errorf("long name -> %q (%d bytes)", got, len(got))
	}
	// Different originals never meet on the same sanitised name.
	if localName("a b.csv") == localName("a_b.csv") || localName("a/b.csv") == localName("a\\b.csv") {
		t.Error("two originals share a local name")
	}
	taken := map[string]bool{}
	a, b := uniqueName("x.csv", taken), uniqueName("x.csv", taken)
	if a != "x.csv" || b != "x-2.csv" {
		t.Errorf("uniqueName: %q %q", a, b)
	}
}

func TestParseSize(t *testing.T) {
	cases := []struct {
		in        string
		size, tol int64
	}{
		{"1,048,576 bytes", 1048576, 0},
		{"1048576", 1048576, 0},
		{" 12 B ", 12, 0},
		{"1.5 MB", 1572864, 52429},
		{"2 KB", 2048, 513},
		{"", -1, 0},
		{"soon", -1, 0},
	}
	for _, c := range cases {
		s, tol := parseSize(c.in)
		if s != c.size || tol != c.tol {
			t.Errorf("parseSize(%q) = %d±%d, want %d±%d", c.in, s, tol, c.size, c.tol)
		}
	}
}

func TestRedactURL(t *testing.T) {
	got := redactURL("https://u:p@h/download/files?page=2&token=abcdef123456&sid=x#frag")
	if strings.Contains(got, "abcdef") || strings.Contains(got, "u:p") || strings.Contains(got, "frag") || !strings.Contains(got, "page=2") {
		t.Errorf("redactURL = %q", got)
	}
}

func TestLoadProfile(t *testing.T) {
	if _, err := LoadProfile("testdata/profile-v2.json", ""); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "p.json")
	os.WriteFile(bad, []byte(`{"login": {"usrname": "#u"}}`), 0o600)
	if _, err := LoadProfile(bad, ""); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "usrname") {
		t.Errorf("a typo in a key must be a user error naming it: %v", err)
	}
	os.WriteFile(bad, []byte(`{"name": "x"}`), 0o600)
	if _, err := LoadProfile(bad, ""); err == nil || !strings.Contains(err.Error(), "login.steps: missing") {
		t.Errorf("missing fields must be named: %v", err)
	}
}

func TestManifestRoundTrip(t *testing.T) {
	dir, staging := t.TempDir(), t.TempDir()
	m, err := loadManifest(dir, staging)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a.csv", "dup.csv", "dup-2.csv"} {
		ord := 0
		if i == 2 {
			name, ord = "dup.csv", 1
		}
		local := name
		if i == 2 {
			local = "dup-2.csv"
		}
		if err := os.WriteFile(filepath.Join(staging, local), make([]byte, 10+i), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := m.add(manifestEntry{File: File{Name: name, LocalName: local, Size: int64(10 + i)}, Ordinal: ord}); err != nil {
			t.Fatal(err)
		}
	}
	m2, err := loadManifest(dir, staging)
	if err != nil {
		t.Fatal(err)
	}
	if !m2.has("dup.csv", 1, 12) || m2.has("dup.csv", 1, 99) || m2.has("dup.csv", 2, -1) || !m2.has("a.csv", 0, -1) {
		t.Error("manifest lookups wrong after reload")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".manifest*")); len(left) > 0 {
		t.Errorf("temp files left: %v", left)
	}
}

// TestManifestHasOnlyDeliveredOrStaged: a file fetched before counts as had
// only while it waits in this staging or once the nightly job has recorded
// its delivery, so a download elsewhere never hides it from the nightly job.
func TestManifestHasOnlyDeliveredOrStaged(t *testing.T) {
	state, staging, elsewhere := t.TempDir(), t.TempDir(), t.TempDir()
	m, err := loadManifest(state, elsewhere)
	if err != nil {
		t.Fatal(err)
	}
	f := File{Name: "a.csv", LocalName: "a.csv", Size: 3, SHA256: "aa"}
	if err := os.WriteFile(filepath.Join(elsewhere, "a.csv"), []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.add(manifestEntry{File: f}); err != nil {
		t.Fatal(err)
	}
	if !m.has("a.csv", 0, 3) {
		t.Error("a file waiting in the run's own staging is not had")
	}
	nightly, err := loadManifest(state, staging)
	if err != nil {
		t.Fatal(err)
	}
	if nightly.has("a.csv", 0, 3) {
		t.Fatal("a file downloaded into another directory hides it from the nightly staging")
	}
	// The file moved on into the nightly job's batch: still had.
	if err := os.MkdirAll(filepath.Join(staging, ".batch"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staging, ".batch", "a.csv"), []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !nightly.has("a.csv", 0, 3) {
		t.Error("a file in the batch being archived is not had")
	}
	os.Remove(filepath.Join(staging, ".batch", "a.csv"))
	if err := MarkDelivered(state, []File{f}, "isaric-x.7z", time.Now()); err != nil {
		t.Fatal(err)
	}
	nightly, _ = loadManifest(state, staging)
	if !nightly.has("a.csv", 0, 3) {
		t.Error("a delivered file is fetched again")
	}
	// Fetched again (--all) with the same content: still delivered. With
	// other content: new data, not delivered.
	if err := nightly.add(manifestEntry{File: File{Name: "a.csv", LocalName: "a.csv", Size: 3, SHA256: "aa"}}); err != nil {
		t.Fatal(err)
	}
	files, _ := LoadManifest(state)
	if len(files) != 1 || files[0].Delivered != "isaric-x.7z" {
		t.Errorf("re-fetching the same content forgot its delivery: %+v", files)
	}
	if err := nightly.add(manifestEntry{File: File{Name: "a.csv", LocalName: "a.csv", Size: 3, SHA256: "bb"}}); err != nil {
		t.Fatal(err)
	}
	if files, _ := LoadManifest(state); len(files) != 1 || files[0].Delivered != "" {
		t.Errorf("changed content counts as delivered: %+v", files)
	}
}

// TestManifestVersion1ReadAsDelivered: entries written before delivery was
// recorded are not fetched and sent a second time after an upgrade.
func TestManifestVersion1ReadAsDelivered(t *testing.T) {
	state := t.TempDir()
	doc := `{"version":1,"files":[{"name":"a.csv","local_name":"a.csv","size":3,"sha256":"aa"}]}`
	if err := os.WriteFile(filepath.Join(state, ManifestName), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := loadManifest(state, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !m.has("a.csv", 0, 3) {
		t.Error("a version 1 entry is fetched again")
	}
}

// TestManifestDamagedIsIntegrity: a manifest that cannot be parsed is an
// integrity failure, not a bug and not a portal failure.
func TestManifestDamagedIsIntegrity(t *testing.T) {
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, ManifestName), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := loadManifest(state, "")
	if !errors.Is(err, layout.ErrIntegrity) {
		t.Errorf("damaged manifest: %v, want layout.ErrIntegrity", err)
	}
}

func TestOptionsFromSourceMissing(t *testing.T) {
	src, err := config.Load("", false, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	_, err = OptionsFromSource(src, SiteDownload)
	if err == nil || !usererr.Is(err) {
		t.Fatalf("want a user error, got %v", err)
	}
	for _, k := range []string{"SEFTBOT_DOWNLOAD_URL", "SEFTBOT_DOWNLOAD_USER", "SEFTBOT_DOWNLOAD_PASSWORD"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("%v does not name %s", err, k)
		}
	}
	if _, err := OptionsFromSource(src, "elsewhere"); err == nil || !usererr.Is(err) {
		t.Errorf("unknown site: %v", err)
	}
}

func TestCommitFileRefusesShort(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "guid")
	os.WriteFile(tmp, []byte("12345"), 0o644)
	if _, _, err := commitFile(tmp, dir, "x.csv", 10); err == nil {
		t.Fatal("a short file was committed")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.csv")); err == nil {
		t.Fatal("a short file reached staging")
	}
	n, sum, err := commitFile(tmp, dir, "x.csv", 5)
	if err != nil || n != 5 || sum != "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5" {
		t.Fatalf("commit: %d %s %v", n, sum, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "x.csv")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
}

// TestProfileStaleWithoutLock: a profile with no Chromium lock (the headless
// shell takes none) is stale only when no live process names it and it is
// not still empty (a browser being started).
func TestProfileStaleWithoutLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chromedp-runner1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	old := time.Now().Add(-time.Minute)
	if profileStale(dir, host, old) {
		t.Error("an empty profile made a minute ago counts as stale")
	}
	if err := os.WriteFile(filepath.Join(dir, "Local State"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A live process that names the profile, as a browser's processes do.
	cmd := exec.Command("sh", "-c", "sleep 30", "--user-data-dir="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if profileStale(dir, host, old) {
		t.Error("a profile in use by a live process counts as stale")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if !profileStale(dir, host, old) {
		t.Error("a profile nobody uses does not count as stale")
	}
}

// TestFindChromiumByMode: a headless run prefers the headless shell, a
// --headful run never takes it, and a configured path wins over both.
func TestFindChromiumByMode(t *testing.T) {
	dir := t.TempDir()
	exe := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	shell, full, other := exe("chromium-headless-shell"), exe("chromium"), exe("my-chromium")
	oldH, oldC := headlessCandidates, chromiumCandidates
	t.Cleanup(func() { headlessCandidates, chromiumCandidates = oldH, oldC })
	headlessCandidates = []string{filepath.Join(dir, "missing-shell"), shell}
	chromiumCandidates = []string{full}

	for _, c := range []struct {
		configured string
		headful    bool
		want       string
	}{
		{"", false, shell},
		{"", true, full},
		{other, false, other},
		{other, true, other},
	} {
		got, err := findChromium(c.configured, c.headful)
		if err != nil || got != c.want {
			t.Errorf("findChromium(%q, headful=%v) = %q, %v; want %q", c.configured, c.headful, got, err, c.want)
		}
	}
	headlessCandidates = []string{filepath.Join(dir, "missing-shell")}
	if got, err := findChromium("", false); err != nil || got != full {
		t.Errorf("without a headless shell: %q, %v; want %q", got, err, full)
	}
	chromiumCandidates = nil
	_, err := findChromium("", false)
	if !usererr.Is(err) || !strings.Contains(usererr.Hint(err), "apt-get install chromium") {
		t.Errorf("with no browser at all: %v, want a user error with an apt-get hint", err)
	}
}

// TestBrowserEnvOnlyWhatItNeeds: Chromium and its children get PATH, HOME
// and the like, never a seftbot setting or secret from the environment.
func TestBrowserEnvOnlyWhatItNeeds(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2})
	o := simOptions(t, s, SiteDownload)
	const canary = "canary-3f9a1c-in-the-environment"
	t.Setenv("SEFTBOT_DOWNLOAD_PASSWORD", canary)
	t.Setenv("SOME_OTHER_TOKEN", canary)
	checked := 0
	testHookAfterClick = func(*tab) {
		for _, pid := range ourBrowsers() {
			env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
			if err != nil {
				continue // exited meanwhile
			}
			checked++
			if strings.Contains(string(env), canary) || strings.Contains(string(env), "SEFTBOT_") {
				t.Errorf("browser process %d inherited seftbot's environment", pid)
			}
			if !strings.Contains(string(env), "PATH=") {
				t.Errorf("browser process %d has no PATH", pid)
			}
		}
	}
	defer func() { testHookAfterClick = nil }()
	if _, err := Download(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no browser process was inspected; the test proved nothing")
	}
}

// TestNoChildGetsASecret runs every process seftbot starts for a browser,
// the short-lived `--version` probes included, through a wrapper that
// copies its environment to a file before it execs Chromium, with secrets
// given as environment variables: no copy may hold one.
func TestNoChildGetsASecret(t *testing.T) {
	real, err := findChromium("", false)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "chromium-wrapper")
	script := "#!/bin/sh\ncat /proc/$$/environ > " + dir + "/env.$$\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	const canary = "canary-77d0e2-secret"
	for _, k := range []string{"SEFTBOT_DOWNLOAD_PASSWORD", "SEFTBOT_UPLOAD_PASSWORD", "SEFTBOT_OAUTH_CLIENT_SECRET",
		"SEFTBOT_SFTP_KEY_PASSPHRASE", "SEFTBOT_SMTP_PASSWORD", "SEFTBOT_PASSPHRASE"} {
		t.Setenv(k, canary)
	}
	dumps := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "env.*"))
		return m
	}
	check := func(what string, want int) {
		t.Helper()
		got := dumps()
		if len(got) < want {
			t.Fatalf("%s: %d environments copied, want at least %d: the wrapper did not run", what, len(got), want)
		}
		for _, p := range got {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), canary) || strings.Contains(string(b), "SEFTBOT_") {
				t.Errorf("%s: a child's environment holds a seftbot setting or secret", what)
			}
			if !strings.Contains(string(b), "PATH=") {
				t.Errorf("%s: a child has no PATH", what)
			}
		}
	}
	if _, err := ChromiumVersion(context.Background(), wrapper); err != nil {
		t.Fatal(err)
	}
	check("the --version probes", 2)

	s := startSim(t, sim.Options{Files: 1})
	o := simOptions(t, s, SiteDownload)
	o.ChromiumPath = wrapper
	before := len(dumps())
	if _, err := Download(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	check("the browser", before+1)
}
