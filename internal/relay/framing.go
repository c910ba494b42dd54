package relay

import (
	"encoding/binary"
	"io"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// startSFTP opens the sftp subsystem with a framedWriter on its input.
// sftp.NewClient would do the same without the coalescing.
func startSFTP(c *ssh.Client, opts ...sftp.ClientOption) (*sftp.Client, *ssh.Session, error) {
	sess, err := c.NewSession()
	if err != nil {
		return nil, nil, err
	}
	w, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, nil, err
	}
	r, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, nil, err
	}
	if err := sess.RequestSubsystem("sftp"); err != nil {
		sess.Close()
		return nil, nil, err
	}
	cl, err := sftp.NewClientPipe(r, &framedWriter{w: w}, opts...)
	if err != nil {
		sess.Close()
		return nil, nil, err
	}
	return cl, sess, nil
}

// framedWriter joins an SFTP packet's header and payload into one write.
// pkg/sftp writes them separately (under its lock, so they are adjacent), and
// each channel write becomes its own SSH packet, encrypted, sent and decrypted
// apart: a 40-byte packet before every data write. It holds back a short
// write that starts a longer packet and sends it with the rest.
type framedWriter struct {
	w    io.WriteCloser
	buf  []byte
	need int // bytes of the held packet still to come
}

// maxHeld bounds what is held back: SFTP headers are tens of bytes.
const maxHeld = 1024

func (f *framedWriter) Write(p []byte) (int, error) {
	if len(f.buf) == 0 {
		if len(p) >= 4 && len(p) <= maxHeld {
			if total := int(binary.BigEndian.Uint32(p)) + 4; total > len(p) {
				f.buf = append(f.buf, p...)
				f.need = total - len(p)
				return len(p), nil
			}
		}
		return f.w.Write(p)
	}
	f.buf = append(f.buf, p...)
	f.need -= len(p)
	if f.need > 0 {
		return len(p), nil
	}
	_, err := f.w.Write(f.buf)
	f.buf, f.need = f.buf[:0], 0
	if cap(f.buf) > 2*maxWriteLen {
		f.buf = nil // a one-off huge packet does not stay resident
	}
	return len(p), err
}

func (f *framedWriter) Close() error { return f.w.Close() }
