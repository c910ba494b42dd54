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
	if ps.count() != 1 || ps.sorted()[0].String() != want {
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

// TestProblemsAreCapped: a file of nothing but bad lines reports the first
// MaxProblems by line and a count of the rest, in a few KiB, not one line of
// text per bad line.
func TestProblemsAreCapped(t *testing.T) {
	const bad = 200_000
	in := "NHS_NO\n" + strings.Repeat("x\n", bad)
	_, ps, err := defaultTemplate(t).parse(strings.NewReader(in), today)
	if err != nil {
		t.Fatal(err)
	}
	if ps.count() != bad {
		t.Fatalf("counted %d problems, want %d", ps.count(), bad)
	}
	pe := ps.error("bad.txt")
	if len(pe.Problems) != MaxProblems || pe.More != bad-MaxProblems {
		t.Fatalf("listed %d and %d more, want %d and %d", len(pe.Problems), pe.More, MaxProblems, bad-MaxProblems)
	}
	for i, p := range pe.Problems {
		if p.Line != i+2 {
			t.Fatalf("problem %d is on line %d, want line %d: the lowest lines first", i, p.Line, i+2)
		}
	}
	msg := pe.Error()
	if len(msg) > 8<<10 {
		t.Errorf("error text is %d bytes, want at most 8 KiB", len(msg))
	}
	if !strings.Contains(msg, "200000 problems found") || !strings.Contains(msg, "and 199900 more") {
		t.Errorf("error text does not give the count: %.300q", msg)
	}
}

// TestDuplicatesAreCapped: duplicates, found after the scan, still leave the
// lowest lines listed.
func TestDuplicatesAreCapped(t *testing.T) {
	in := fill("{A}\n" + strings.Repeat("{A}\n", 1000) + "x\n")
	_, ps, err := defaultTemplate(t).parse(strings.NewReader(in), today)
	if err != nil {
		t.Fatal(err)
	}
	l := ps.sorted()
	if ps.count() != 1001 || len(l) != MaxProblems || l[0].Line != 2 || l[MaxProblems-1].Line != MaxProblems+1 {
		t.Fatalf("count %d, listed %d, lines %d..%d", ps.count(), len(l), l[0].Line, l[len(l)-1].Line)
	}
}

// TestKeptRowsAreBounded: valid rows are refused as they pass the bound on
// what parsing keeps, naming the line, before the input's size bound.
func TestKeptRowsAreBounded(t *testing.T) {
	defer func(n int64) { maxKeptBytes = n }(maxKeptBytes)
	maxKeptBytes = 1 << 20
	var b strings.Builder
	b.WriteString("NHS_NO,FAMILY_NAME\n")
	for i := 0; b.Len() < 4<<20; i++ {
		b.WriteString(fill("{A},"))
		b.WriteString(strings.Repeat("n", 200))
		b.WriteString("\n")
	}
	_, _, err := defaultTemplate(t).parse(strings.NewReader(b.String()), today)
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "more rows than seftbot keeps in memory") {
		t.Fatalf("err %v, want the bound on kept rows", err)
	}
	// Each row keeps rowBytes+keyBytes+200 bytes: row 4370, on line 4371,
	// is the first past 1 MiB.
	if !strings.Contains(err.Error(), "line 4371:") {
		t.Errorf("err %v does not name line 4371", err)
	}
}
