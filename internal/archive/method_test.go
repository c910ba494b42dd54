package archive

import "testing"

// TestLZMA2DictProp checks the property byte against the decoder's formula
// (Lzma2Dec.c: (2 | (p & 1)) << (p / 2 + 11)): the smallest window that
// holds the encoder's dictionary.
func TestLZMA2DictProp(t *testing.T) {
	window := func(p byte) int64 { return int64(2|p&1) << (p/2 + 11) }
	for _, size := range []int{4096, 4097, 6144, 6145, 1 << 20, 3 << 20, 16 << 20, 16<<20 + 1, 1 << 30} {
		p := lzma2DictProp(size)
		if window(p) < int64(size) || (p > 0 && window(p-1) >= int64(size)) {
			t.Errorf("size %d: prop %d (window %d)", size, p, window(p))
		}
	}
	c := &codec{name: "lzma2", level: 5}
	if d := c.lzma2Dict(100); d != 4096 {
		t.Errorf("dictionary for a 100-byte file: %d, want the 4 KiB minimum", d)
	}
	if d := c.lzma2Dict(1 << 40); d != 16<<20 {
		t.Errorf("dictionary for a huge file: %d, want 16 MiB", d)
	}
}
