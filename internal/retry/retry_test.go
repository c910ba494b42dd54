package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errFlaky = errors.New("flaky")

func TestPauseDoublesToMax(t *testing.T) {
	p := Policy{First: 250 * time.Millisecond, Max: 8 * time.Second}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := p.Pause(i + 1); got != w {
			t.Errorf("Pause(%d) = %s, want %s", i+1, got, w)
		}
	}
	p.Jitter = 0.5
	for n := 1; n < 8; n++ {
		full := Policy{First: p.First, Max: p.Max}.Pause(n)
		for range 50 {
			if got := p.Pause(n); got < full/2 || got > full {
				t.Fatalf("jittered Pause(%d) = %s, want within [%s, %s]", n, got, full/2, full)
			}
		}
	}
}

func TestDoBoundsAttempts(t *testing.T) {
	calls, retries := 0, 0
	p := Policy{Attempts: 3, First: time.Millisecond}
	err := p.Do(context.Background(), func(int) error { calls++; return errFlaky },
		func(int, error, time.Duration) { retries++ })
	if !errors.Is(err, errFlaky) || calls != 3 || retries != 2 {
		t.Fatalf("err %v, %d calls, %d retries; want errFlaky after 3 calls, 2 retries", err, calls, retries)
	}
}

func TestDoStopsOnWhatIsNotRetryable(t *testing.T) {
	final := errors.New("refused")
	calls := 0
	p := Policy{Attempts: 5, First: time.Millisecond, Retryable: func(err error) bool { return errors.Is(err, errFlaky) }}
	if err := p.Do(context.Background(), func(int) error { calls++; return final }, nil); err != final || calls != 1 {
		t.Fatalf("err %v after %d calls; want the refusal after 1", err, calls)
	}
	calls = 0
	err := Policy{Attempts: 5, First: time.Millisecond}.Do(context.Background(), func(int) error { calls++; return Stop(errFlaky) }, nil)
	if err != errFlaky || calls != 1 {
		t.Fatalf("Stop: err %v after %d calls; want errFlaky itself after 1", err, calls)
	}
	calls = 0
	err = Policy{Attempts: 5, First: time.Millisecond}.Do(context.Background(), func(n int) error {
		calls++
		if n < 3 {
			return errFlaky
		}
		return nil
	}, nil)
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls; want success on the third", err, calls)
	}
}

func TestDoWindow(t *testing.T) {
	calls := 0
	p := Policy{Window: 50 * time.Millisecond, First: 20 * time.Millisecond, Max: 20 * time.Millisecond}
	err := p.Do(context.Background(), func(int) error { calls++; return errFlaky }, nil)
	// Pauses of 20ms fit twice in 50ms (0+20, 20+20; 40+20 does not).
	if !errors.Is(err, errFlaky) || calls < 2 || calls > 3 {
		t.Fatalf("err %v after %d calls; want errFlaky after 2-3 calls within the window", err, calls)
	}
}

func TestDoEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := Policy{Attempts: 100, First: time.Hour}
	err := p.Do(ctx, func(int) error { return errFlaky }, func(int, error, time.Duration) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}
