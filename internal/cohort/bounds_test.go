package cohort

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/usererr"
)

// endless is /dev/zero with a fuse: the test fails, rather than the machine
// running out of memory, when nothing bounds the read.
type endless struct {
	b    byte
	read int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.read > 64<<20 {
		return 0, errors.New("read 64 MiB of an endless input: nothing bounds it")
	}
	for i := range p {
		p[i] = e.b
	}
	e.read += int64(len(p))
	return len(p), nil
}

func TestFieldLength(t *testing.T) {
	long := strings.Repeat("x", MaxFieldBytes+1)
	in := fill("NHS_NO,FAMILY_NAME,GIVEN_NAME\n{A}," + long + ",y\n{B}," + long[1:] + ",y\n")
	_, ps, err := defaultTemplate(t).parse(strings.NewReader(in), today)
	if err != nil {
		t.Fatal(err)
	}
	want := "line 2, column FAMILY_NAME: is 256 bytes long; a field may be at most 255"
	if len(ps) != 1 || ps[0].String() != want {
		t.Fatalf("problems %v, want exactly %q", ps, want)
	}
}

func TestEndlessLineIsRefused(t *testing.T) {
	for _, b := range []byte{0, 'x', ','} {
		src := &endless{b: b}
		_, _, err := defaultTemplate(t).parse(src, today)
		if err == nil || !usererr.Is(err) {
			t.Fatalf("byte %q: err %v, want a user error", b, err)
		}
		if !strings.Contains(err.Error(), "line 1 is longer than 64 KiB") {
			t.Errorf("byte %q: %v does not name the line and the bound", b, err)
		}
		if src.read > 1<<20 {
			t.Errorf("byte %q: read %d bytes before refusing", b, src.read)
		}
	}
}

func TestLongLineLaterInTheFile(t *testing.T) {
	in := fill("NHS_NO,FAMILY_NAME\n{A},x\n{B},") + strings.Repeat("y", 70<<10) + "\n"
	_, _, err := defaultTemplate(t).parse(strings.NewReader(in), today)
	if err == nil || !strings.Contains(err.Error(), "line 3 is longer than 64 KiB") {
		t.Fatalf("err %v, want line 3 named", err)
	}
}

func TestInputSizeIsBounded(t *testing.T) {
	defer func(n int64) { maxInputBytes = n }(maxInputBytes)
	maxInputBytes = 1 << 20
	src := io.MultiReader(strings.NewReader(fill("{A}\n")), &endless{b: '\n'})
	_, _, err := defaultTemplate(t).parse(src, today)
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "input is larger than 1 MiB") {
		t.Fatalf("err %v, want the size bound named", err)
	}
}

// TestCancelledPlanSavesNothing: a signal that arrives while the input is
// read, or after it was read but before the ledger is written, leaves no
// step and no step file.
func TestCancelledPlanSavesNothing(t *testing.T) {
	h := newHarness(t, "2026-11-23T10:00:00Z")
	ctx, cancel := context.WithCancel(context.Background())
	// The input is complete, but the context is cancelled once it has all
	// been read: only a check before the ledger is written can refuse it.
	in := &cancelAtEOF{r: strings.NewReader(fill("{A}\n{B}\n")), cancel: cancel}
	_, err := h.store().Add(ctx, in, "a.txt")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Add after a signal: err %v, want context.Canceled", err)
	}
	s := h.store()
	if n := len(s.l.Steps); n != 0 {
		t.Errorf("%d steps saved after the signal", n)
	}
	if ents, _ := os.ReadDir(filepath.Dir(s.stepPath("S1"))); len(ents) != 0 {
		t.Errorf("step files left: %v", ents)
	}
	// And the same input, not interrupted, plans one step.
	res, err := h.store().Add(context.Background(), strings.NewReader(fill("{A}\n{B}\n")), "a.txt")
	if err != nil || len(res.Steps) != 1 {
		t.Fatalf("uninterrupted Add: %v, %v", res, err)
	}
}

type cancelAtEOF struct {
	r      io.Reader
	cancel func()
}

func (c *cancelAtEOF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.cancel()
	}
	return n, err
}
