package authoring

import (
	"errors"
	"strings"
	"testing"
)

// TestDraftRefusedByTheLoader: a draft whose Enter in the password field
// comes before the field's fill is refused as the draft's fault, naming
// both steps, with the profile error's exit code, and never as a page
// that "does not match".
func TestDraftRefusedByTheLoader(t *testing.T) {
	r := &Recorder{
		o:        &Options{Site: SiteDownload, URL: "https://127.0.0.1:8443/download/"},
		loginURL: "https://127.0.0.1:8443/download/login",
		signedIn: Sel{"#sign-out"},
		steps: []Step{
			{Fill: Sel{"#user"}, With: "{user}"},
			{Press: "Enter", In: Sel{"#pw"}},
			{Fill: Sel{"#pw"}, With: "{password}"},
		},
	}
	_, _, err := r.profile()
	if err == nil {
		t.Fatal("a draft that presses Enter before the password is typed was accepted")
	}
	msg := err.Error()
	if !errors.Is(err, ErrProfile) || !strings.HasPrefix(msg, "the recorded draft cannot be used as it is: ") ||
		strings.Contains(msg, "does not match the page") || !strings.Contains(msg, "login.steps[1]") || !strings.Contains(msg, "login.steps[2]") {
		t.Fatalf("err = %v", err)
	}
}
