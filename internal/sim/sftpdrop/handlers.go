package sftpdrop

import (
	"errors"
	"io"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// handlers implements pkg/sftp's request-server interfaces over the drop's
// os.Root, one value per SSH connection (so a fault can cut that connection).
// pkg/sftp hands us cleaned absolute paths ("/a/b"); os.Root then refuses
// anything that would leave the root, symlinks included.
type handlers struct {
	s    *Server
	conn *ssh.ServerConn
}

var (
	_ sftp.OpenFileWriter       = (*handlers)(nil)
	_ sftp.PosixRenameFileCmder = (*handlers)(nil)
	_ sftp.StatVFSFileCmder     = (*handlers)(nil)
	_ sftp.LstatFileLister      = (*handlers)(nil)
	_ sftp.ReadlinkFileLister   = (*handlers)(nil)
)

// errCut is what writes see once a DropAfter fault has cut their connection.
var errCut = errors.New("connection cut by sftp_drop_after fault")

// rel turns an SFTP path into a name relative to the root.
func rel(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// routes reports whether the analysts' routing picks up a file of this name.
func routes(name string) bool { return strings.HasPrefix(path.Base(name), "isaric-") }

func (h *handlers) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	return h.s.root.Open(rel(r.Filepath))
}

func (h *handlers) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	return h.openWrite(r, os.O_WRONLY)
}

func (h *handlers) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	return h.openWrite(r, os.O_RDWR)
}

func (h *handlers) openWrite(r *sftp.Request, mode int) (*writer, error) {
	s := h.s
	pf := r.Pflags()
	flags := mode
	if pf.Creat {
		flags |= os.O_CREATE
	}
	if pf.Trunc {
		flags |= os.O_TRUNC
	}
	if pf.Excl {
		flags |= os.O_EXCL
	}
	// pf.Append is ignored on purpose: clients send explicit offsets, and
	// O_APPEND would make WriteAt fail.
	s.nsMu.Lock()
	defer s.nsMu.Unlock()
	_, statErr := s.root.Lstat(rel(r.Filepath))
	f, err := s.root.OpenFile(rel(r.Filepath), flags, 0o644)
	if err != nil {
		return nil, err
	}
	op := "open"
	if statErr != nil {
		op = "create"
	}
	w := &writer{s: s, conn: h.conn, f: f, name: r.Filepath, dropAfter: s.takeDrop()}
	s.writers[w] = struct{}{}
	s.logs.event(op, w.name, "", fileSize(f))
	if w.dropAfter > 0 {
		s.log.Info("fault armed on upload", "name", w.name, "drop_after", w.dropAfter)
	}
	return w, nil
}

func (h *handlers) Filecmd(r *sftp.Request) error {
	s := h.s
	switch r.Method {
	case "Setstat":
		return h.setstat(r)
	case "Rename":
		return h.held(h.rename(r.Filepath, r.Target, false))
	case "Mkdir":
		s.nsMu.Lock()
		defer s.nsMu.Unlock()
		if err := s.root.Mkdir(rel(r.Filepath), 0o755); err != nil {
			return err
		}
		s.logs.event("mkdir", r.Filepath, "", 0)
		return nil
	case "Rmdir", "Remove":
		s.nsMu.Lock()
		defer s.nsMu.Unlock()
		fi, err := s.root.Lstat(rel(r.Filepath))
		if err != nil {
			return err
		}
		if fi.IsDir() != (r.Method == "Rmdir") || rel(r.Filepath) == "." {
			return sftp.ErrSSHFxFailure // like OpenSSH: remove is for files, rmdir for directories
		}
		if err := s.root.Remove(rel(r.Filepath)); err != nil {
			return err
		}
		s.logs.event(strings.ToLower(r.Method), r.Filepath, "", fi.Size())
		return nil
	default: // Link, Symlink: refused, so nothing can point outside what we observe
		return sftp.ErrSSHFxOpUnsupported
	}
}

// PosixRename is posix-rename@openssh.com: it replaces an existing target,
// unless the NoOverwrite fault is on.
func (h *handlers) PosixRename(r *sftp.Request) error {
	return h.held(h.rename(r.Filepath, r.Target, true))
}

// errReplyLost is what a rename answers, once its client has gone, under
// the LoseRenameReply fault.
var errReplyLost = errors.New("rename reply held by sftp_lose_rename_reply fault")

// held answers a rename, unless it routed a file under the LoseRenameReply
// fault: then the reply waits until the connection is gone.
func (h *handlers) held(err error) error {
	if err != errRouted {
		return err
	}
	if h.s.takeLoseReply() {
		_ = h.conn.Wait()
		return errReplyLost
	}
	return nil
}

// errRouted is rename's answer for a file the routing picked up; held turns
// it into the reply.
var errRouted = errors.New("routed")

func (h *handlers) rename(from, to string, overwrite bool) error {
	s := h.s
	if rel(from) == "." || rel(to) == "." {
		return sftp.ErrSSHFxPermissionDenied
	}
	s.nsMu.Lock()
	defer s.nsMu.Unlock()
	if _, err := s.root.Lstat(rel(to)); err == nil && (!overwrite || s.noOverwrite()) {
		return sftp.ErrSSHFxFailure // what OpenSSH answers for a plain rename onto an existing name
	}
	if err := s.root.Rename(rel(from), rel(to)); err != nil {
		return err
	}
	for w := range s.writers {
		w.mu.Lock()
		if w.name == from {
			w.name = to
		} else if rest, ok := strings.CutPrefix(w.name, from+"/"); ok {
			w.name = path.Join(to, rest)
		}
		w.mu.Unlock()
	}
	fi, err := s.root.Lstat(rel(to))
	if err != nil {
		return err
	}
	s.logs.event("rename", to, from, fi.Size())
	if fi.Mode().IsRegular() && routes(to) {
		s.route(to)
		return errRouted
	}
	return nil
}

func (h *handlers) setstat(r *sftp.Request) error {
	s := h.s
	af, a := r.AttrFlags(), r.Attributes()
	if af.UidGid {
		return sftp.ErrSSHFxPermissionDenied // an unprivileged account cannot chown
	}
	name := rel(r.Filepath)
	if af.Size {
		f, err := s.root.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = f.Truncate(int64(a.Size))
		f.Close()
		if err != nil {
			return err
		}
		s.logs.event("truncate", r.Filepath, "", int64(a.Size))
	}
	if af.Permissions {
		if err := s.root.Chmod(name, a.FileMode().Perm()); err != nil {
			return err
		}
	}
	if af.Acmodtime {
		if err := s.root.Chtimes(name, a.AccessTime(), a.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

// StatVFS answers statvfs@openssh.com for the filesystem holding the root.
func (h *handlers) StatVFS(r *sftp.Request) (*sftp.StatVFS, error) {
	return statvfs(h.s.opts.Root)
}

func (h *handlers) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	switch r.Method {
	case "List":
		d, err := h.s.root.Open(rel(r.Filepath))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		fis, err := d.Readdir(-1)
		if err != nil {
			return nil, err
		}
		return listerAt(fis), nil
	case "Stat":
		fi, err := h.s.root.Stat(rel(r.Filepath))
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	default:
		return nil, sftp.ErrSSHFxOpUnsupported
	}
}

func (h *handlers) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	fi, err := h.s.root.Lstat(rel(r.Filepath))
	if err != nil {
		return nil, err
	}
	return listerAt{fi}, nil
}

func (h *handlers) Readlink(p string) (string, error) {
	return h.s.root.Readlink(rel(p))
}

type listerAt []os.FileInfo

func (l listerAt) ListAt(out []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(out, l[off:])
	if n < len(out) {
		return n, io.EOF
	}
	return n, nil
}

// writer is an open upload handle. Its name follows renames of the file so
// that writes after a rename are logged under the name readers now see.
type writer struct {
	s    *Server
	conn *ssh.ServerConn
	f    *os.File

	mu        sync.Mutex
	name      string
	dropAfter int64 // >0: cut the connection once this many bytes are written
	written   int64
	cut       bool
}

func (w *writer) ReadAt(p []byte, off int64) (int, error) { return w.f.ReadAt(p, off) }

func (w *writer) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	if w.cut {
		w.mu.Unlock()
		return 0, errCut
	}
	cut := w.dropAfter > 0 && w.written+int64(len(p)) >= w.dropAfter
	if cut {
		p = p[:w.dropAfter-w.written]
		w.cut = true
	}
	n, err := w.f.WriteAt(p, off)
	w.written += int64(n)
	name, size, written := w.name, fileSize(w.f), w.written
	w.mu.Unlock()
	w.s.logs.event("write", name, "", size)
	if cut {
		w.s.log.Info("fault: cutting the upload's connection", "name", name, "written", written)
		w.conn.Close()
		return n, errCut
	}
	return n, err
}

// Close is the routing trigger: a write handle closed on an isaric-* name
// is picked up, complete or not, as the real drop's watcher would.
func (w *writer) Close() error {
	s := w.s
	s.nsMu.Lock()
	defer s.nsMu.Unlock()
	delete(s.writers, w)
	w.mu.Lock()
	name := w.name
	w.mu.Unlock()
	size := fileSize(w.f)
	err := w.f.Close()
	s.logs.event("close", name, "", size)
	if routes(name) {
		s.route(name)
	}
	return err
}

// TransferError notes why pkg/sftp is closing this handle on our behalf.
func (w *writer) TransferError(err error) {
	w.mu.Lock()
	name := w.name
	w.mu.Unlock()
	w.s.log.Info("upload ended without close from the client", "name", name, "err", err)
}

func fileSize(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil {
		return -1
	}
	return fi.Size()
}
