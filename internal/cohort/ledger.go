package cohort

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/isaric/seftbot/internal/atomicfile"
	"os"
	"time"

	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// ledgerSchema is the version of ledger.json this code reads and writes.
const ledgerSchema = 1

// Step states. A step moves pending -> sending -> awaiting -> confirmed, or
// ends rejected or cancelled; unknown means an upload may or may not have
// reached the portal and only the operator can say which.
const (
	StatePending   = "pending"
	StateSending   = "sending"
	StateAwaiting  = "awaiting confirmation"
	StateUnknown   = "unknown"
	StateConfirmed = "confirmed"
	StateRejected  = "rejected"
	StateCancelled = "cancelled"
)

// Ledger is what seftbot believes NHS England holds, and everything it did
// to get there. The portal cannot list its holdings, so this is the source
// of truth.
type Ledger struct {
	Schema      int          `json:"schema"`
	Project     string       `json:"project"`
	Held        idSet        `json:"held"`
	NextStep    int          `json:"next_step"`
	Imports     []Import     `json:"imports,omitempty"`
	Steps       []*Step      `json:"steps"`
	Submissions []Submission `json:"submissions"`
}

// Import records a seeding of the held set by import-held.
type Import struct {
	At     time.Time `json:"at"`
	Count  int       `json:"count"`
	Before int       `json:"before"`
	SHA256 string    `json:"sha256"` // of the input file
}

// Step is one planned file. Every step carries one action; the file it will
// upload is kept, exact, under steps/ until the step is settled.
type Step struct {
	ID           string     `json:"id"`
	Plan         string     `json:"plan"` // e.g. "replace --strategy diff", with its position
	Action       Action     `json:"action"`
	Count        int        `json:"count"`
	SHA256       string     `json:"sha256"`
	State        string     `json:"state"`
	Planned      time.Time  `json:"planned"`
	Uploaded     *time.Time `json:"uploaded,omitempty"`
	ConfirmAfter *time.Time `json:"confirm_after,omitempty"`
	Settled      *time.Time `json:"settled,omitempty"` // confirmed, rejected or cancelled at
	SettledBy    string     `json:"settled_by,omitempty"`
	// Notice is the text of the error notice that rejected the step, cleared
	// of anything like an identifier; NoticeID its Message-ID.
	Notice   string `json:"notice,omitempty"`
	NoticeID string `json:"notice_id,omitempty"`
	// InboxWait, in a Status only, says why a step past its quiet period is
	// not confirmed yet.
	InboxWait string `json:"-"`
}

// Submission is one attempt to upload a step: when (and on which
// Europe/London day), what, and how it ended.
type Submission struct {
	Step         string    `json:"step"`
	At           time.Time `json:"at"`
	Day          string    `json:"day"` // YYYY-MM-DD in Europe/London
	Action       Action    `json:"action"`
	Count        int       `json:"count"`
	SHA256       string    `json:"sha256"`
	Outcome      string    `json:"outcome"` // a step state, or "not sent"
	Confirmation string    `json:"confirmation,omitempty"`
	Error        string    `json:"error,omitempty"`
}

// OutcomeNotSent marks an attempt that certainly never reached the portal,
// so it does not use up the day.
const OutcomeNotSent = "not sent"

// step returns the step with this id, or nil.
func (l *Ledger) step(id string) *Step {
	for _, s := range l.Steps {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// submission returns the last attempt for a step, or nil.
func (l *Ledger) submission(id string) *Submission {
	for i := len(l.Submissions) - 1; i >= 0; i-- {
		if l.Submissions[i].Step == id {
			return &l.Submissions[i]
		}
	}
	return nil
}

// maxLedgerBytes bounds ledger.json: the held set is 16 bytes an identifier,
// so 2,000,000 identifiers and years of steps fit in a third of it.
const maxLedgerBytes = 96 << 20

// loadLedger reads path; a missing file is a new, empty ledger.
func loadLedger(path, project string) (*Ledger, error) {
	b, err := safeio.ReadFile(path, "the cohort ledger", maxLedgerBytes)
	if errors.Is(err, os.ErrNotExist) {
		return &Ledger{Schema: ledgerSchema, Project: project, NextStep: 1}, nil
	}
	if errors.Is(err, safeio.ErrNotRegular) || errors.Is(err, safeio.ErrTooLarge) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("cohort ledger: %w", err)
	}
	var head struct {
		Schema int `json:"schema"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, usererr.New(fmt.Errorf("cohort ledger %s is corrupt: %w", path, err), "restore it from a backup; do not edit it by hand")
	}
	if head.Schema != ledgerSchema {
		return nil, fmt.Errorf("cohort ledger %s: schema %d, this seftbot reads %d", path, head.Schema, ledgerSchema)
	}
	var l Ledger
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, usererr.New(fmt.Errorf("cohort ledger %s is corrupt: %w", path, err), "restore it from a backup; do not edit it by hand")
	}
	if l.Project != project {
		return nil, usererr.New(fmt.Errorf("cohort ledger %s belongs to project %s, not %s", path, l.Project, project),
			"check SEFTBOT_PROJECT_ID and SEFTBOT_STATE_DIR")
	}
	return &l, nil
}

// save writes the ledger crash-safely. The held set, which may run to a
// million entries, is written by hand, one identifier a line: indenting it
// through encoding/json costs seconds.
func (l *Ledger) save(path string, opts ...atomicfile.Option) error {
	l.Schema = ledgerSchema
	if l.Steps == nil {
		l.Steps = []*Step{}
	}
	if l.Submissions == nil {
		l.Submissions = []Submission{}
	}
	type meta Ledger // same fields, without the methods
	m := (*meta)(l)
	held := m.Held
	m.Held = nil
	b, err := json.MarshalIndent(m, "", " ")
	m.Held = held
	if err != nil {
		return err
	}
	// b is {"schema":..,"project":..,"held": [],...}; splice the set in.
	const hole = "\"held\": []"
	i := bytes.Index(b, []byte(hole))
	if i < 0 {
		return errors.New("cohort ledger: cannot place the held set")
	}
	return atomicfile.Write(path, 0o600, func(f *os.File) error {
		w := bufio.NewWriterSize(f, 256<<10)
		w.Write(b[:i])
		w.WriteString("\"held\": [")
		for j, v := range held {
			if j > 0 {
				w.WriteByte(',')
			}
			w.WriteString("\n  \"")
			w.WriteString(formatNHS(v))
			w.WriteByte('"')
		}
		if len(held) > 0 {
			w.WriteString("\n ")
		}
		w.WriteByte(']')
		w.Write(b[i+len(hole):])
		w.WriteByte('\n')
		return w.Flush()
	}, opts...)
}
