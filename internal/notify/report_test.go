package notify

import (
	"errors"
	"strings"
	"testing"
	"time"
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

// TestReportWording holds each kind of night's subject and body to what
// the run did: a nothing-new night never mentions an archive, a warning
// only when there is one, a failure names its stage and debug bundle.
func TestReportWording(t *testing.T) {
	start := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	delivered := Report{RunID: "r1", Project: "P", Started: start, Files: 3, Bytes: 3072,
		ArchiveName: "isaric-P-20261122.7z", RemotePath: "/isaric-P-20261122.7z"}
	withWarning := delivered
	withWarning.Warnings = []string{"files.download matched only through its second alternative"}
	quiet := Report{RunID: "r2", Project: "P", Started: start, NothingNew: true}
	quietWarned := quiet
	quietWarned.Warnings = []string{"NHS England's notice said there is new data, but a day later the portal still shows nothing new"}
	failed := Report{RunID: "r3", Project: "P", Started: start, Files: 3, Err: errors.New("connection lost"), FailedStage: "relay",
		DebugBundle: "/var/lib/seftbot/state/debug/r3-001-download"}
	cases := []struct {
		name    string
		r       Report
		subject string
		want    []string
		never   []string
	}{
		{"delivered", delivered, "seftbot: OK P run r1: 3 files, 3.0 KiB",
			[]string{"the archive is on the analysts' drop", "Archive:       isaric-P-20261122.7z", "Files:         3"}, []string{"WARNING", "FAILED", "nothing new"}},
		{"delivered, with a warning", withWarning, "seftbot: WARNING P run r1: 3 files, 3.0 KiB",
			[]string{"the archive is on the analysts' drop", "WARNING:\n  - files.download matched"}, []string{"FAILED"}},
		{"nothing new", quiet, "seftbot: OK P run r2: nothing new",
			[]string{"nothing new on the portal, so nothing was sent"}, []string{"archive", "Archive", "WARNING", "FAILED", "Files:"}},
		{"nothing new, a new-data notice unanswered", quietWarned, "seftbot: WARNING P run r2: nothing new",
			[]string{"nothing new on the portal", "WARNING:\n  - NHS England's notice said there is new data"}, []string{"archive", "Archive", "FAILED"}},
		{"failed", failed, "seftbot: FAILED at relay P run r3",
			[]string{"The run FAILED. The next `seftbot fetch` resumes it.", "Failed stage:  relay", "Debug bundle:  /var/lib/seftbot/state/debug/r3-001-download"},
			[]string{"OK", "on the analysts' drop"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			subject, body, err := RenderReport(c.r)
			if err != nil {
				t.Fatal(err)
			}
			if subject != c.subject {
				t.Errorf("subject %q, want %q", subject, c.subject)
			}
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, n := range c.never {
				if strings.Contains(subject, n) || strings.Contains(body, n) {
					t.Errorf("%q in the report:\n%s\n%s", n, subject, body)
				}
			}
		})
	}
}
