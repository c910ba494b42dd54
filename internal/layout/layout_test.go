package layout

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/usererr"
)

// TestPrivateDirTightensOnlyOurs: our own directory open to others is made
// 0700; the rule never chmods another user's (TestPrivateDirOtherOwner).
func TestPrivateDirTightensOnlyOurs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(dir); err != nil {
		t.Fatalf("our 0777 directory: %v", err)
	}
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o700 {
		t.Errorf("mode %04o, want 0700", st.Mode().Perm())
	}
}

// TestPrivateDirNoSymlink: a symlink to a private directory is refused.
func TestPrivateDirNoSymlink(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(link); err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("symlink: %v", err)
	}
}

// TestPrivateDirCreates: a missing directory is made 0700, parents too.
func TestPrivateDirCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := PrivateDir(dir); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o700 {
		t.Errorf("made %04o, want 0700", st.Mode().Perm())
	}
	if err := PrivateDir(dir); err != nil {
		t.Errorf("second call on our own private dir: %v", err)
	}
}

// TestPrivateDirNotADirectory: a file where a directory should be.
func TestPrivateDirNotADirectory(t *testing.T) {
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, nil, 0o600)
	if err := PrivateDir(f); err == nil || !usererr.Is(err) {
		t.Fatalf("file: %v", err)
	}
}

// TestPrivateDirOtherOwner: as root, a directory of another user is refused
// and its mode left alone (the /dev/shm/seftbot-0 planted by someone else).
func TestPrivateDirOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		// Without root the test cannot make a directory owned by someone
		// else; the owner check is the same code as for secret files,
		// tested below with Owner.
		dir := "/"
		if err := checkDir(dir, mustLstat(t, dir)); err == nil {
			t.Fatal("/ (owned by root) accepted as our private directory")
		}
		return
	}
	dir := filepath.Join(t.TempDir(), "planted")
	os.Mkdir(dir, 0o777)
	os.Chmod(dir, 0o777)
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := PrivateDir(dir); err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
		t.Fatalf("planted dir: %v", err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o777 {
		t.Errorf("mode changed to %04o", st.Mode().Perm())
	}
}

func mustLstat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestCheckSecretFile: mode and owner both count.
func TestCheckSecretFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "env")
	os.WriteFile(f, []byte("X=1\n"), 0o600)
	if err := CheckSecretFile(f, mustLstat(t, f)); err != nil {
		t.Errorf("our 0600 file: %v", err)
	}
	os.Chmod(f, 0o640)
	if err := CheckSecretFile(f, mustLstat(t, f)); err == nil || !usererr.Is(err) {
		t.Errorf("0640: %v", err)
	}
	if os.Geteuid() == 0 {
		os.Chmod(f, 0o600)
		if err := os.Chown(f, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		err := CheckSecretFile(f, mustLstat(t, f))
		if err == nil || !strings.Contains(err.Error(), "belongs to uid 65534") {
			t.Errorf("a 0600 file of another user accepted by root: %v", err)
		}
		// The hint names the service's user, never root: chown 0 would
		// break the service, which runs as seftbot.
		h := usererr.Hint(err)
		if !strings.Contains(h, "sudo -u "+userName(65534)+" seftbot") || strings.Contains(h, "chown 0") {
			t.Errorf("hint for root: %q", h)
		}
	}
}

// TestSweep removes exactly the temporaries a killed run leaves.
func TestSweep(t *testing.T) {
	s := State{Dir: t.TempDir()}
	os.MkdirAll(s.Outbox(), 0o700)
	os.MkdirAll(s.Passphrases(), 0o700)
	leftovers := []string{
		filepath.Join(s.Dir, ".batch.json.tmp-123"),
		filepath.Join(s.Dir, ".manifest.json.tmp-9"),
		filepath.Join(s.Outbox(), ".20261203T010203Z-abc.7z.tmp-77"),
		filepath.Join(s.Passphrases(), ".passphrase-5"),
	}
	keep := []string{s.Batch(), s.Manifest(), filepath.Join(s.Outbox(), "20261203T010203Z-abc.7z"), s.Runs()}
	for _, p := range append(leftovers, keep...) {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := s.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != len(leftovers) {
		t.Errorf("removed %v, want %v", removed, leftovers)
	}
	for _, p := range leftovers {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left", p)
		}
	}
	for _, p := range keep {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

// TestCheckDir: the directory for a profile check's one file is new,
// private and under the state directory each time, and Sweep removes one a
// killed check left, with what it holds.
func TestCheckDir(t *testing.T) {
	s := State{Dir: filepath.Join(t.TempDir(), "state")}
	a, err := s.NewCheckDir()
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.NewCheckDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{a, b} {
		st, err := os.Lstat(d)
		if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 || filepath.Dir(d) != s.Dir {
			t.Fatalf("%s: %v %v, want a 0700 directory in %s", d, st.Mode(), err, s.Dir)
		}
	}
	if a == b {
		t.Fatalf("both checks got %s", a)
	}
	if err := os.WriteFile(filepath.Join(a, "left.csv"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err := s.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 {
		t.Errorf("removed %v, want both check directories", removed)
	}
	for _, d := range []string{a, b} {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left", d)
		}
	}
}

// TestRecordDir: a recording's download directory is private and in the
// state directory; Sweep leaves a live recording's alone (it holds its
// lock), removes one whose recorder died (no holder), and release removes
// the directory.
func TestRecordDir(t *testing.T) {
	s := State{Dir: filepath.Join(t.TempDir(), "state")}
	live, release, err := s.NewRecordDir()
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(live)
	if err != nil || !st.IsDir() || st.Mode().Perm() != 0o700 || filepath.Dir(live) != s.Dir {
		t.Fatalf("%s: %v %v, want a 0700 directory in %s", live, st.Mode(), err, s.Dir)
	}
	// A killed recorder's directory: nobody holds its lock.
	dead := filepath.Join(s.Dir, ".record-dead")
	if err := os.Mkdir(dead, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{".lock", "file.csv"} {
		if err := os.WriteFile(filepath.Join(dead, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := s.Sweep()
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != dead {
		t.Errorf("removed %v, want only %s", removed, dead)
	}
	if _, err := os.Lstat(live); err != nil {
		t.Errorf("a live recording's directory was swept: %v", err)
	}
	release()
	if _, err := os.Lstat(live); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left after release", live)
	}
}

// TestTryLock: the state lock is exclusive and ErrLocked names the
// contention.
func TestTryLock(t *testing.T) {
	s := State{Dir: t.TempDir()}
	unlock, err := s.TryLock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TryLock(); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	unlock()
	again, err := s.TryLock()
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	again()
}

// TestCohortNames pins the cohort store's names on disk: a rename here
// would strand an existing state directory's ledger and open steps.
func TestCohortNames(t *testing.T) {
	s := State{Dir: "/s"}
	c := Cohort{Dir: s.Cohort()}
	for _, tc := range [][2]string{
		{s.Cohort(), "/s/cohort"},
		{s.CohortLedger(), "/s/cohort/ledger.json"},
		{c.Ledger(), "/s/cohort/ledger.json"},
		{c.Steps(), "/s/cohort/steps"},
		{c.Step("S1"), "/s/cohort/steps/S1.csv"},
		{c.Outbox(), "/s/cohort/outbox"},
		{c.Upload("NIC-1"), "/s/cohort/outbox/NIC-1.csv"},
	} {
		if tc[0] != tc[1] {
			t.Errorf("got %s, want %s", tc[0], tc[1])
		}
	}
	if d := c.Dirs(); len(d) != 3 || d[0] != "/s/cohort" || d[1] != c.Steps() || d[2] != c.Outbox() {
		t.Errorf("Dirs = %v", d)
	}
}
