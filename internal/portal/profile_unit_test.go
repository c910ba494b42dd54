package portal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/usererr"
)

const downloadOnly = `{
  "login": {"steps": [{"fill": "#u", "with": "{user}"}, {"fill": "#p", "with": "{password}"}, {"click": "text=Go"}],
            "outcomes": {"signed_in": "#out", "refused": ["no"]}},
  "files": {"row": ".r", "name": {"in": ".n", "attr": "title", "regex": "^(.*) \\(\\d+\\)$"}, "download": "text=Get"}
}`

// TestProfilePerSite: a profile for one site needs no section of the other,
// and says so when used for a site it does not describe.
func TestProfilePerSite(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "dl.json")
	os.WriteFile(f, []byte(downloadOnly), 0o600)
	p, err := LoadProfile(f, SiteDownload)
	if err != nil {
		t.Fatalf("a download-only profile for the download site: %v", err)
	}
	if p.Files.More.Mode != MoreNone || p.Files.Name.Attr != "title" {
		t.Errorf("files = %+v", p.Files)
	}
	if _, err := LoadProfile(f, SiteUpload); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "upload: missing") {
		t.Errorf("for the upload site: %v, want a user error naming the upload section", err)
	}
}

// TestProfileSetting: SEFTBOT_<SITE>_PROFILE wins over SEFTBOT_PROFILE.
func TestProfileSetting(t *testing.T) {
	env := map[string]string{"SEFTBOT_PROFILE": "both.json", "SEFTBOT_UPLOAD_PROFILE": "up.json"}
	src, err := config.Load("", false, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := ProfileSetting(src, SiteUpload); got != "up.json" {
		t.Errorf("upload: %q", got)
	}
	if got := ProfileSetting(src, SiteDownload); got != "both.json" {
		t.Errorf("download: %q", got)
	}
}

// TestOldProfileUpgraded: the first format becomes steps, with the click
// after the password as the step that sends it.
func TestOldProfileUpgraded(t *testing.T) {
	p, err := LoadProfile("testdata/profile-v2.json", "")
	if err != nil {
		t.Fatal(err)
	}
	s := p.Login.Steps
	if len(s) != 3 || s[1].With != "{password}" || secretStep(s) != 2 || p.Files.More.Mode != MoreNavigate ||
		p.Upload.Steps[0].File.Empty() || p.Upload.Confirmed.Empty() {
		t.Errorf("upgraded: steps %+v files.more %+v upload %+v", s, p.Files.More, p.Upload)
	}
}

// TestPlainHTTPRefused: passwords and patient data never cross the network
// in clear text; plain http is for loopback (seftsim --http) only.
func TestPlainHTTPRefused(t *testing.T) {
	for url, ok := range map[string]bool{"http://portal.example/": false, "http://10.0.0.1/x/": false,
		"http://127.0.0.1:8080/download/": true, "http://localhost/": true, "https://portal.example/": true} {
		o := Options{Site: SiteDownload, URL: url, User: "u", Password: "p"}
		err := o.normalise()
		// Refused for being plain http, not for something else.
		if (err == nil) != ok || (err != nil && (!usererr.Is(err) || !strings.Contains(err.Error(), url+" is plain http to another host"))) {
			t.Errorf("%s: %v", url, err)
		}
	}
}
