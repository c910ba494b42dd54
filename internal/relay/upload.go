package relay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/isaric/seftbot/internal/usererr"
)

// relayer carries what every attempt shares.
type relayer struct {
	cfg   *Config
	auth  *clientAuth
	hk    *hostKeyCheck
	local *os.File
	size  int64

	hashProbed bool      // sha256sum was tried on the server
	hash       hash.Hash // local sha256 of this attempt; nil when the server cannot hash
	sent       int64     // bytes reported to Progress by this attempt
}

func (r *relayer) report(n int64) {
	r.sent += n
	r.cfg.Progress(n)
}

// tempPrefix starts every temporary name. A leading dot cannot match the
// routing glob isaric-*, and .part says what it is to a human.
const tempPrefix = ".upload-"

func tempName() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return tempPrefix + hex.EncodeToString(b) + ".part"
}

// attempt makes one connection and one upload. It returns the temporary
// path it used when the connection broke before it could remove it, so that
// the next attempt removes it instead.
func (r *relayer) attempt(ctx context.Context, n int, stale []string) (*Result, string, error) {
	cfg := r.cfg
	s, err := r.dial(ctx)
	if err != nil {
		return nil, "", err
	}
	defer s.close()
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	for _, p := range stale {
		if err := s.guard(func() error { return s.sftp.Remove(p) }); err == nil {
			cfg.Log.Info("removed a temporary file left by an earlier attempt", "path", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			cfg.Log.Warn("could not remove a temporary file left by an earlier attempt", "path", p, "err", err)
		}
	}
	if err := r.checkSpace(s); err != nil {
		return nil, "", err
	}
	tmp := path.Join(cfg.RemoteDir, tempName())
	if cfg.OnTemp != nil {
		if err := cfg.OnTemp(tmp); err != nil {
			return nil, "", fmt.Errorf("recording the temporary name: %w", err)
		}
	}
	var f *sftp.File
	if err := s.guard(func() (err error) {
		f, err = s.sftp.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		return err
	}); err != nil {
		return nil, "", remoteErr("create "+tmp, err) // nothing of ours to remove
	}
	abs, err := r.upload(ctx, s, f, tmp, n)
	if err != nil {
		return nil, r.cleanup(s, tmp), err
	}
	check := "size"
	if r.hash != nil {
		if err := s.checkRemoteHash(ctx, hashTimeout(cfg.OpTimeout, r.size), abs, hex.EncodeToString(r.hash.Sum(nil)), cfg.Verify == VerifySHA256); err != nil {
			return nil, r.cleanup(s, tmp), err
		}
		check = "sha256"
	}
	if err := ctx.Err(); err != nil {
		return nil, r.cleanup(s, tmp), err // cancelled: never hand over
	}
	final, err := r.handOver(s, tmp)
	if err != nil {
		return nil, r.cleanup(s, tmp), err
	}
	cfg.Log.Info("archive handed over", "remote_path", final, "bytes", r.size, "check", check, "attempt", n)
	return &Result{RemotePath: final, Bytes: r.size, Check: check}, "", nil
}

// cleanup removes the temporary file after a failure. If the connection is
// gone it returns tmp so that the next attempt removes it.
func (r *relayer) cleanup(s *session, tmp string) string {
	err := s.guard(func() error { return s.sftp.Remove(tmp) })
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return ""
	}
	r.cfg.Log.Warn("could not remove the temporary file", "path", tmp, "err", err)
	return tmp
}

// upload writes the local file to f, the new temporary file tmp, and checks
// that every byte arrived: the count written, the Close status (the server
// reports late write errors there) and the size the server now reports. It
// returns tmp's absolute path on the server.
//
// On the first attempt it also asks whether the server can run sha256sum on
// the new, still empty, file: that proves exec sees the same file as SFTP,
// and the local hash is only computed when it will be compared.
func (r *relayer) upload(ctx context.Context, s *session, f *sftp.File, tmp string, attempt int) (string, error) {
	cfg := r.cfg
	var abs string
	if err := s.guard(func() (err error) { abs, err = s.sftp.RealPath(tmp); return err }); err != nil {
		_ = f.Close()
		return "", remoteErr("realpath "+tmp, err)
	}
	if !r.hashProbed && cfg.Verify != VerifySize {
		r.hashProbed = true
		switch {
		case s.remoteHashWorks(ctx, cfg.OpTimeout, abs):
			r.hash = sha256.New()
		case cfg.Verify == VerifySHA256:
			_ = f.Close()
			return "", usererr.New(fmt.Errorf("%w: the drop cannot run sha256sum over exec", ErrRelay),
				"use verify mode auto or size for this drop")
		}
	}
	if r.hash != nil {
		r.hash.Reset()
	}
	cfg.Log.Info("uploading", "temp_path", tmp, "bytes", r.size, "attempt", attempt)
	start := time.Now()
	pr := &progressReader{
		ctx:   ctx,
		r:     io.NewSectionReader(r.local, 0, r.size),
		size:  r.size,
		add:   r.report,
		touch: s.watch.touch,
	}
	if r.hash != nil {
		pr.hash = r.hash
	}
	var n int64
	werr := s.guard(func() (err error) {
		n, err = f.ReadFromWithConcurrency(pr, cfg.Concurrency)
		return err
	})
	cerr := s.guard(f.Close)
	switch {
	case werr != nil:
		return "", r.writeErr(s, tmp, werr, cerr)
	case cerr != nil:
		return "", remoteErr("close "+tmp, cerr)
	case n != r.size:
		return "", fmt.Errorf("wrote %d bytes of %d to %s: the local file changed", n, r.size, tmp)
	}
	var size int64
	if err := s.guard(func() error {
		fi, err := s.sftp.Lstat(tmp)
		if err == nil {
			size = fi.Size()
		}
		return err
	}); err != nil {
		return "", remoteErr("stat "+tmp, err)
	}
	if size != r.size {
		return "", fmt.Errorf("%s holds %d bytes after upload, want %d", tmp, size, r.size)
	}
	if st, err := r.local.Stat(); err != nil || st.Size() != r.size {
		return "", usererr.Errorf("do not change the archive while it is relayed", "the local archive changed during the upload")
	}
	secs := time.Since(start).Seconds()
	cfg.Log.Info("uploaded", "temp_path", tmp, "bytes", r.size, "seconds", round2(secs), "mib_per_s", round2(float64(r.size)/(1<<20)/secs))
	return abs, nil
}

// writeErr classifies a failed upload. A refused write on a connection that
// then turns out to be gone is a drop (servers may answer the last request
// before the link dies), and is retried. A refusal on a live connection is
// permanent; when statvfs shows too little room it is reported as a full disk.
func (r *relayer) writeErr(s *session, tmp string, werr, cerr error) error {
	err := fmt.Errorf("write %s: %w", tmp, werr)
	switch {
	case retryable(werr):
		return err
	case retryable(cerr):
		return fmt.Errorf("%w; then the connection was lost: %w", err, cerr)
	}
	if _, ok := s.sftp.HasExtension("statvfs@openssh.com"); ok {
		var vfs *sftp.StatVFS
		serr := s.guard(func() (err error) { vfs, err = s.sftp.StatVFS(r.cfg.RemoteDir); return err })
		switch {
		case retryable(serr):
			return fmt.Errorf("%w; then the connection was lost: %w", err, serr)
		case serr == nil && vfs.Frsize > 0 && vfs.FreeSpace() < uint64(r.size):
			return usererr.New(fmt.Errorf("%w: %w: the drop has %d bytes free, the archive needs %d: disk full", ErrRelay, err, vfs.FreeSpace(), r.size),
				"ask the drop's operators to free space; not retried")
		}
	}
	return remoteErr("write "+tmp, werr)
}

// hashTimeout allows sha256sum at 10 MiB/s on top of the op timeout: it
// reads the whole file before it answers, which coreutils on a busy server
// may do slowly.
func hashTimeout(op time.Duration, size int64) time.Duration {
	return op + time.Duration(size/(10<<20))*time.Second
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// handOver moves tmp to the first free final name, never overwriting.
//
// It uses plain SSH_FXP_RENAME and never posix-rename@openssh.com: the
// SFTP v3 draft says a rename onto an existing name is an error, and OpenSSH's
// sftp-server implements it with link(2)+unlink(2), which refuses an
// existing target atomically. posix-rename is rename(2), which replaces the
// target by design, so the only way to make it "never overwrite" would be
// stat-then-rename, a race another client could lose us a delivered file in.
// The Lstat in FinalName is only the choice of a free name; the server's
// refusal is the guarantee. If a name is taken between the two, the next
// suffix is tried.
func (r *relayer) handOver(s *session, tmp string) (string, error) {
	cfg := r.cfg
	taken := func(name string) (bool, error) {
		err := s.guard(func() error { _, err := s.sftp.Lstat(path.Join(cfg.RemoteDir, name)); return err })
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, os.ErrNotExist):
			return false, nil
		}
		return false, remoteErr("stat "+name, err)
	}
	now := cfg.Now()
	for range 5 {
		name, err := FinalName(cfg.NameTemplate, cfg.Project, now, taken)
		if err != nil {
			return "", err
		}
		final := path.Join(cfg.RemoteDir, name)
		rerr := renameNoReplace(s, tmp, final)
		if rerr == nil {
			return final, r.checkFinal(s, final)
		}
		// Refused: was it because the name got taken meanwhile?
		if t, err := taken(name); err != nil || !t {
			return "", remoteErr(fmt.Sprintf("rename %s to %s", tmp, final), rerr)
		}
		cfg.Log.Warn("final name was taken during the hand-over; trying the next suffix", "name", name)
	}
	return "", fmt.Errorf("could not find a free final name: the drop keeps creating names like ours")
}

// renameNoReplace is the one rename the relay does (see handOver).
func renameNoReplace(s *session, from, to string) error {
	return s.guard(func() error { return s.sftp.Rename(from, to) })
}

// checkFinal confirms the final name holds the whole archive.
func (r *relayer) checkFinal(s *session, final string) error {
	var size int64
	err := s.guard(func() error {
		fi, err := s.sftp.Lstat(final)
		if err == nil {
			size = fi.Size()
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: renamed to %s but cannot stat it: %w", ErrRelay, final, err)
	}
	if size != r.size {
		return fmt.Errorf("%w: %s holds %d bytes after the rename, want %d", ErrRelay, final, size, r.size)
	}
	return nil
}

// checkSpace refuses early when the server says the archive cannot fit, so
// a full disk is a clear error rather than a failed write. Servers without
// statvfs@openssh.com are not checked.
func (r *relayer) checkSpace(s *session) error {
	if _, ok := s.sftp.HasExtension("statvfs@openssh.com"); !ok {
		return nil
	}
	var vfs *sftp.StatVFS
	if err := s.guard(func() (err error) { vfs, err = s.sftp.StatVFS(r.cfg.RemoteDir); return err }); err != nil {
		r.cfg.Log.Debug("statvfs failed; free space not checked", "err", err)
		return nil
	}
	if free := vfs.FreeSpace(); vfs.Frsize > 0 && free < uint64(r.size) {
		return usererr.New(fmt.Errorf("%w: the drop has %d bytes free in %s, the archive needs %d: disk full", ErrRelay, free, r.cfg.RemoteDir, r.size),
			"ask the drop's operators to free space; not retried")
	}
	return nil
}

// remoteErr names the failed operation and adds a hint for the permanent
// failures an operator can act on.
func remoteErr(op string, err error) error {
	err = fmt.Errorf("%s: %w", op, err)
	var se *sftp.StatusError
	switch {
	case errors.Is(err, os.ErrPermission):
		return usererr.New(fmt.Errorf("%w: %w", ErrRelay, err), "the SFTP user may not write to SEFTBOT_SFTP_REMOTE_DIR; ask the drop's operators")
	case errors.Is(err, os.ErrNotExist):
		return usererr.New(fmt.Errorf("%w: %w", ErrRelay, err), "check SEFTBOT_SFTP_REMOTE_DIR exists on the drop")
	case errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure && strings.HasPrefix(op, "write"):
		return usererr.New(fmt.Errorf("%w: %w", ErrRelay, err), "the drop refused the write; a full disk is the usual cause. Not retried")
	}
	return err
}
