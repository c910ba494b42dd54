package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/isaric/seftbot/internal/safeio"
)

func newState(t *testing.T) State {
	t.Helper()
	st, err := Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// allocated is the bytes f allocates, to show a read does not hold a file.
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestRecordErrorIsCapped: a run that failed with 10 MiB of error text adds
// a few KiB to runs.jsonl, and says the text was cut.
func TestRecordErrorIsCapped(t *testing.T) {
	st := newState(t)
	big := strings.Repeat("line 7: not an NHS number\n", 400_000)
	if err := st.AppendRecord(Record{Verb: "cohort add", ExitCode: 2, RunID: "r1", Outcome: "failed", Error: big,
		FileNames: []string{strings.Repeat("f", 200)}}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(st.runsPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 8<<10 {
		t.Fatalf("runs.jsonl is %d bytes after one failed run, want at most 8 KiB", fi.Size())
	}
	recs, err := st.Records(10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %v, %v", recs, err)
	}
	if e := recs[0].Error; len(e) > MaxErrorBytes || !strings.Contains(e, fmt.Sprintf("cut; %d bytes in all", len(big))) {
		t.Fatalf("error text of %d bytes, want at most %d and a note that it was cut", len(e), MaxErrorBytes)
	}
}

// TestManyFileNamesAreCapped: the record stays under MaxRecordBytes however
// many files a run names; the count stays whole.
func TestManyFileNamesAreCapped(t *testing.T) {
	st := newState(t)
	names := make([]string, 5000)
	for i := range names {
		names[i] = fmt.Sprintf("%0200d", i)
	}
	if err := st.AppendRecord(Record{Verb: "fetch", RunID: "r1", Outcome: "ok", Files: len(names), FileNames: names}); err != nil {
		t.Fatal(err)
	}
	recs, err := st.Records(1)
	if err != nil || len(recs) != 1 || recs[0].Files != 5000 || len(recs[0].FileNames) == 0 || len(recs[0].FileNames) >= 5000 {
		t.Fatalf("records %d, err %v", len(recs), err)
	}
}

func writeLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		if _, err := f.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func recordLine(t *testing.T, id string) string {
	b, err := json.Marshal(Record{Verb: "fetch", RunID: id, Outcome: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOversizedRecordIsSkippedUnread: a 16 MiB line already on disk (a
// record from before the cap) is skipped without being held in memory, and
// the records either side of it are read.
func TestOversizedRecordIsSkippedUnread(t *testing.T) {
	st := newState(t)
	huge := `{"verb":"cohort add","run_id":"huge","error":"` + strings.Repeat("x", 16<<20) + `"}`
	writeLines(t, st.runsPath(), recordLine(t, "before"), huge, recordLine(t, "after"))
	var recs []Record
	var err error
	n := allocated(func() { recs, err = st.Records(10) })
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].RunID != "before" || recs[1].RunID != "after" {
		t.Fatalf("records %+v, want before and after", recs)
	}
	if n > 2<<20 {
		t.Errorf("reading the records allocated %d bytes: the oversized line was held", n)
	}
}

// TestOversizedRecordWarnedOnce: a run reads its records more than once
// (status reads them, then the check of its own record): the oversized
// line is warned of once, not once per reading.
func TestOversizedRecordWarnedOnce(t *testing.T) {
	st := newState(t)
	huge := `{"verb":"cohort add","run_id":"huge","error":"` + strings.Repeat("x", 2*MaxRecordBytes) + `"}`
	writeLines(t, st.runsPath(), recordLine(t, "before"), huge)
	var logs strings.Builder
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(old)
	for range 3 {
		if _, err := st.Records(10); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "too large to read"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

// TestRecordsReadsOnlyTheTail: the cost of reading the last records does
// not grow with the file.
func TestRecordsReadsOnlyTheTail(t *testing.T) {
	st := newState(t)
	lines := make([]string, 100_000)
	for i := range lines {
		lines[i] = recordLine(t, fmt.Sprintf("r%d", i))
	}
	writeLines(t, st.runsPath(), lines...)
	var recs []Record
	var err error
	n := allocated(func() { recs, err = st.Records(10) })
	if err != nil || len(recs) != 10 || recs[9].RunID != "r99999" || recs[0].RunID != "r99990" {
		t.Fatalf("records %+v, err %v", recs, err)
	}
	if n > 1<<20 {
		t.Errorf("reading 10 records of a %d-record file allocated %d bytes", len(lines), n)
	}
	if recs, _ := st.Records(1 << 30); len(recs) != MaxRecords || recs[MaxRecords-1].RunID != "r99999" {
		t.Errorf("Records(huge) gave %d records, want the last %d", len(recs), MaxRecords)
	}
}

// TestRunsRotate: past its bound runs.jsonl moves to runs.jsonl.1, so the
// two files together stay under twice the bound, and the last records are
// still read across both, in order.
func TestRunsRotate(t *testing.T) {
	defer func(n int64) { maxRunsBytes = n }(maxRunsBytes)
	maxRunsBytes = 4 << 10
	st := newState(t)
	for i := range 300 {
		if err := st.AppendRecord(Record{Verb: "fetch", RunID: fmt.Sprintf("r%03d", i), Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{st.runsPath(), st.runsPath() + ".1"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > maxRunsBytes {
			t.Errorf("%s is %d bytes, past the bound of %d", p, fi.Size(), maxRunsBytes)
		}
	}
	recs, err := st.Records(MaxRecords)
	if err != nil {
		t.Fatal(err)
	}
	perFile := int(maxRunsBytes) / (len(recordLine(t, "r000")) + 1)
	if len(recs) < perFile || recs[len(recs)-1].RunID != "r299" {
		t.Fatalf("%d records, last %v", len(recs), recs[len(recs)-1].RunID)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].RunID <= recs[i-1].RunID {
			t.Fatalf("records out of order at %d: %s after %s", i, recs[i].RunID, recs[i-1].RunID)
		}
	}
	if ok, err := st.Recorded("r299"); !ok || err != nil {
		t.Errorf("Recorded(newest) = %v, %v", ok, err)
	}
}

// TestRunLogMustBeRegular: a FIFO as runs.jsonl is refused at once, not
// waited on, by the reader and by the writer.
func TestRunLogMustBeRegular(t *testing.T) {
	st := newState(t)
	if err := syscall.Mkfifo(st.runsPath(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Records(10); !errors.Is(err, safeio.ErrNotRegular) || !strings.Contains(err.Error(), st.runsPath()) {
		t.Errorf("Records: %v, want the path refused as not a regular file", err)
	}
	if err := st.AppendRecord(Record{Verb: "fetch"}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("AppendRecord: %v, want it refused", err)
	}
}

// TestBatchMustBeRegularAndBounded: /dev/zero as batch.json is refused
// naming the file, without reading gigabytes.
func TestBatchMustBeRegularAndBounded(t *testing.T) {
	st := newState(t)
	if err := os.Symlink("/dev/zero", st.batchPath()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoadBatch(); !errors.Is(err, safeio.ErrNotRegular) || !strings.Contains(err.Error(), st.batchPath()) {
		t.Fatalf("LoadBatch of /dev/zero: %v", err)
	}
	os.Remove(st.batchPath())
	f, err := os.Create(st.batchPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxBatchBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := st.LoadBatch(); !errors.Is(err, safeio.ErrTooLarge) || !strings.Contains(err.Error(), "16 MiB") {
		t.Fatalf("LoadBatch of a sparse 16 MiB file: %v", err)
	}
}
