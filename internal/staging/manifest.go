// Package staging owns the manifest of what was fetched, staged and
// delivered, and the private staging area where clear text waits to be
// archived. The portal hands each completed file to it; the job asks it,
// never the portal, what is new, staged or delivered.
package staging

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/isaric/seftbot/internal/atomicfile"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/safeio"
)

// PartialDir (layout.Staging.Partial) is the subdirectory of the staging directory where Chromium
// writes downloads in progress. Everything else in staging is a complete,
// verified file; the nightly job must ignore PartialDir. Download empties it
// at start and at the end.
const PartialDir = ".partial"

// File is one downloaded file.
type File struct {
	Name      string    `json:"name"`       // as the portal gave it
	LocalName string    `json:"local_name"` // sanitised name in StagingDir
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	FetchedAt time.Time `json:"fetched_at"`
	// Delivered names the archive that carried the file to the analysts,
	// recorded by the nightly job once the relay was confirmed. Only a
	// delivered file, or one still waiting in staging, counts as had: a
	// manual download elsewhere can never hide a file from the nightly job.
	Delivered   string    `json:"delivered,omitempty"`
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
}

type manifestEntry struct {
	File
	Ordinal int `json:"ordinal,omitempty"` // n-th listing entry with this exact name
}

type manifestDoc struct {
	Version int             `json:"version"`
	Files   []manifestEntry `json:"files"`
}

// manifestVersion 2 records delivery. A version 1 manifest predates that:
// its entries were either relayed by the nightly job or are still staged,
// so they are read as delivered rather than fetched and sent a second time.
const manifestVersion = 2

// legacyDelivered marks entries of a version 1 manifest.
const legacyDelivered = "(recorded before delivery was tracked)"

// Manifest records every file fetched so far. It is rewritten after every
// file (temp, fsync, rename, fsync dir), so a crash loses at most the file
// in flight and a re-run fetches only what is missing.
type Manifest struct {
	path    string
	staging layout.Staging // where a fetched, undelivered file waits
	mu      sync.Mutex
	entries []manifestEntry
	index   map[string]int // entryKey -> position in entries
}

// OpenManifest reads the manifest of stateDir; stagingDir is where the
// files of this run are staged (a file not delivered counts as had only
// while it waits there).
func OpenManifest(stateDir, stagingDir string) (*Manifest, error) {
	m := &Manifest{path: layout.State{Dir: stateDir}.Manifest(), staging: layout.Staging{Dir: stagingDir}, index: map[string]int{}}
	b, err := safeio.ReadFile(m.path, "the manifest", 64<<20) // 200 bytes a file: 300,000 files
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if errors.Is(err, safeio.ErrNotRegular) {
		return nil, err
	}
	if err != nil {
		return nil, layout.Integrity(fmt.Errorf("manifest %s cannot be read: %w", m.path, err),
			"check the state directory's permissions and disk")
	}
	var doc manifestDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, layout.Integrity(fmt.Errorf("manifest %s is damaged: %w", m.path, err),
			"restore it from a backup, or move it aside: every file still listed on the portal is then fetched and sent again")
	}
	if doc.Version > manifestVersion {
		return nil, layout.Integrity(fmt.Errorf("manifest %s has version %d; this seftbot reads up to %d", m.path, doc.Version, manifestVersion),
			"run the seftbot that wrote it")
	}
	for _, e := range doc.Files {
		if doc.Version < 2 && e.Delivered == "" {
			e.Delivered = legacyDelivered
		}
		m.put(e)
	}
	return m, nil
}

// LoadManifest returns every file the manifest lists as complete.
func LoadManifest(stateDir string) ([]File, error) {
	m, err := OpenManifest(stateDir, "")
	if err != nil {
		return nil, err
	}
	out := make([]File, len(m.entries))
	for i, e := range m.entries {
		out[i] = e.File
	}
	return out, nil
}

// Entry is a manifest's record of one file: the file, and which listing
// entry of that name it was (0 for the first).
type Entry struct {
	File
	Ordinal int
}

// LoadEntries returns every file the manifest lists, with its ordinal.
func LoadEntries(stateDir string) ([]Entry, error) {
	m, err := OpenManifest(stateDir, "")
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(m.entries))
	for i, e := range m.entries {
		out[i] = Entry{File: e.File, Ordinal: e.Ordinal}
	}
	return out, nil
}

func (m *Manifest) put(e manifestEntry) {
	k := entryKey(e.Name, e.Ordinal)
	if i, ok := m.index[k]; ok {
		m.entries[i] = e
		return
	}
	m.index[k] = len(m.entries)
	m.entries = append(m.entries, e)
}

// Has reports whether the entry was fetched before, with the same size, and
// is either delivered or still waiting in this run's staging. A listed size
// of -1 (unknown) matches any size. A file fetched into another directory
// (`download --out`) and never delivered is not had: the nightly job
// fetches it again rather than lose it.
func (m *Manifest) Has(name string, ordinal int, size int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.index[entryKey(name, ordinal)]
	if !ok {
		return false
	}
	e := m.entries[i]
	if size >= 0 && e.Size != size {
		return false
	}
	return e.Delivered != "" || m.staged(e.File)
}

// staged reports whether f waits, complete, in staging or in the batch of
// a run that has not relayed it yet.
func (m *Manifest) staged(f File) bool {
	if m.staging.Dir == "" || f.LocalName == "" {
		return false
	}
	for _, dir := range []string{m.staging.Incoming(), m.staging.Batch()} {
		st, err := os.Lstat(filepath.Join(dir, f.LocalName))
		if err == nil && st.Mode().IsRegular() && st.Size() == f.Size {
			return true
		}
	}
	return false
}

// LocalNames returns the local names already used, so new files never take
// the name of an older one still waiting in staging.
func (m *Manifest) LocalNames() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := map[string]bool{}
	for _, e := range m.entries {
		// A file fetched elsewhere and never delivered is fetched again
		// under its own name, not a suffixed one.
		if e.Delivered != "" || m.staged(e.File) {
			t[e.LocalName] = true
		}
	}
	return t
}

// LocalNameOf is the local name an entry was staged under, if any.
func (m *Manifest) LocalNameOf(name string, ordinal int) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.index[entryKey(name, ordinal)]
	if !ok {
		return "", false
	}
	return m.entries[i].LocalName, true
}

// Add records a completed file, the ordinal-th listing entry of its name,
// and saves the manifest. A file fetched again (--all) with the same
// content stays delivered: sending it again takes an explicit
// `fetch --resend`.
func (m *Manifest) Add(f File, ordinal int) error {
	e := manifestEntry{File: f, Ordinal: ordinal}
	m.mu.Lock()
	defer m.mu.Unlock()
	if i, ok := m.index[entryKey(e.Name, e.Ordinal)]; ok && e.Delivered == "" {
		if old := m.entries[i]; old.SHA256 == e.SHA256 {
			e.Delivered, e.DeliveredAt = old.Delivered, old.DeliveredAt
		}
	}
	m.put(e)
	return m.save()
}

// save writes the manifest crash-safely; m.mu is held.
func (m *Manifest) save() error {
	b, err := json.MarshalIndent(manifestDoc{Version: manifestVersion, Files: m.entries}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(m.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("%w: writing the manifest: %w", ErrLocal, err)
	}
	return nil
}

// MarkDelivered records that files (by local name and sha256) reached the
// analysts in archive. The nightly job calls it once the relay is
// confirmed and before the clear text is wiped; it is idempotent, so a run
// killed around it simply calls it again.
func MarkDelivered(stateDir string, files []File, archive string, at time.Time) error {
	m, err := OpenManifest(stateDir, "")
	if err != nil {
		return err
	}
	want := make(map[string]string, len(files))
	for _, f := range files {
		want[f.LocalName] = f.SHA256
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	changed := false
	for i, e := range m.entries {
		if sum, ok := want[e.LocalName]; ok && sum == e.SHA256 && e.Delivered != archive {
			m.entries[i].Delivered, m.entries[i].DeliveredAt = archive, at.UTC()
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return m.save()
}

// privateDir applies the one private-directory rule (package layout): it
// creates dir 0700, or refuses one that is a symlink, not ours, or open to
// others. It never chmods what it finds.
func privateDir(dir string) error { return layout.PrivateDir(dir) }

// ErrLocal is layout's one marker of a failure of this machine's disk or
// files (staging, the manifest), not of the portal.
var ErrLocal = layout.ErrLocal

// PreparePartial makes the private staging directory and an empty
// PartialDir inside it, and returns the PartialDir path.
func PreparePartial(staging string) (string, error) {
	if err := privateDir(staging); err != nil {
		return "", fmt.Errorf("staging: %w", err)
	}
	partial := layout.Staging{Dir: staging}.Partial()
	// Leftovers of a crashed run are incomplete by definition.
	if err := os.RemoveAll(partial); err != nil {
		return "", fmt.Errorf("%w: staging: %w", ErrLocal, err)
	}
	if err := privateDir(partial); err != nil {
		return "", fmt.Errorf("staging: %w", err)
	}
	return partial, nil
}

// Commit checks a finished download, then moves it into staging as
// LocalName: 0600, fsynced, renamed atomically. It returns the size and the
// sha256. want is the size the listing and the server announced.
func Commit(tmp, staging, local string, want int64) (int64, string, error) {
	f, err := os.Open(tmp)
	if err != nil {
		return 0, "", err // the browser's file: a download that went wrong
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("%w: reading %s: %w", ErrLocal, tmp, err)
	}
	if want >= 0 && n != want {
		return n, "", fmt.Errorf("%w: got %d bytes, want %d", ErrShort, n, want)
	}
	if err := f.Chmod(0o600); err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrLocal, err)
	}
	if err := f.Sync(); err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrLocal, err)
	}
	if err := os.Rename(tmp, filepath.Join(staging, local)); err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrLocal, err)
	}
	if err := atomicfile.SyncDir(staging); err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrLocal, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// Commit is the package's Commit, so that a Manifest is all a download run
// hands its files to (portal.Keeper): it checks and moves tmp into dir as
// local, and does not touch the manifest (Add records the file).
func (m *Manifest) Commit(tmp, dir, local string, want int64) (int64, string, error) {
	return Commit(tmp, dir, local, want)
}

// ErrShort marks a download whose size is not the announced one.
var ErrShort = errors.New("size mismatch")

// entryKey identifies a listing entry across runs: its name and which
// occurrence of that name it is, so identical names stay apart.
func entryKey(name string, ordinal int) string {
	if ordinal == 0 {
		return name
	}
	return fmt.Sprintf("%s\x00%d", name, ordinal)
}
