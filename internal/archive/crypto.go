package archive

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"unicode/utf16"
)

// kdfCyclesPower is 7-Zip's NumCyclesPower: 2^19 SHA-256 rounds, what 7-Zip
// itself writes, so the cost of guessing matches what analysts expect.
const kdfCyclesPower = 19

const (
	saltSize = 16
	ivSize   = aes.BlockSize
)

// deriveKey is 7-Zip's 7zAES key derivation: one SHA-256 over
// 2^power repetitions of salt ‖ UTF-16LE(passphrase) ‖ counter (uint64 LE).
func deriveKey(passphrase string, salt []byte, power uint) [32]byte {
	u := utf16.Encode([]rune(passphrase))
	buf := make([]byte, len(salt)+2*len(u)+8)
	copy(buf, salt)
	for i, c := range u {
		binary.LittleEndian.PutUint16(buf[len(salt)+2*i:], c)
	}
	ctr := buf[len(buf)-8:]
	h := sha256.New()
	for i := uint64(0); i < 1<<power; i++ {
		binary.LittleEndian.PutUint64(ctr, i)
		h.Write(buf)
	}
	var key [32]byte
	h.Sum(key[:0])
	clear(buf)
	return key
}

// sealer holds one archive's AES key. The salt is random per archive and
// shared by all its folders, so the expensive derivation runs once; every
// stream still gets its own random IV.
type sealer struct {
	block cipher.Block
	salt  [saltSize]byte
}

func newSealer(passphrase string) (*sealer, error) {
	s := &sealer{}
	if _, err := rand.Read(s.salt[:]); err != nil {
		return nil, fmt.Errorf("random salt: %w", err)
	}
	key := deriveKey(passphrase, s.salt[:], kdfCyclesPower)
	block, err := aes.NewCipher(key[:])
	clear(key[:])
	if err != nil {
		return nil, err
	}
	s.block = block
	return s, nil
}

// props returns the 7zAES coder properties for iv: NumCyclesPower with the
// salt and IV flags, then the sizes minus one, then salt and IV.
func (s *sealer) props(iv []byte) []byte {
	p := []byte{kdfCyclesPower | 0xC0, byte(saltSize-1)<<4 | byte(ivSize-1)}
	p = append(p, s.salt[:]...)
	return append(p, iv...)
}

// chunkSize is the unit in which sealed data moves from a worker to the
// archive file; a multiple of the AES block.
const chunkSize = 256 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

func getChunk() *[]byte { return chunkPool.Get().(*[]byte) }

func putChunk(b *[]byte) {
	*b = (*b)[:0]
	chunkPool.Put(b)
}

// sealWriter encrypts with AES-256-CBC into pooled chunks and hands each full
// chunk to emit, which takes ownership. Close zero-pads the last block, as
// 7-Zip does; the reader knows the true length from the unpack size.
type sealWriter struct {
	cbc    cipher.BlockMode
	emit   func(*[]byte) error
	chunk  *[]byte
	in     uint64 // plaintext bytes: the AES coder's unpack size
	out    uint64 // ciphertext bytes: the packed size
	closed bool
}

func (s *sealer) newWriter(emit func(*[]byte) error) (*sealWriter, []byte, error) {
	iv := make([]byte, ivSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, nil, fmt.Errorf("random IV: %w", err)
	}
	return &sealWriter{cbc: cipher.NewCBCEncrypter(s.block, iv), emit: emit, chunk: getChunk()}, s.props(iv), nil
}

func (w *sealWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := *w.chunk
		k := min(len(p), cap(c)-len(c))
		c = append(c, p[:k]...)
		*w.chunk = c
		p, n = p[k:], n+k
		w.in += uint64(k)
		if len(c) == cap(c) {
			if err := w.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flush encrypts the whole chunk, which must be block aligned, and emits it.
func (w *sealWriter) flush() error {
	c := *w.chunk
	if len(c) == 0 {
		return nil
	}
	w.cbc.CryptBlocks(c, c)
	w.out += uint64(len(c))
	full := w.chunk
	w.chunk = getChunk()
	return w.emit(full)
}

func (w *sealWriter) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	c := *w.chunk
	if r := len(c) % aes.BlockSize; r != 0 {
		c = append(c, make([]byte, aes.BlockSize-r)...)
		*w.chunk = c
	}
	err := w.flush()
	putChunk(w.chunk)
	w.chunk = nil
	return err
}
