package job

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/usererr"
)

// Staging is the private area where clear-text downloads wait to be archived.
// The portal writes complete files into its top level (and keeps partial
// ones in a dot-directory there), exactly as `seftbot download` does, so a
// manual download is picked up by the next fetch. Batch is where the files of
// one run are moved before they are archived, so a download never mixes into
// an archive in progress.
type Staging struct{ Dir string }

func (s Staging) Incoming() string { return s.Dir }
func (s Staging) Batch() string    { return filepath.Join(s.Dir, ".batch") }

// OpenStaging creates the staging area (0700) or checks an existing one is
// private and ours: clear-text patient data must not sit where others can
// read it or where another user planted a directory.
func OpenStaging(dir string) (Staging, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Staging{}, fmt.Errorf("staging: %w", err)
	}
	if err := checkPrivateDir(dir); err != nil {
		return Staging{}, err
	}
	s := Staging{Dir: dir}
	if err := os.MkdirAll(s.Batch(), 0o700); err != nil {
		return Staging{}, fmt.Errorf("staging: %w", err)
	}
	return s, nil
}

// checkPrivateDir refuses a directory that is a symlink, not ours, or open to others.
func checkPrivateDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return usererr.Errorf("point the setting at a directory of its own", dir+" is not a directory")
	}
	if st.Mode().Perm()&0o077 != 0 {
		return usererr.New(fmt.Errorf("%s is accessible by other users (mode %04o)", dir, st.Mode().Perm()),
			"run: chmod 700 "+dir)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return usererr.New(fmt.Errorf("%s belongs to uid %d, not to us (uid %d)", dir, sys.Uid, os.Getuid()),
			"use a directory created by the user seftbot runs as")
	}
	return nil
}

// Files lists the regular files directly in dir, skipping dot-entries (the
// portal's partial downloads live in a dot-directory).
func listFiles(dir string) ([]string, error) {
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
func (s Staging) Wipe() error {
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
func (s Staging) Leftovers() (files int, bytes int64) {
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
		stagingDir = portal.DefaultStagingDir(stateDir)
	}
	return stateDir, stagingDir
}
