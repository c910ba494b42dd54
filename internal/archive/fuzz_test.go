package archive

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bodgit/sevenzip"
)

// fuzzSealer derives one key for the whole fuzz run; bodgit caches its key
// per (passphrase, salt) too, so each input costs no KDF.
var fuzzSealer = sync.OnceValues(func() (*sealer, error) { return newSealer(testPass) })

// sparseArchive is an archive whose packed data is all zeros except the
// regions written: huge sizes cost no memory.
type sparseArchive struct {
	size  int64
	parts []sparsePart
}

type sparsePart struct {
	off int64
	b   []byte
}

func (s *sparseArchive) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := s.size - off; int64(n) > rest {
		n = int(rest)
	}
	clear(p[:n])
	for _, part := range s.parts {
		lo, hi := max(off, part.off), min(off+int64(n), part.off+int64(len(part.b)))
		if lo < hi {
			copy(p[lo-off:hi-off], part.b[lo-part.off:hi-part.off])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// FuzzHeader encodes entries made from the input through the real header
// path (encodeHeader, then writeHeader's encryption and encoded-header
// record) and checks that bodgit/sevenzip lists the same names, kinds,
// sizes, CRCs and times.
func FuzzHeader(f *testing.F) {
	f.Add("a.csv", uint64(5), []byte{0})
	f.Add("dir\nfile\nempty", uint64(5<<30), []byte{1, 0, 2})
	f.Add("naïve/résumé ✓ 😀.csv\nx", uint64(1<<40+3), []byte{0, 2})
	f.Add("", uint64(0), []byte{})
	f.Fuzz(func(t *testing.T, names string, seed uint64, kinds []byte) {
		seal, err := fuzzSealer()
		if err != nil {
			t.Fatal(err)
		}
		var entries []*entry
		var folders []*folder
		var packPos uint64
		x := seed | 1
		for i, n := range strings.Split(names, "\n") {
			if n == "" || len(entries) == 500 {
				continue
			}
			n = strings.ToValidUTF8(strings.ReplaceAll(n, "\x00", "_"), "?")
			if len(n) > 1000 {
				n = n[:1000]
				n = strings.ToValidUTF8(n, "?")
			}
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			kind := byte(0)
			if i < len(kinds) {
				kind = kinds[i] % 3
			}
			e := &entry{name: n, dir: kind == 1, empty: kind != 0,
				mtime: time.Unix(0, int64(x%(1<<62))).Truncate(100 * time.Nanosecond), mode: uint32(x>>40) & 0o777}
			e.mode |= 0o100000
			if e.dir {
				e.mode = e.mode&0o777 | 0o040000
			}
			entries = append(entries, e)
			if !e.empty {
				size := seed>>(x%64) + 1
				fo := &folder{method: methodCopy, aesProps: seal.props(make([]byte, 16)),
					unpackSize: size, codedSize: size, packSize: (size + 15) &^ 15, crc: uint32(x)}
				folders = append(folders, fo)
				packPos += fo.packSize
			}
		}
		if packPos > 1<<50 {
			t.Skip("archive larger than a pebibyte")
		}
		var tail bytes.Buffer
		sh, err := writeHeader(&tail, seal, packPos, entries, folders)
		if err != nil {
			t.Fatal(err)
		}
		ra := &sparseArchive{
			size:  int64(signatureHeaderSize + packPos + uint64(tail.Len())),
			parts: []sparsePart{{0, sh}, {int64(signatureHeaderSize + packPos), tail.Bytes()}},
		}
		r, err := sevenzip.NewReaderWithPassword(ra, ra.size, testPass)
		if err != nil {
			t.Fatalf("bodgit cannot read the header of %d entries: %v", len(entries), err)
		}
		if len(r.File) != len(entries) {
			t.Fatalf("bodgit lists %d entries, want %d", len(r.File), len(entries))
		}
		k := 0
		for i, got := range r.File {
			e := entries[i]
			name := e.name
			if e.dir && !strings.HasSuffix(name, "/") {
				name += "/"
			}
			var size uint64
			var crc uint32
			if !e.empty {
				size, crc = folders[k].unpackSize, folders[k].crc
				k++
			}
			if got.Name != name || got.UncompressedSize != size || got.CRC32 != crc ||
				got.FileInfo().IsDir() != e.dir || !got.Modified.Equal(e.mtime) || uint32(got.Mode().Perm()) != e.mode&0o777 {
				t.Errorf("entry %d: got %q size %d crc %08x dir %v mtime %v mode %v; want %q size %d crc %08x dir %v mtime %v mode %o",
					i, got.Name, got.UncompressedSize, got.CRC32, got.FileInfo().IsDir(), got.Modified, got.Mode(),
					name, size, crc, e.dir, e.mtime, e.mode)
			}
		}
	})
}
