package portal

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/config"
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

// TestBrowserEnvOnlyWhatItNeeds: Chromium and its children get PATH, HOME
// and the like, never a seftbot setting or secret from the environment.
func TestBrowserEnvOnlyWhatItNeeds(t *testing.T) {
	s := startSim(t, sim.Options{Files: 2})
	o := simOptions(t, s, SiteDownload)
	const canary = "canary-3f9a1c-in-the-environment"
	t.Setenv("SEFTBOT_DOWNLOAD_PASSWORD", canary)
	t.Setenv("SOME_OTHER_TOKEN", canary)
	checked := 0
	o.afterClick = func(*tab) {
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

// TestNoteDetour: a page that came back to the portal through another site
// is a renewal, named with the site; one that never left, or that ended on
// the other site (its sign-in form), is not.
func TestNoteDetour(t *testing.T) {
	const site, idp = "https://portal.example", "https://idp.example"
	for _, c := range []struct {
		came []string
		want bool
	}{
		{[]string{site, idp, site}, true},
		{[]string{site, idp, idp, site}, true},
		{[]string{site}, false},
		{[]string{site, idp}, false},
		{nil, false},
	} {
		var logs strings.Builder
		o := Options{URL: site + "/download/", Log: slog.New(slog.NewTextHandler(&logs, nil))}
		if got := o.noteDetour(c.came, "the list"); got != c.want || strings.Contains(logs.String(), "via="+idp) != c.want {
			t.Errorf("%v: %v, log %q; want %v", c.came, got, logs.String(), c.want)
		}
	}
}
