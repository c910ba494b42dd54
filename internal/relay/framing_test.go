package relay

import (
	"bytes"
	"encoding/binary"
	"testing"
)

type recorder struct{ writes [][]byte }

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, append([]byte(nil), p...))
	return len(p), nil
}
func (r *recorder) Close() error { return nil }

func packet(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// TestFramedWriter: a header written apart from its payload goes out with
// it in one write; whole packets and big writes pass straight through; the
// byte stream is unchanged.
func TestFramedWriter(t *testing.T) {
	rec := &recorder{}
	f := &framedWriter{w: rec}
	data := bytes.Repeat([]byte{7}, 70_000)
	whole := packet([]byte{3, 0, 0, 0, 9}) // e.g. a CLOSE: header only
	write := packet(append([]byte{6, 0, 0, 0, 1, 'h'}, data...))
	var want []byte
	for _, w := range [][]byte{whole, write[:10], write[10:], whole, write[:10], write[10:]} {
		if n, err := f.Write(w); n != len(w) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		want = append(want, w...)
	}
	if len(rec.writes) != 4 {
		t.Fatalf("%d writes, want 4 (two whole packets, two joined)", len(rec.writes))
	}
	if !bytes.Equal(rec.writes[1], write) || !bytes.Equal(bytes.Join(rec.writes, nil), want) {
		t.Fatal("the stream changed")
	}
}
