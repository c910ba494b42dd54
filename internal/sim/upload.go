package sim

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// Upload is seftsim's record of one received cohort file. The real portal
// tells nobody any of this; the admin API tells tests.
type Upload struct {
	Time       time.Time  `json:"time"`
	Name       string     `json:"name"`
	Size       int64      `json:"size"`
	SHA256     string     `json:"sha256"`
	Verdict    string     `json:"verdict"`          // "accepted" or "rejected"
	Rule       int        `json:"rule,omitempty"`   // first rule broken, 1..6 in the contract's order
	Reason     string     `json:"reason,omitempty"` // what was wrong, for tests only
	Action     string     `json:"action,omitempty"` // ADD or DELETE, when accepted
	Rows       int        `json:"rows"`             // data rows applied
	NoticeDue  *time.Time `json:"notice_due,omitempty"`
	NoticeSent bool       `json:"notice_sent"`
}

// Verdicts.
const (
	Accepted = "accepted"
	Rejected = "rejected"
)

// Rule numbers, in the order they are checked.
const (
	RuleName = 1 + iota
	RuleCRLF
	RuleHeader
	RuleFields
	RuleAction
	RuleOnePerDay
)

const maxUpload = 64 << 20

func (s *Sim) uploadPage(w http.ResponseWriter, r *http.Request) {
	ss := s.signedIn(w, r, siteUpload)
	if ss == nil {
		return
	}
	s.render(w, http.StatusOK, "upload", page{Title: "Upload a file", SignedIn: true, CSRF: ss.csrf})
}

func (s *Sim) uploadPost(w http.ResponseWriter, r *http.Request) {
	ss := s.signedIn(w, r, siteUpload)
	if ss == nil {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	name, data, csrf, err := s.readUploadForm(r)
	if err != nil {
		s.renderStatus(w, http.StatusBadRequest, "Bad request", "The upload could not be read.")
		return
	}
	if !equal(csrf, ss.csrf) {
		s.renderStatus(w, http.StatusForbidden, "Forbidden",
			"The form has expired or did not come from this site. Go back, reload the page and try again.")
		return
	}
	if data == nil {
		s.render(w, http.StatusOK, "upload", page{Title: "Upload a file", SignedIn: true, CSRF: ss.csrf,
			Error: "Choose a file to upload."})
		return
	}
	u := s.receive(name, data)
	s.log.Info("upload received", "name", u.Name, "size", u.Size, "verdict", u.Verdict, "rule", u.Rule)
	s.render(w, http.StatusOK, "received", page{Title: "File received", SignedIn: true})
}

// readUploadForm reads the multipart form: the CSRF token and the file,
// whose name is taken exactly as sent (not cleaned to its base name, so a
// bot that sends a path is caught by the name rule). data is nil when no
// file was chosen.
func (s *Sim) readUploadForm(r *http.Request) (name string, data []byte, csrf string, err error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return "", nil, "", err
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return name, data, csrf, nil
		}
		if err != nil {
			return "", nil, "", err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return "", nil, "", err
		}
		switch p.FormName() {
		case "csrf_token":
			csrf = string(b)
		case s.markup().uploadField:
			_, params, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
			if params["filename"] != "" {
				name, data = params["filename"], b
			}
		}
	}
}

// receive records an upload, judges it and, when valid, applies it to the
// held set. A broken file gets its notice scheduled for 07:00 Europe/London
// the next morning.
func (s *Sim) receive(name string, data []byte) Upload {
	sum := sha256.Sum256(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	u := Upload{Time: now, Name: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	sameDay := false
	for _, prev := range s.uploads {
		if sameDate(prev.Time.In(s.london), now) {
			sameDay = true
		}
	}
	rule, reason, action, ids := s.check(name, data, sameDay)
	if rule == 0 {
		u.Verdict, u.Action, u.Rows = Accepted, action, len(ids)
		for _, id := range ids {
			if action == "ADD" {
				s.held[id] = true
			} else {
				delete(s.held, id)
			}
		}
	} else {
		y, m, d := now.Date()
		due := time.Date(y, m, d+1, 7, 0, 0, 0, s.london)
		u.Verdict, u.Rule, u.Reason, u.NoticeDue = Rejected, rule, reason, &due
		s.notices = append(s.notices, notice{due: due, upload: len(s.uploads)})
	}
	s.uploads = append(s.uploads, u)
	return u
}

func sameDate(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// check applies the rules in the contract's order and returns the first one
// broken (0 if none), with the action and identifiers of a valid file.
func (s *Sim) check(name string, data []byte, sameDay bool) (rule int, reason, action string, ids []string) {
	if want := s.opts.ProjectID + ".csv"; name != want {
		return RuleName, fmt.Sprintf("file name %q is not %q", name, want), "", nil
	}
	for i, c := range data {
		if c == '\n' && (i == 0 || data[i-1] != '\r') {
			return RuleCRLF, fmt.Sprintf("line %d ends with a bare LF", lineOf(data, i)), "", nil
		}
		if c == '\r' && (i+1 == len(data) || data[i+1] != '\n') {
			return RuleCRLF, fmt.Sprintf("line %d has a bare CR", lineOf(data, i)), "", nil
		}
	}
	if len(data) > 0 && !bytes.HasSuffix(data, []byte("\r\n")) {
		return RuleCRLF, "the last line does not end with CRLF", "", nil
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\r\n"), "\r\n")
	if string(data) == "" || lines[0] != strings.Join(s.header, ",") {
		return RuleHeader, "the first row is not the header template", "", nil
	}
	rows := make([][]string, 0, len(lines)-1)
	for i, line := range lines[1:] {
		fields, err := csv.NewReader(strings.NewReader(line)).Read()
		if line == "" {
			fields, err = []string{""}, nil
		}
		if err != nil {
			return RuleFields, fmt.Sprintf("row %d cannot be read as CSV", i+2), "", nil
		}
		if len(fields) != Columns {
			return RuleFields, fmt.Sprintf("row %d has %d fields, want %d", i+2, len(fields), Columns), "", nil
		}
		rows = append(rows, fields)
	}
	if len(rows) == 0 {
		return RuleAction, "no data rows, so no ADD or DELETE", "", nil
	}
	for i, f := range rows {
		a := f[Columns-1]
		if a != "ADD" && a != "DELETE" {
			return RuleAction, fmt.Sprintf("row %d: action is not ADD or DELETE", i+2), "", nil
		}
		if action != "" && a != action {
			return RuleAction, fmt.Sprintf("row %d: ADD and DELETE mixed in one file", i+2), "", nil
		}
		action = a
	}
	if sameDay {
		return RuleOnePerDay, "a file was already received today (Europe/London)", "", nil
	}
	for _, f := range rows {
		if id := f[s.nhsCol]; id != "" {
			ids = append(ids, id)
		}
	}
	return 0, "", action, ids
}

func lineOf(data []byte, i int) int { return bytes.Count(data[:i], []byte{'\n'}) + 1 }
