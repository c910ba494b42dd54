package staging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/isaric/seftbot/internal/layout"
)

// Area is the private area where clear-text downloads wait to be
// archived; its layout is package layout's. The portal writes complete files
// into its top level, exactly as `seftbot download` does, so a manual
// download into it is picked up by the next fetch.
type Area struct{ Dir string }

func (s Area) l() layout.Staging { return layout.Staging{Dir: s.Dir} }
func (s Area) Incoming() string  { return s.l().Incoming() }
func (s Area) Batch() string     { return s.l().Batch() }

// Open creates the staging area (0700) or checks an existing one is
// private and ours (layout.PrivateDir): clear-text patient data must not sit
// where others can read it or where another user planted a directory.
func Open(dir string) (Area, error) {
	if err := layout.PrivateDir(dir); err != nil {
		return Area{}, fmt.Errorf("staging: %w", err)
	}
	s := Area{Dir: dir}
	if err := layout.PrivateDir(s.Batch()); err != nil {
		return Area{}, fmt.Errorf("staging: %w", err)
	}
	return s, nil
}

// ListFiles lists the regular files directly in dir, skipping dot-entries (the
// portal's partial downloads live in a dot-directory).
func ListFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.Name()[0] == '.' || !e.Type().IsRegular() {
			continue
		}
		out = append(out, e.Name())
	}
	return out, nil
}

// Wipe removes everything in the staging area but the area itself.
func (s Area) Wipe() error {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		errs = append(errs, os.RemoveAll(filepath.Join(s.Dir, e.Name())))
	}
	return errors.Join(errs...)
}

// Leftovers counts clear-text files anywhere in staging, for status warnings.
func (s Area) Leftovers() (files int, bytes int64) {
	_ = filepath.WalkDir(s.Dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				files++
				bytes += info.Size()
			}
		}
		return nil
	})
	return files, bytes
}

// Dirs resolves the state and staging directories from configuration.
func Dirs(stateDir, stagingDir string) (string, string) {
	if stagingDir == "" {
		stagingDir = layout.DefaultStagingDir(stateDir)
	}
	return stateDir, stagingDir
}
