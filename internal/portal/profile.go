package portal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/isaric/seftbot/internal/usererr"
)

// Profile is everything site-specific the bot relies on: paths, selectors and
// page texts. The real portal cannot be seen from here, so retargeting it must
// be an edit of this file, never of code. See docs/site-profile.md for the format.
//
// A selector is CSS by default ("#files tr.file-row"), or one of:
//
//	text=Sign in     a button, link or submit input whose visible text is "Sign in"
//	label=User name  the form control labelled "User name" (<label for> or aria-label)
//	css=...          explicit CSS
//
// Texts are matched as case-insensitive substrings of the page's visible text.
type Profile struct {
	Name string `json:"name"`

	Login struct {
		Path     string `json:"path"` // relative to the site URL
		Username string `json:"username"`
		Password string `json:"password"`
		Submit   string `json:"submit"`
		// SignedIn is present on every signed-in page and only there.
		SignedIn string `json:"signed_in"`
		// Rejected texts mean the credentials were refused (or the account is
		// locked): the run stops and never tries again.
		Rejected []string `json:"rejected_text"`
	} `json:"login"`

	// SessionExpired tells a page that asks to sign in again after an idle
	// session apart from a refused login.
	SessionExpired struct {
		URLContains string   `json:"url_contains"`
		Text        []string `json:"text"`
	} `json:"session_expired"`

	Files struct {
		Path string `json:"path"` // first page of the listing, relative to the site URL
		// Row matches one file entry; Name, Size and Download are looked up
		// inside the row.
		Row      string   `json:"row"`
		Name     string   `json:"name"`
		Size     string   `json:"size"`
		Download string   `json:"download"`
		Next     string   `json:"next"`       // absent on the last page
		Empty    []string `json:"empty_text"` // the listing is empty, not broken
	} `json:"files"`

	Upload struct {
		Path   string `json:"path"`
		Input  string `json:"input"` // <input type=file>
		Submit string `json:"submit"`
		// Confirmation is the element whose text is returned after submit;
		// its absence after submitting is an error.
		Confirmation string `json:"confirmation"`
	} `json:"upload"`

	// Transient texts mark a page that is worth trying again later
	// (maintenance, server error); LinkExpired marks a download control whose
	// one-time link was used up, so the listing must be reloaded.
	Transient   []string `json:"transient_text"`
	LinkExpired []string `json:"link_expired_text"`
}

// defaultProfileJSON matches seftsim's markup v1 (docs/seftsim.md).
const defaultProfileJSON = `{
  "name": "seftsim-v1",
  "login": {
    "path": "login",
    "username": "label=User name",
    "password": "label=Password",
    "submit": "text=Sign in",
    "signed_in": "#sign-out",
    "rejected_text": ["Invalid user name or password", "Your account has been locked"]
  },
  "session_expired": {
    "url_contains": "expired=1",
    "text": ["Your session has expired"]
  },
  "files": {
    "path": "files",
    "row": "#files tr.file-row",
    "name": ".file-name",
    "size": ".file-size",
    "download": "text=Download",
    "next": "a[rel=next]",
    "empty_text": ["There are no files available"]
  },
  "upload": {
    "path": "",
    "input": "label=File to upload",
    "submit": "text=Upload",
    "confirmation": "#received"
  },
  "transient_text": ["Please try again later", "planned maintenance", "Something went wrong", "The form has expired", "Internal Server Error", "Service Unavailable", "Bad Gateway", "Gateway Timeout"],
  "link_expired_text": ["This link has expired"]
}`

// DefaultProfile returns the built-in profile, which matches seftsim v1.
func DefaultProfile() *Profile {
	p, err := parseProfile([]byte(defaultProfileJSON))
	if err != nil {
		panic("built-in profile: " + err.Error())
	}
	return p
}

// LoadProfile reads a profile file. Unknown keys are errors, so a typo cannot
// silently fall back to a default.
func LoadProfile(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("profile: %w", err), "check --profile / SEFTBOT_PROFILE")
	}
	p, err := parseProfile(b)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("profile %s: %w", path, err), "see docs/site-profile.md for the format")
	}
	return p, nil
}

func parseProfile(b []byte) (*Profile, error) {
	var p Profile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// validate names every required field that is empty.
func (p *Profile) validate() error {
	req := map[string]string{
		"login.username": p.Login.Username, "login.password": p.Login.Password,
		"login.submit": p.Login.Submit, "login.signed_in": p.Login.SignedIn,
		"files.row": p.Files.Row, "files.name": p.Files.Name, "files.download": p.Files.Download,
		"upload.input": p.Upload.Input, "upload.submit": p.Upload.Submit,
	}
	var missing []string
	for k, v := range req {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, k)
		}
	}
	if len(p.Login.Rejected) == 0 {
		missing = append(missing, "login.rejected_text")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return errors.New("missing " + strings.Join(missing, ", "))
	}
	return nil
}
