package job_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/sim"
)

func (w *world) fetchWith(o job.Options) (*job.Result, error) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return job.Fetch(ctx, o)
}

// TestRetryWindowOutlastsMaintenance: the portal is in maintenance when the
// run starts; the download stage is retried, with a log line per attempt,
// and the run delivers once the portal is back.
func TestRetryWindowOutlastsMaintenance(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 4, FileSize: 4 << 10, Faults: sim.Faults{Maintenance: true}})
	want := w.published()
	attempts := 0
	o := w.options()
	job.SetRetried(&o, func(n int) {
		attempts = n
		if n == 2 {
			w.sim.SetFaults(sim.Faults{}) // maintenance over
		}
	})
	o.RetryWindow, o.RetryFirst = time.Minute, 10*time.Millisecond
	if _, err := w.fetchWith(o); err != nil {
		t.Fatalf("fetch across a maintenance window: %v\n%s", err, w.log)
	}
	if attempts != 2 {
		t.Errorf("%d retries, want 2", attempts)
	}
	if n := strings.Count(w.log.String(), `"msg":"portal failure; retrying the download"`); n != 2 {
		t.Errorf("%d retry log lines, want 2", n)
	}
	sameFiles(t, w.checkDelivered(1), want)
}

// TestRetryWindowEnds: with no window left the run gives up at once with a
// portal failure (exit 6), saying so.
func TestRetryWindowEnds(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 1, FileSize: 1 << 10, Faults: sim.Faults{Maintenance: true}})
	o := w.options()
	job.SetRetried(&o, func(int) { t.Error("retried with no window") })
	o.RetryWindow = 0
	_, err := w.fetchWith(o)
	if !errors.Is(err, portal.ErrPortal) {
		t.Fatalf("maintenance, no window: %v, want ErrPortal", err)
	}
	if !strings.Contains(w.log.String(), "giving up") {
		t.Error("no log line says the run gave up")
	}
}

// TestRefusedLoginNeverRetried: a refused password is never tried again by
// the whole-run retry, however much window is left.
func TestRefusedLoginNeverRetried(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 1, FileSize: 1 << 10})
	o := w.options()
	job.SetRetried(&o, func(int) { t.Error("a refused login was retried") })
	o.Portal.Password = "not-the-password"
	o.RetryWindow, o.RetryFirst = time.Hour, time.Millisecond
	if _, err := w.fetchWith(o); !errors.Is(err, portal.ErrLoginRejected) {
		t.Fatalf("wrong password: %v, want ErrLoginRejected", err)
	}
}
