package archive

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

// TestDeriveKeyDefinition checks deriveKey against the algorithm written out
// the slow, obvious way: hash the whole concatenated message at once.
func TestDeriveKeyDefinition(t *testing.T) {
	for _, pass := range []string{"", "a", "correct horse", "Ünïcödé ✓ 日本語"} {
		for _, salt := range [][]byte{nil, bytes.Repeat([]byte{0xA5}, 16)} {
			for power := uint(0); power <= 6; power++ {
				var msg []byte
				for i := uint64(0); i < 1<<power; i++ {
					msg = append(msg, salt...)
					for _, r := range pass {
						msg = binary.LittleEndian.AppendUint16(msg, uint16(r)) // BMP only here
					}
					msg = binary.LittleEndian.AppendUint64(msg, i)
				}
				want := sha256.Sum256(msg)
				if got := deriveKey(pass, salt, power); got != want {
					t.Errorf("deriveKey(%q, salt %d bytes, 2^%d) = %x, want %x", pass, len(salt), power, got, want)
				}
			}
		}
	}
}

// TestDecryptsReal7Zip is the known-answer test at full strength: real 7-Zip
// encrypts (header too, 2^19 rounds, its own IV), and our key derivation and
// AES must decrypt its header and data. With -m0=copy -mhc=off nothing is
// compressed, so the plaintext can be checked byte for byte.
func TestDecryptsReal7Zip(t *testing.T) {
	sevenZip(t)
	dir := t.TempDir()
	content := []byte(csvLike(9, 5000))
	const name = "kät.csv"
	if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err := run7z(t, dir, testPass, "a", "-p", "-mhe=on", "-mhc=off", "-m0=copy", "x.7z", name); err != nil {
		t.Fatalf("7z a: %v\n%s", err, o)
	}
	b, err := os.ReadFile(filepath.Join(dir, "x.7z"))
	if err != nil {
		t.Fatal(err)
	}
	p := &parser{b: b[signatureHeaderSize+binary.LittleEndian.Uint64(b[12:]):]}
	p.expect(idEncodedHeader, idPackInfo)
	packPos := p.number()
	p.expect(1, idSize)
	packSize := p.number()
	p.expect(idEnd, idUnpackInfo, idFolder, 1, 0)
	coders := p.number()
	var props []byte
	for range coders {
		flags := p.byte()
		id := p.take(int(flags & 0x0f))
		var pr []byte
		if flags&0x20 != 0 {
			pr = p.take(int(p.number()))
		}
		if bytes.Equal(id, methodAES) {
			props = pr
		} else {
			t.Fatalf("header folder has coder %x; this test needs 7-Zip's AES-only header", id)
		}
	}
	p.expect(idCodersUnpack)
	unpack := p.number()
	p.expect(idCRC, 1)
	wantCRC := binary.LittleEndian.Uint32(p.take(4))
	if p.err != nil {
		t.Fatalf("parse 7-Zip's encoded header: %v", p.err)
	}

	hdr := decrypt7zAES(t, props, b[signatureHeaderSize+packPos:][:packSize])[:unpack]
	if crc32.ChecksumIEEE(hdr) != wantCRC || hdr[0] != idHeader {
		t.Fatalf("decrypted header fails its CRC: key derivation or AES differs from 7-Zip's")
	}
	if !bytes.Contains(hdr, utf16le(name)) {
		t.Error("decrypted header does not contain the file name")
	}
	// The data folder's AES coder, as 7-Zip wrote it into the header.
	i := bytes.Index(hdr, append([]byte{0x24}, methodAES...))
	if i < 0 {
		t.Fatal("no AES coder in the decrypted header")
	}
	dp := &parser{b: hdr[i+5:]}
	dataProps := dp.take(int(dp.number()))
	data := decrypt7zAES(t, dataProps, b[signatureHeaderSize:][:(len(content)+15)&^15])
	if !bytes.Equal(data[:len(content)], content) {
		t.Error("decrypted data differs from the file 7-Zip archived")
	}
}

// decrypt7zAES decodes 7zAES properties with its own reading of the format
// and decrypts ct with deriveKey.
func decrypt7zAES(t *testing.T, props, ct []byte) []byte {
	t.Helper()
	if len(props) < 2 {
		t.Fatalf("AES props %x", props)
	}
	power := uint(props[0] & 0x3f)
	saltLen := int(props[0]>>7&1) + int(props[1]>>4)
	ivLen := int(props[0]>>6&1) + int(props[1]&0x0f)
	if power != 19 {
		t.Errorf("7-Zip used 2^%d rounds, want 2^19", power)
	}
	salt := props[2 : 2+saltLen]
	iv := make([]byte, 16)
	copy(iv, props[2+saltLen:2+saltLen+ivLen])
	key := deriveKey(testPass, salt, power)
	block, err := aes.NewCipher(key[:])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, ct)
	return out
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

// parser reads 7z header structures for the tests, independently of enc.
type parser struct {
	b   []byte
	err error
}

func (p *parser) byte() byte {
	if len(p.b) == 0 {
		p.fail("short")
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

func (p *parser) take(n int) []byte {
	if n > len(p.b) {
		p.fail("short")
		return make([]byte, n)
	}
	v := p.b[:n]
	p.b = p.b[n:]
	return v
}

// number reads 7-Zip's UINT64 encoding straight from DOC/7zFormat.txt.
func (p *parser) number() uint64 {
	first := p.byte()
	mask := byte(0x80)
	var v uint64
	for i := 0; i < 8; i++ {
		if first&mask == 0 {
			high := uint64(first & (mask - 1))
			return v | high<<(8*i)
		}
		v |= uint64(p.byte()) << (8 * i)
		mask >>= 1
	}
	return v
}

func (p *parser) expect(want ...byte) {
	for _, w := range want {
		if got := p.byte(); got != w && p.err == nil {
			p.fail("unexpected byte")
		}
	}
}

func (p *parser) fail(msg string) {
	if p.err == nil {
		p.err = &parseError{msg}
	}
}

type parseError struct{ msg string }

func (e *parseError) Error() string { return e.msg }

func TestNumberEncoding(t *testing.T) {
	for _, v := range []uint64{0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 1<<21 - 1, 1 << 21, 1<<32 - 1, 1 << 32, 5 << 30, 1<<56 - 1, 1 << 56, 1<<64 - 1} {
		e := &enc{}
		e.number(v)
		p := &parser{b: e.b}
		if got := p.number(); got != v || len(p.b) != 0 || p.err != nil {
			t.Errorf("number %d: encoded %x, decoded %d", v, e.b, got)
		}
	}
}

func TestGeneratePassphrase(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p, err := GeneratePassphrase()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("repeated passphrase %q", p)
		}
		seen[p] = true
		groups := strings.Split(p, "-")
		if len(groups) != passGroups {
			t.Fatalf("%q: %d groups", p, len(groups))
		}
		for _, g := range groups {
			if len(g) != passGroupLen || strings.Trim(g, passAlphabet) != "" {
				t.Fatalf("%q: bad group %q", p, g)
			}
		}
		if strings.ContainsAny(p, "0O1IL") {
			t.Fatalf("%q has a look-alike character", p)
		}
		if err := CheckPassphrase(p); err != nil {
			t.Fatalf("generated passphrase refused: %v", err)
		}
	}
	// Symbols are uniform (rejection sampling), so entropy is n·log2(|alphabet|).
	if bits := float64(passGroups*passGroupLen) * math.Log2(float64(len(passAlphabet))); bits < 128 {
		t.Errorf("entropy %.1f bits, want ≥ 128", bits)
	}
}

func TestCheckPassphrase(t *testing.T) {
	for p, want := range map[string]string{
		"short":                                 "fewer than 20",
		strings.Repeat("x", 19):                 "fewer than 20",
		strings.Repeat("x", 20):                 "",
		strings.Repeat("ü", 20):                 "", // 20 characters, 40 bytes
		strings.Repeat("x", 20) + "😀":           "outside the Basic Multilingual Plane",
		strings.Repeat("x", 20) + "\n":          "control character",
		strings.Repeat("x", 20) + "\xff":        "not valid UTF-8",
		"Tëst passphrase, long enough: ✓ ok ok": "",
	} {
		err := CheckPassphrase(p)
		switch {
		case want == "" && err != nil:
			t.Errorf("CheckPassphrase(%q) = %v", p, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("CheckPassphrase(%q) = %v, want %q", p, err, want)
		}
	}
}
