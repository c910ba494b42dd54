package cohort

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/isaric/seftbot/internal/usererr"
)

// Bounds on the operator's input. A cohort row is a few hundred bytes; these
// keep a wrong file (a disk image, /dev/zero, a 200 MB name pasted by
// mistake) from filling memory or reaching NHS England.
const (
	// MaxFieldBytes bounds every field: no column of the MPS request file
	// comes near it, an e-mail address included (RFC 5321 caps it at 254).
	MaxFieldBytes = 255
	// maxLineBytes bounds one physical line, checked as the bytes arrive,
	// before the CSV reader has to hold the line.
	maxLineBytes = 64 << 10
)

// What parsing keeps of an input, bounded so that memory stays far below
// 300 MB whatever arrives (a valid-looking 256 MiB input would otherwise be
// held whole, and more): maxRows identifiers, and maxKeptBytes in all,
// counting rowBytes a row plus its other values, and keyBytes each NHS
// number's duplicate-check key.
const (
	maxRows  = 2_000_000
	rowBytes = 32
	keyBytes = 8
)

// maxKeptBytes is a variable so a test can lower it.
var maxKeptBytes int64 = 96 << 20

// tooManyRows stops a parse that would keep more than its bounds allow.
func tooManyRows(line int) error {
	return usererr.Errorf("a cohort is at most "+fmt.Sprint(maxRows)+" identifiers and "+size(maxKeptBytes)+" of values once read; check that this is the cohort file, or give fewer columns",
		fmt.Sprintf("line %d: the input holds more rows than seftbot keeps in memory", line))
}

// maxInputBytes bounds the whole input: a million full 24-column rows fit
// with room to spare. A variable so a test can lower it.
var maxInputBytes int64 = 256 << 20

// boundedReader counts lines and bytes as they are read and fails as soon as
// a line or the whole input passes its bound.
type boundedReader struct {
	r       io.Reader
	name    string
	total   int64
	line    int // 1-based number of the line being read
	lineLen int
	err     error
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	b.total += int64(n)
	if b.total > maxInputBytes {
		b.err = usererr.Errorf("a cohort file is at most "+size(maxInputBytes)+"; check that "+b.name+" is the cohort file",
			fmt.Sprintf("input is larger than %s", size(maxInputBytes)))
		return 0, b.err
	}
	for rest := p[:n]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			b.lineLen += len(rest)
			break
		}
		b.lineLen += i
		if b.lineLen > maxLineBytes {
			break
		}
		b.line++
		b.lineLen = 0
		rest = rest[i+1:]
	}
	if b.lineLen > maxLineBytes {
		b.err = usererr.Errorf("a cohort row is a few hundred bytes; check that "+b.name+" is the cohort file (CSV, TSV or one NHS number a line)",
			fmt.Sprintf("line %d is longer than %s", b.line+1, size(maxLineBytes)))
		return 0, b.err
	}
	return n, err
}

func size(n int64) string {
	switch {
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ctxReader returns ctx's error as soon as ctx is done, even while a read of
// standard input is blocked: SIGINT or SIGTERM must stop a plan whose input
// never ends. The blocked read is abandoned; the process is about to exit.
type ctxReader struct {
	ctx  context.Context
	r    io.Reader
	res  chan readResult
	buf  []byte
	busy bool
}

type readResult struct {
	n   int
	err error
}

func newCtxReader(ctx context.Context, r io.Reader) *ctxReader {
	return &ctxReader{ctx: ctx, r: r, res: make(chan readResult, 1)}
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if !c.busy {
		if cap(c.buf) < len(p) {
			c.buf = make([]byte, len(p))
		}
		buf := c.buf[:len(p)]
		c.busy = true
		go func() {
			n, err := c.r.Read(buf)
			c.res <- readResult{n, err}
		}()
	}
	select {
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	case r := <-c.res:
		c.busy = false
		return copy(p, c.buf[:r.n]), r.err
	}
}

// input is how every planning verb reads the operator's file: bounded, and
// stopped by ctx.
func input(ctx context.Context, r io.Reader, name string) io.Reader {
	return &boundedReader{r: newCtxReader(ctx, r), name: name}
}
