package metrics

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/job"
)

// TestUnavailableGauge: the files the last fetch found marked unavailable
// on the portal are a gauge; a fetch with none sets it to 0.
func TestUnavailableGauge(t *testing.T) {
	t0 := time.Now().UTC()
	for _, c := range []struct {
		unavailable []string
		want        float64
	}{{[]string{`"a.csv"`, `"b.csv"`}, 2}, {nil, 0}} {
		s := Snapshot{Records: []job.Record{{Verb: "fetch", Outcome: "ok", Started: t0, Finished: t0.Add(time.Second),
			Unavailable: c.unavailable}}}
		path := filepath.Join(t.TempDir(), "m.prom")
		if err := Write(path, s); err != nil {
			t.Fatal(err)
		}
		got, _ := Read(path)
		if v, ok := got[`seftbot_files_unavailable`]; !ok || v != c.want {
			t.Errorf("seftbot_files_unavailable = %v (present %v), want %v", v, ok, c.want)
		}
	}
}
