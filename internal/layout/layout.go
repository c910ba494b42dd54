// Package layout owns where seftbot keeps things on disk, the state lock,
// and the one rule for a private directory. The state directory holds what
// must survive between runs (manifest, pending batch, run records, lock,
// the kept passphrase, the outbox, the cohort ledger, debug bundles, login
// latches, the inbox's and the mail token's state, metrics, probe reports)
// and, while they run, a profile check's and a recording's downloads; the
// staging area holds clear text only while a run needs it. Every other
// package asks here for a path, so a layout change is made in one place and
// the sweep of a killed run's leftovers knows every temporary name.
package layout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/gofrs/flock"

	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// ErrIntegrity means something seftbot recorded or staged is no longer what
// it recorded: a staged file whose sha256 changed, a kept passphrase that
// is gone, a state file that cannot be read. A re-run cannot fix it; a
// person must look (exit 13).
var ErrIntegrity = errors.New("integrity")

// Integrity wraps err as an integrity failure with a hint for the operator.
func Integrity(err error, hint string) error {
	return usererr.New(fmt.Errorf("%w: %w", ErrIntegrity, err), hint)
}

// ErrLocal is the one marker of a failure of this machine's disk or files
// (the state directory, staging, the manifest), not of the portal or the
// relay: it is not retried as if the far end might answer better, and it
// exits 2 with a hint to check space and permissions.
var ErrLocal = errors.New("local file error")

// Local marks err as a failure of this machine's disk; nil stays nil.
func Local(err error) error {
	if err == nil || errors.Is(err, ErrLocal) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrLocal, err)
}

// State is seftbot's state directory.
type State struct{ Dir string }

func (s State) Manifest() string    { return filepath.Join(s.Dir, "manifest.json") }
func (s State) Batch() string       { return filepath.Join(s.Dir, "batch.json") }
func (s State) Runs() string        { return filepath.Join(s.Dir, "runs.jsonl") }
func (s State) Lock() string        { return filepath.Join(s.Dir, "lock") }
func (s State) Passphrase() string  { return filepath.Join(s.Dir, "pending-passphrase") }
func (s State) Outbox() string      { return filepath.Join(s.Dir, "outbox") }
func (s State) Passphrases() string { return filepath.Join(s.Dir, "passphrases") }
func (s State) Debug() string       { return filepath.Join(s.Dir, "debug") }
func (s State) Cohort() string      { return filepath.Join(s.Dir, "cohort") }
func (s State) Inbox() string       { return filepath.Join(s.Dir, "inbox.json") }
func (s State) TokenCache() string  { return filepath.Join(s.Dir, "oauth-token.json") }
func (s State) Metrics() string     { return filepath.Join(s.Dir, "metrics.prom") }

// CohortLedger is the cohort store's ledger (inside Cohort).
func (s State) CohortLedger() string { return Cohort{Dir: s.Cohort()}.Ledger() }

// Cohort is the cohort store's directory (State.Cohort, or one a test
// chooses): its ledger, the step files (patient identifiers) and the
// outbox holding the one file being uploaded.
type Cohort struct{ Dir string }

func (c Cohort) Ledger() string        { return filepath.Join(c.Dir, "ledger.json") }
func (c Cohort) Steps() string         { return filepath.Join(c.Dir, "steps") }
func (c Cohort) Outbox() string        { return filepath.Join(c.Dir, "outbox") }
func (c Cohort) Step(id string) string { return filepath.Join(c.Steps(), id+".csv") }
func (c Cohort) Upload(project string) string {
	return filepath.Join(c.Outbox(), project+".csv")
}

// Dirs are the directories the store keeps, itself first.
func (c Cohort) Dirs() []string { return []string{c.Dir, c.Steps(), c.Outbox()} }

// Latch is the login latch of a site ("download" or "upload").
func (s State) Latch(site string) string {
	return filepath.Join(s.Dir, "login-latch-"+site+".json")
}

// Archive is a run's archive in the outbox.
func (s State) Archive(runID string) string { return filepath.Join(s.Outbox(), runID+".7z") }

// PassphraseFile is the file the passphrase of archive is written to when
// the operator sends it (SEFTBOT_PASSPHRASE_DELIVERY=file).
func (s State) PassphraseFile(archive string) string {
	return filepath.Join(s.Passphrases(), archive+".txt")
}

// Probe is where a probe started at t writes its report by default.
func (s State) Probe(t time.Time) string {
	return filepath.Join(s.Dir, "probe-"+t.UTC().Format("20060102T150405Z"))
}

// ErrLocked means another seftbot run holds the state directory.
var ErrLocked = errors.New("another seftbot run is in progress")

// TryLock takes the one-run-at-a-time lock, or fails at once with
// ErrLocked. The lock is released by the kernel if the process dies, so a
// kill -9 never leaves a stale lock behind.
func (s State) TryLock() (unlock func(), err error) {
	path := s.Lock()
	unlock, err = safeio.Lock(context.Background(), path, "the state lock", 0)
	if errors.Is(err, safeio.ErrLockHeld) {
		return nil, usererr.New(fmt.Errorf("%w (lock %s held%s)", ErrLocked, path, safeio.HolderOf(path)),
			"wait for it to finish; `seftbot status` shows the last runs")
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return unlock, nil
}

// recordDirPattern names the directories of recordings (NewRecordDir).
const recordDirPattern = ".record-*"

// NewRecordDir makes a new private directory in the state directory for
// what the browser downloads while `seftbot record` watches a person (a
// real file: patient data). A recording does not take the state lock, so
// the directory holds a lock of its own until release: Sweep removes only
// one whose recorder is gone. release removes the directory.
func (s State) NewRecordDir() (dir string, release func(), err error) {
	if err := PrivateDir(s.Dir); err != nil {
		return "", nil, err
	}
	d, err := os.MkdirTemp(s.Dir, recordDirPattern)
	if err != nil {
		return "", nil, usererr.New(fmt.Errorf("private directory: %w", err), "check the state directory is writable by this user")
	}
	if err := PrivateDir(d); err != nil {
		os.RemoveAll(d)
		return "", nil, err
	}
	l := flock.New(filepath.Join(d, ".lock"))
	if ok, err := l.TryLock(); err != nil || !ok {
		os.RemoveAll(d)
		return "", nil, Local(fmt.Errorf("lock %s: %v", l.Path(), err))
	}
	return d, func() {
		os.RemoveAll(d)
		_ = l.Unlock()
	}, nil
}

// checkDirPattern names the directories of profile checks (see NewCheckDir).
const checkDirPattern = ".check-one-*"

// NewCheckDir makes a new private directory in the state directory for the
// one file a profile check downloads (seftbot probe --check --one). The
// caller removes it when the check ends; Sweep removes one a killed check
// left behind, since it may hold patient data.
func (s State) NewCheckDir() (string, error) {
	if err := PrivateDir(s.Dir); err != nil {
		return "", err
	}
	d, err := os.MkdirTemp(s.Dir, checkDirPattern)
	if err != nil {
		return "", usererr.New(fmt.Errorf("private directory: %w", err), "check the state directory is writable by this user")
	}
	if err := PrivateDir(d); err != nil {
		os.RemoveAll(d)
		return "", err
	}
	return d, nil
}

// Staging is the private area for clear text. Complete, verified downloads
// sit in its top level (the portal renames them there), downloads in
// progress in Partial, and the files of the run being archived in Batch, so
// a download never mixes into an archive in progress.
type Staging struct{ Dir string }

func (s Staging) Incoming() string { return s.Dir }
func (s Staging) Partial() string  { return filepath.Join(s.Dir, ".partial") }
func (s Staging) Batch() string    { return filepath.Join(s.Dir, ".batch") }

// DefaultStagingDir prefers memory (/dev/shm) for clear-text patient data,
// so nothing lingers on disk; it falls back to the state directory.
func DefaultStagingDir(stateDir string) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return fmt.Sprintf("/dev/shm/seftbot-%d", os.Geteuid())
	}
	return filepath.Join(stateDir, "staging")
}

// PrivateDir makes sure dir is a private directory: it creates it (and
// missing parents) 0700, or checks that an existing one is a real directory
// (a symlink is not followed) owned by the user seftbot runs as. Only then
// may it tighten the directory's own mode to 0700, through a descriptor
// opened without following links; a directory of another user is refused
// untouched, because that user may have planted it to read what we write.
func PrivateDir(dir string) error {
	if dir == "" {
		return usererr.Errorf("set SEFTBOT_STATE_DIR (and SEFTBOT_STAGING_DIR if wanted)", "no directory configured")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return usererr.New(fmt.Errorf("private directory: %w", err), "check the parent directory exists and is writable by this user")
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return usererr.New(fmt.Errorf("private directory: %w", err), "check the directory setting")
	}
	if err := checkDir(dir, st); err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 == 0 {
		return nil
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return usererr.New(fmt.Errorf("private directory %s: %w", dir, err), "point the setting at a real directory of this user")
	}
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	fst, err := f.Stat()
	if err != nil {
		return err
	}
	if err := checkDir(dir, fst); err != nil || !os.SameFile(st, fst) {
		return usererr.New(fmt.Errorf("%s changed while it was checked", dir), "make sure nobody else can write its parent directory")
	}
	if err := f.Chmod(0o700); err != nil {
		return usererr.New(fmt.Errorf("private directory %s: %w", dir, err), "run: chmod 700 "+dir)
	}
	return nil
}

// checkDir is the rule for a directory found in place: a real directory,
// owned by this user.
func checkDir(dir string, st fs.FileInfo) error {
	if st.Mode()&fs.ModeSymlink != 0 {
		return usererr.New(fmt.Errorf("%s is a symbolic link; seftbot does not follow one for private data", dir),
			"point the setting at the real directory")
	}
	if !st.IsDir() {
		return usererr.Errorf("point the setting at a directory of its own", dir+" is not a directory")
	}
	if uid, ok := Owner(st); ok && uid != os.Geteuid() {
		hint := "use a directory created by the user seftbot runs as; do not reuse one another user made"
		if os.Geteuid() == 0 {
			hint = asServiceUser(uid)
		}
		return usererr.New(fmt.Errorf("%s belongs to uid %d, not to this user (uid %d)", dir, uid, os.Geteuid()), hint)
	}
	return nil
}

// CheckSecretFile refuses a file of secrets (the env file, a *_FILE secret,
// a key) that group or others may read or write, or that belongs to a user
// other than seftbot's (or root): such a file could be swapped to set, say,
// the Chromium binary.
func CheckSecretFile(path string, st fs.FileInfo) error {
	if st.Mode().Perm()&0o077 != 0 {
		return usererr.New(fmt.Errorf("%s is accessible by other users (mode %04o) and holds secrets", path, st.Mode().Perm()),
			fmt.Sprintf("run: chmod 600 %s", path))
	}
	if uid, ok := Owner(st); ok && uid != os.Geteuid() && uid != 0 {
		hint := fmt.Sprintf("run: sudo chown %s %s, if this user is the one seftbot runs as (the service's is seftbot)", userName(os.Geteuid()), path)
		if os.Geteuid() == 0 {
			hint = asServiceUser(uid)
		}
		return usererr.New(fmt.Errorf("%s belongs to uid %d, not to this user (uid %d), and holds secrets", path, uid, os.Geteuid()), hint)
	}
	return nil
}

// asServiceUser is the hint for root meeting a file of the user the service
// runs as: run seftbot as that user. Taking the file over (chown 0) would
// break the service, which runs as seftbot, never as root.
func asServiceUser(owner int) string {
	name := userName(owner)
	return fmt.Sprintf("it belongs to %s, the user the service runs as (scripts/install.sh makes seftbot): run seftbot as that user, "+
		"e.g. sudo -u %s seftbot ...; do not chown it to root", name, name)
}

// userName is a uid's login name, or the number when it has none.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

// Owner returns the uid that owns a file.
func Owner(st fs.FileInfo) (int, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(s.Uid), true
}

// Sweep removes the temporary files a run killed with SIGKILL could not
// remove itself: crash-safe writes in the state directory
// (.batch.json.tmp-*, .manifest.json.tmp-*, ...), half-written archives in
// the outbox (.RUNID.7z.tmp-*), half-written passphrase files and a profile
// check's directory (.check-one-*) and a killed recording's (.record-*). The
// caller holds the state lock, so no live run owns them. It returns what
// it removed.
func (s State) Sweep() ([]string, error) {
	var removed []string
	var errs []error
	for _, pattern := range []string{
		filepath.Join(s.Dir, ".*.tmp-*"),
		filepath.Join(s.Outbox(), ".*.tmp-*"),
		filepath.Join(s.Passphrases(), ".passphrase-*"),
	} {
		matches, _ := filepath.Glob(pattern)
		for _, p := range matches {
			st, err := os.Lstat(p)
			if err != nil || !st.Mode().IsRegular() {
				continue
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, p)
		}
	}
	// A recording's directory (NewRecordDir) whose recorder is gone.
	recs, _ := filepath.Glob(filepath.Join(s.Dir, recordDirPattern))
	for _, p := range recs {
		st, err := os.Lstat(p)
		if err != nil || !st.IsDir() {
			continue
		}
		l := flock.New(filepath.Join(p, ".lock"))
		if ok, err := l.TryLock(); err != nil || !ok {
			continue // a live recording
		}
		err = os.RemoveAll(p)
		_ = l.Unlock()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	// A profile check's directory (NewCheckDir), with what it holds.
	dirs, _ := filepath.Glob(filepath.Join(s.Dir, checkDirPattern))
	for _, p := range dirs {
		st, err := os.Lstat(p)
		if err != nil || !st.IsDir() {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}
