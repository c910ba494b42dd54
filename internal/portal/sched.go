package portal

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/isaric/seftbot/internal/retry"
)

// chunk is a few entries of one listing page, fetched by one tab after one
// page load (the page's one-time tokens belong to the tab that loaded it).
type chunk struct {
	entries   []*entry
	notBefore time.Time
}

// sched hands chunks to workers and knows when everything is settled: the
// queue is empty and nothing is being clicked or downloaded, so no retry can
// still appear.
type sched struct {
	mu     sync.Mutex
	queue  []*chunk
	busy   int
	policy retry.Policy // per entry: its attempts, and the pause before each
	failed []*entry
	log    *slog.Logger
	wake   chan struct{} // closed (and replaced) when the queue or busy changes
}

func newSched(policy retry.Policy, log *slog.Logger) *sched {
	return &sched{policy: policy, log: log, wake: make(chan struct{})}
}

// changed wakes every worker waiting in next; s.mu is held.
func (s *sched) changed() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// addPage queues one page's entries, split so that every tab can take a
// share of the page (a page load serves several clicks either way). With
// keep, the first share is returned instead of queued, counted as busy (the
// caller calls finish), for the tab that has the page open to click.
func (s *sched) addPage(todo []*entry, tabs int, keep bool) *chunk {
	if len(todo) == 0 {
		return nil
	}
	size := max((len(todo)+tabs-1)/tabs, 4)
	s.mu.Lock()
	defer s.mu.Unlock()
	var mine *chunk
	for len(todo) > 0 {
		n := min(size, len(todo))
		c := &chunk{entries: todo[:n:n]}
		todo = todo[n:]
		if keep && mine == nil {
			mine = c
			s.busy++
			continue
		}
		s.queue = append(s.queue, c)
	}
	s.changed()
	return mine
}

func (s *sched) add(c *chunk) {
	s.mu.Lock()
	s.queue = append(s.queue, c)
	s.changed()
	s.mu.Unlock()
}

// retry schedules e again after a backoff, or gives up on it.
func (s *sched) retry(e *entry, why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.attempts++
	e.lastErr = why
	s.log.Warn("file not fetched yet, will retry", "file", e.local, "attempt", e.attempts, "of", s.policy.Attempts, "err", why)
	if e.attempts >= s.policy.Attempts {
		s.failed = append(s.failed, e)
		return
	}
	s.queue = append(s.queue, &chunk{entries: []*entry{e}, notBefore: time.Now().Add(s.policy.Pause(e.attempts))})
	s.changed()
}

// begin and finish bracket work that may still call retry.
func (s *sched) begin() {
	s.mu.Lock()
	s.busy++
	s.mu.Unlock()
}

func (s *sched) finish() {
	s.mu.Lock()
	s.busy--
	s.changed()
	s.mu.Unlock()
}

// next returns the next chunk that is due (counting it as busy), or nil
// when all work is settled or ctx ends. It waits for a change to the
// schedule (or the next due retry), not on a polling interval.
func (s *sched) next(ctx context.Context) *chunk {
	for {
		s.mu.Lock()
		wait := time.Second // a safety net only; changes wake it at once
		wake := s.wake
		now := time.Now()
		for i, c := range s.queue {
			if !c.notBefore.After(now) {
				s.queue = append(s.queue[:i], s.queue[i+1:]...)
				s.busy++
				s.mu.Unlock()
				return c
			}
			wait = min(wait, c.notBefore.Sub(now))
		}
		settled := len(s.queue) == 0 && s.busy == 0
		s.mu.Unlock()
		if settled {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
		t.Stop()
	}
}
