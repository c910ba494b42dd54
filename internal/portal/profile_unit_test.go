package portal

import (
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/usererr"
)

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
