package notify

import (
	"errors"
	"strings"
	"testing"
)

// TestReportLatched: a run stopped by a login latch must not promise that
// the next run resumes: no run signs in until a person checks the account.
func TestReportLatched(t *testing.T) {
	r := Report{RunID: "r1", Err: errors.New("login rejected"), FailedStage: "download",
		Latched: []string{"download site: the portal refused the password"}}
	_, body, err := RenderReport(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, "resumes it") {
		t.Errorf("a latched run's report promises a resume:\n%s", body)
	}
	if !strings.Contains(body, "LOGIN LATCHED") || !strings.Contains(body, "login-latch lift") ||
		!strings.Contains(body, "the portal refused the password") {
		t.Errorf("the report does not name the latch and how to lift it:\n%s", body)
	}
	r.Latched = nil
	if _, body, _ = RenderReport(r); !strings.Contains(body, "resumes it") {
		t.Errorf("an ordinary failure lost its resume line:\n%s", body)
	}
}
