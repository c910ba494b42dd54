package cohort

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/isaric/seftbot/internal/atomicfile"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// Uploader sends one file, named <PROJECT_ID>.csv, through the SEFT upload
// site and returns the portal's confirmation text. It is the only way this
// package reaches the outside world, so everything else tests without it.
type Uploader func(ctx context.Context, path string) (confirmation string, err error)

// ErrNotSent, wrapped by an Uploader's error, promises that the file never
// reached the portal (e.g. the login was refused), so the day is not used up
// and the step stays pending. Any other upload error leaves the outcome
// unknown, for the operator to settle.
var ErrNotSent = errors.New("file not sent")

// Options configures a Store.
type Options struct {
	Dir       string   // private directory for the ledger, step files and outbox; created 0700
	Project   string   // NHS England project ID; names the upload file
	Header    []string // header template, from LoadHeader
	ConfirmAt string   // HH:MM Europe/London on the day after an upload when silence means success; default 09:00
	Now       func() time.Time
	// Uploader makes the Uploader. Submit calls it only once a step is due
	// and checked, so a dry run, or a night with nothing to send, needs no
	// portal settings.
	Uploader func() (Uploader, error)
	// Inbox, when set, makes silence count only once the mailbox has been
	// read: a step's quiet period ends at ConfirmAt, but it is confirmed
	// only by an inbox read at or after that time. nil keeps the old rule
	// (silence alone), for operators who read NHS England's mail by hand.
	Inbox *InboxRead
	// BeforeCheck, if set, may alter a step's bytes just before the final
	// check. It exists so tests can prove a broken file never leaves.
	BeforeCheck func([]byte) []byte
	// atStep, set by crash tests, is called at each step of every file
	// the store writes (atomicfile.AtStep), where the test kills it.
	atStep func(step string)
}

// Store is the cohort state in one directory. Methods that change it must be
// called with the state lock held (the CLI takes it); Status does not need it.
type Store struct {
	o        Options
	t        *Template
	l        *Ledger
	hh, mm   int
	readOnly bool
}

var projectRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// Open loads the cohort state in o.Dir, creating the directory if needed.
func Open(o Options) (*Store, error) {
	if !projectRE.MatchString(o.Project) {
		return nil, usererr.Errorf("set SEFTBOT_PROJECT_ID to your NHS England project ID, e.g. NIC-402963-P0Y5D",
			"project ID is missing or not a plain name (letters, digits, - and _)")
	}
	t, err := NewTemplate(o.Header)
	if err != nil {
		return nil, usererr.New(err, "check SEFTBOT_COHORT_HEADER_FILE")
	}
	if o.ConfirmAt == "" {
		o.ConfirmAt = "09:00"
	}
	hh, mm, err := parseClock(o.ConfirmAt)
	if err != nil {
		return nil, usererr.New(err, "check SEFTBOT_COHORT_CONFIRM_AT")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	for _, d := range (layout.Cohort{Dir: o.Dir}).Dirs() {
		if err := privateDir(d); err != nil {
			return nil, err
		}
	}
	l, err := loadLedger(layout.Cohort{Dir: o.Dir}.Ledger(), o.Project)
	if err != nil {
		return nil, err
	}
	return &Store{o: o, t: t, l: l, hh: hh, mm: mm}, nil
}

// privateDir is layout's one rule: step files and the outbox hold patient
// identifiers.
func privateDir(dir string) error {
	if err := layout.PrivateDir(dir); err != nil {
		return fmt.Errorf("cohort state: %w", err)
	}
	return nil
}

func (s *Store) paths() layout.Cohort      { return layout.Cohort{Dir: s.o.Dir} }
func (s *Store) ledgerPath() string        { return s.paths().Ledger() }
func (s *Store) stepPath(id string) string { return s.paths().Step(id) }
func (s *Store) outboxPath() string        { return s.paths().Upload(s.o.Project) }
func (s *Store) save() error               { return s.l.save(s.ledgerPath(), s.writeOpts()...) }
func (s *Store) today(now time.Time) int   { return londonDate(now) }

// writeOpts are the options of every file the store writes.
func (s *Store) writeOpts() []atomicfile.Option {
	if s.o.atStep == nil {
		return nil
	}
	return []atomicfile.Option{atomicfile.AtStep(s.o.atStep)}
}

// isOpen says a step still needs something: an upload or a verdict.
func isOpen(st string) bool {
	return st == StatePending || st == StateSending || st == StateAwaiting || st == StateUnknown
}

func stepErr(id, msg, hint string) error {
	return usererr.New(fmt.Errorf("step %s: %s", id, msg), hint)
}

// HeldCount is the number of identifiers the ledger believes held.
func (s *Store) HeldCount() int { return len(s.l.Held) }

// Held returns the identifiers the ledger believes held, sorted, for
// reconciling against another source. They are patient data: never print them.
func (s *Store) Held() []string {
	out := make([]string, len(s.l.Held))
	for i, v := range s.l.Held {
		out[i] = formatNHS(v)
	}
	return out
}

// tidy removes what a crash or a settled step left behind: temp files, the
// outbox, and step files no open step needs. They are patient data. The
// last uploaded step's file stays, so a late error notice can undo it.
func (s *Store) tidy() {
	keep := map[string]bool{}
	if last := s.lastSent(); last != nil {
		if st := s.l.step(last.Step); st != nil && st.State == StateConfirmed && strings.HasPrefix(st.SettledBy, "quiet period") {
			keep[last.Step+".csv"] = true
		}
	}
	for _, st := range s.l.Steps {
		if isOpen(st.State) {
			keep[st.ID+".csv"] = true
		}
	}
	for _, d := range s.paths().Dirs() {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			n := e.Name()
			tmp := strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-")
			if tmp || d != s.o.Dir && !e.IsDir() && !keep[n] {
				os.Remove(filepath.Join(d, n))
			}
		}
	}
}

// InboxRead is what the store knows of the mailbox NHS England writes to.
type InboxRead struct {
	At      time.Time // the last read that finished; zero if none
	Problem string    // why the last attempt failed, "" if it did not
}

// inboxWait says why a step whose quiet period has ended is not confirmed
// yet, or "" if it may be.
func (s *Store) inboxWait(st *Step) string {
	ib := s.o.Inbox
	if ib == nil || st.ConfirmAfter == nil || !ib.At.Before(*st.ConfirmAfter) {
		return ""
	}
	why := "the inbox has not been read since " + FormatTime(*st.ConfirmAfter)
	if ib.Problem != "" {
		why += " (the last attempt failed: " + ib.Problem + ")"
	}
	return why + "; it is confirmed by the first inbox read after that with no error notice (seftbot inbox)"
}

// settle applies the quiet period: an upload with no error notice recorded
// by the morning after is confirmed (after an inbox read, when the store
// has an inbox). Under the lock (mutating), a step left "sending" by a
// process that died becomes "unknown".
func (s *Store) settle(now time.Time, mutating bool) (bool, error) {
	changed := false
	for _, st := range s.l.Steps {
		switch {
		case st.State == StateSending && mutating:
			s.setState(st, StateUnknown, time.Time{}, "")
			changed = true
		case st.State == StateAwaiting && st.ConfirmAfter != nil && !now.Before(*st.ConfirmAfter) && s.inboxWait(st) == "":
			at, by := *st.ConfirmAfter, "quiet period"
			if s.o.Inbox != nil {
				at, by = s.o.Inbox.At, "quiet period, inbox read"
			}
			if err := s.confirm(st, at, by); err != nil {
				return changed, err
			}
			changed = true
		}
	}
	return changed, nil
}

// setState moves a step and its last submission to a new state together.
func (s *Store) setState(st *Step, state string, at time.Time, by string) {
	st.State = state
	if !at.IsZero() {
		st.Settled, st.SettledBy = &at, by
	}
	if sub := s.l.submission(st.ID); sub != nil && sub.Outcome != OutcomeNotSent {
		sub.Outcome = state
	}
}

// confirm applies a step to the held set: the file's own identifiers, read
// back from the exact bytes that were uploaded.
func (s *Store) confirm(st *Step, at time.Time, by string) error {
	ids, err := s.stepIDs(st)
	if err != nil {
		return err
	}
	if st.Action == Add {
		s.l.Held = s.l.Held.union(ids)
	} else {
		s.l.Held = s.l.Held.minus(ids)
	}
	s.setState(st, StateConfirmed, at, by)
	return nil
}

// stepBytes reads a step's file and checks it is the one that was planned.
func (s *Store) stepBytes(st *Step) ([]byte, error) {
	// A step holds at most what one input could: maxInputBytes and CRLFs.
	b, err := safeio.ReadFile(s.stepPath(st.ID), "step "+st.ID+" file", 2*maxInputBytes)
	if err != nil {
		return nil, layout.Integrity(fmt.Errorf("step %s: %w", st.ID, err),
			"the planned step file is gone or unreadable; `seftbot cohort cancel` and plan again")
	}
	if sha256Hex(b) != st.SHA256 {
		return nil, layout.Integrity(fmt.Errorf("step %s: its file has changed since it was planned (sha256 mismatch)", st.ID),
			"find out what changed "+s.stepPath(st.ID)+"; `seftbot cohort cancel` and plan again")
	}
	return b, nil
}

// stepIDs returns the identifiers in a step's file. The NHS number column
// is found from the file's own header, so a later template change does not
// misread it.
func (s *Store) stepIDs(st *Step) (idSet, error) {
	b, err := s.stepBytes(st)
	if err != nil {
		return nil, err
	}
	rest := string(b)
	head, rest, _ := strings.Cut(rest, "\r\n")
	t, err := NewTemplate(strings.Split(head, ","))
	if err != nil {
		return nil, fmt.Errorf("step %s: %w", st.ID, err)
	}
	ids := make([]uint64, 0, strings.Count(rest, "\n"))
	for n := 2; rest != ""; n++ {
		var l string
		l, rest, _ = strings.Cut(rest, "\r\n")
		for range t.nhs {
			_, l, _ = strings.Cut(l, ",")
		}
		f, _, _ := strings.Cut(l, ",")
		v, why := nhsValue(f)
		if why != "" {
			return nil, fmt.Errorf("step %s: line %d of its file: %s", st.ID, n, why)
		}
		ids = append(ids, v)
	}
	return sortedSet(ids), nil
}

// ImportResult says what import-held did.
type ImportResult struct{ Before, After int }

// ImportHeld replaces the held set with a list the operator knows NHS
// England holds. It is refused while any step is open, since those were
// planned against the old set.
func (s *Store) ImportHeld(ctx context.Context, r io.Reader, name string) (ImportResult, error) {
	now := s.o.Now()
	if err := s.begin(now); err != nil {
		return ImportResult{}, err
	}
	if err := s.idle(); err != nil {
		return ImportResult{}, err
	}
	h := sha256.New()
	rs, ps, err := s.t.parse(io.TeeReader(input(ctx, r, name), h), s.today(now))
	if err != nil {
		return ImportResult{}, fmt.Errorf("%s: %w", name, err)
	}
	if ps.count() > 0 {
		return ImportResult{}, problemsErr(name, ps)
	}
	if err := ctx.Err(); err != nil {
		return ImportResult{}, err // a signal: the held set stays as it was
	}
	ids := make([]uint64, len(rs.rows))
	for i, rw := range rs.rows {
		ids[i] = rw.nhs
	}
	res := ImportResult{Before: len(s.l.Held)}
	s.l.Held = sortedSet(ids)
	res.After = len(s.l.Held)
	s.l.Imports = append(s.l.Imports, Import{At: now, Count: res.After, Before: res.Before, SHA256: hex.EncodeToString(h.Sum(nil))})
	return res, s.save()
}

func problemsErr(name string, ps *problems) error {
	return usererr.New(ps.error(name), "fix every line listed, then run the command again")
}

// begin is the start of every change: settle what time has decided, and
// clear leftovers.
func (s *Store) begin(now time.Time) error {
	changed, err := s.settle(now, true)
	if err != nil {
		return err
	}
	if changed {
		if err := s.save(); err != nil {
			return err
		}
	}
	s.tidy()
	return nil
}

// idle refuses a new plan while an earlier one is still open: it was
// validated against a held set that its own steps are still changing.
func (s *Store) idle() error {
	for _, st := range s.l.Steps {
		if isOpen(st.State) {
			return stepErr(st.ID, "is still "+st.State+"; finish the current plan first",
				"seftbot cohort status shows it; confirm or reject uploaded steps, or run seftbot cohort cancel to drop pending ones")
		}
	}
	return nil
}

// Strategy is how replace gets from the held set to a new cohort.
type Strategy string

const (
	Diff Strategy = "diff" // DELETE only leavers, then ADD only joiners
	Full Strategy = "full" // DELETE everything held, then ADD the whole new set
)

// PlanResult lists the steps a plan created.
type PlanResult struct {
	Steps     []*Step
	Unchanged int // replace: identifiers held before and after
}

// Add plans one ADD step for the identifiers in r, none of which may already
// be held.
func (s *Store) Add(ctx context.Context, r io.Reader, name string) (*PlanResult, error) {
	return s.plan(ctx, r, name, "add", func(rs rowSet, ps *problems) ([]stepRows, int) {
		for _, rw := range rs.rows {
			if s.l.Held.has(rw.nhs) {
				ps.add(Problem{Line: int(rw.line), Column: s.t.NHSColumn(), Msg: "already held (per the ledger); adding it again is refused"})
			}
		}
		return []stepRows{{Add, rs}}, 0
	})
}

// Remove plans one DELETE step for the identifiers in r, all of which must
// be held.
func (s *Store) Remove(ctx context.Context, r io.Reader, name string) (*PlanResult, error) {
	return s.plan(ctx, r, name, "remove", func(rs rowSet, ps *problems) ([]stepRows, int) {
		for _, rw := range rs.rows {
			if !s.l.Held.has(rw.nhs) {
				ps.add(Problem{Line: int(rw.line), Column: s.t.NHSColumn(), Msg: "not held (per the ledger), so it cannot be deleted"})
			}
		}
		return []stepRows{{Delete, rs}}, 0
	})
}

// Replace plans the change from the held set to the cohort in r: a DELETE
// step, then an ADD step on a later day, each left out when empty.
func (s *Store) Replace(ctx context.Context, r io.Reader, name string, strategy Strategy) (*PlanResult, error) {
	if strategy != Diff && strategy != Full {
		return nil, usererr.Errorf("use --strategy diff or --strategy full", fmt.Sprintf("unknown strategy %q", strategy))
	}
	return s.plan(ctx, r, name, "replace --strategy "+string(strategy), func(rs rowSet, ps *problems) ([]stepRows, int) {
		ids := make([]uint64, len(rs.rows))
		for i, rw := range rs.rows {
			ids[i] = rw.nhs
		}
		next := sortedSet(ids)
		if strategy == Full {
			return []stepRows{{Delete, idRows(s.l.Held)}, {Add, rs}}, 0
		}
		joiners := rowSet{extras: rs.extras}
		for _, rw := range rs.rows {
			if !s.l.Held.has(rw.nhs) {
				joiners.rows = append(joiners.rows, rw)
			}
		}
		leavers := s.l.Held.minus(next)
		return []stepRows{{Delete, idRows(leavers)}, {Add, joiners}}, len(next) - len(joiners.rows)
	})
}

type stepRows struct {
	act Action
	rowSet
}

// idRows turns identifiers from the ledger into rows with nothing but the
// NHS number.
func idRows(ids idSet) rowSet {
	rows := make([]row, len(ids))
	for i, v := range ids {
		rows[i].nhs = v
	}
	return rowSet{rows: rows}
}

// plan validates r, lets decide split it into steps, writes each step's file
// and then the ledger. Nothing is written if any problem is found or ctx is
// done (SIGINT, SIGTERM), and the step files are removed again if the ledger
// cannot be saved.
func (s *Store) plan(ctx context.Context, r io.Reader, name, kind string, decide func(rowSet, *problems) ([]stepRows, int)) (*PlanResult, error) {
	now := s.o.Now()
	if err := s.begin(now); err != nil {
		return nil, err
	}
	if err := s.idle(); err != nil {
		return nil, err
	}
	rs, ps, err := s.t.parse(input(ctx, r, name), s.today(now))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	parts, unchanged := decide(rs, ps)
	if ps.count() > 0 {
		return nil, problemsErr(name, ps)
	}
	res := &PlanResult{Unchanged: unchanged}
	var nonEmpty []stepRows
	for _, p := range parts {
		if len(p.rows) > 0 {
			nonEmpty = append(nonEmpty, p)
		}
	}
	var written []string
	fail := func(err error) (*PlanResult, error) {
		for _, p := range written {
			os.Remove(p)
		}
		return nil, err
	}
	next := s.l.NextStep
	for i, p := range nonEmpty {
		st := &Step{ID: fmt.Sprintf("S%d", next), Action: p.act, Count: len(p.rows), State: StatePending, Planned: now,
			Plan: fmt.Sprintf("%s, step %d of %d", kind, i+1, len(nonEmpty))}
		next++
		path := s.stepPath(st.ID)
		err := atomicfile.Write(path, 0o600, func(f *os.File) error {
			sum, err := s.t.write(f, p.rowSet, p.act)
			st.SHA256 = sum
			return err
		}, s.writeOpts()...)
		written = append(written, path)
		if err != nil {
			return fail(fmt.Errorf("step %s: %w", st.ID, err))
		}
		res.Steps = append(res.Steps, st)
	}
	if len(res.Steps) == 0 {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return fail(err) // a signal before the ledger names the steps: no plan
	}
	oldNext, oldSteps := s.l.NextStep, s.l.Steps
	s.l.NextStep = next
	s.l.Steps = append(s.l.Steps, res.Steps...)
	if err := s.save(); err != nil {
		s.l.NextStep, s.l.Steps = oldNext, oldSteps
		return fail(err)
	}
	return res, nil
}

// Settle applies what time and the inbox have decided (the quiet period)
// and returns the steps it confirmed.
func (s *Store) Settle() ([]*Step, error) {
	before := map[string]string{}
	for _, st := range s.l.Steps {
		before[st.ID] = st.State
	}
	if err := s.begin(s.o.Now()); err != nil {
		return nil, err
	}
	var out []*Step
	for _, st := range s.l.Steps {
		if st.State == StateConfirmed && before[st.ID] != StateConfirmed {
			out = append(out, st)
		}
	}
	return out, nil
}

// Cancel drops every pending step (nothing uploaded yet) and returns their ids.
func (s *Store) Cancel() ([]string, error) {
	now := s.o.Now()
	if err := s.begin(now); err != nil {
		return nil, err
	}
	var ids []string
	for _, st := range s.l.Steps {
		if st.State == StatePending {
			s.setState(st, StateCancelled, now, "operator")
			ids = append(ids, st.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if err := s.save(); err != nil {
		return nil, err
	}
	s.tidy()
	return ids, nil
}

// Confirm confirms an uploaded step before its quiet period ends, or settles
// one whose upload outcome is unknown as having arrived.
func (s *Store) Confirm(id string) (*Step, error) {
	now := s.o.Now()
	if err := s.begin(now); err != nil {
		return nil, err
	}
	st := s.l.step(id)
	switch {
	case st == nil:
		return nil, stepErr(id, "no such step", "seftbot cohort status lists the steps")
	case st.State != StateAwaiting && st.State != StateUnknown:
		return nil, stepErr(id, "is "+st.State+"; only an uploaded step awaiting confirmation, or one whose outcome is unknown, can be confirmed", "")
	}
	if err := s.confirm(st, now, "operator"); err != nil {
		return nil, err
	}
	if err := s.save(); err != nil {
		return nil, err
	}
	s.tidy()
	return st, nil
}

// RejectResult says what reject did.
type RejectResult struct {
	Step      *Step
	Already   bool     // RejectNotice: this notice was applied before
	Undone    bool     // the step had been confirmed; its change to the held set was reversed
	Cancelled []string // later steps of the plan, now cancelled
}

// Reject records an error notice for an uploaded step: NHS England changed
// nothing, so neither does the ledger, and the rest of the plan stops. A step
// already confirmed by the quiet period can still be rejected while it is the
// last upload, since the notice may be read after the confirmation time.
func (s *Store) Reject(id string) (*RejectResult, error) {
	now := s.o.Now()
	if err := s.begin(now); err != nil {
		return nil, err
	}
	return s.reject(id, now, "operator", "")
}

// RejectNotice applies an error notice NHS England sent at received: it
// rejects the step uploaded on the Europe/London day before, as Reject
// does, and records the notice's text (which the caller has cleared of
// anything that looks like an identifier) and id in the ledger. The result
// has a nil Step when no upload was made that day, and Already set when the
// notice was applied before, so reading the same mail twice changes nothing.
func (s *Store) RejectNotice(received time.Time, text, messageID string) (*RejectResult, error) {
	now := s.o.Now()
	if err := s.begin(now); err != nil {
		return nil, err
	}
	y, m, d := received.In(london).Date()
	day := time.Date(y, m, d-1, 12, 0, 0, 0, london).Format(time.DateOnly)
	var sub *Submission
	for i := len(s.l.Submissions) - 1; i >= 0; i-- {
		if x := &s.l.Submissions[i]; x.Day == day && x.Outcome != OutcomeNotSent {
			sub = x
			break
		}
	}
	if sub == nil {
		return &RejectResult{}, nil
	}
	st := s.l.step(sub.Step)
	if st != nil && (st.State == StateRejected || st.NoticeID != "" && st.NoticeID == messageID) {
		return &RejectResult{Step: st, Already: true}, nil
	}
	return s.reject(sub.Step, now, "error notice", text, messageID)
}

// reject settles a step as rejected: see Reject.
func (s *Store) reject(id string, now time.Time, by, notice string, messageID ...string) (*RejectResult, error) {
	st := s.l.step(id)
	if st == nil {
		return nil, stepErr(id, "no such step", "seftbot cohort status lists the steps")
	}
	res := &RejectResult{Step: st}
	switch st.State {
	case StateAwaiting, StateUnknown:
	case StateConfirmed:
		if last := s.lastSent(); last == nil || last.Step != id {
			return nil, stepErr(id, "is confirmed and a later file has been uploaded since; it can no longer be rejected",
				"if NHS England did not apply it, check with them and re-seed with seftbot cohort import-held")
		}
		if !strings.HasPrefix(st.SettledBy, "quiet period") {
			return nil, stepErr(id, "was confirmed by the operator", "re-seed with seftbot cohort import-held if NHS England did not apply it")
		}
		ids, err := s.stepIDs(st)
		if err != nil {
			return nil, err
		}
		if st.Action == Add {
			s.l.Held = s.l.Held.minus(ids)
		} else {
			s.l.Held = s.l.Held.union(ids)
		}
		res.Undone = true
	default:
		return nil, stepErr(id, "is "+st.State+"; only an uploaded step can be rejected", "")
	}
	s.setState(st, StateRejected, now, by)
	if notice != "" {
		st.Notice = notice
		if sub := s.l.submission(id); sub != nil {
			sub.Error = "error notice: " + notice
		}
	}
	if len(messageID) > 0 {
		st.NoticeID = messageID[0]
	}
	for _, o := range s.l.Steps {
		if o.State == StatePending {
			s.setState(o, StateCancelled, now, "rejection of "+id)
			res.Cancelled = append(res.Cancelled, o.ID)
		}
	}
	if err := s.save(); err != nil {
		return nil, err
	}
	s.tidy()
	return res, nil
}

// lastSent is the latest attempt that may have reached the portal.
func (s *Store) lastSent() *Submission {
	for i := len(s.l.Submissions) - 1; i >= 0; i-- {
		if s.l.Submissions[i].Outcome != OutcomeNotSent {
			return &s.l.Submissions[i]
		}
	}
	return nil
}

// next finds the step the next upload would send and, when it may not go
// now, why not and from when it may.
func (s *Store) next(now time.Time) (st *Step, why string, due time.Time) {
	for _, o := range s.l.Steps {
		switch o.State {
		case StateSending, StateUnknown:
			return nil, fmt.Sprintf("the outcome of step %s's upload is unknown: if no error notice arrives, run seftbot cohort confirm %s, otherwise seftbot cohort reject %s", o.ID, o.ID, o.ID), time.Time{}
		case StateAwaiting:
			due = *o.ConfirmAfter
			why = fmt.Sprintf("step %s awaits confirmation: its quiet period ends %s", o.ID, FormatTime(due))
			if w := s.inboxWait(o); w != "" && !now.Before(due) {
				why = fmt.Sprintf("step %s awaits confirmation: %s", o.ID, w)
			}
		case StatePending:
			if st == nil {
				st = o
			}
		}
	}
	if st == nil {
		return nil, "no pending steps", time.Time{}
	}
	if why != "" {
		return st, why, due
	}
	if last := s.lastSent(); last != nil {
		if last.At.After(now) {
			return st, fmt.Sprintf("the clock (%s) is earlier than the last upload (%s); refusing until it is past it", FormatTime(now), FormatTime(last.At)), last.At
		}
		if last.Day == londonDay(now) {
			due = nextLondonMidnight(now)
			return st, fmt.Sprintf("a file was already uploaded today (%s, Europe/London); one upload per day", last.Day), due
		}
	}
	return st, "", now
}

// SubmitResult says what submit did, or why it did nothing.
type SubmitResult struct {
	Step         *Step
	Uploaded     bool
	DryRun       bool
	Path         string // dry run: the exact file that would be uploaded
	Size         int
	Reason       string // why nothing was (or, in a dry run, would be) uploaded
	Due          time.Time
	Confirmation string
}

// Submit uploads the next due step, or does nothing and says why; it is
// safe to run every night. The step's file is read back, checked against its
// planned sha256 and every rule of the upload format, and only then copied
// to <PROJECT_ID>.csv and uploaded. A dry run stops after writing that file.
func (s *Store) Submit(ctx context.Context, dryRun bool) (*SubmitResult, error) {
	now := s.o.Now()
	if err := s.begin(now); err != nil {
		return nil, err
	}
	st, why, due := s.next(now)
	res := &SubmitResult{Step: st, DryRun: dryRun, Reason: why, Due: due}
	if st == nil || why != "" && !dryRun {
		return res, nil
	}
	b, err := s.stepBytes(st)
	if err != nil {
		return nil, err
	}
	if s.o.BeforeCheck != nil {
		b = s.o.BeforeCheck(b)
	}
	if err := s.finalCheck(st, b, now); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(s.outboxPath(), 0o600, func(f *os.File) error { _, err := f.Write(b); return err }, s.writeOpts()...); err != nil {
		return nil, err
	}
	res.Path, res.Size = s.outboxPath(), len(b)
	if dryRun {
		return res, nil
	}
	if s.o.Uploader == nil {
		os.Remove(s.outboxPath())
		return nil, errors.New("no uploader configured")
	}
	upload, err := s.o.Uploader()
	if err != nil {
		os.Remove(s.outboxPath())
		return nil, err
	}
	s.l.Submissions = append(s.l.Submissions, Submission{Step: st.ID, At: now, Day: londonDay(now), Action: st.Action,
		Count: st.Count, SHA256: st.SHA256, Outcome: StateSending})
	st.State = StateSending
	if err := s.save(); err != nil {
		os.Remove(s.outboxPath())
		return nil, err
	}
	conf, uerr := upload(ctx, s.outboxPath())
	os.Remove(s.outboxPath())
	res.Path = ""
	sub := &s.l.Submissions[len(s.l.Submissions)-1]
	switch {
	case uerr != nil && errors.Is(uerr, ErrNotSent):
		st.State, sub.Outcome, sub.Error = StatePending, OutcomeNotSent, uerr.Error()
	case uerr != nil:
		st.State, sub.Outcome, sub.Error = StateUnknown, StateUnknown, uerr.Error()
	default:
		ca := quietEnd(now, s.hh, s.mm)
		st.State, sub.Outcome, sub.Confirmation = StateAwaiting, StateAwaiting, conf
		st.Uploaded, st.ConfirmAfter = &now, &ca
		res.Uploaded, res.Confirmation = true, conf
	}
	if err := s.save(); err != nil {
		return nil, errors.Join(err, uerr)
	}
	if uerr != nil {
		return res, fmt.Errorf("step %s: upload: %w", st.ID, uerr)
	}
	return res, nil
}

// finalCheck applies the upload rules and the ledger rules to the exact
// bytes about to leave.
func (s *Store) finalCheck(st *Step, b []byte, now time.Time) error {
	ids, ps := s.t.checkFile(b, st.Action, s.today(now))
	if len(ids) != st.Count {
		ps.add(Problem{Msg: fmt.Sprintf("file has %d identifiers, the step planned %d", len(ids), st.Count)})
	}
	for _, v := range ids {
		if held := s.l.Held.has(v); held == (st.Action == Add) {
			ps.add(Problem{Msg: "file no longer agrees with the ledger (an ADD of a held identifier, or a DELETE of one not held)"})
			break
		}
	}
	if ps.count() > 0 {
		return usererr.New(ps.error("step "+st.ID+" file (final check before upload)"),
			"nothing was uploaded; run seftbot cohort cancel and plan again")
	}
	return nil
}

// sha256Hex is the file digest the ledger records.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
