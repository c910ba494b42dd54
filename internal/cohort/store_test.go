package cohort

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/usererr"
)

const project = "NIC-402963-P0Y5D"

// harness opens a fresh Store on the same directory for every call, as a
// new seftbot process would, so every rule is tested across restarts.
type harness struct {
	t       *testing.T
	dir     string
	now     time.Time
	uploads [][]byte // exact bytes the fake portal received
	upErr   error
	hook    func([]byte) []byte
	inbox   *InboxRead
}

func newHarness(t *testing.T, now string) *harness {
	h := &harness{t: t, dir: filepath.Join(t.TempDir(), "cohort")}
	h.at(now)
	return h
}

func (h *harness) at(rfc3339 string) {
	h.t.Helper()
	tm, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		h.t.Fatal(err)
	}
	h.now = tm
}

func (h *harness) store() *Store {
	h.t.Helper()
	s, err := Open(Options{Dir: h.dir, Project: project, Header: DefaultHeader, Now: func() time.Time { return h.now },
		BeforeCheck: h.hook, Inbox: h.inbox,
		Uploader: func() (Uploader, error) { return h.upload, nil }})
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// upload is the harness's portal: it checks the file's name and keeps its
// bytes, or fails with upErr.
func (h *harness) upload(_ context.Context, path string) (string, error) {
	if filepath.Base(path) != project+".csv" {
		h.t.Errorf("uploaded file is named %s", filepath.Base(path))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.upErr != nil {
		return "", h.upErr
	}
	h.uploads = append(h.uploads, b)
	return "Your file has been received.", nil
}

func (h *harness) importHeld(in string) {
	h.t.Helper()
	if _, err := h.store().ImportHeld(context.Background(), strings.NewReader(fill(in)), "held.txt"); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) submit() *SubmitResult {
	h.t.Helper()
	res, err := h.store().Submit(context.Background(), false)
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

func (h *harness) held() string {
	h.t.Helper()
	var out []string
	s := h.store()
	if _, err := s.Status(); err != nil { // applies the quiet period, as status does
		h.t.Fatal(err)
	}
	for _, v := range s.l.Held {
		for k, id := range ids {
			if id == formatNHS(v) {
				out = append(out, k)
			}
		}
	}
	return strings.Join(sortStrings(out), "")
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// rowsOf returns the NHS numbers (as test letters) and actions of a file.
func rowsOf(t *testing.T, b []byte) (letters string, actions map[string]int) {
	t.Helper()
	actions = map[string]int{}
	var ls []string
	for i, l := range strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n") {
		if i == 0 {
			continue
		}
		f := strings.Split(l, ",")
		actions[f[23]]++
		for k, v := range ids {
			if v == f[1] {
				ls = append(ls, k)
			}
		}
	}
	return strings.Join(sortStrings(ls), ""), actions
}

func TestReplaceDiffOverDays(t *testing.T) {
	h := newHarness(t, "2026-11-20T10:00:00Z")
	h.importHeld("{A}\n{B}\n{C}\n")
	res, err := h.store().Replace(context.Background(), strings.NewReader(fill("NHS_NO\n{B}\n{C}\n{D}\n{E}\n")), "new.csv", Diff)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 || res.Steps[0].Action != Delete || res.Steps[0].Count != 1 || res.Steps[1].Action != Add || res.Steps[1].Count != 2 || res.Unchanged != 2 {
		t.Fatalf("plan: %+v %+v unchanged %d", res.Steps[0], res.Steps[1], res.Unchanged)
	}

	h.at("2026-11-20T22:00:00Z")
	if r := h.submit(); !r.Uploaded || r.Step.ID != "S1" {
		t.Fatalf("night 1: %+v", r)
	}
	if got, acts := rowsOf(t, h.uploads[0]); got != "A" || acts["DELETE"] != 1 || len(acts) != 1 {
		t.Fatalf("night 1 file: %s %v", got, acts)
	}
	if r := h.submit(); r.Uploaded || !strings.Contains(r.Reason, "step S1 awaits confirmation: its quiet period ends 2026-11-21 09:00 GMT") {
		t.Fatalf("second run night 1: %+v", r)
	}
	h.at("2026-11-21T08:59:59Z")
	if r := h.submit(); r.Uploaded {
		t.Fatalf("uploaded before the quiet period ended")
	}
	if h.held() != "ABC" {
		t.Fatalf("held before confirmation: %s", h.held())
	}
	h.at("2026-11-21T22:00:00Z")
	if r := h.submit(); !r.Uploaded || r.Step.ID != "S2" {
		t.Fatalf("night 2: %+v", r)
	}
	if h.held() != "BC" {
		t.Fatalf("held after S1 confirmed: %s", h.held())
	}
	if got, acts := rowsOf(t, h.uploads[1]); got != "DE" || acts["ADD"] != 2 || len(acts) != 1 {
		t.Fatalf("night 2 file: %s %v", got, acts)
	}
	h.at("2026-11-22T22:00:00Z")
	if r := h.submit(); r.Uploaded || r.Reason != "no pending steps" {
		t.Fatalf("night 3: %+v", r)
	}
	if h.held() != "BCDE" {
		t.Fatalf("held at the end: %s", h.held())
	}
	l := h.store().l
	if len(l.Submissions) != 2 || l.Submissions[0].Outcome != StateConfirmed || l.Submissions[1].Outcome != StateConfirmed ||
		l.Submissions[0].Day != "2026-11-20" || l.Submissions[1].SHA256 != sha256Hex(h.uploads[1]) {
		t.Fatalf("submissions: %+v", l.Submissions)
	}
	if ents, _ := os.ReadDir(filepath.Join(h.dir, "outbox")); len(ents) != 0 {
		t.Errorf("outbox not emptied after upload: %v", ents)
	}
}

func TestReplaceFull(t *testing.T) {
	h := newHarness(t, "2026-11-20T10:00:00Z")
	h.importHeld("{A}\n{B}\n")
	res, err := h.store().Replace(context.Background(), strings.NewReader(fill("{B}\n{C}\n")), "new.txt", Full)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Steps) != 2 || res.Steps[0].Count != 2 || res.Steps[1].Count != 2 {
		t.Fatalf("full plan: %+v %+v", res.Steps[0], res.Steps[1])
	}
	h.submit()
	h.at("2026-11-21T10:00:00Z")
	h.submit()
	h.at("2026-11-22T10:00:00Z")
	h.submit()
	a, _ := rowsOf(t, h.uploads[0])
	b, _ := rowsOf(t, h.uploads[1])
	if a != "AB" || b != "BC" || h.held() != "BC" {
		t.Fatalf("full: deleted %s, added %s, held %s", a, b, h.held())
	}
}

func TestReplaceNoChange(t *testing.T) {
	h := newHarness(t, "2026-11-20T10:00:00Z")
	h.importHeld("{A}\n")
	res, err := h.store().Replace(context.Background(), strings.NewReader(fill("{A}\n")), "same.txt", Diff)
	if err != nil || len(res.Steps) != 0 {
		t.Fatalf("%v %v", res, err)
	}
}

// TestOnePerLondonDay uploads once, confirms, plans another step in a new
// process, and tries again at a second instant: allowed only on a later
// Europe/London calendar day, whatever UTC says.
func TestOnePerLondonDay(t *testing.T) {
	for _, tc := range []struct {
		name, first, second string
		allowed             bool
		due                 string // when refused: next London midnight
	}{
		{"winter, same day", "2026-11-22T00:00:00Z", "2026-11-22T23:59:59Z", false, "2026-11-23T00:00:00Z"},
		{"winter, midnight", "2026-11-22T23:59:59Z", "2026-11-23T00:00:00Z", true, ""},
		{"summer, same London day, UTC days differ", "2026-07-01T23:30:00Z", "2026-07-02T22:59:59Z", false, "2026-07-02T23:00:00Z"},
		{"summer, London midnight at 23:00 UTC", "2026-07-01T23:30:00Z", "2026-07-02T23:00:00Z", true, ""},
		{"summer, new London day, same UTC day", "2026-07-01T22:30:00Z", "2026-07-01T23:10:00Z", true, ""},
		{"BST starts: 23-hour day", "2026-03-29T00:00:00Z", "2026-03-29T22:59:59Z", false, "2026-03-29T23:00:00Z"},
		{"BST starts: next day", "2026-03-29T00:00:00Z", "2026-03-29T23:00:00Z", true, ""},
		{"GMT resumes: 25-hour day", "2026-10-24T23:00:00Z", "2026-10-25T23:59:59Z", false, "2026-10-26T00:00:00Z"},
		{"GMT resumes: next day", "2026-10-24T23:00:00Z", "2026-10-26T00:00:00Z", true, ""},
		{"GMT resumes: midnight before", "2026-10-24T22:59:59Z", "2026-10-24T23:00:00Z", true, ""},
		{"clock went back", "2026-11-22T12:00:00Z", "2026-11-21T12:00:00Z", false, "2026-11-22T12:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.first)
			if _, err := h.store().Add(context.Background(), strings.NewReader(fill("{A}\n")), "a.txt"); err != nil {
				t.Fatal(err)
			}
			if r := h.submit(); !r.Uploaded {
				t.Fatalf("first upload refused: %s", r.Reason)
			}
			if _, err := h.store().Confirm("S1"); err != nil {
				t.Fatal(err)
			}
			if _, err := h.store().Add(context.Background(), strings.NewReader(fill("{B}\n")), "b.txt"); err != nil {
				t.Fatal(err)
			}
			h.at(tc.second)
			r := h.submit()
			if r.Uploaded != tc.allowed {
				t.Fatalf("second upload: uploaded=%v, want %v (%s)", r.Uploaded, tc.allowed, r.Reason)
			}
			if !tc.allowed && !r.Due.Equal(mustTime(t, tc.due)) {
				t.Errorf("due %s, want %s (%s)", r.Due.UTC(), tc.due, r.Reason)
			}
			if want := 1 + btoi(tc.allowed); len(h.uploads) != want {
				t.Errorf("%d uploads reached the portal, want %d", len(h.uploads), want)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestQuietPeriodAcrossClockChanges: the quiet period ends at 09:00 London
// the next day, which is 09:00 or 08:00 UTC depending on the night's change.
func TestQuietPeriodAcrossClockChanges(t *testing.T) {
	for _, tc := range []struct{ upload, confirm, shown string }{
		{"2026-10-24T21:00:00Z", "2026-10-25T09:00:00Z", "2026-10-25 09:00 GMT"},
		{"2026-03-28T22:00:00Z", "2026-03-29T08:00:00Z", "2026-03-29 09:00 BST"},
		{"2026-07-01T23:30:00Z", "2026-07-03T08:00:00Z", "2026-07-03 09:00 BST"}, // 00:30 BST on 2 July
	} {
		h := newHarness(t, tc.upload)
		if _, err := h.store().Add(context.Background(), strings.NewReader(fill("{A}\n")), "a.txt"); err != nil {
			t.Fatal(err)
		}
		r := h.submit()
		if !r.Step.ConfirmAfter.Equal(mustTime(t, tc.confirm)) || FormatTime(*r.Step.ConfirmAfter) != tc.shown {
			t.Errorf("upload %s: confirm after %s (%s), want %s (%s)", tc.upload, r.Step.ConfirmAfter.UTC(), FormatTime(*r.Step.ConfirmAfter), tc.confirm, tc.shown)
		}
		h.now = mustTime(t, tc.confirm).Add(-time.Second)
		if h.held() != "" {
			t.Errorf("confirmed a second early")
		}
		h.now = mustTime(t, tc.confirm)
		if h.held() != "A" {
			t.Errorf("not confirmed at %s", tc.confirm)
		}
	}
}

func TestConfirmAtSetting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	s, err := Open(Options{Dir: dir, Project: project, Header: DefaultHeader, ConfirmAt: "13:30"})
	if err != nil {
		t.Fatal(err)
	}
	if s.hh != 13 || s.mm != 30 {
		t.Fatalf("%d:%d", s.hh, s.mm)
	}
	if _, err := Open(Options{Dir: dir, Project: project, Header: DefaultHeader, ConfirmAt: "9am"}); err == nil {
		t.Fatal("bad confirmation time accepted")
	}
}

// TestBrokenFileNeverLeaves breaks the step's bytes after they pass the
// sha256 check, and then tampers with the stored file: neither reaches the
// uploader, and the ledger records no submission.
func TestBrokenFileNeverLeaves(t *testing.T) {
	h := newHarness(t, "2026-11-20T22:00:00Z")
	if _, err := h.store().Add(context.Background(), strings.NewReader(fill("{A}\n{B}\n")), "a.txt"); err != nil {
		t.Fatal(err)
	}
	h.hook = func(b []byte) []byte { return []byte(strings.Replace(string(b), "\r\n", "\n", 2)) }
	_, err := h.store().Submit(context.Background(), false)
	var pe *ProblemsError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "line 1: line ends with LF, not CRLF") {
		t.Fatalf("broken file: %v", err)
	}
	h.hook = nil
	step := filepath.Join(h.dir, "steps", "S1.csv")
	b, _ := os.ReadFile(step)
	os.WriteFile(step, append(b, b[len(b)-30:]...), 0o600)
	if _, err := h.store().Submit(context.Background(), false); !errors.Is(err, layout.ErrIntegrity) || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Fatalf("tampered file: %v, want an integrity error", err)
	}
	if len(h.uploads) != 0 {
		t.Fatal("a broken file reached the portal")
	}
	l := h.store().l
	if len(l.Submissions) != 0 || l.Steps[0].State != StatePending {
		t.Fatalf("ledger changed: %+v %+v", l.Submissions, l.Steps[0])
	}
	if ents, _ := os.ReadDir(filepath.Join(h.dir, "outbox")); len(ents) != 0 {
		t.Errorf("outbox holds %v", ents)
	}
}

func TestUploadErrors(t *testing.T) {
	h := newHarness(t, "2026-11-20T22:00:00Z")
	if _, err := h.store().Add(context.Background(), strings.NewReader(fill("{A}\n")), "a.txt"); err != nil {
		t.Fatal(err)
	}
	// Certainly not sent: the step stays pending and the day is not used.
	h.upErr = fmt.Errorf("login refused: %w", ErrNotSent)
	if _, err := h.store().Submit(context.Background(), false); !errors.Is(err, ErrNotSent) {
		t.Fatalf("not sent: %v", err)
	}
	if st := h.store().l.Steps[0]; st.State != StatePending {
		t.Fatalf("after not-sent: %s", st.State)
	}
	// Maybe sent: outcome unknown, the day is used, the operator decides.
	h.upErr = errors.New("connection reset after the click")
	if _, err := h.store().Submit(context.Background(), false); err == nil {
		t.Fatal("upload error swallowed")
	}
	h.upErr = nil
	h.at("2026-11-23T22:00:00Z")
	if r := h.submit(); r.Uploaded || !strings.Contains(r.Reason, "outcome of step S1's upload is unknown") {
		t.Fatalf("after unknown: %+v", r)
	}
	if _, err := h.store().Confirm("S1"); err != nil {
		t.Fatal(err)
	}
	if h.held() != "A" {
		t.Fatalf("held after confirming: %q", h.held())
	}
	subs := h.store().l.Submissions
	if len(subs) != 2 || subs[0].Outcome != OutcomeNotSent || subs[1].Outcome != StateConfirmed || subs[1].Error == "" {
		t.Fatalf("submissions: %+v", subs)
	}
}

// TestInterruptedUpload: a process that died mid-upload leaves "sending";
// the next one treats the outcome as unknown and the day as used.
func TestInterruptedUpload(t *testing.T) {
	h := newHarness(t, "2026-11-20T22:00:00Z")
	h.store().Add(context.Background(), strings.NewReader(fill("{A}\n")), "a.txt")
	h.upErr = nil
	s := h.store()
	s.o.Uploader = func() (Uploader, error) {
		return func(context.Context, string) (string, error) { panic("killed") }, nil
	}
	func() {
		defer func() { recover() }()
		s.Submit(context.Background(), false)
	}()
	h.at("2026-11-21T22:00:00Z")
	if r := h.submit(); r.Uploaded || !strings.Contains(r.Reason, "unknown") {
		t.Fatalf("after a crash mid-upload: %+v", r)
	}
	if st := h.store().l.Steps[0].State; st != StateUnknown {
		t.Fatalf("state %s", st)
	}
}

func TestRejectStopsThePlan(t *testing.T) {
	h := newHarness(t, "2026-11-20T10:00:00Z")
	h.importHeld("{A}\n{B}\n")
	if _, err := h.store().Replace(context.Background(), strings.NewReader(fill("{B}\n{C}\n")), "n.txt", Diff); err != nil {
		t.Fatal(err)
	}
	h.at("2026-11-20T22:00:00Z")
	h.submit()
	h.at("2026-11-21T07:30:00Z")
	res, err := h.store().Reject("S1")
	if err != nil || res.Undone || len(res.Cancelled) != 1 || res.Cancelled[0] != "S2" {
		t.Fatalf("reject: %+v %v", res, err)
	}
	h.at("2026-11-21T22:00:00Z")
	if r := h.submit(); r.Uploaded || h.held() != "AB" {
		t.Fatalf("after reject: %+v held %s", r, h.held())
	}
	for _, d := range []string{"steps", "outbox"} {
		if ents, _ := os.ReadDir(filepath.Join(h.dir, d)); len(ents) != 0 {
			t.Errorf("%s holds %v after the plan stopped", d, ents)
		}
	}
}

// TestLateReject: the notice is read after the quiet period confirmed the
// step; rejecting it still restores the held set while it is the last upload.
func TestLateReject(t *testing.T) {
	h := newHarness(t, "2026-11-20T22:00:00Z")
	h.importHeld("{A}\n")
	h.store().Add(context.Background(), strings.NewReader(fill("{B}\n")), "b.txt")
	h.submit()
	h.at("2026-11-21T11:00:00Z")
	if h.held() != "AB" {
		t.Fatalf("quiet period: %s", h.held())
	}
	res, err := h.store().Reject("S1")
	if err != nil || !res.Undone || h.held() != "A" {
		t.Fatalf("late reject: %+v %v held %s", res, err, h.held())
	}
}

func TestLedgerChecksAndOpenPlans(t *testing.T) {
	h := newHarness(t, "2026-11-20T10:00:00Z")
	h.importHeld("{A}\n{B}\n")
	_, err := h.store().Add(context.Background(), strings.NewReader(fill("{C}\n{A}\n")), "add.txt")
	if err == nil || !strings.Contains(err.Error(), "line 2, column NHS_NO: already held (per the ledger); adding it again is refused") {
		t.Fatalf("add held: %v", err)
	}
	_, err = h.store().Remove(context.Background(), strings.NewReader(fill("{A}\n{C}\n")), "rm.txt")
	if err == nil || !strings.Contains(err.Error(), "line 2, column NHS_NO: not held (per the ledger), so it cannot be deleted") {
		t.Fatalf("remove unheld: %v", err)
	}
	assertNoIdentifiers(t, []string{err.Error()})
	if _, err := h.store().Remove(context.Background(), strings.NewReader(fill("{A}\n")), "rm.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store().Add(context.Background(), strings.NewReader(fill("{C}\n")), "add.txt"); err == nil || !strings.Contains(err.Error(), "step S1: is still pending") {
		t.Fatalf("second plan while one is open: %v", err)
	}
	if _, err := h.store().ImportHeld(context.Background(), strings.NewReader(fill("{C}\n")), "h.txt"); err == nil {
		t.Fatal("import-held while a plan is open")
	}
	if ids, err := h.store().Cancel(); err != nil || len(ids) != 1 {
		t.Fatalf("cancel: %v %v", ids, err)
	}
	if _, err := h.store().Add(context.Background(), strings.NewReader(fill("{C}\n")), "add.txt"); err != nil {
		t.Fatalf("plan after cancel: %v", err)
	}
}

// TestNothingLeftBehind: a refused plan writes nothing at all; a good one
// writes private files only.
func TestNothingLeftBehind(t *testing.T) {
	h := newHarness(t, "2026-11-20T10:00:00Z")
	if _, err := h.store().Add(context.Background(), strings.NewReader(fill("{A}\n{X}\n")), "bad.txt"); err == nil {
		t.Fatal("bad input planned")
	}
	var files []string
	filepath.Walk(h.dir, func(p string, fi os.FileInfo, _ error) error {
		if !fi.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("a refused plan left %v", files)
	}
	h.store().Add(context.Background(), strings.NewReader(fill("{A}\n")), "good.txt")
	res, err := h.store().Submit(context.Background(), true)
	if err != nil || res.Path == "" || res.Uploaded || len(h.uploads) != 0 {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	out, _ := os.ReadFile(res.Path)
	step, _ := os.ReadFile(filepath.Join(h.dir, "steps", "S1.csv"))
	if string(out) != string(step) || filepath.Base(res.Path) != project+".csv" {
		t.Fatalf("dry run wrote something else than the step (%s)", res.Path)
	}
	filepath.Walk(h.dir, func(p string, fi os.FileInfo, _ error) error {
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if len(h.store().l.Submissions) != 0 {
		t.Fatal("a dry run recorded a submission")
	}
}

func TestRefusesSharedDirAndOtherProject(t *testing.T) {
	h := newHarness(t, "2026-11-20T10:00:00Z")
	h.importHeld("{A}\n")
	if _, err := Open(Options{Dir: h.dir, Project: "NIC-000000-OTHER", Header: DefaultHeader}); err == nil || !strings.Contains(err.Error(), "belongs to project "+project) {
		t.Fatalf("other project: %v", err)
	}
	// Our own directory left open is closed again; a symlink is refused.
	os.Chmod(h.dir, 0o755)
	if _, err := Open(Options{Dir: h.dir, Project: project, Header: DefaultHeader}); err != nil {
		t.Fatalf("our own dir, mode 0755: %v", err)
	}
	if st, _ := os.Stat(h.dir); st.Mode().Perm() != 0o700 {
		t.Errorf("cohort dir left %04o", st.Mode().Perm())
	}
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(h.dir, link)
	if _, err := Open(Options{Dir: link, Project: project, Header: DefaultHeader}); err == nil || !usererr.Is(err) {
		t.Fatalf("symlinked dir: %v", err)
	}
	if _, err := Open(Options{Dir: filepath.Join(t.TempDir(), "c"), Project: "../x", Header: DefaultHeader}); err == nil {
		t.Fatal("project ID with a path accepted")
	}
}

func TestStatusText(t *testing.T) {
	h := newHarness(t, "2026-11-20T10:00:00Z")
	h.importHeld("{A}\n{B}\n{C}\n")
	h.store().Replace(context.Background(), strings.NewReader(fill("{B}\n{C}\n{D}\n")), "n.txt", Diff)
	h.at("2026-11-20T22:00:00Z")
	h.submit()
	h.at("2026-11-21T06:00:00Z")
	st, err := h.store().Status()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	st.Write(&b)
	sum := h.store().l.Steps[0].SHA256
	want := `project NIC-402963-P0Y5D, as of 2026-11-21 06:00 GMT
held: 3 identifiers (per the ledger)
last submission: step S1, DELETE of 1 row, 2026-11-20 22:00 GMT, sha256 ` + sum + `: awaiting confirmation
awaiting confirmation: step S1 (DELETE of 1 row), uploaded 2026-11-20 22:00 GMT; confirmed at 2026-11-21 09:00 GMT unless an error notice is recorded (seftbot cohort reject S1)
pending: step S2 (ADD of 1 row; replace --strategy diff, step 2 of 2), due from 2026-11-21 09:00 GMT (step S1 awaits confirmation: its quiet period ends 2026-11-21 09:00 GMT)
`
	if b.String() != want {
		t.Errorf("status:\n%s\nwant:\n%s", b.String(), want)
	}
	assertNoIdentifiers(t, []string{b.String()})
}

func TestLedgerSchemaAndCorruption(t *testing.T) {
	h := newHarness(t, "2026-11-20T10:00:00Z")
	h.importHeld("{A}\n")
	path := filepath.Join(h.dir, "ledger.json")
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "\"schema\": 1,") {
		t.Fatalf("ledger lacks its schema version:\n%.200s", b)
	}
	os.WriteFile(path, []byte(strings.Replace(string(b), "\"schema\": 1,", "\"schema\": 2,", 1)), 0o600)
	if _, err := Open(Options{Dir: h.dir, Project: project, Header: DefaultHeader}); err == nil || !strings.Contains(err.Error(), "schema 2, this seftbot reads 1") {
		t.Fatalf("newer schema: %v", err)
	}
	os.WriteFile(path, b[:len(b)/2], 0o600)
	if _, err := Open(Options{Dir: h.dir, Project: project, Header: DefaultHeader}); err == nil || !strings.Contains(err.Error(), "is corrupt") {
		t.Fatalf("torn ledger: %v", err)
	}
	os.WriteFile(path, []byte(strings.Replace(string(b), ids["A"], "12345", 1)), 0o600)
	_, err := Open(Options{Dir: h.dir, Project: project, Header: DefaultHeader})
	if err == nil || strings.Contains(err.Error(), "12345") {
		t.Fatalf("bad held entry: %v", err)
	}
}

// TestRejectNotice: an error notice read the morning after an upload
// rejects that step, stops the plan and keeps the notice's text in the
// ledger; reading the same notice again changes nothing, and a notice
// that follows no upload matches no step.
func TestRejectNotice(t *testing.T) {
	h := newHarness(t, "2026-11-20T10:00:00Z")
	h.importHeld("{A}\n{B}\n")
	if _, err := h.store().Replace(context.Background(), strings.NewReader(fill("{B}\n{C}\n")), "n.txt", Diff); err != nil {
		t.Fatal(err)
	}
	h.at("2026-11-20T22:00:00Z")
	h.submit()
	h.at("2026-11-21T08:00:00Z")
	received := mustTime(t, "2026-11-21T07:00:00Z")
	res, err := h.store().RejectNotice(received, "There was a problem processing your file.", "<n1@nhs.example>")
	if err != nil || res.Step == nil || res.Step.ID != "S1" || len(res.Cancelled) != 1 || res.Already {
		t.Fatalf("RejectNotice: %+v %v", res, err)
	}
	st := h.store().l.step("S1")
	if st.State != StateRejected || st.SettledBy != "error notice" || st.Notice != "There was a problem processing your file." {
		t.Fatalf("S1 = %+v", st)
	}
	if sub := h.store().l.submission("S1"); !strings.Contains(sub.Error, "problem processing") {
		t.Fatalf("submission error = %q", sub.Error)
	}
	again, err := h.store().RejectNotice(received, "There was a problem processing your file.", "<n1@nhs.example>")
	if err != nil || !again.Already {
		t.Fatalf("second read: %+v %v", again, err)
	}
	if h.held() != "AB" {
		t.Fatalf("held %s after the rejection, want AB", h.held())
	}
	none, err := h.store().RejectNotice(mustTime(t, "2026-11-25T07:00:00Z"), "x", "<n2@nhs.example>")
	if err != nil || none.Step != nil {
		t.Fatalf("a notice after a day without upload: %+v %v", none, err)
	}
}

// TestConfirmWaitsForInbox: with an inbox, silence counts only once the
// inbox has been read after the confirmation time; a failed read leaves
// the step unconfirmed and says why.
func TestConfirmWaitsForInbox(t *testing.T) {
	h := newHarness(t, "2026-11-20T22:00:00Z")
	h.inbox = &InboxRead{At: mustTime(t, "2026-11-20T21:00:00Z")}
	h.importHeld("{A}\n")
	h.store().Add(context.Background(), strings.NewReader(fill("{B}\n")), "b.txt")
	h.submit()
	h.at("2026-11-21T11:00:00Z")
	h.inbox = &InboxRead{At: mustTime(t, "2026-11-21T08:30:00Z"), Problem: "IMAP login refused"}
	if h.held() != "A" {
		t.Fatal("confirmed although the inbox was not read after 09:00")
	}
	st, err := h.store().Status()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	st.Write(&b)
	if !strings.Contains(b.String(), "not confirmed yet: the inbox has not been read since 2026-11-21 09:00 GMT (the last attempt failed: IMAP login refused)") {
		t.Fatalf("status does not say why:\n%s", b.String())
	}
	h.inbox = &InboxRead{At: mustTime(t, "2026-11-21T10:30:00Z")}
	if h.held() != "AB" {
		t.Fatal("not confirmed after a good read past 09:00")
	}
	// A notice read later still undoes it while it is the last upload.
	res, err := h.store().RejectNotice(mustTime(t, "2026-11-21T07:00:00Z"), "problem", "<late@nhs.example>")
	if err != nil || !res.Undone || h.held() != "A" {
		t.Fatalf("late notice: %+v %v held %s", res, err, h.held())
	}
}
