package sim

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/sim/mailsink"
)

var reTag = regexp.MustCompile(`<[^>]*>`)

// cohortFile builds a valid cohort file from the template seftsim wrote
// (read as plain bytes, not through the bot's code): header, then one row
// per id, 24 fields, CRLF.
func cohortFile(t *testing.T, s *Sim, action string, ids ...string) []byte {
	t.Helper()
	header, err := os.ReadFile(s.Env()["SEFTBOT_COHORT_HEADER_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.Write(header)
	for i, id := range ids {
		row := make([]string, 24)
		row[0] = "REF" + itoa(i)
		row[1] = id
		row[23] = action
		b.WriteString(strings.Join(row, ",") + "\r\n")
	}
	return []byte(b.String())
}

// upload submits a file through the upload form and checks the page says
// only that it was received.
func (c *client) upload(name string, data []byte) {
	c.t.Helper()
	page := c.get("/upload/")
	if page.StatusCode != http.StatusOK {
		c.t.Fatalf("upload page: %d", page.StatusCode)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf_token", csrfOf(c.t, page.body))
	fw, err := mw.CreateFormFile(c.s.markup().uploadField, name)
	if err != nil {
		c.t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, c.s.PortalURL()+"/upload/submit", &body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	r := c.do(req)
	_, main, _ := strings.Cut(r.body, "<main>")
	main, _, _ = strings.Cut(main, "</main>")
	if text := strings.TrimSpace(reTag.ReplaceAllString(main, "")); r.StatusCode != http.StatusOK || text != "Your file has been received." {
		c.t.Fatalf("upload of %q: %d, the page says %q", name, r.StatusCode, text)
	}
}

// toNoon moves seftsim's clock to the next 12:00 Europe/London, so a test
// never straddles midnight by accident.
func toNoon(t *testing.T, s *Sim) {
	t.Helper()
	advanceTo(t, s, nextLondon(s, 12, 0))
}

// nextLondon is the next time seftsim's clock shows hh:mm in Europe/London.
func nextLondon(s *Sim, hh, mm int) time.Time {
	now := s.Now()
	y, m, d := now.Date()
	at := time.Date(y, m, d, hh, mm, 0, 0, s.london)
	if !at.After(now) {
		at = time.Date(y, m, d+1, hh, mm, 0, 0, s.london)
	}
	return at
}

func advanceTo(t *testing.T, s *Sim, at time.Time) {
	t.Helper()
	if _, err := s.AdvanceClock(at.Sub(s.Now())); err != nil {
		t.Fatal(err)
	}
}

func mails(t *testing.T, s *Sim) []mailsink.Message {
	t.Helper()
	m, err := mailsink.ReadMessages(filepath.Join(s.Dir(), "mail"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUploadRules(t *testing.T) {
	s := startSim(t, Options{})
	c := newClient(t, s)
	c.signIn(siteUpload)
	name := DefaultProjectID + ".csv"
	ids := []string{"9990000042", "9990000050", "9990000069"}
	good := cohortFile(t, s, "ADD", ids...)

	cases := []struct {
		what string
		name string
		data []byte
		rule int
	}{
		{"wrong name", "cohort.csv", good, RuleName},
		{"name with a path", "x/" + name, good, RuleName},
		{"LF endings", name, bytes.ReplaceAll(good, []byte("\r\n"), []byte("\n")), RuleCRLF},
		{"no final CRLF", name, bytes.TrimSuffix(good, []byte("\r\n")), RuleCRLF},
		{"header differs", name, bytes.Replace(good, []byte("NHS_NO"), []byte("NHS_NUMBER"), 1), RuleHeader},
		{"header missing", name, good[bytes.Index(good, []byte("\r\n"))+2:], RuleHeader},
		{"23 fields", name, bytes.Replace(good, []byte(",,ADD\r\n"), []byte(",ADD\r\n"), 1), RuleFields},
		{"blank line", name, append(slices.Clone(good), "\r\n"...), RuleFields},
		{"lower-case action", name, bytes.Replace(good, []byte(",ADD\r\n"), []byte(",add\r\n"), 1), RuleAction},
		{"ADD and DELETE mixed", name, bytes.Replace(good, []byte(",ADD\r\n"), []byte(",DELETE\r\n"), 1), RuleAction},
		{"no rows", name, good[:bytes.Index(good, []byte("\r\n"))+2], RuleAction},
	}
	for i, tc := range cases {
		toNoon(t, s)         // a new day each time: one file a day
		c.signIn(siteUpload) // sessions die of idleness over a day
		c.upload(tc.name, tc.data)
		ups := s.Uploads()
		u := ups[len(ups)-1]
		if u.Verdict != Rejected || u.Rule != tc.rule {
			t.Errorf("%s: verdict %s rule %d (%s), want rule %d", tc.what, u.Verdict, u.Rule, u.Reason, tc.rule)
		}
		if n := len(s.HeldSet()); n != 0 {
			t.Errorf("%s: held set changed to %d ids", tc.what, n)
		}
		// The notice comes at 07:00 the next morning, not before.
		if got := len(mails(t, s)); got != i {
			t.Errorf("%s: %d notices before the morning, want %d", tc.what, got, i)
		}
		advanceTo(t, s, nextLondon(s, 6, 59))
		if got := len(mails(t, s)); got != i {
			t.Errorf("%s: notice mailed before 07:00", tc.what)
		}
		advanceTo(t, s, nextLondon(s, 7, 1))
		m := mails(t, s)
		if len(m) != i+1 {
			t.Fatalf("%s: %d notices after 07:00, want %d", tc.what, len(m), i+1)
		}
		last := m[len(m)-1]
		if last.Subject != "SEFT file processing" || !strings.Contains(last.Text, "There was a problem processing your file.") {
			t.Errorf("%s: notice %q %q", tc.what, last.Subject, last.Text)
		}
		if strings.Contains(last.Text, u.Reason) || strings.Contains(last.Text, "9990000042") {
			t.Errorf("%s: the notice says too much: %q", tc.what, last.Text)
		}
		if !s.Uploads()[len(ups)-1].NoticeSent {
			t.Errorf("%s: upload record not marked as notified", tc.what)
		}
	}
}

func TestUploadValidAndOnePerDay(t *testing.T) {
	s := startSim(t, Options{})
	c := newClient(t, s)
	toNoon(t, s)
	c.signIn(siteUpload)
	name := DefaultProjectID + ".csv"
	c.upload(name, cohortFile(t, s, "ADD", "9990000042", "9990000050", "9990000069"))
	if got := s.HeldSet(); !slices.Equal(got, []string{"9990000042", "9990000050", "9990000069"}) {
		t.Fatalf("held set after ADD: %v", got)
	}
	// A second file the same day is rejected, however good it is.
	c.upload(name, cohortFile(t, s, "ADD", "9990000077"))
	ups := s.Uploads()
	if ups[0].Verdict != Accepted || ups[1].Verdict != Rejected || ups[1].Rule != RuleOnePerDay {
		t.Fatalf("uploads %+v", ups)
	}
	if len(s.HeldSet()) != 3 {
		t.Fatalf("held set changed by a second file: %v", s.HeldSet())
	}
	if _, err := s.AdvanceClock(24 * time.Hour); err != nil {
		t.Fatal(err)
	}
	// Exactly one notice: for the rejected file, none for the good one.
	if m := mails(t, s); len(m) != 1 {
		t.Fatalf("%d mails, want 1 (the second file's notice)", len(m))
	}
	c.signIn(siteUpload)
	c.upload(name, cohortFile(t, s, "DELETE", "9990000050"))
	code, held := admin(t, s, "GET", "/admin/held-set", "")
	if code != 200 || held["count"] != float64(2) || len(held["ids"].([]any)) != 2 || held["ids"].([]any)[1] != "9990000069" {
		t.Fatalf("held set after DELETE: %d %v", code, held)
	}
	if _, err := s.AdvanceClock(48 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if m := mails(t, s); len(m) != 1 {
		t.Fatalf("a good file produced mail: %d mails", len(m))
	}
	code, up := admin(t, s, "GET", "/admin/uploads", "")
	list := up["uploads"].([]any)
	if code != 200 || len(list) != 3 || list[2].(map[string]any)["verdict"] != Accepted || list[2].(map[string]any)["action"] != "DELETE" {
		t.Fatalf("admin uploads: %d %v", code, up)
	}
}

func TestUploadCSRFAndCustomHeader(t *testing.T) {
	dir := t.TempDir()
	hdr := filepath.Join(dir, "given-header.csv")
	cols := slices.Clone(DefaultHeader)
	cols[0], cols[23] = "REF", "ADD_OR_DELETE"
	if err := os.WriteFile(hdr, []byte(strings.Join(cols, ",")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startSim(t, Options{Dir: filepath.Join(dir, "sim"), HeaderFile: hdr})
	got, err := os.ReadFile(s.HeaderFile())
	if want := strings.Join(cols, ",") + "\r\n"; err != nil || string(got) != want {
		t.Fatalf("DIR/header.csv holds %q (%v), want %q", got, err, want)
	}
	c := newClient(t, s)
	toNoon(t, s)
	c.signIn(siteUpload)
	c.upload(DefaultProjectID+".csv", cohortFile(t, s, "ADD", "9990000042"))
	if u := s.Uploads()[0]; u.Verdict != Accepted {
		t.Fatalf("file built from the custom template: %+v", u)
	}
	// A form without the session's CSRF token is refused and not recorded.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", DefaultProjectID+".csv")
	fw.Write([]byte("x"))
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, s.PortalURL()+"/upload/submit", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if r := c.do(req); r.StatusCode != http.StatusForbidden {
		t.Fatalf("upload without CSRF: %d", r.StatusCode)
	}
	if n := len(s.Uploads()); n != 1 {
		t.Fatalf("%d uploads recorded", n)
	}
}
