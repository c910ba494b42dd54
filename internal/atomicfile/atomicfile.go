// Package atomicfile writes files crash-safely: a private temporary file
// beside the target, fsync, rename over the target, fsync of the directory.
// A crash at any point leaves the old file or the new one, never a torn one.
// The ledger, the manifest, the run state and seftsim's outputs all use it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Option changes one write; callers that need none pass none.
type Option func(*options)

type options struct{ atStep func(step string) }

// AtStep has f called at each step of the write ("created", "written",
// "synced", "renamed", "dir-synced"): the seam where a crash test kills the
// process. It is an option of the write, not a package variable, so a test
// hooks only the writes it means to.
func AtStep(f func(step string)) Option { return func(o *options) { o.atStep = f } }

// Write creates path with mode through write, crash-safely.
func Write(path string, mode os.FileMode, write func(*os.File) error, opts ...Option) error {
	o := options{atStep: func(string) {}}
	for _, opt := range opts {
		opt(&o)
	}
	at := o.atStep
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	at("created")
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	at("written")
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	at("synced")
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	at("renamed")
	if err := SyncDir(dir); err != nil {
		return err
	}
	at("dir-synced")
	return nil
}

// WriteFile is Write for bytes already in memory.
func WriteFile(path string, data []byte, mode os.FileMode, opts ...Option) error {
	return Write(path, mode, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	}, opts...)
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
