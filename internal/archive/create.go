package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/isaric/seftbot/internal/usererr"
)

// Options tune Create. The zero value is deflate at its default level on
// all cores, and no passphrase, which Create refuses.
type Options struct {
	Method      string // "deflate" (default), "lzma2", "copy"
	Level       int    // 0 = method default
	Passphrase  string
	Concurrency int           // 0 = runtime.GOMAXPROCS
	Progress    func(n int64) // bytes of input consumed; may be nil; called from several goroutines
	Log         *slog.Logger  // may be nil
	// Expect, if set, maps every file name (as stored, '/'-separated) to the
	// sha256 the caller took earlier; any difference from what Create read
	// fails with ErrVerify before the archive is installed.
	Expect map[string]string

	// sumsHook, set by a test, rewrites the checksum file before it is
	// archived, to prove the read-back catches a wrong one (a seam, not a
	// global).
	sumsHook func([]byte) []byte
}

// Result describes a verified archive.
type Result struct {
	Path       string
	Size       int64
	SHA256     string // of the archive file
	Files      int    // regular files archived, empty ones included
	InputBytes int64
}

// memoryBudget bounds the sealed data waiting in memory for its turn to be
// written, whatever the number and size of the files.
const memoryBudget = 24 << 20

// Create archives every regular file under inDir (recursively; symlinks are
// not followed out of inDir) into outPath: writes to a temp name in the same
// dir, fsyncs, verifies, renames into place; refuses an existing outPath
// unless force; on any failure or ctx cancel removes the temp file.
// Verification failure → error wrapping ErrVerify.
func Create(ctx context.Context, inDir, outPath string, force bool, opts Options) (*Result, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Passphrase == "" {
		return nil, usererr.Errorf("supply a passphrase or let seftbot generate one", "archive: no passphrase")
	}
	cd, err := newCodec(opts.Method, opts.Level)
	if err != nil {
		return nil, err
	}
	if err := checkOutside(inDir, outPath); err != nil {
		return nil, err
	}
	if !force {
		if _, err := os.Lstat(outPath); err == nil {
			return nil, usererr.New(fmt.Errorf("%s already exists", outPath), "choose another name, or pass --force to replace it")
		}
	}
	root, err := os.OpenRoot(inDir)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("input directory: %w", err), "check --in")
	}
	defer root.Close()
	entries, err := scan(root)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.name == SumsName {
			return nil, usererr.New(fmt.Errorf("input %s is named %s, which seftbot writes into every archive", filepath.Join(inDir, SumsName), SumsName),
				"rename or remove that file from the input directory")
		}
	}

	tmp, err := os.CreateTemp(filepath.Dir(outPath), "."+filepath.Base(outPath)+".tmp-*")
	if err != nil {
		return nil, usererr.New(fmt.Errorf("create archive: %w", err), "check that the output directory exists and is writable")
	}
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()

	start := time.Now()
	w := &writer{ctx: ctx, root: root, codec: cd, opts: opts, f: tmp}
	if w.workers = opts.Concurrency; w.workers <= 0 {
		w.workers = runtime.GOMAXPROCS(0)
	}
	if w.seal, err = newSealer(opts.Passphrase); err != nil {
		return nil, err
	}
	sums, err := w.write(&entries)
	if err != nil {
		return nil, err
	}
	if err := checkExpected(sums, opts.Expect); err != nil {
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		return nil, outErr("sync", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	log.Debug("archive written", "files", len(sums), "input_bytes", w.inBytes, "seconds", time.Since(start).Seconds())

	var (
		fileSum string
		sumErr  error
		wg      sync.WaitGroup
	)
	wg.Go(func() { fileSum, sumErr = sha256File(tmp.Name()) })
	verr := Verify(ctx, tmp.Name(), opts.Passphrase, sums)
	wg.Wait()
	if verr != nil {
		return nil, verr
	}
	if sumErr != nil {
		return nil, sumErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := install(tmp.Name(), outPath, force); err != nil {
		return nil, err
	}
	ok = true
	st, err := os.Stat(outPath)
	if err != nil {
		return nil, err
	}
	log.Debug("archive verified", "seconds", time.Since(start).Seconds())
	return &Result{Path: outPath, Size: st.Size(), SHA256: fileSum, Files: len(sums), InputBytes: w.inBytes}, nil
}

// checkOutside refuses an output inside the input directory: it would be
// archived by the next run.
func checkOutside(inDir, outPath string) error {
	in, err1 := filepath.Abs(inDir)
	out, err2 := filepath.Abs(outPath)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if rel, err := filepath.Rel(in, out); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return usererr.New(fmt.Errorf("output %s is inside the input directory %s", outPath, inDir), "write the archive elsewhere")
	}
	return nil
}

// install moves the verified temp file into place. Without force a hard
// link makes "refuse to overwrite" race-free.
func install(tmp, out string, force bool) error {
	if force {
		if err := os.Rename(tmp, out); err != nil {
			return fmt.Errorf("rename into place: %w", err)
		}
	} else {
		if err := os.Link(tmp, out); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return usererr.New(fmt.Errorf("%s already exists", out), "choose another name, or pass --force to replace it")
			}
			return fmt.Errorf("move into place: %w", err)
		}
		_ = os.Remove(tmp)
	}
	if d, err := os.Open(filepath.Dir(out)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// outErr names the file; a full disk or quota is the operator's to fix,
// not a bug.
func outErr(op, name string, err error) error {
	err = fmt.Errorf("%s %s: %w", op, name, err)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return usererr.New(err, "free space on the output disk and run again")
	}
	return err
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// scan lists inDir in lexical order: directories and regular files.
// os.Root refuses any path, symlinks included, that leads out of inDir.
func scan(root *os.Root) ([]*entry, error) {
	var out []*entry
	err := fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return usererr.New(fmt.Errorf("read input %s: %w", name, err), "check the input directory's permissions")
		}
		if name == "." {
			return nil
		}
		var info fs.FileInfo
		if d.Type()&fs.ModeSymlink != 0 {
			info, err = root.Stat(name)
			if err != nil {
				return usererr.New(fmt.Errorf("input %s is a symlink that cannot be followed: %w", name, err),
					"seftbot does not follow symlinks out of the input directory; copy the file in instead")
			}
			if info.IsDir() {
				return usererr.New(fmt.Errorf("input %s is a symlink to a directory", name), "symlinked directories are not followed; copy the files in instead")
			}
		} else if info, err = d.Info(); err != nil {
			return usererr.New(fmt.Errorf("read input %s: %w", name, err), "check the input directory's permissions")
		}
		it := &entry{name: name, dir: info.IsDir(), mtime: info.ModTime(), mode: unixMode(info.Mode())}
		switch {
		case it.dir:
			it.empty = true
		case info.Mode().IsRegular():
			it.srcSize = info.Size()
		default:
			return usererr.New(fmt.Errorf("input %s is not a regular file (%s)", name, info.Mode().Type()), "remove it from the input directory")
		}
		out = append(out, it)
		return nil
	})
	return out, err
}

// unixMode turns a Go FileMode into st_mode bits for 7-Zip's attributes.
func unixMode(m fs.FileMode) uint32 {
	v := uint32(m.Perm())
	if m.IsDir() {
		return v | 0o040000
	}
	return v | 0o100000
}

// writer streams the folders into the temp file. Files are compressed in
// parallel, one folder per non-empty file, but written strictly in order:
// a file whose turn has not come waits with at most its share of
// memoryBudget before its worker blocks.
type writer struct {
	ctx     context.Context
	root    *os.Root
	codec   *codec
	seal    *sealer
	opts    Options
	workers int
	f       *os.File
	off     uint64 // bytes written after the signature header
	inBytes int64
}

// job is one file on its way through a worker to the archive.
type job struct {
	e   *entry
	out chan *[]byte // sealed chunks, closed when the file is done
	res folder
	sum [sha256.Size]byte
	n   int64
	err error
}

// write archives the files of *entries, then the SHA256SUMS entry built from
// what was read, which it appends to *entries. It returns the files' hashes.
func (w *writer) write(entriesp *[]*entry) (map[string]string, error) {
	entries := *entriesp
	if _, err := w.f.Write(make([]byte, signatureHeaderSize)); err != nil {
		return nil, outErr("write", w.f.Name(), err)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // no goroutine may touch a file after we return
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel() // runs first: unblocks the goroutines wg waits for

	perJob := max(2, memoryBudget/chunkSize/(w.workers+1))
	jobs := make(chan *job)
	order := make(chan *job, w.workers)
	for range w.workers {
		wg.Go(func() {
			for j := range jobs {
				j.err = w.compress(ctx, j)
				close(j.out)
			}
		})
	}
	wg.Go(func() {
		defer close(order)
		defer close(jobs)
		for _, e := range entries {
			if e.dir {
				continue
			}
			j := &job{e: e, out: make(chan *[]byte, perJob)}
			select {
			case order <- j:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				close(j.out)
				return
			}
		}
	})

	var folders []*folder
	sums := map[string]string{}
	// drain writes one job's sealed stream, in turn.
	drain := func(j *job) error {
		for c := range j.out {
			_, err := w.f.Write(*c)
			w.off += uint64(len(*c))
			putChunk(c)
			if err != nil {
				cancel()
				return outErr("write", w.f.Name(), err)
			}
		}
		if j.err == nil {
			j.err = ctx.Err()
		}
		if j.err != nil {
			cancel()
			return j.err
		}
		if j.n == 0 {
			j.e.empty = true // read empty: no stream at all, not even an end marker
			return nil
		}
		folders = append(folders, &j.res)
		return nil
	}
	for j := range order {
		if err := drain(j); err != nil {
			return nil, err
		}
		w.inBytes += j.n
		sums[j.e.name] = hex.EncodeToString(j.sum[:])
	}
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}

	// The checksum file comes last: it is made from the hashes just taken.
	data := buildSums(entries, sums)
	if w.opts.sumsHook != nil {
		data = w.opts.sumsHook(data)
	}
	if data != nil {
		e := &entry{name: SumsName, mtime: time.Now(), mode: 0o100644, srcSize: int64(len(data))}
		j := &job{e: e, out: make(chan *[]byte, perJob)}
		wg.Go(func() {
			j.err = w.compressFrom(ctx, j, bytes.NewReader(data), false)
			close(j.out)
		})
		if err := drain(j); err != nil {
			return nil, err
		}
		entries = append(entries, e)
		*entriesp = entries
	}
	return sums, w.finish(entries, folders)
}

// compress reads one file and sends its sealed, compressed stream to j.out.
// Nothing is sent for a file that reads empty.
func (w *writer) compress(ctx context.Context, j *job) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := w.root.Open(j.e.name)
	if err != nil {
		return usererr.New(fmt.Errorf("open input %s: %w", j.e.name, err), "check the file's permissions")
	}
	defer f.Close()
	return w.compressFrom(ctx, j, f, true)
}

// compressFrom compresses and seals what f yields; progress counts input
// files, not the checksum file seftbot adds.
func (w *writer) compressFrom(ctx context.Context, j *job, f io.Reader, progress bool) error {
	var err error
	crc, sha := crc32.NewIEEE(), sha256.New()
	buf := make([]byte, 256<<10)
	var (
		sw   *sealWriter
		comp io.WriteCloser
	)
	emit := func(c *[]byte) error {
		select {
		case j.out <- c:
			return nil
		case <-ctx.Done():
			putChunk(c)
			return ctx.Err()
		}
	}
	for {
		n, rerr := f.Read(buf)
		if n > 0 {
			if sw == nil {
				var aesProps, props []byte
				if sw, aesProps, err = w.seal.newWriter(emit); err != nil {
					return err
				}
				if comp, props, err = w.codec.newWriter(sw, j.e.srcSize); err != nil {
					return err
				}
				j.res = folder{method: w.codec.id, props: props, aesProps: aesProps}
			}
			p := buf[:n]
			crc.Write(p)
			sha.Write(p)
			if _, err := comp.Write(p); err != nil {
				return fmt.Errorf("compress %s: %w", j.e.name, err)
			}
			j.n += int64(n)
			if progress && w.opts.Progress != nil {
				w.opts.Progress(int64(n))
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return usererr.New(fmt.Errorf("read input %s: %w", j.e.name, rerr), "check the file and the disk it is on")
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if j.n != j.e.srcSize {
		return usererr.New(fmt.Errorf("input %s changed while being archived (%d bytes, then %d)", j.e.name, j.e.srcSize, j.n),
			"archive only files that are complete")
	}
	sha.Sum(j.sum[:0])
	if sw == nil {
		return nil
	}
	if err := comp.Close(); err != nil {
		return fmt.Errorf("compress %s: %w", j.e.name, err)
	}
	if err := sw.Close(); err != nil {
		return err
	}
	j.res.packSize, j.res.codedSize, j.res.unpackSize, j.res.crc = sw.out, sw.in, uint64(j.n), crc.Sum32()
	return nil
}

// headerCodec stores the header uncompressed (it is small) but encrypted.
// Not Deflate: bodgit/sevenzip reads the header byte by byte and drops a
// byte that arrives together with io.EOF, which its Deflate reader does at
// the stream's end.
var headerCodec = &codec{name: "copy", id: methodCopy}

// finish writes the encrypted header and the signature header.
func (w *writer) finish(entries []*entry, folders []*folder) error {
	sh, err := writeHeader(w.f, w.seal, w.off, entries, folders)
	if err == nil {
		_, err = w.f.WriteAt(sh, 0)
	}
	if err != nil {
		return outErr("write", w.f.Name(), err)
	}
	return nil
}

// writeHeader writes to dst, which stands at packPos after the signature
// header, the header encrypted like any folder, then the small record
// pointing to it. It returns the signature header for offset 0.
func writeHeader(dst io.Writer, seal *sealer, packPos uint64, entries []*entry, folders []*folder) ([]byte, error) {
	hdr := encodeHeader(entries, folders)
	defer clear(hdr)
	emit := func(c *[]byte) error {
		_, err := dst.Write(*c)
		putChunk(c)
		return err
	}
	sw, aesProps, err := seal.newWriter(emit)
	if err != nil {
		return nil, err
	}
	comp, props, err := headerCodec.newWriter(sw, int64(len(hdr)))
	if err != nil {
		return nil, err
	}
	if _, err := comp.Write(hdr); err != nil {
		return nil, err
	}
	if err := errors.Join(comp.Close(), sw.Close()); err != nil {
		return nil, err
	}
	hf := &folder{method: headerCodec.id, props: props, aesProps: aesProps,
		packSize: sw.out, codedSize: sw.in, unpackSize: uint64(len(hdr)), crc: crc32.ChecksumIEEE(hdr)}
	info := encodedHeaderInfo(packPos, hf)
	if _, err := dst.Write(info); err != nil {
		return nil, err
	}
	return startHeader(packPos+sw.out, info), nil
}

// checkExpected compares the hashes taken while the files were read with the
// caller's own, so the archive is proven to hold exactly what the caller
// meant, not merely what happened to be on disk.
func checkExpected(read, expect map[string]string) error {
	if expect == nil {
		return nil
	}
	var errs []error
	for name, want := range expect {
		got, ok := read[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: expected but not archived", name))
		case got != want:
			errs = append(errs, fmt.Errorf("%s: sha256 read %s, expected %s", name, got, want))
		}
	}
	for name := range read {
		if _, ok := expect[name]; !ok {
			errs = append(errs, fmt.Errorf("%s: archived but not expected", name))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrVerify, errors.Join(errs...))
	}
	return nil
}
