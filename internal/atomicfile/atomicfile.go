// Package atomicfile writes files crash-safely: a private temporary file
// beside the target, fsync, rename over the target, fsync of the directory.
// A crash at any point leaves the old file or the new one, never a torn one.
// The ledger, the manifest, the run state and seftsim's outputs all use it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Hook is called at each step of a write ("created", "written", "synced",
// "renamed", "dir-synced"); crash tests kill the process there.
var Hook = func(step string) {}

// Write creates path with mode through write, crash-safely.
func Write(path string, mode os.FileMode, write func(*os.File) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	Hook("created")
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	Hook("written")
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	Hook("synced")
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	Hook("renamed")
	if err := SyncDir(dir); err != nil {
		return err
	}
	Hook("dir-synced")
	return nil
}

// WriteFile is Write for bytes already in memory.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	return Write(path, mode, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// SyncDir makes a rename or removal in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
