package archive

import (
	"encoding/binary"
	"hash/crc32"
	"time"
	"unicode/utf16"
)

// Property IDs from 7-Zip's DOC/7zFormat.txt. Only the ones the writer emits.
const (
	idEnd            = 0x00
	idHeader         = 0x01
	idMainStreams    = 0x04
	idFilesInfo      = 0x05
	idPackInfo       = 0x06
	idUnpackInfo     = 0x07
	idSubStreamsInfo = 0x08
	idSize           = 0x09
	idCRC            = 0x0A
	idFolder         = 0x0B
	idCodersUnpack   = 0x0C
	idEmptyStream    = 0x0E
	idEmptyFile      = 0x0F
	idName           = 0x11
	idMTime          = 0x14
	idWinAttributes  = 0x15
	idEncodedHeader  = 0x17
)

// signature opens every 7z file; version 0.4 is what 7-Zip writes.
var signature = [...]byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C, 0, 4}

const signatureHeaderSize = 32

// Method IDs of the coders the writer uses.
var (
	methodAES     = []byte{0x06, 0xF1, 0x07, 0x01}
	methodCopy    = []byte{0x00}
	methodDeflate = []byte{0x04, 0x01, 0x08}
	methodLZMA2   = []byte{0x21}
)

// Windows attribute bits; 7-Zip on Unix adds the mode in the high 16 bits.
const (
	attrDirectory     = 0x10
	attrArchive       = 0x20
	attrUnixExtension = 0x8000
)

// folder is one encrypted, compressed stream: always two coders, AES first
// in the list (as 7-Zip writes it) and bound to the compressor's input, so
// decoding runs packed → AES → decompressor → file.
type folder struct {
	method     []byte
	props      []byte // compressor properties, may be nil
	aesProps   []byte
	packSize   uint64 // bytes in the archive (ciphertext, padded to 16)
	codedSize  uint64 // compressor output = AES output before padding
	unpackSize uint64 // the file's size
	crc        uint32 // CRC32 of the unpacked data
}

// entry is one item of FilesInfo.
type entry struct {
	name    string // '/'-separated, relative to the input directory
	dir     bool
	empty   bool // no stream: a directory or an empty file
	mtime   time.Time
	mode    uint32 // Unix st_mode (type and permission bits)
	srcSize int64  // size when walked
}

// enc is a tiny append-only encoder for 7z header structures.
type enc struct{ b []byte }

func (e *enc) byte(v byte)    { e.b = append(e.b, v) }
func (e *enc) bytes(v []byte) { e.b = append(e.b, v...) }

// number writes 7-Zip's variable-length UINT64: the count of leading one
// bits in the first byte says how many little-endian bytes follow.
func (e *enc) number(v uint64) {
	first, mask := byte(0), byte(0x80)
	i := 0
	for ; i < 8; i++ {
		if v < uint64(1)<<(7*(i+1)) {
			first |= byte(v >> (8 * i))
			break
		}
		first |= mask
		mask >>= 1
	}
	e.byte(first)
	for ; i > 0; i-- {
		e.byte(byte(v))
		v >>= 8
	}
}

func (e *enc) uint32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *enc) uint64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }

// bits writes a bit vector, most significant bit first.
func (e *enc) bits(v []bool) {
	var cur byte
	for i, b := range v {
		if b {
			cur |= 0x80 >> (i % 8)
		}
		if i%8 == 7 {
			e.byte(cur)
			cur = 0
		}
	}
	if len(v)%8 != 0 {
		e.byte(cur)
	}
}

// property writes id, the size of body, then body, as FilesInfo requires.
func (e *enc) property(id byte, body []byte) {
	e.byte(id)
	e.number(uint64(len(body)))
	e.bytes(body)
}

func (e *enc) coder(id, props []byte) {
	flags := byte(len(id))
	if len(props) > 0 {
		flags |= 0x20
	}
	e.byte(flags)
	e.bytes(id)
	if len(props) > 0 {
		e.number(uint64(len(props)))
		e.bytes(props)
	}
}

// folder writes the coder chain: coder 0 AES, coder 1 the compressor,
// bind pair (in 1 ← out 0); the single packed stream is implicit.
func (e *enc) folder(f *folder) {
	e.number(2)
	e.coder(methodAES, f.aesProps)
	e.coder(f.method, f.props)
	e.number(1)
	e.number(0)
}

// streamsInfo writes PackInfo and UnpackInfo for folders stored from packPos.
// withFolderCRC puts the CRCs in UnpackInfo (used for the encoded header);
// otherwise they go to SubStreamsInfo, one stream per folder, like 7-Zip.
func (e *enc) streamsInfo(packPos uint64, folders []*folder, withFolderCRC bool) {
	e.byte(idPackInfo)
	e.number(packPos)
	e.number(uint64(len(folders)))
	e.byte(idSize)
	for _, f := range folders {
		e.number(f.packSize)
	}
	e.byte(idEnd)

	e.byte(idUnpackInfo)
	e.byte(idFolder)
	e.number(uint64(len(folders)))
	e.byte(0) // not external
	for _, f := range folders {
		e.folder(f)
	}
	e.byte(idCodersUnpack)
	for _, f := range folders {
		e.number(f.codedSize)
		e.number(f.unpackSize)
	}
	if withFolderCRC {
		e.crcs(folders)
	}
	e.byte(idEnd)

	if !withFolderCRC {
		e.byte(idSubStreamsInfo)
		e.crcs(folders)
		e.byte(idEnd)
	}
	e.byte(idEnd)
}

func (e *enc) crcs(folders []*folder) {
	e.byte(idCRC)
	e.byte(1) // all defined
	for _, f := range folders {
		e.uint32(f.crc)
	}
}

// encodeHeader returns the plain header: streams, then names, times and
// attributes. It is never written as is; see encodedHeader.
func encodeHeader(entries []*entry, folders []*folder) []byte {
	e := &enc{}
	e.byte(idHeader)
	if len(folders) > 0 {
		e.byte(idMainStreams)
		e.streamsInfo(0, folders, false)
	}
	if len(entries) > 0 {
		e.filesInfo(entries)
	}
	e.byte(idEnd)
	return e.b
}

func (e *enc) filesInfo(entries []*entry) {
	e.byte(idFilesInfo)
	e.number(uint64(len(entries)))

	var emptyStream, emptyFile []bool
	anyEmpty, anyEmptyFile := false, false
	for _, it := range entries {
		emptyStream = append(emptyStream, it.empty)
		if it.empty {
			anyEmpty = true
			emptyFile = append(emptyFile, !it.dir)
			anyEmptyFile = anyEmptyFile || !it.dir
		}
	}
	if anyEmpty {
		b := &enc{}
		b.bits(emptyStream)
		e.property(idEmptyStream, b.b)
	}
	if anyEmptyFile {
		b := &enc{}
		b.bits(emptyFile)
		e.property(idEmptyFile, b.b)
	}

	names := &enc{}
	names.byte(0) // not external
	for _, it := range entries {
		for _, u := range utf16.Encode([]rune(it.name)) {
			names.b = binary.LittleEndian.AppendUint16(names.b, u)
		}
		names.b = append(names.b, 0, 0)
	}
	e.property(idName, names.b)

	times := &enc{}
	times.byte(1) // all defined
	times.byte(0) // not external
	for _, it := range entries {
		times.uint64(filetime(it.mtime))
	}
	e.property(idMTime, times.b)

	attrs := &enc{}
	attrs.byte(1)
	attrs.byte(0)
	for _, it := range entries {
		a := uint32(attrArchive)
		if it.dir {
			a = attrDirectory
		}
		attrs.uint32(a | attrUnixExtension | it.mode<<16)
	}
	e.property(idWinAttributes, attrs.b)
	e.byte(idEnd)
}

// encodedHeaderInfo is what the start header points to when the real header
// is itself compressed and encrypted (7z -mhe=on): only the location and
// coders of the header's folder, nothing that names a file.
func encodedHeaderInfo(packPos uint64, hdr *folder) []byte {
	e := &enc{}
	e.byte(idEncodedHeader)
	e.streamsInfo(packPos, []*folder{hdr}, true)
	return e.b
}

// startHeader builds the 32-byte signature header.
func startHeader(nextOffset uint64, next []byte) []byte {
	b := make([]byte, signatureHeaderSize)
	copy(b, signature[:])
	binary.LittleEndian.PutUint64(b[12:], nextOffset)
	binary.LittleEndian.PutUint64(b[20:], uint64(len(next)))
	binary.LittleEndian.PutUint32(b[28:], crc32.ChecksumIEEE(next))
	binary.LittleEndian.PutUint32(b[8:], crc32.ChecksumIEEE(b[12:32]))
	return b
}

// filetime converts to Windows FILETIME: 100 ns ticks since 1601-01-01 UTC.
func filetime(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	const epochDiff = 116444736000000000 // 1601 → 1970 in 100 ns ticks
	return uint64(t.UnixNano()/100 + epochDiff)
}
