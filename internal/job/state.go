package job

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/isaric/seftbot/internal/atomicfile"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/notify"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// Stage names, in the order a run goes through them. A pending batch
// records the last stage it finished, so a re-run starts after it.
const (
	StageDownload   = "download"
	StageCollect    = "collect"
	StageArchive    = "archive"
	StageRelay      = "relay"
	StageWipe       = "wipe"
	StagePassphrase = "passphrase"
	StageReport     = "report"
	StageRecord     = "record"
)

// File is one downloaded file in a batch. Names are as the portal gave them;
// LocalName is the sanitised name on disk and in the archive.
type File struct {
	Name      string `json:"name"`
	LocalName string `json:"local_name"`
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256"`
}

// Batch is the work of one run that has not finished yet. It lives in
// STATE/batch.json from the moment files are collected until the run is
// recorded, and is what makes every stage resumable.
type Batch struct {
	Schema        int       `json:"schema"`
	RunID         string    `json:"run_id"`
	Started       time.Time `json:"started"`
	Done          []string  `json:"done"` // finished stages, in order
	Files         []File    `json:"files"`
	Archive       string    `json:"archive,omitempty"`        // local path of the encrypted archive
	ArchiveName   string    `json:"archive_name,omitempty"`   // base name, as relayed
	ArchiveSHA256 string    `json:"archive_sha256,omitempty"` // of the encrypted archive
	ArchiveSize   int64     `json:"archive_size,omitempty"`
	RemotePath    string    `json:"remote_path,omitempty"`
	RelayCheck    string    `json:"relay_check,omitempty"`
	RelayTemps    []string  `json:"relay_temps,omitempty"` // temporary paths created on the drop
	// PassphraseSent is recorded as soon as the passphrase was handed to
	// the mail server (or written for the operator), before the kept copy
	// is removed: a run killed in between knows not to look for it again.
	PassphraseSent bool               `json:"passphrase_sent,omitempty"`
	Stages         []notify.StageTime `json:"stages,omitempty"` // finished stages and their durations
}

const batchSchema = 1

func (b *Batch) done(stage string) bool {
	for _, s := range b.Done {
		if s == stage {
			return true
		}
	}
	return false
}

// Stages lists every stage a batch goes through, in order.
var Stages = []string{StageDownload, StageCollect, StageArchive, StageRelay, StageWipe, StagePassphrase, StageReport, StageRecord}

// Describe says, for `seftbot status`, what an unfinished run has done
// (facts the operator may need: the archive landed, the passphrase went
// out) and which stages the next fetch still runs.
func (b *Batch) Describe() (done []string, left []string) {
	done = append(done, fmt.Sprintf("%d file(s) collected", len(b.Files)))
	if b.done(StageArchive) {
		done = append(done, "archive written and verified")
	}
	if b.done(StageRelay) {
		done = append(done, "relayed as "+b.RemotePath)
	} else if len(b.RelayTemps) > 0 {
		done = append(done, "relay begun (its temporary file on the drop is removed by the next run)")
	}
	if b.done(StageWipe) {
		done = append(done, "clear text wiped")
	}
	if b.PassphraseSent || b.done(StagePassphrase) {
		done = append(done, "passphrase delivered")
	}
	if b.done(StageReport) {
		done = append(done, "report sent")
	}
	for _, s := range Stages[2:] {
		if !b.done(s) {
			left = append(left, s)
		}
	}
	return done, left
}

// Record is one finished (or failed) run of any verb, appended to
// STATE/runs.jsonl. Fetch writes its own, with the stages and files; the CLI
// writes one for every other verb (and for a fetch that never started).
type Record struct {
	Verb       string             `json:"verb"`      // e.g. "fetch", "cohort submit"
	ExitCode   int                `json:"exit_code"` // what the process exited with
	RunID      string             `json:"run_id"`
	Started    time.Time          `json:"started"`
	Finished   time.Time          `json:"finished"`
	Outcome    string             `json:"outcome"` // ok, nothing-new, failed
	Stage      string             `json:"stage,omitempty"`
	Error      string             `json:"error,omitempty"`
	Files      int                `json:"files"`
	Bytes      int64              `json:"bytes"`
	FileNames  []string           `json:"file_names,omitempty"`
	Archive    string             `json:"archive,omitempty"`
	RemotePath string             `json:"remote_path,omitempty"`
	Stages     []notify.StageTime `json:"stages,omitempty"`
	DebugDir   string             `json:"debug_dir,omitempty"`
	// Unavailable names (quoted) the files the portal listed but marked
	// as not downloadable (files.unavailable): not failures.
	Unavailable []string `json:"unavailable,omitempty"`
}

// VerbFetch is the verb of the nightly job's records.
const VerbFetch = "fetch"

// Succeeded says whether a recorded run counts as a success: exit 0, or 3
// (nothing new, a normal night). A run recorded before exit codes were is
// judged by its outcome.
func (r Record) Succeeded() bool {
	if r.Outcome == "failed" {
		return false
	}
	return r.ExitCode == 0 || r.ExitCode == 3
}

// State is seftbot's state directory; its layout is package layout's.
type State struct{ Dir string }

func (s State) l() layout.State        { return layout.State{Dir: s.Dir} }
func (s State) batchPath() string      { return s.l().Batch() }
func (s State) runsPath() string       { return s.l().Runs() }
func (s State) passphrasePath() string { return s.l().Passphrase() }
func (s State) outbox() string         { return s.l().Outbox() }

// Open creates the state directory, private, if needed, or refuses one
// that is not (layout.PrivateDir).
func Open(dir string) (State, error) {
	if dir == "" {
		return State{}, usererr.Errorf("set SEFTBOT_STATE_DIR", "no state directory configured")
	}
	if err := layout.PrivateDir(dir); err != nil {
		return State{}, fmt.Errorf("state directory: %w", err)
	}
	return State{Dir: dir}, nil
}

// Lock takes the one-run-at-a-time lock, or fails at once with ErrLocked.
// The lock is released by the kernel if the process dies, so a kill -9
// never leaves a stale lock behind.
func (s State) Lock() (unlock func(), err error) { return s.l().TryLock() }

// Sweep removes the temporary files a run killed with SIGKILL left in the
// state directory (layout.State.Sweep) and logs how many. Every verb that
// takes the lock and writes state calls it once it holds the lock, so no
// live run owns them.
func (s State) Sweep(log *slog.Logger) {
	if removed, err := s.l().Sweep(); err != nil {
		log.Warn("could not remove a killed run's temporary files", "err", err)
	} else if len(removed) > 0 {
		log.Info("removed a killed run's temporary files", "files", len(removed))
	}
}

// maxBatchBytes bounds batch.json: a batch of a thousand files is 300 KiB.
const maxBatchBytes = 16 << 20

// LoadBatch returns the pending batch, or nil if there is none.
func (s State) LoadBatch() (*Batch, error) {
	b, err := safeio.ReadFile(s.batchPath(), "the pending batch", maxBatchBytes)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, safeio.ErrNotRegular) {
		return nil, err
	}
	if err != nil {
		return nil, layout.Integrity(fmt.Errorf("%s cannot be read: %w", s.batchPath(), err),
			"check the state directory's permissions and disk")
	}
	var bt Batch
	if err := json.Unmarshal(b, &bt); err != nil {
		return nil, layout.Integrity(fmt.Errorf("%s is corrupt: %w", s.batchPath(), err),
			"inspect it; `seftbot clean --force` discards the pending batch (its files are then fetched again only with `seftbot download --all`)")
	}
	if bt.Schema != batchSchema {
		return nil, layout.Integrity(fmt.Errorf("%s: schema %d, this seftbot reads %d", s.batchPath(), bt.Schema, batchSchema),
			"finish the run with the seftbot that started it")
	}
	return &bt, nil
}

// SaveBatch writes the batch crash-safely.
func (s State) SaveBatch(b *Batch) error {
	b.Schema = batchSchema
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(s.batchPath(), data, 0o600)
}

// ClearBatch forgets the pending batch once its run is recorded.
func (s State) ClearBatch() error {
	err := os.Remove(s.batchPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = atomicfile.SyncDir(s.Dir)
	}
	return err
}

// Bounds on runs.jsonl, so that no run, however it failed, can make a later
// `status` or `fetch` slow or large: a record's error text is cut at
// MaxErrorBytes, a record is at most MaxRecordBytes (a longer line already on
// disk is skipped, not parsed), the file rotates to runs.jsonl.1 past
// maxRunsBytes, and a read looks at no more than the last MaxRecords
// records and maxScanBytes of the two files.
const (
	MaxErrorBytes  = 4 << 10
	MaxRecordBytes = 64 << 10
	MaxRecords     = 1000
)

// Variables so a test can lower them.
var (
	maxRunsBytes int64 = 4 << 20
	maxScanBytes int64 = 32 << 20
)

// CapText cuts s to at most n bytes, on a UTF-8 boundary, saying so.
func CapText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = " ... (cut; %d bytes in all)"
	cut := n - len(more) - 8
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + fmt.Sprintf(more, len(s))
}

// AppendRecord adds a run record to runs.jsonl, within MaxRecordBytes, and
// rotates the file first when it has grown past its bound.
func (s State) AppendRecord(r Record) error {
	r.Error = CapText(r.Error, MaxErrorBytes)
	data, err := json.Marshal(r)
	for err == nil && len(data) >= MaxRecordBytes && len(r.FileNames) > 0 {
		r.FileNames = r.FileNames[:len(r.FileNames)/2] // Files still counts them all
		data, err = json.Marshal(r)
	}
	if err != nil {
		return err
	}
	if len(data) >= MaxRecordBytes {
		return fmt.Errorf("run record of %d bytes is past its bound of %d", len(data), MaxRecordBytes)
	}
	f, err := s.openRuns()
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	if st, err := f.Stat(); err == nil && st.Size()+int64(len(data)) >= maxRunsBytes {
		if f, err = s.rotateRuns(f); err != nil {
			return err
		}
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		return err
	}
	return f.Sync()
}

// openRuns opens runs.jsonl for appending, regular files only, and takes
// its lock (held for a write, so never long; a run that cannot have it in a
// few seconds appends anyway and leaves rotation to the next). A file
// rotated away while waiting is let go for the new one.
func (s State) openRuns() (*os.File, error) {
	path := s.runsPath()
	for try := 0; ; try++ {
		// O_RDWR|O_NONBLOCK: even a FIFO opens at once, to be refused.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND|syscall.O_NONBLOCK, 0o600)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err == nil && !st.Mode().IsRegular() {
			err = usererr.Errorf("remove it; seftbot writes a new one", path+" is not a regular file")
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		locked := false
		for wait := time.Millisecond; wait < 2*time.Second; wait *= 2 {
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
				locked = true
				break
			}
			time.Sleep(wait)
		}
		if now, err := os.Stat(path); locked && try < 3 && (err != nil || !os.SameFile(st, now)) {
			f.Close() // rotated while we waited
			continue
		}
		return f, nil
	}
}

// rotateRuns moves the full runs.jsonl to runs.jsonl.1 (replacing the one
// before) and opens a new, locked, runs.jsonl. Records reads both.
func (s State) rotateRuns(old *os.File) (*os.File, error) {
	path := s.runsPath()
	if err := os.Rename(path, path+".1"); err != nil {
		return old, err
	}
	if err := atomicfile.SyncDir(s.Dir); err != nil {
		return old, err
	}
	f, err := s.openRuns()
	if err != nil {
		return old, err
	}
	old.Close()
	return f, nil
}

// Recorded reports whether one of the last MaxRecords records is of run id.
func (s State) Recorded(id string) (bool, error) {
	recs, err := s.Records(MaxRecords)
	if err != nil {
		return false, err
	}
	for _, r := range recs {
		if r.RunID == id {
			return true, nil
		}
	}
	return false, nil
}

// warnedOversized holds the run-record files whose oversized records this
// process has warned of: a run reads its records more than once (status,
// then its own record), and one warning says it.
var warnedOversized sync.Map

// Records returns the last n run records (at most MaxRecords), oldest
// first, read backwards from the end of runs.jsonl and then runs.jsonl.1,
// so its cost does not grow with the files. A torn last line (a crash
// mid-append) is skipped, not fatal; a line longer than MaxRecordBytes is
// skipped unread, with a warning.
func (s State) Records(n int) ([]Record, error) {
	n = min(n, MaxRecords)
	budget := maxScanBytes
	var out []Record // newest first
	for _, path := range []string{s.runsPath(), s.runsPath() + ".1"} {
		if len(out) >= n || budget <= 0 {
			break
		}
		skipped := 0
		err := scanBack(path, &budget, func(line []byte, oversized bool) bool {
			if oversized {
				skipped++
				return true
			}
			var r Record
			if json.Unmarshal(line, &r) == nil {
				if r.Verb == "" { // written before every verb was recorded: only fetch was
					r.Verb = VerbFetch
					if r.Outcome == "nothing-new" {
						r.ExitCode = 3
					}
				}
				out = append(out, r)
			}
			return len(out) < n
		})
		if err != nil {
			return nil, err
		}
		if skipped > 0 {
			if _, said := warnedOversized.LoadOrStore(path, true); !said {
				slog.Default().Warn("skipped run records too large to read", "file", path, "records", skipped,
					"bound_bytes", MaxRecordBytes)
			}
		}
	}
	slices.Reverse(out)
	return out, nil
}

// scanBack calls line for each line of path from the last to the first,
// until it returns false or budget bytes have been read. A line longer than
// MaxRecordBytes is passed as oversized, without its bytes. A missing file
// has no lines.
func scanBack(path string, budget *int64, line func(b []byte, oversized bool) bool) error {
	f, err := safeio.Open(path, "the run log")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	var (
		pos      = st.Size()
		chunk    = make([]byte, 64<<10)
		tail     []byte // the start of the line that ends after this chunk
		oversize bool   // the line being gathered is past the bound
		more     = true
	)
	emit := func(b []byte) {
		if len(b) > 0 || oversize {
			more = line(b, oversize)
		}
		tail, oversize = nil, false
	}
	for pos > 0 && more && *budget > 0 {
		k := int64(len(chunk))
		if pos < k {
			k = pos
		}
		pos -= k
		*budget -= k
		buf := chunk[:k]
		if _, err := f.ReadAt(buf, pos); err != nil {
			return err
		}
		for more {
			i := bytes.LastIndexByte(buf, '\n')
			if i < 0 {
				if !oversize {
					tail = append(append([]byte(nil), buf...), tail...)
					if len(tail) > MaxRecordBytes {
						tail, oversize = nil, true
					}
				}
				break
			}
			if !oversize {
				tail = append(append([]byte(nil), buf[i+1:]...), tail...)
				oversize = len(tail) > MaxRecordBytes
			}
			emit(tail)
			buf = buf[:i]
		}
	}
	switch {
	case pos == 0 && more:
		emit(tail)
	case more && oversize:
		line(nil, true) // the budget ran out inside an oversized line
	}
	return nil
}

// NewRunID names a run in logs, records and reports: UTC time plus randomness.
func NewRunID(now time.Time) string {
	var r [3]byte
	_, _ = rand.Read(r[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(r[:])
}

// Discard forgets an unfinished run: its batch, its archive and its kept
// passphrase. Only `seftbot clean --force` does this.
func (s State) Discard() error {
	return errors.Join(
		s.ClearBatch(),
		os.RemoveAll(s.outbox()),
		ignoreMissing(os.Remove(s.passphrasePath())),
	)
}

func ignoreMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
