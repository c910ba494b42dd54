package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/isaric/seftbot/internal/atomicfile"
	"github.com/isaric/seftbot/internal/cohort"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// State is what seftbot remembers of the mailbox between runs.
type State struct {
	UIDValidity uint32    `json:"uid_validity"`
	LastUID     uint32    `json:"last_uid"`
	LastRead    time.Time `json:"last_read,omitzero"`  // the last read that finished
	Problem     string    `json:"problem,omitempty"`   // why the last attempt failed
	ProblemAt   time.Time `json:"problem_at,omitzero"` // when
	Applied     []string  `json:"applied,omitempty"`   // Message-IDs of notices acted on, newest last
	NewData     []NewData `json:"new_data,omitempty"`  // "new data" notices not yet followed by a download
	Unmatched   []string  `json:"unmatched,omitempty"` // error notices that matched no upload (text)
	// Rejections are the cohort steps NHS England's notices rejected that
	// the operator has not acknowledged yet: status is unhealthy while any
	// is here (seftbot cohort ack).
	Rejections []Rejection `json:"rejections,omitempty"`
}

// Rejection is one cohort step rejected by an error notice.
type Rejection struct {
	Step     string    `json:"step"`
	Notice   time.Time `json:"notice"`   // the notice's date
	Subject  string    `json:"subject"`  // the notice's subject, identifiers cleared
	Recorded time.Time `json:"recorded"` // when seftbot applied it
}

// NewData is one "there is new data" notice.
type NewData struct {
	MessageID string    `json:"message_id"`
	Received  time.Time `json:"received"`
}

// The state keeps the newest entries only: it is read on every run, and
// an old notice no longer decides anything.
const (
	keepApplied   = 500
	keepUnmatched = 50
	keepRejected  = 50
)

// LoadState reads STATE/inbox.json; a missing file is a fresh state.
func LoadState(stateDir string) (*State, error) {
	// A few hundred entries are kept (keepApplied): 4 MiB is far past them.
	b, err := safeio.ReadFile(layout.State{Dir: stateDir}.Inbox(), "the inbox state", 4<<20)
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inbox state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, usererr.New(fmt.Errorf("inbox state %s is corrupt: %w", layout.State{Dir: stateDir}.Inbox(), err),
			"move it away: the next read starts over and recognises notices already acted on by the ledger")
	}
	return &st, nil
}

// Save writes the state crash-safely, 0600.
func (st *State) Save(stateDir string) error {
	if len(st.Applied) > keepApplied {
		st.Applied = st.Applied[len(st.Applied)-keepApplied:]
	}
	if len(st.Rejections) > keepRejected {
		st.Rejections = st.Rejections[len(st.Rejections)-keepRejected:]
	}
	if len(st.Unmatched) > keepUnmatched {
		st.Unmatched = st.Unmatched[len(st.Unmatched)-keepUnmatched:]
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(layout.State{Dir: stateDir}.Inbox(), append(b, '\n'), 0o600)
}

// CohortRead is the state as the cohort store needs it.
func (st *State) CohortRead() *cohort.InboxRead {
	return &cohort.InboxRead{At: st.LastRead, Problem: st.Problem}
}

func (st *State) applied(id string) bool {
	for _, a := range st.Applied {
		if a == id {
			return true
		}
	}
	return false
}

// Result is what one read did, for the log, the terminal and the report.
type Result struct {
	Read       int         // new messages looked at
	Notices    []Notice    // the notices among them
	Rejected   []string    // "step S3 rejected: <notice text>"
	Rejections []Rejection // the steps this read rejected
	// Warnings are notices that could not be read and a mailbox that went
	// back in time; Ignored are lookalike notices from untrusted senders.
	// Neither is in Lines: the report shows them as warnings.
	Warnings, Ignored []string
	Lines             []string // one line per thing done or found, for people
}

// Run reads the mailbox and acts on what is new: an error notice rejects
// the cohort step uploaded the day before (store may be nil when there is
// no cohort), a "new data" notice is recorded. The state is saved only
// after the ledger, so a crash in between reads the same notices again,
// which the ledger then recognises. A failed read is recorded too, so the
// cohort and the report can say why nothing was confirmed; its error wraps
// ErrMailbox. read, if not nil, is updated in place on success.
func Run(ctx context.Context, cfg Config, stateDir string, store *cohort.Store, read *cohort.InboxRead, now func() time.Time, log *slog.Logger) (*Result, error) {
	if log == nil {
		log = slog.Default()
	}
	st, err := LoadState(stateDir)
	if err != nil {
		return nil, err
	}
	f, err := fetch(ctx, cfg, st.UIDValidity, st.LastUID)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		err = fmt.Errorf("%w: %w", ErrMailbox, err)
		st.Problem, st.ProblemAt = firstLine(err.Error()), now().UTC()
		if serr := st.Save(stateDir); serr != nil {
			log.Error("could not record the failed inbox read", "err", serr)
		}
		if read != nil {
			read.Problem = st.Problem
		}
		log.Warn("inbox not read", "err", err)
		return nil, err
	}
	res := &Result{Read: len(f.Notices) + f.Others, Notices: f.Notices, Warnings: f.Warnings, Ignored: f.Ignored}
	for _, w := range append(slices.Clip(f.Warnings), f.Ignored...) {
		log.Warn("inbox: "+w, "mailbox", cfg.Mailbox)
	}
	for _, n := range f.Notices {
		if st.applied(n.MessageID) {
			continue
		}
		switch n.Kind {
		case KindNewData:
			st.NewData = append(st.NewData, NewData{MessageID: n.MessageID, Received: n.Date.UTC()})
			res.Lines = append(res.Lines, fmt.Sprintf("new data notice of %s recorded", cohort.FormatTime(n.Date)))
			log.Info("new data notice", "received", n.Date, "uid", n.UID)
		case KindUploadError:
			line, rej := applyError(store, n, st)
			res.Lines = append(res.Lines, line)
			if store != nil {
				res.Rejected = append(res.Rejected, line)
			}
			if rej != nil {
				rej.Recorded = now().UTC()
				st.Rejections = append(st.Rejections, *rej)
				res.Rejections = append(res.Rejections, *rej)
			}
			log.Warn("upload error notice", "received", n.Date, "uid", n.UID, "outcome", line)
		}
		st.Applied = append(st.Applied, n.MessageID)
	}
	st.UIDValidity, st.LastUID = f.UIDValidity, f.LastUID
	st.LastRead, st.Problem, st.ProblemAt = now().UTC(), "", time.Time{}
	if err := st.Save(stateDir); err != nil {
		return nil, err
	}
	if read != nil {
		*read = cohort.InboxRead{At: st.LastRead}
	}
	log.Info("inbox read", "mailbox", cfg.Mailbox, "new_messages", res.Read, "notices", len(f.Notices), "last_uid", st.LastUID)
	return res, nil
}

// applyError rejects the step the notice is about and says what happened.
func applyError(store *cohort.Store, n Notice, st *State) (string, *Rejection) {
	when := cohort.FormatTime(n.Date)
	if store == nil {
		st.Unmatched = append(st.Unmatched, n.Text)
		return fmt.Sprintf("error notice of %s, but no cohort ledger here to apply it to: %s", when, n.Text), nil
	}
	r, err := store.RejectNotice(n.Date, n.Text, n.MessageID)
	switch {
	case err != nil:
		st.Unmatched = append(st.Unmatched, n.Text)
		return fmt.Sprintf("error notice of %s could not be applied (%v); check with NHS England: %s", when, err, n.Text), nil
	case r.Step == nil:
		st.Unmatched = append(st.Unmatched, n.Text)
		return fmt.Sprintf("error notice of %s matches no upload the day before; check with NHS England: %s", when, n.Text), nil
	case r.Already:
		return fmt.Sprintf("error notice of %s: step %s already rejected", when, r.Step.ID), nil
	}
	line := fmt.Sprintf("step %s REJECTED by NHS England's error notice of %s: %s", r.Step.ID, when, n.Text)
	if r.Undone {
		line += " (its confirmation was undone)"
	}
	for _, c := range r.Cancelled {
		line += fmt.Sprintf("; step %s cancelled, the plan has stopped", c)
	}
	return line, &Rejection{Step: r.Step.ID, Notice: n.Date.UTC(), Subject: Redact(n.Subject)}
}

// Acknowledge forgets the unacknowledged rejection of step (all of them
// when step is ""), and says which it forgot.
func Acknowledge(stateDir, step string) ([]Rejection, error) {
	st, err := LoadState(stateDir)
	if err != nil {
		return nil, err
	}
	var kept, acked []Rejection
	for _, r := range st.Rejections {
		if step == "" || r.Step == step {
			acked = append(acked, r)
		} else {
			kept = append(kept, r)
		}
	}
	if len(acked) == 0 {
		return nil, nil
	}
	st.Rejections = kept
	return acked, st.Save(stateDir)
}

// StaleNewData returns the "new data" notices older than a day that no
// download has followed, and drops the ones a download has (files > 0).
func StaleNewData(stateDir string, files int, now time.Time) ([]NewData, error) {
	st, err := LoadState(stateDir)
	if err != nil {
		return nil, err
	}
	if files > 0 {
		if len(st.NewData) == 0 {
			return nil, nil
		}
		st.NewData = nil
		return nil, st.Save(stateDir)
	}
	var stale []NewData
	for _, n := range st.NewData {
		if now.Sub(n.Received) >= 24*time.Hour {
			stale = append(stale, n)
		}
	}
	return stale, nil
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
