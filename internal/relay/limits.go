package relay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/ssh"
)

// Write sizes. pkg/sftp writes 32 KiB per request unless told otherwise;
// OpenSSH's sftp asks the server for limits@openssh.com and writes what it
// allows (255 KiB on OpenSSH), which costs the server a quarter of the
// requests and syscalls. We do the same.
const (
	defaultWriteLen = 32 << 10
	maxWriteLen     = 255 << 10 // OpenSSH's own cap: SFTP_MAX_MSG_LENGTH - 1024
)

// SFTP v3 packet types (draft-ietf-secsh-filexfer-02) used by the query.
const (
	fxpInit          = 1
	fxpVersion       = 2
	fxpStatus        = 101
	fxpExtended      = 200
	fxpExtendedReply = 201
)

// writeLength asks the server, on a short-lived SFTP session of its own,
// for its write limit (limits@openssh.com). pkg/sftp has no way to send an
// extended request it does not know. Any failure means the 32 KiB default,
// which every server accepts.
func writeLength(c *ssh.Client) (int, error) {
	sess, err := c.NewSession()
	if err != nil {
		return defaultWriteLen, err
	}
	defer sess.Close()
	w, err := sess.StdinPipe()
	if err != nil {
		return defaultWriteLen, err
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		return defaultWriteLen, err
	}
	if err := sess.RequestSubsystem("sftp"); err != nil {
		return defaultWriteLen, err
	}
	r := bufio.NewReader(out)
	if err := sendPacket(w, fxpInit, binary.BigEndian.AppendUint32(nil, 3)); err != nil {
		return defaultWriteLen, err
	}
	typ, body, err := readPacket(r)
	if err != nil || typ != fxpVersion || len(body) < 4 {
		return defaultWriteLen, fmt.Errorf("sftp version: type %d: %v", typ, err)
	}
	if !hasExtension(body[4:], "limits@openssh.com") {
		return defaultWriteLen, nil
	}
	req := binary.BigEndian.AppendUint32(nil, 1) // request id
	req = appendString(req, "limits@openssh.com")
	if err := sendPacket(w, fxpExtended, req); err != nil {
		return defaultWriteLen, err
	}
	typ, body, err = readPacket(r)
	// id, then uint64 max-packet-length, max-read-length, max-write-length, max-open-handles
	if err != nil || typ != fxpExtendedReply || len(body) < 4+4*8 {
		return defaultWriteLen, fmt.Errorf("limits@openssh.com: type %d: %v", typ, err)
	}
	packet := binary.BigEndian.Uint64(body[4:])
	write := binary.BigEndian.Uint64(body[4+16:])
	n := uint64(maxWriteLen)
	if write > 0 {
		n = min(n, write)
	}
	if packet > 1024 {
		n = min(n, packet-1024) // room for the write request's own header
	}
	if n < 512 {
		return defaultWriteLen, fmt.Errorf("limits@openssh.com: implausible write length %d", n)
	}
	return int(n), nil
}

func sendPacket(w io.Writer, typ byte, body []byte) error {
	p := binary.BigEndian.AppendUint32(nil, uint32(1+len(body)))
	p = append(p, typ)
	_, err := w.Write(append(p, body...))
	return err
}

func readPacket(r io.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < 1 || n > 64<<10 {
		return 0, nil, errors.New("sftp: implausible packet length")
	}
	body := make([]byte, n-1)
	_, err := io.ReadFull(r, body)
	return hdr[4], body, err
}

func appendString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
}

// hasExtension scans the name/data string pairs of an SSH_FXP_VERSION.
func hasExtension(b []byte, name string) bool {
	for len(b) >= 4 {
		var pair [2]string
		for i := range pair {
			if len(b) < 4 {
				return false
			}
			n := binary.BigEndian.Uint32(b)
			if uint64(len(b)-4) < uint64(n) {
				return false
			}
			pair[i], b = string(b[4:4+n]), b[4+n:]
		}
		if pair[0] == name {
			return true
		}
	}
	return false
}
