package portal

import (
	"context"
	"log/slog"
	"sync"
	"time"
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
	limit  int // attempts per entry
	failed []*entry
	log    *slog.Logger
}

func newSched(limit int, log *slog.Logger) *sched { return &sched{limit: limit, log: log} }

// addPage queues one page's entries, split so that every tab can take a
// share of the page (a page load serves several clicks either way).
func (s *sched) addPage(todo []*entry, tabs int) {
	if len(todo) == 0 {
		return
	}
	size := max((len(todo)+tabs-1)/tabs, 4)
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(todo) > 0 {
		n := min(size, len(todo))
		s.queue = append(s.queue, &chunk{entries: todo[:n:n]})
		todo = todo[n:]
	}
}

func (s *sched) add(c *chunk) {
	s.mu.Lock()
	s.queue = append(s.queue, c)
	s.mu.Unlock()
}

// retry schedules e again after a backoff, or gives up on it.
func (s *sched) retry(e *entry, why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.attempts++
	e.lastErr = why
	s.log.Warn("file not fetched yet, will retry", "file", e.local, "attempt", e.attempts, "of", s.limit, "err", why)
	if e.attempts >= s.limit {
		s.failed = append(s.failed, e)
		return
	}
	s.queue = append(s.queue, &chunk{entries: []*entry{e}, notBefore: time.Now().Add(backoff(e.attempts))})
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
	s.mu.Unlock()
}

// next returns the next chunk that is due (counting it as busy), or nil
// when all work is settled or ctx ends.
func (s *sched) next(ctx context.Context) *chunk {
	for {
		s.mu.Lock()
		wait := 50 * time.Millisecond
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
		if sleepCtx(ctx, wait) != nil {
			return nil
		}
	}
}
