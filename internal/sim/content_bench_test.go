package sim

import (
	"io"
	"testing"
)

func BenchmarkContent(b *testing.B) {
	f := &File{Size: 1_000_000, seed: fileSeed(1, 1, "content")}
	b.SetBytes(f.Size)
	for b.Loop() {
		f.writeContent(io.Discard, f.Size)
	}
}
