package testtool

import (
	"bytes"
	"sync"
)

// Buffer collects what many goroutines write (a logger, seftsim's log) and
// gives it back whole; a bytes.Buffer alone would race.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
