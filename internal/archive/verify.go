package archive

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/bodgit/sevenzip"
	"github.com/klauspost/compress/flate"
)

// bodgit/sevenzip's own Deflate glue feeds klauspost's decoder one byte at a
// time through its AES reader, which made verification three times slower
// than writing. This registers the same decoder behind a bufio.Reader for
// the Deflate method ID; archive parsing, AES (key derivation included) and
// CRCs stay bodgit's. It applies to every bodgit reader in the process.
func init() {
	sevenzip.RegisterDecompressor(methodDeflate, func(_ []byte, _ uint64, rs []io.ReadCloser) (io.ReadCloser, error) {
		if len(rs) != 1 {
			return nil, errors.New("deflate: need exactly one input stream")
		}
		return &inflater{r: flate.NewReader(bufio.NewReaderSize(rs[0], 64<<10)), in: rs[0]}, nil
	})
}

type inflater struct {
	r  io.ReadCloser
	in io.Closer
}

func (d *inflater) Read(p []byte) (int, error) { return d.r.Read(p) }
func (d *inflater) Close() error               { return errors.Join(d.r.Close(), d.in.Close()) }

// Verify re-opens with bodgit/sevenzip, streams every entry, compares sha256
// with want (name → hex sha256, names as stored, '/'-separated), checks the
// SHA256SUMS entry lists exactly want, checks a
// wrong passphrase fails and that names cannot be listed without one.
// Directories are not in want; every other entry must be, and vice versa.
// Every failure wraps ErrVerify.
func Verify(ctx context.Context, path, passphrase string, want map[string]string) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrVerify, path, fmt.Sprintf(format, a...))
	}
	if passphrase == "" {
		return fail("no passphrase")
	}
	if err := checkHeaderEncrypted(path); err != nil {
		return fail("%v", err)
	}

	r, err := sevenzip.OpenReaderWithPassword(path, passphrase)
	if err != nil {
		return fail("cannot open with the passphrase: %v", err)
	}
	defer r.Close()

	var files []*sevenzip.File
	var sums *sevenzip.File
	seen := map[string]bool{}
	for _, f := range r.File {
		if f.FileInfo().IsDir() {
			continue
		}
		if f.Name == SumsName && sums == nil {
			sums = f
			continue
		}
		if _, ok := want[f.Name]; !ok {
			return fail("unexpected entry %q", f.Name)
		}
		if seen[f.Name] {
			return fail("duplicate entry %q", f.Name)
		}
		seen[f.Name] = true
		files = append(files, f)
	}
	if len(seen) != len(want) {
		var missing []string
		for n := range want {
			if !seen[n] {
				missing = append(missing, n)
			}
		}
		sort.Strings(missing)
		return fail("%d entries missing, first %q", len(missing), missing[0])
	}

	if sums == nil {
		return fail("no %s entry", SumsName)
	}
	if err := checkSumsEntry(sums, want); err != nil {
		return fail("%v", err)
	}

	// Entries are separate folders, so they decode in parallel.
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan *sevenzip.File)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for f := range next {
				if err := checkEntry(ctx, f, want[f.Name]); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, f := range files {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		next <- f
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if first != nil {
		return fail("%v", first)
	}

	for _, p := range []string{passphrase + "\x00wrong", ""} {
		if r2, err := sevenzip.OpenReaderWithPassword(path, p); err == nil {
			_ = r2.Close()
			what := "a wrong passphrase"
			if p == "" {
				what = "no passphrase"
			}
			return fail("opens with %s", what)
		}
	}
	return nil
}

func checkEntry(ctx context.Context, f *sevenzip.File, want string) error {
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("entry %q: %w", f.Name, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, rc})
	if err != nil {
		return fmt.Errorf("entry %q: %w", f.Name, err)
	}
	if uint64(n) != f.UncompressedSize {
		return fmt.Errorf("entry %q: read %d bytes, header says %d", f.Name, n, f.UncompressedSize)
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		return fmt.Errorf("entry %q: sha256 differs from the source", f.Name)
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// checkHeaderEncrypted proves from the bytes themselves that the archive
// keeps its header (the file names) encrypted: the start header must point to
// an encoded header whose only folder runs through 7zAES.
func checkHeaderEncrypted(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sh := make([]byte, signatureHeaderSize)
	if _, err := io.ReadFull(f, sh); err != nil {
		return fmt.Errorf("signature header: %w", err)
	}
	if !bytes.Equal(sh[:6], signature[:6]) || binary.LittleEndian.Uint32(sh[8:]) != crc32.ChecksumIEEE(sh[12:32]) {
		return errors.New("bad signature header")
	}
	off, size := binary.LittleEndian.Uint64(sh[12:]), binary.LittleEndian.Uint64(sh[20:])
	if size == 0 || size > 1<<20 {
		return fmt.Errorf("next header size %d is not that of an encoded header", size)
	}
	next := make([]byte, size)
	if _, err := f.ReadAt(next, int64(signatureHeaderSize+off)); err != nil {
		return fmt.Errorf("next header: %w", err)
	}
	if crc32.ChecksumIEEE(next) != binary.LittleEndian.Uint32(sh[28:]) {
		return errors.New("next header CRC mismatch")
	}
	if next[0] != idEncodedHeader {
		return errors.New("header is not encoded: file names would be readable without the passphrase")
	}
	if !bytes.Contains(next, append([]byte{byte(len(methodAES)) | 0x20}, methodAES...)) {
		return errors.New("encoded header is not encrypted with 7zAES")
	}
	return nil
}

// checkSumsEntry reads the archived checksum file (bodgit checks its CRC at
// the end) and compares what it lists with want.
func checkSumsEntry(f *sevenzip.File, want map[string]string) error {
	if f.UncompressedSize > 64<<20 {
		return fmt.Errorf("%s: %d bytes is not a checksum file", SumsName, f.UncompressedSize)
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", SumsName, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("%s: %w", SumsName, err)
	}
	return checkSums(data, want)
}
