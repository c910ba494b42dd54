package cohort

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Status is what the operator needs to see: counts, dates and step ids,
// never identifiers.
type Status struct {
	Now       time.Time
	Project   string
	Held      int
	Last      *Submission
	Open      []*Step // uploaded steps not yet settled, and pending steps, in order
	NextDue   time.Time
	NextWhy   string
	NextStep  *Step
	Confirmed int // steps confirmed so far
}

// Status reports the state as of now, the quiet period applied; it changes
// nothing on disk, so it needs no lock.
func (s *Store) Status() (*Status, error) {
	now := s.o.Now()
	if _, err := s.settle(now, false); err != nil {
		return nil, err
	}
	st := &Status{Now: now, Project: s.o.Project, Held: len(s.l.Held)}
	if n := len(s.l.Submissions); n > 0 {
		st.Last = &s.l.Submissions[n-1]
	}
	for _, x := range s.l.Steps {
		if isOpen(x.State) {
			if x.State == StateAwaiting && x.ConfirmAfter != nil && !now.Before(*x.ConfirmAfter) {
				x.InboxWait = s.inboxWait(x)
			}
			st.Open = append(st.Open, x)
		}
		if x.State == StateConfirmed {
			st.Confirmed++
		}
	}
	st.NextStep, st.NextWhy, st.NextDue = s.next(now)
	return st, nil
}

// Write renders the status as plain ASCII lines.
func (st *Status) Write(w io.Writer) error {
	p := func(f string, a ...any) { fmt.Fprintf(w, f+"\n", a...) }
	p("project %s, as of %s", st.Project, FormatTime(st.Now))
	p("held: %d identifiers (per the ledger)", st.Held)
	if l := st.Last; l != nil {
		p("last submission: step %s, %s of %s, %s, sha256 %s: %s", l.Step, l.Action, Rows(l.Count), FormatTime(l.At), l.SHA256, l.Outcome)
		if n, ok := strings.CutPrefix(l.Error, "error notice: "); ok && l.Outcome == StateRejected {
			p("  NHS England's error notice: %s", n)
		}
	} else {
		p("last submission: none")
	}
	var awaiting, pending []*Step
	for _, x := range st.Open {
		if x.State == StatePending {
			pending = append(pending, x)
		} else {
			awaiting = append(awaiting, x)
		}
	}
	if len(awaiting) == 0 {
		p("awaiting confirmation: none")
	}
	for _, x := range awaiting {
		switch x.State {
		case StateAwaiting:
			p("awaiting confirmation: step %s (%s of %s), uploaded %s; confirmed at %s unless an error notice is recorded (seftbot cohort reject %s)",
				x.ID, x.Action, Rows(x.Count), FormatTime(*x.Uploaded), FormatTime(*x.ConfirmAfter), x.ID)
			if x.InboxWait != "" {
				p("  not confirmed yet: %s", x.InboxWait)
			}
		case StateSending:
			p("awaiting confirmation: step %s (%s of %s) is being uploaded, or its upload was interrupted", x.ID, x.Action, Rows(x.Count))
		default:
			p("awaiting confirmation: step %s (%s of %s): upload outcome unknown; run seftbot cohort confirm %s or reject %s", x.ID, x.Action, Rows(x.Count), x.ID, x.ID)
		}
	}
	if len(pending) == 0 {
		p("pending: none")
	}
	for _, x := range pending {
		due := "after the step before it is confirmed"
		if x == st.NextStep {
			switch {
			case st.NextWhy == "":
				due = "now"
			case !st.NextDue.IsZero():
				due = "from " + FormatTime(st.NextDue) + " (" + st.NextWhy + ")"
			default:
				due = "blocked: " + st.NextWhy
			}
		}
		p("pending: step %s (%s of %s; %s), due %s", x.ID, x.Action, Rows(x.Count), x.Plan, due)
	}
	return nil
}

// Rows says "1 row" or "n rows".
func Rows(n int) string { return fmt.Sprintf("%d row%s", n, plural(n)) }
