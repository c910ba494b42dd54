package metrics

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/notify"
)

func TestWriteSnapshot(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 2, 30, 0, 0, time.UTC)
	s := Snapshot{
		Records: []job.Record{
			{Verb: "fetch", ExitCode: 0, Outcome: "ok", Started: t0, Finished: t0.Add(40 * time.Second),
				Files: 5, Bytes: 5000, RemotePath: "/isaric-x.7z",
				Stages: []notify.StageTime{{Name: "download", Duration: 3 * time.Second}, {Name: "archive", Duration: 2 * time.Second}}},
			{Verb: "cohort submit", ExitCode: 0, Outcome: "ok", Started: t0.Add(time.Hour), Finished: t0.Add(time.Hour + 5*time.Second)},
			{Verb: "fetch", ExitCode: 5, Outcome: "failed", Stage: "download", Started: t0.Add(24 * time.Hour), Finished: t0.Add(24*time.Hour + 7*time.Second),
				Stages: nil},
			// Another run held the lock: it did nothing and says nothing.
			{Verb: "fetch", ExitCode: 4, Outcome: "skipped", Started: t0.Add(25 * time.Hour), Finished: t0.Add(25 * time.Hour)},
		},
		FetchStale:     true,
		CohortRejected: 1,
		CohortKnown:    true,
		CohortPending:  2,
		CohortSteps:    map[string]int{"pending": 2, "awaiting confirmation": 1},
		Latched:        map[string]bool{"download": true, "upload": false},
		StagingFiles:   3,
		StagingBytes:   12345,
		Unfinished:     &job.Batch{Started: t0.Add(-time.Hour)},
	}
	path := filepath.Join(t.TempDir(), "metrics.prom")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, s); err != nil {
		t.Fatal(err)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatalf("the file does not parse as Prometheus text: %v", err)
	}
	ts := func(d time.Duration) float64 { return float64(t0.Add(d).Unix()) }
	for k, want := range map[string]float64{
		`seftbot_last_run_timestamp_seconds{verb="fetch"}`:                 ts(24*time.Hour + 7*time.Second),
		`seftbot_last_run_exit_code{verb="fetch"}`:                         5,
		`seftbot_last_success_timestamp_seconds{verb="fetch"}`:             ts(40 * time.Second),
		`seftbot_last_run_exit_code{verb="cohort submit"}`:                 0,
		`seftbot_last_success_timestamp_seconds{verb="cohort submit"}`:     ts(time.Hour + 5*time.Second),
		`seftbot_run_duration_seconds{stage="total",verb="fetch"}`:         7,
		`seftbot_run_duration_seconds{stage="total",verb="cohort submit"}`: 5,
		`seftbot_files_delivered`:                                          0, // the last fetch failed
		`seftbot_bytes_delivered`:                                          0,
		`seftbot_cohort_pending_steps`:                                     2,
		`seftbot_cohort_steps{state="awaiting confirmation"}`:              1,
		`seftbot_login_latched{site="download"}`:                           1,
		`seftbot_login_latched{site="upload"}`:                             0,
		`seftbot_staging_cleartext_bytes`:                                  12345,
		`seftbot_staging_cleartext_files`:                                  3,
		`seftbot_unfinished_run_start_timestamp_seconds`:                   ts(-time.Hour),
		`seftbot_fetch_stale`:                                              1,
		`seftbot_cohort_rejected_unacknowledged`:                           1,
	} {
		v, ok := got[k]
		if !ok {
			t.Errorf("%s missing", k)
		} else if v != want {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
	// A verb that never succeeded has no success timestamp rather than 0,
	// which an alert would read as "failing since 1970".
	s.Records = s.Records[2:]
	if err := Write(path, s); err != nil {
		t.Fatal(err)
	}
	got, _ = Read(path)
	if _, ok := got[`seftbot_last_success_timestamp_seconds{verb="fetch"}`]; ok {
		t.Error("success timestamp for a verb that never succeeded")
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %04o, want 0644 so node_exporter can read it", st.Mode().Perm())
	}
}

// TestDeliveredAndDurations: a good last fetch reports what it delivered
// and every stage's time.
func TestDeliveredAndDurations(t *testing.T) {
	t0 := time.Now().UTC()
	s := Snapshot{Records: []job.Record{{Verb: "fetch", Outcome: "ok", Started: t0, Finished: t0.Add(9 * time.Second),
		Files: 5, Bytes: 5000, RemotePath: "/isaric-x.7z",
		Stages: []notify.StageTime{{Name: "download", Duration: 1500 * time.Millisecond}}}}}
	path := filepath.Join(t.TempDir(), "m.prom")
	if err := Write(path, s); err != nil {
		t.Fatal(err)
	}
	got, _ := Read(path)
	for k, want := range map[string]float64{
		`seftbot_files_delivered`: 5, `seftbot_bytes_delivered`: 5000,
		`seftbot_run_duration_seconds{stage="download",verb="fetch"}`: 1.5,
		`seftbot_staging_cleartext_bytes`:                             0,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if _, ok := got[`seftbot_cohort_pending_steps`]; ok {
		t.Error("cohort gauge without a ledger")
	}
}

// TestWriteFailureKeepsOld: a write that cannot complete leaves the old file.
func TestWriteFailureKeepsOld(t *testing.T) {
	err := Write(filepath.Join(t.TempDir(), "missing-dir", "m.prom"), Snapshot{})
	if err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}
