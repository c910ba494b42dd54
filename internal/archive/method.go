package archive

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/ulikunitz/xz/lzma"

	"github.com/isaric/seftbot/internal/usererr"
)

// Methods lists the compression methods, default first. Only methods that
// stock 7-Zip reads: the analysts must not need a fork.
var Methods = []string{"deflate", "lzma2", "copy"}

// DefaultDeflateLevel is klauspost/compress's level 3: on synthetic CSV it
// is both faster and smaller than its levels 4-6, within 7% of 7-Zip's own
// Deflate at over 5x the speed per core (see scripts/bench-archive.sh).
const DefaultDeflateLevel = 3

// codec makes one compressor per stream.
type codec struct {
	name  string
	id    []byte
	level int
}

func newCodec(method string, level int) (*codec, error) {
	if method == "" {
		method = "deflate"
	}
	bad := func(lo, hi int) error {
		return usererr.New(fmt.Errorf("compression level %d is out of range for %s", level, method),
			fmt.Sprintf("use a level from %d to %d, or 0 for the default", lo, hi))
	}
	switch method {
	case "deflate":
		if level < 0 || level > 9 {
			return nil, bad(1, 9)
		}
		if level == 0 {
			level = DefaultDeflateLevel
		}
		return &codec{name: method, id: methodDeflate, level: level}, nil
	case "lzma2":
		if level < 0 || level > 9 {
			return nil, bad(1, 9)
		}
		if level == 0 {
			level = 5
		}
		return &codec{name: method, id: methodLZMA2, level: level}, nil
	case "copy":
		if level != 0 {
			return nil, bad(0, 0)
		}
		return &codec{name: method, id: methodCopy}, nil
	}
	return nil, usererr.New(fmt.Errorf("unknown compression method %q", method), "use deflate, lzma2 or copy")
}

// lzma2Dict maps a level to a dictionary size, capped by the input size so
// small files do not allocate a large window.
func (c *codec) lzma2Dict(sizeHint int64) int {
	d := 1 << 20 << min(c.level, 6) // 2 MiB at 1 … 64 MiB at 6+
	d = min(d, 16<<20)              // 7-Zip -mx=5 uses 16 MiB
	for d > lzma.MinDictCap && int64(d/2) >= sizeHint {
		d /= 2
	}
	return d
}

// newWriter returns the compressor writing into w and its coder properties.
// Close finishes the stream (an LZMA2 end marker, a final Deflate block) but
// does not close w.
func (c *codec) newWriter(w io.Writer, sizeHint int64) (io.WriteCloser, []byte, error) {
	switch c.name {
	case "deflate":
		fw, err := flate.NewWriter(w, c.level)
		return fw, nil, err
	case "lzma2":
		dict := c.lzma2Dict(sizeHint)
		cfg := lzma.Writer2Config{DictCap: dict}
		if c.level >= 7 {
			cfg.Matcher = lzma.BinaryTree
		}
		lw, err := cfg.NewWriter2(w)
		return lw, []byte{lzma2DictProp(dict)}, err
	default:
		return nopWriteCloser{w}, nil, nil
	}
}

// lzma2DictProp encodes a dictionary size as LZMA2's one-byte property: the
// smallest p with (2|p&1) << (p/2+11) ≥ size.
func lzma2DictProp(size int) byte {
	for p := byte(0); p < 40; p++ {
		if (2|int64(p&1))<<(p/2+11) >= int64(size) {
			return p
		}
	}
	return 40
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
