package staging

import (
	"os"
	"path/filepath"
	"testing"
)

func TestStagingMustBePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "stg")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("staging mode %o", fi.Mode().Perm())
	}
	os.WriteFile(filepath.Join(s.Batch(), "f.csv"), []byte("abc"), 0o600)
	if n, b := s.Leftovers(); n != 1 || b != 3 {
		t.Errorf("Leftovers = %d, %d", n, b)
	}
	if err := s.Wipe(); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Leftovers(); n != 0 {
		t.Errorf("%d files after Wipe", n)
	}
	// Our own staging left open to others is closed again (layout's one
	// rule: tighten what we own, refuse what we do not).
	os.Chmod(dir, 0o755)
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("our staging left %o", fi.Mode().Perm())
	}
	link := filepath.Join(t.TempDir(), "link")
	os.Symlink(dir, link)
	if _, err := Open(link); err == nil {
		t.Error("a symlinked staging area was accepted")
	}
}
