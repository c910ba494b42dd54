package job

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestLockIsExclusiveAndReleasedByDeath(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := st.Lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Lock(); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	unlock()
	unlock2, err := st.Lock()
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()

	// A process that holds the lock and is killed -9 must not leave it held.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldLock$")
	cmd.Env = append(os.Environ(), "SEFTBOT_TEST_HOLD_LOCK="+st.Dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked" {
		t.Fatalf("helper: %q %v", buf, err)
	}
	if _, err := st.Lock(); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock held by another process: %v, want ErrLocked", err)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	u, err := st.Lock()
	if err != nil {
		t.Fatalf("lock still held after the holder was killed: %v", err)
	}
	u()
}

// TestHoldLock is the helper process of the test above.
func TestHoldLock(t *testing.T) {
	dir := os.Getenv("SEFTBOT_TEST_HOLD_LOCK")
	if dir == "" {
		t.Skip("helper process only")
	}
	if _, err := (State{Dir: dir}).Lock(); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("locked")
	time.Sleep(time.Minute)
}

func TestBatchRoundTripAndRecords(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := st.LoadBatch(); err != nil || b != nil {
		t.Fatalf("empty state: %v %v", b, err)
	}
	b := &Batch{RunID: "r1", Done: []string{StageDownload, StageCollect}, Files: []File{{Name: "a", LocalName: "a", Size: 3, SHA256: "x"}}}
	if err := st.SaveBatch(b); err != nil {
		t.Fatal(err)
	}
	got, err := st.LoadBatch()
	if err != nil || got.RunID != "r1" || !got.done(StageCollect) || got.done(StageArchive) || len(got.Files) != 1 {
		t.Fatalf("LoadBatch = %+v, %v", got, err)
	}
	if fi, _ := os.Stat(st.batchPath()); fi.Mode().Perm() != 0o600 {
		t.Errorf("batch mode %o", fi.Mode().Perm())
	}
	if err := st.ClearBatch(); err != nil {
		t.Fatal(err)
	}
	if b, _ := st.LoadBatch(); b != nil {
		t.Fatal("batch survived ClearBatch")
	}

	for i, id := range []string{"a", "b", "c"} {
		if err := st.AppendRecord(Record{RunID: id, Files: i}); err != nil {
			t.Fatal(err)
		}
	}
	// A crash mid-append leaves a torn line; it is skipped, not fatal.
	f, _ := os.OpenFile(st.runsPath(), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"run_id":"torn","fi`)
	f.Close()
	recs, err := st.Records(2)
	if err != nil || len(recs) != 2 || recs[0].RunID != "b" || recs[1].RunID != "c" {
		t.Fatalf("Records(2) = %+v, %v", recs, err)
	}
}

func TestCorruptBatchIsAUserError(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(st.batchPath(), []byte("{not json"), 0o600)
	if _, err := st.LoadBatch(); err == nil {
		t.Fatal("corrupt batch accepted")
	}
}
