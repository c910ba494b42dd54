package staging

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/layout"
)

func TestManifestRoundTrip(t *testing.T) {
	dir, staging := t.TempDir(), t.TempDir()
	m, err := OpenManifest(dir, staging)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a.csv", "dup.csv", "dup-2.csv"} {
		ord := 0
		if i == 2 {
			name, ord = "dup.csv", 1
		}
		local := name
		if i == 2 {
			local = "dup-2.csv"
		}
		if err := os.WriteFile(filepath.Join(staging, local), make([]byte, 10+i), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := m.Add(File{Name: name, LocalName: local, Size: int64(10 + i)}, ord); err != nil {
			t.Fatal(err)
		}
	}
	m2, err := OpenManifest(dir, staging)
	if err != nil {
		t.Fatal(err)
	}
	if !m2.Has("dup.csv", 1, 12) || m2.Has("dup.csv", 1, 99) || m2.Has("dup.csv", 2, -1) || !m2.Has("a.csv", 0, -1) {
		t.Error("manifest lookups wrong after reload")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".manifest*")); len(left) > 0 {
		t.Errorf("temp files left: %v", left)
	}
}

// TestManifestHasOnlyDeliveredOrStaged: a file fetched before counts as had
// only while it waits in this staging or once the nightly job has recorded
// its delivery, so a download elsewhere never hides it from the nightly job.
func TestManifestHasOnlyDeliveredOrStaged(t *testing.T) {
	state, staging, elsewhere := t.TempDir(), t.TempDir(), t.TempDir()
	m, err := OpenManifest(state, elsewhere)
	if err != nil {
		t.Fatal(err)
	}
	f := File{Name: "a.csv", LocalName: "a.csv", Size: 3, SHA256: "aa"}
	if err := os.WriteFile(filepath.Join(elsewhere, "a.csv"), []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(f, 0); err != nil {
		t.Fatal(err)
	}
	if !m.Has("a.csv", 0, 3) {
		t.Error("a file waiting in the run's own staging is not had")
	}
	nightly, err := OpenManifest(state, staging)
	if err != nil {
		t.Fatal(err)
	}
	if nightly.Has("a.csv", 0, 3) {
		t.Fatal("a file downloaded into another directory hides it from the nightly staging")
	}
	// The file moved on into the nightly job's batch: still had.
	if err := os.MkdirAll(filepath.Join(staging, ".batch"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staging, ".batch", "a.csv"), []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !nightly.Has("a.csv", 0, 3) {
		t.Error("a file in the batch being archived is not had")
	}
	os.Remove(filepath.Join(staging, ".batch", "a.csv"))
	if err := MarkDelivered(state, []File{f}, "isaric-x.7z", time.Now()); err != nil {
		t.Fatal(err)
	}
	nightly, _ = OpenManifest(state, staging)
	if !nightly.Has("a.csv", 0, 3) {
		t.Error("a delivered file is fetched again")
	}
	// Fetched again (--all) with the same content: still delivered. With
	// other content: new data, not delivered.
	if err := nightly.Add(File{Name: "a.csv", LocalName: "a.csv", Size: 3, SHA256: "aa"}, 0); err != nil {
		t.Fatal(err)
	}
	files, _ := LoadManifest(state)
	if len(files) != 1 || files[0].Delivered != "isaric-x.7z" {
		t.Errorf("re-fetching the same content forgot its delivery: %+v", files)
	}
	if err := nightly.Add(File{Name: "a.csv", LocalName: "a.csv", Size: 3, SHA256: "bb"}, 0); err != nil {
		t.Fatal(err)
	}
	if files, _ := LoadManifest(state); len(files) != 1 || files[0].Delivered != "" {
		t.Errorf("changed content counts as delivered: %+v", files)
	}
}

// TestManifestVersion1ReadAsDelivered: entries written before delivery was
// recorded are not fetched and sent a second time after an upgrade.
func TestManifestVersion1ReadAsDelivered(t *testing.T) {
	state := t.TempDir()
	doc := `{"version":1,"files":[{"name":"a.csv","local_name":"a.csv","size":3,"sha256":"aa"}]}`
	if err := os.WriteFile(layout.State{Dir: state}.Manifest(), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := OpenManifest(state, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !m.Has("a.csv", 0, 3) {
		t.Error("a version 1 entry is fetched again")
	}
}

// TestManifestDamagedIsIntegrity: a manifest that cannot be parsed is an
// integrity failure, not a bug and not a portal failure.
func TestManifestDamagedIsIntegrity(t *testing.T) {
	state := t.TempDir()
	if err := os.WriteFile(layout.State{Dir: state}.Manifest(), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenManifest(state, "")
	if !errors.Is(err, layout.ErrIntegrity) {
		t.Errorf("damaged manifest: %v, want layout.ErrIntegrity", err)
	}
}

func TestCommitFileRefusesShort(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, "guid")
	os.WriteFile(tmp, []byte("12345"), 0o644)
	if _, _, err := Commit(tmp, dir, "x.csv", 10); err == nil {
		t.Fatal("a short file was committed")
	}
	if _, err := os.Stat(filepath.Join(dir, "x.csv")); err == nil {
		t.Fatal("a short file reached staging")
	}
	n, sum, err := Commit(tmp, dir, "x.csv", 5)
	if err != nil || n != 5 || sum != "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5" {
		t.Fatalf("commit: %d %s %v", n, sum, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "x.csv")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
}
