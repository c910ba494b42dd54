package sim

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/testtool"
)

func TestAdminRefusesBadRequests(t *testing.T) {
	s := startSim(t, Options{Files: 1})
	cases := []struct {
		method, path, body string
		code               int
	}{
		{"POST", "/admin/unlock", ``, 400},
		{"POST", "/admin/unlock", `{}`, 400},
		{"POST", "/admin/unlock", `{"account":"root"}`, 400},
		{"POST", "/admin/unlock", `{"account":42}`, 400},
		{"POST", "/admin/unlock", `{"account":"upload"} {"account":"download"}`, 400},
		{"POST", "/admin/unlock", `{"account":"upload","extra":1}`, 400},
		{"POST", "/admin/publish", `{"files":0}`, 400},
		{"POST", "/admin/publish", `{"files":-3}`, 400},
		{"POST", "/admin/publish", `{"files":2,"file_size":10}`, 400},
		{"POST", "/admin/publish", `{"file_size":2048}`, 400},
		{"POST", "/admin/publish", `{"files":"many"}`, 400},
		{"POST", "/admin/publish", `[1,2]`, 400},
		{"POST", "/admin/publish", `{"files":1e12}`, 400},
		{"POST", "/admin/faults", `{"latency":"soon"}`, 400},
		{"POST", "/admin/faults", `{"latency":200}`, 400},
		{"POST", "/admin/faults", `{"error_rate":1.01}`, 400},
		{"POST", "/admin/faults", `{"expire_after":-1}`, 400},
		{"POST", "/admin/faults", `{"colour":"red"}`, 400},
		{"POST", "/admin/faults", `{"maintenance":"yes"}`, 400},
		{"POST", "/admin/faults", `not json`, 400},
		{"POST", "/admin/advance-clock", `{}`, 400},
		{"POST", "/admin/advance-clock", `{"by":"-1h"}`, 400},
		{"POST", "/admin/advance-clock", `{"by":"0s"}`, 400},
		{"POST", "/admin/advance-clock", `{"by":"1 day"}`, 400},
		{"POST", "/admin/advance-clock", `{"by":"1000000h"}`, 400},
		{"POST", "/admin/reset", `{"hard":true}`, 400},
		{"POST", "/admin/state", ``, 405},
		{"GET", "/admin/reset", ``, 405},
		{"GET", "/admin/nothing", ``, 404},
		{"GET", "/", ``, 404},
	}
	for _, tc := range cases {
		code, m := admin(t, s, tc.method, tc.path, tc.body)
		if code != tc.code || m["error"] == nil || m["error"] == "" {
			t.Errorf("%s %s %s: %d %v, want %d with an error", tc.method, tc.path, tc.body, code, m, tc.code)
		}
	}
	// Nothing changed.
	st := s.State()
	if st.FilesListed != 1 || st.Faults != (Faults{}) || st.Clock.Sub(time.Now()) > time.Minute {
		t.Fatalf("bad requests changed the state: %+v", st)
	}
}

func TestAdminPublishRetentionReset(t *testing.T) {
	s := startSim(t, Options{Files: 2, Retention: 72 * time.Hour})
	code, m := admin(t, s, "POST", "/admin/publish", `{"files":3,"file_size":4096}`)
	if code != 200 || m["files_listed"] != float64(5) || len(m["published"].([]any)) != 3 {
		t.Fatalf("publish: %d %v", code, m)
	}
	if n := len(published(t, s)); n != 5 {
		t.Fatalf("published.sha256 has %d names after publish, want 5", n)
	}
	names := map[string]bool{}
	for _, f := range s.Files() {
		if names[f.Name] {
			t.Fatalf("name %q listed twice", f.Name)
		}
		names[f.Name] = true
	}
	if _, err := s.AdvanceClock(48 * time.Hour); err != nil {
		t.Fatal(err)
	}
	code, m = admin(t, s, "POST", "/admin/publish", `{"files":1}`)
	if code != 200 {
		t.Fatalf("publish: %d %v", code, m)
	}
	// Past the first two batches' retention, before the third's.
	code, m = admin(t, s, "POST", "/admin/advance-clock", `{"by":"25h"}`)
	if code != 200 || m["clock"] == nil {
		t.Fatalf("advance-clock: %d %v", code, m)
	}
	files := s.Files()
	if len(files) != 1 || files[0].ID != 6 {
		t.Fatalf("after retention: %+v", files)
	}
	if pub := published(t, s); len(pub) != 1 || pub[files[0].Name] == nil {
		t.Fatalf("published.sha256 after purge: %v", pub)
	}
	c := newClient(t, s)
	c.signIn(siteDownload)
	if l := c.listPage(1); len(l.names) != 1 || l.names[0] != files[0].Name {
		t.Fatalf("listing after purge: %v", l.names)
	}
	// Reset: start batch back, clock back, accounts cleared.
	c.login(siteDownload, s.Env()["SEFTBOT_DOWNLOAD_USER"], "wrong")
	before := s.Files()
	code, m = admin(t, s, "POST", "/admin/reset", ``)
	if code != 200 {
		t.Fatalf("reset: %d %v", code, m)
	}
	st := s.State()
	if st.FilesListed != 2 || st.Accounts[siteDownload].FailedLogins != 0 || st.Clock.Sub(time.Now()) > time.Minute {
		t.Fatalf("after reset: %+v", st)
	}
	if st.Files[0].Name == before[0].Name {
		t.Fatal("reset kept the later batch")
	}
	pub := published(t, s)
	for _, f := range st.Files {
		if len(pub[f.Name]) != 1 || pub[f.Name][0] != f.SHA256 {
			t.Fatalf("published.sha256 after reset: %v", pub)
		}
	}
	// Sessions did not survive the reset.
	if r := c.get("/download/files"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("session survived reset: %d", r.StatusCode)
	}
}

func TestDeterminism(t *testing.T) {
	read := func(seed int64) string {
		s := startSim(t, Options{Files: 12, Seed: seed, HostileNames: true})
		b, err := os.ReadFile(s.PublishedFile())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a, b, c := read(3), read(3), read(4)
	if a != b {
		t.Fatalf("same seed, different published.sha256:\n%s\n%s", a, b)
	}
	if a == c {
		t.Fatal("different seeds, same published.sha256")
	}
	if strings.Count(a, "\n") != 12+len(hostileNames(DefaultProjectID)) {
		t.Fatalf("published.sha256:\n%s", a)
	}
}

func TestEnvAndInfoFiles(t *testing.T) {
	s := startSim(t, Options{Files: 1})
	st, err := os.Stat(s.EnvFile())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seftbot.env: %v %v", st.Mode(), err)
	}
	// seftbot's own loader accepts it and sees every key.
	src, err := config.Load(s.EnvFile(), true, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"SEFTBOT_PROJECT_ID", "SEFTBOT_UPLOAD_URL", "SEFTBOT_UPLOAD_USER", "SEFTBOT_UPLOAD_PASSWORD",
		"SEFTBOT_DOWNLOAD_URL", "SEFTBOT_DOWNLOAD_USER", "SEFTBOT_DOWNLOAD_PASSWORD", "SEFTBOT_PORTAL_CA_FILE",
		"SEFTBOT_PORTAL_SPKI_PIN", "SEFTBOT_SFTP_HOST", "SEFTBOT_SFTP_PORT", "SEFTBOT_SFTP_USER", "SEFTBOT_SFTP_KEY_FILE",
		"SEFTBOT_SFTP_KNOWN_HOSTS", "SEFTBOT_SFTP_REMOTE_DIR", "SEFTBOT_SMTP_HOST", "SEFTBOT_SMTP_PORT", "SEFTBOT_SMTP_USER",
		"SEFTBOT_SMTP_PASSWORD", "SEFTBOT_SMTP_CA_FILE", "SEFTBOT_MAIL_FROM", "SEFTBOT_PASSPHRASE_TO", "SEFTBOT_REPORT_TO",
		"SEFTBOT_STATE_DIR", "SEFTBOT_STAGING_DIR", "SEFTBOT_COHORT_HEADER_FILE"}
	if err := src.Require(want...); err != nil {
		t.Fatal(err)
	}
	for _, k := range want {
		if _, ok := config.Lookup(k); !ok {
			t.Errorf("%s is not a seftbot setting", k)
		}
		v := src.Get(k)
		if st, _ := config.Lookup(k); st.Secret {
			v, _ = src.Secret(k)
		}
		if v != s.Env()[k] {
			t.Errorf("%s reads back as %q, wrote %q", k, v, s.Env()[k])
		}
	}
	if got := src.Get("SEFTBOT_UPLOAD_URL"); got != s.PortalURL()+"/upload/" {
		t.Errorf("upload URL %s", got)
	}
	for _, d := range []string{"state", "staging"} {
		if st, err := os.Stat(filepath.Join(s.Dir(), d)); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v", d, st.Mode(), err)
		}
	}
	if st, err := os.Stat(src.Get("SEFTBOT_SFTP_KEY_FILE")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("client key: %v %v", st.Mode(), err)
	}
	kh, err := os.ReadFile(src.Get("SEFTBOT_SFTP_KNOWN_HOSTS"))
	if err != nil || !strings.HasPrefix(string(kh), "[127.0.0.1]:"+src.Get("SEFTBOT_SFTP_PORT")+" ssh-ed25519 ") {
		t.Errorf("known_hosts %q %v", kh, err)
	}
	var info map[string]string
	b, err := os.ReadFile(filepath.Join(s.Dir(), "seftsim.json"))
	if err != nil || json.Unmarshal(b, &info) != nil {
		t.Fatalf("seftsim.json: %s %v", b, err)
	}
	if info["admin_url"] != s.AdminURL() || info["portal_url"] != s.PortalURL() || info["sftp_addr"] == "" || info["smtp_addr"] == "" {
		t.Fatalf("seftsim.json %v", info)
	}
	code, state := admin(t, s, "GET", "/admin/state", "")
	if code != 200 || state["files_listed"] != float64(1) {
		t.Fatalf("state: %d %v", code, state)
	}
	if strings.Contains(string(mustJSON(t, state)), s.Env()["SEFTBOT_DOWNLOAD_PASSWORD"]) {
		t.Fatal("admin state shows a password")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStartRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{Dir: t.TempDir(), Files: -1},
		{Dir: t.TempDir(), FileSize: 10},
		{Dir: t.TempDir(), Markup: "v5"},
		{Dir: t.TempDir(), PageSize: -2},
		{Dir: t.TempDir(), SessionIdle: -time.Second},
		{Dir: t.TempDir(), ProjectID: "../etc"},
		{Dir: t.TempDir(), HeaderFile: "/nonexistent/header.csv"},
		{Dir: t.TempDir(), UploadPasswordFile: "/nonexistent/pw"},
	} {
		if s, err := Start(context.Background(), o); err == nil {
			s.Close()
			t.Errorf("Start(%+v) accepted", o)
		}
	}
	// A password file that others can read is refused, like seftbot's.
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("secret\n"), 0o644)
	if _, err := Start(context.Background(), Options{Dir: t.TempDir(), DownloadPasswordFile: pw}); err == nil || !strings.Contains(err.Error(), "chmod") && !strings.Contains(err.Error(), "accessible") {
		t.Errorf("world-readable password file: %v", err)
	}
	os.Chmod(pw, 0o600)
	s := startSim(t, Options{DownloadPasswordFile: pw})
	if s.Env()["SEFTBOT_DOWNLOAD_PASSWORD"] != "secret" {
		t.Error("password file ignored")
	}
}

func TestReadyQuicklyFor160Files(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("hashes 160 MB; timing is meaningless under -short or -race")
	}
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Options{Dir: t.TempDir(), Files: 160, FileSize: 1_000_000})
	if err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	cancel()
	s.Close()
	if d > 10*time.Second {
		t.Fatalf("ready after %s, the contract says 10 s", d)
	}
	t.Logf("160 x 1 MB ready in %s", d)
}

// TestRealTimeMovesTheClock: retention applies without anyone advancing the
// clock, because seftsim's clock is real time plus an offset.
func TestRealTimeMovesTheClock(t *testing.T) {
	s := startSim(t, Options{Files: 2, Retention: time.Second})
	testtool.WaitFor(t, 5*time.Second, "files gone after a 1 s retention", func() bool { return len(s.Files()) == 0 })
	if pub := published(t, s); len(pub) != 0 {
		t.Fatalf("published.sha256 after the purge: %v", pub)
	}
}
