package portal

import "github.com/isaric/seftbot/internal/staging"

// Keeper is all portal asks of where its files are kept: whether a listed
// file is had already, the local names taken, and a place for each
// completed download. staging's Manifest is the real one (Options.Keeper
// nil); portal never opens the manifest or moves a file into staging
// itself, so a change to how files are kept stays in staging.
type Keeper interface {
	// Has reports whether the ordinal-th entry of name, of size (-1:
	// unknown), was fetched before and is still had.
	Has(name string, ordinal int, size int64) bool
	// LocalNames are the local names in use, so a new file takes another.
	LocalNames() map[string]bool
	// LocalNameOf is the local name the entry was kept under, if any.
	LocalNameOf(name string, ordinal int) (string, bool)
	// Commit checks a finished download tmp against want (the announced
	// size) and moves it into dir as local: 0600, fsynced. It returns the
	// size and sha256.
	Commit(tmp, dir, local string, want int64) (size int64, sha256 string, err error)
	// Add records a committed file, the ordinal-th listing entry of its name.
	Add(f File, ordinal int) error
}

var _ Keeper = (*staging.Manifest)(nil)

// keeper is o.Keeper, or staging's manifest in o.StateDir over o.StagingDir.
func (o *Options) keeper() (Keeper, error) {
	if o.Keeper != nil {
		return o.Keeper, nil
	}
	m, err := staging.OpenManifest(o.StateDir, o.StagingDir)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// noManifest keeps a profile check's one file: it commits into the
// check's directory and records nothing, as the check keeps nothing.
type noManifest struct{}

func (noManifest) Has(string, int, int64) bool            { return false }
func (noManifest) LocalNames() map[string]bool            { return map[string]bool{} }
func (noManifest) LocalNameOf(string, int) (string, bool) { return "", false }
func (noManifest) Add(File, int) error                    { return nil }
func (noManifest) Commit(tmp, dir, local string, want int64) (int64, string, error) {
	return staging.Commit(tmp, dir, local, want)
}
