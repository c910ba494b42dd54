package profile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	p, err := Load(f, SiteDownload)
	if err != nil {
		t.Fatalf("a download-only profile for the download site: %v", err)
	}
	if p.Files.More.Mode != MoreNone || p.Files.Name.Attr != "title" {
		t.Errorf("files = %+v", p.Files)
	}
	if _, err := Load(f, SiteUpload); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "upload: missing") {
		t.Errorf("for the upload site: %v, want a user error naming the upload section", err)
	}
}

// TestOldProfileUpgraded: the first format becomes steps, with the click
// after the password as the step that sends it.
func TestOldProfileUpgraded(t *testing.T) {
	p, err := Load("../portal/testdata/profile-v2.json", "")
	if err != nil {
		t.Fatal(err)
	}
	s := p.Login.Steps
	if len(s) != 3 || s[1].With != "{password}" || SecretStep(s) != 2 || p.Files.More.Mode != MoreNavigate ||
		p.Upload.Steps[0].File.Empty() || p.Upload.Confirmed.Empty() {
		t.Errorf("upgraded: steps %+v files.more %+v upload %+v", s, p.Files.More, p.Upload)
	}
}

// TestProfileSendsBeforeFill: a step that could send the form before the
// {password} fill (Enter or a click on the password field, or a step
// marked sends_secret) is refused at load, naming both steps, in every
// format; a "Next" before the password field of a two-step login is not.
func TestProfileSendsBeforeFill(t *testing.T) {
	const tail = `], "outcomes": {"signed_in": "#out", "refused": ["no"]}},
  "files": {"row": ".r", "name": ".n", "download": "text=Get"}}`
	const fillPw = `{"fill": ["label=Password", "#password"], "with": "{password}"}`
	for _, c := range []struct{ name, steps, want string }{
		{"enter first", `{"fill": "label=User name", "with": "{user}"}, {"press": "Enter", "in": "label=Password"}, ` + fillPw + `, {"click": "#go"}`,
			"login.steps[1] presses Enter in label=Password before login.steps[2] fills [label=Password | #password] with {password}"},
		{"other alternative", `{"fill": "#user", "with": "{user}"}, {"press": "Enter", "in": ["#password"]}, ` + fillPw,
			"login.steps[1] presses Enter in #password before login.steps[2] fills"},
		{"click on the field", `{"fill": "#user", "with": "{user}"}, {"click": "css=#password"}, ` + fillPw + `, {"click": "#go"}`,
			"login.steps[1] clicks css=#password before login.steps[2] fills"},
		{"sends_secret", `{"fill": "#user", "with": "{user}"}, {"click": "#go", "sends_secret": true}, ` + fillPw,
			"login.steps[1] is marked sends_secret before login.steps[2] fills"},
		{"two-step next", `{"fill": "#user", "with": "{user}"}, {"press": "Enter", "in": "#user"}, {"click": "#next"}, ` + fillPw + `, {"press": "Enter", "in": "label=Password"}`, ""},
		{"enter after", `{"fill": "#user", "with": "{user}"}, ` + fillPw + `, {"press": "Enter", "in": "label=Password"}`, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "p.json")
			os.WriteFile(f, []byte(`{"login": {"steps": [`+c.steps+tail), 0o600)
			_, err := Load(f, SiteDownload)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("got %v, want a user error with %q", err, c.want)
			}
		})
	}
	// The first format is upgraded to fill, fill, click: always in order.
	f := filepath.Join(t.TempDir(), "old.json")
	os.WriteFile(f, []byte(`{"login": {"username": "#u", "password": "#p", "submit": "#p", "signed_in": "#out", "rejected_text": ["no"]},
  "files": {"row": ".r", "name": ".n", "download": "text=Get"}}`), 0o600)
	if _, err := Load(f, SiteDownload); err != nil {
		t.Fatalf("first format: %v", err)
	}
}

// TestDownloadSteps: files.download may be steps inside the row. They
// load, write back as steps, and a list that cannot start a file, or does
// what a row step must not, is refused naming the step.
func TestDownloadSteps(t *testing.T) {
	withDownload := func(dl string) string {
		return strings.Replace(downloadOnly, `"download": "text=Get"`, `"download": `+dl, 1)
	}
	p, err := Parse([]byte(withDownload(`[{"click": "text=Request", "optional": true}, {"wait_for": "a.get"}, {"click": "a.get"}]`)), SiteDownload)
	if err != nil {
		t.Fatal(err)
	}
	f := p.Files
	if len(f.DownloadSteps) != 3 || f.Download.String() != "a.get" {
		t.Fatalf("steps %+v, download %v; want 3 steps ending in a.get", f.DownloadSteps, f.Download)
	}
	b, err := json.Marshal(f)
	if err != nil || !strings.Contains(string(b), `"download":[{"click":["text=Request"],"optional":true},{"wait_for":["a.get"]},{"click":["a.get"]}]`) {
		t.Errorf("written back as %s (%v)", b, err)
	}
	var again Files
	if err := json.Unmarshal(b, &again); err != nil || len(again.DownloadSteps) != 3 {
		t.Errorf("read back: %v, %d steps", err, len(again.DownloadSteps))
	}
	if p, err := Parse([]byte(downloadOnly), SiteDownload); err != nil || len(p.Files.DownloadSteps) != 0 || p.Files.Download.String() != "text=Get" {
		t.Errorf("a plain selector: %v", err)
	}
	for dl, want := range map[string]string{
		`[{"click": "a.get"}, {"wait_for": "a.done"}]`:                          "files.download[1]: the last download step must be a click",
		`[{"click": "a.get", "optional": true}]`:                                "files.download[0]: the last download step must be a click that is not optional",
		`[{"fill": "#x", "with": "{user}"}, {"click": "a.get"}]`:                "files.download[0]: a download step clicks or waits inside the row, it does not fill",
		`[{"fill": "#x", "with": "{password}"}, {"click": "a.get"}]`:            "files.download[0]: {password} belongs in login.steps",
		`[{"wait_url": "ready"}, {"click": "a.get"}]`:                           "files.download[0]: wait_url has no meaning inside a row",
		`[{"wait_for": "a.get", "clik": "x"}, {"click": "a.get"}]`:              `unknown field "clik"`,
		`[{"wait_for": "a.get"}, {"click": "a.get"}], "prepare_timeout": "-1s"`: "bad duration",
	} {
		_, err := Parse([]byte(withDownload(dl)), SiteDownload)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", dl, err, want)
		}
	}
}
