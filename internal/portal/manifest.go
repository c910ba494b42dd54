package portal

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/isaric/seftbot/internal/atomicfile"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// PartialDir is the subdirectory of the staging directory where Chromium
// writes downloads in progress. Everything else in staging is a complete,
// verified file; the nightly job must ignore PartialDir. Download empties it
// at start and at the end.
const PartialDir = ".partial"

// ManifestName is the manifest's file name inside the state directory.
const ManifestName = "manifest.json"

// File is one downloaded file.
type File struct {
	Name      string    `json:"name"`       // as the portal gave it
	LocalName string    `json:"local_name"` // sanitised name in StagingDir
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	FetchedAt time.Time `json:"fetched_at"`
}

type manifestEntry struct {
	File
	Ordinal int `json:"ordinal,omitempty"` // n-th listing entry with this exact name
}

type manifestDoc struct {
	Version int             `json:"version"`
	Files   []manifestEntry `json:"files"`
}

// manifest records every file fetched so far. It is rewritten after every
// file (temp, fsync, rename, fsync dir), so a crash loses at most the file
// in flight and a re-run fetches only what is missing.
type manifest struct {
	path    string
	mu      sync.Mutex
	entries []manifestEntry
	index   map[string]int // entryKey -> position in entries
}

func loadManifest(stateDir string) (*manifest, error) {
	m := &manifest{path: filepath.Join(stateDir, ManifestName), index: map[string]int{}}
	b, err := os.ReadFile(m.path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	var doc manifestDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("manifest %s is damaged: %w", m.path, err)
	}
	for _, e := range doc.Files {
		m.put(e)
	}
	return m, nil
}

// LoadManifest returns every file the manifest lists as complete.
func LoadManifest(stateDir string) ([]File, error) {
	m, err := loadManifest(stateDir)
	if err != nil {
		return nil, err
	}
	out := make([]File, len(m.entries))
	for i, e := range m.entries {
		out[i] = e.File
	}
	return out, nil
}

func (m *manifest) put(e manifestEntry) {
	k := entryKey(e.Name, e.Ordinal)
	if i, ok := m.index[k]; ok {
		m.entries[i] = e
		return
	}
	m.index[k] = len(m.entries)
	m.entries = append(m.entries, e)
}

// has reports whether the entry was fetched before, with the same size.
// A listed size of -1 (unknown) matches any size.
func (m *manifest) has(name string, ordinal int, size int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.index[entryKey(name, ordinal)]
	return ok && (size < 0 || m.entries[i].Size == size)
}

// localNames returns the local names already used, so new files never take
// the name of an older one still waiting in staging.
func (m *manifest) localNames() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := map[string]bool{}
	for _, e := range m.entries {
		t[e.LocalName] = true
	}
	return t
}

func (m *manifest) localNameOf(name string, ordinal int) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i, ok := m.index[entryKey(name, ordinal)]
	if !ok {
		return "", false
	}
	return m.entries[i].LocalName, true
}

// add records a completed file and saves the manifest.
func (m *manifest) add(e manifestEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.put(e)
	b, err := json.MarshalIndent(manifestDoc{Version: 1, Files: m.entries}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(m.path, append(b, '\n'), 0o600)
}

// privateDir creates dir (and parents) if needed and makes sure it is a real
// directory, owned by us and closed to everyone else (0700).
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if st.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return err
		}
	}
	if uid, ok := fileOwner(st); ok && uid != os.Geteuid() {
		return fmt.Errorf("%s belongs to uid %d, not to us", dir, uid)
	}
	return nil
}

// prepareStaging makes the private staging directory and an empty PartialDir
// inside it, and returns the PartialDir path.
func prepareStaging(staging string) (string, error) {
	if err := privateDir(staging); err != nil {
		return "", fmt.Errorf("staging: %w", err)
	}
	partial := filepath.Join(staging, PartialDir)
	// Leftovers of a crashed run are incomplete by definition.
	if err := os.RemoveAll(partial); err != nil {
		return "", fmt.Errorf("staging: %w", err)
	}
	if err := privateDir(partial); err != nil {
		return "", fmt.Errorf("staging: %w", err)
	}
	return partial, nil
}

// commitFile checks a finished download, then moves it into staging as
// LocalName: 0600, fsynced, renamed atomically. It returns the size and the
// sha256. want is the size the listing and the server announced.
func commitFile(tmp, staging, local string, want int64) (int64, string, error) {
	f, err := os.Open(tmp)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	if want >= 0 && n != want {
		return n, "", fmt.Errorf("%w: got %d bytes, want %d", errShort, n, want)
	}
	if err := f.Chmod(0o600); err != nil {
		return 0, "", err
	}
	if err := f.Sync(); err != nil {
		return 0, "", err
	}
	if err := os.Rename(tmp, filepath.Join(staging, local)); err != nil {
		return 0, "", err
	}
	if err := atomicfile.SyncDir(staging); err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// errShort marks a download whose size is not the announced one.
var errShort = errors.New("size mismatch")
