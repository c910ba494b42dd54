// Package sftpdrop is seftsim's stand-in for the analysts' SFTP drop: an
// in-process SFTP server over a real directory that records every operation,
// mimics the isaric-* routing trigger and can misbehave on demand, so tests
// can prove that no partial archive was ever visible under a routed name.
package sftpdrop

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Options configures a drop. Every field except Addr is required.
type Options struct {
	Root          string        // directory served as "/"
	Addr          string        // listen address; "" means 127.0.0.1:0
	HostKey       ssh.Signer    // the drop's own host key
	User          string        // the one user allowed in
	AuthorizedKey ssh.PublicKey // the one key that user may log in with
	EventLog      string        // JSONL of every namespace and write operation
	RoutedLog     string        // JSONL of every file the routing trigger picked up
	Logger        *slog.Logger  // nil = no logs
}

// Faults are the misbehaviours the drop can be told to show.
type Faults struct {
	// DropAfter > 0 arms a one-shot fault: the next file opened for writing
	// has its connection cut once that many bytes of it have been written
	// (exactly that many land). Opening that file disarms the fault, so an
	// upload shorter than DropAfter passes and the fault is spent.
	DropAfter int64 `json:"sftp_drop_after"`
	// NoOverwrite makes every rename onto an existing name fail, including
	// posix-rename@openssh.com, as some hardened servers do.
	NoOverwrite bool `json:"sftp_no_overwrite"`
	// LoseRenameReply arms a one-shot fault: the next rename onto an
	// isaric-* name is done and routed, but its reply is held until the
	// client goes away, as when a connection dies at the worst instant.
	LoseRenameReply bool `json:"sftp_lose_rename_reply"`
}

// Server is a running drop.
type Server struct {
	opts Options
	root *os.Root
	ln   net.Listener
	cfg  *ssh.ServerConfig
	log  *slog.Logger

	faultMu sync.Mutex
	faults  Faults

	// nsMu serialises namespace changes (open-for-write, rename, remove,
	// mkdir) so "does the target exist?" and the change are one step.
	nsMu    sync.Mutex
	writers map[*writer]struct{} // open write handles, renamed with their file

	logs *logs

	connMu sync.Mutex
	conns  map[net.Conn]struct{} // closed by Close, handshaking or not
	closed bool
	wg     sync.WaitGroup
}

// Start opens the root and the logs and starts accepting connections.
func Start(o Options) (*Server, error) {
	switch {
	case o.Root == "":
		return nil, errors.New("sftpdrop: Root is required")
	case o.HostKey == nil:
		return nil, errors.New("sftpdrop: HostKey is required")
	case o.User == "" || o.AuthorizedKey == nil:
		return nil, errors.New("sftpdrop: User and AuthorizedKey are required")
	case o.EventLog == "" || o.RoutedLog == "":
		return nil, errors.New("sftpdrop: EventLog and RoutedLog are required")
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	root, err := os.OpenRoot(o.Root)
	if err != nil {
		return nil, fmt.Errorf("sftpdrop: %w", err)
	}
	lg, err := openLogs(o.EventLog, o.RoutedLog)
	if err != nil {
		root.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		root.Close()
		lg.close()
		return nil, fmt.Errorf("sftpdrop: %w", err)
	}
	s := &Server{
		opts:    o,
		root:    root,
		ln:      ln,
		log:     logger(o.Logger).With("component", "sftpdrop"),
		writers: map[*writer]struct{}{},
		logs:    lg,
		conns:   map[net.Conn]struct{}{},
	}
	want := o.AuthorizedKey.Marshal()
	s.cfg = &ssh.ServerConfig{
		MaxAuthTries: 3,
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			userOK := subtle.ConstantTimeCompare([]byte(c.User()), []byte(o.User)) == 1
			keyOK := subtle.ConstantTimeCompare(key.Marshal(), want) == 1
			if userOK && keyOK {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("public key not authorised")
		},
	}
	s.cfg.AddHostKey(o.HostKey)
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the drop listens on, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// SetFaults replaces the faults in force.
func (s *Server) SetFaults(f Faults) {
	s.faultMu.Lock()
	s.faults = f
	s.faultMu.Unlock()
}

// Faults returns the faults in force (DropAfter reads 0 once it has fired).
func (s *Server) Faults() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults
}

// takeDrop disarms and returns the one-shot DropAfter fault, 0 if none.
func (s *Server) takeDrop() int64 {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	n := s.faults.DropAfter
	s.faults.DropAfter = 0
	return n
}

// takeLoseReply disarms and returns the one-shot LoseRenameReply fault.
func (s *Server) takeLoseReply() bool {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	v := s.faults.LoseRenameReply
	s.faults.LoseRenameReply = false
	return v
}

func (s *Server) noOverwrite() bool {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults.NoOverwrite
}

// Close stops accepting, cuts every connection, waits for their handlers
// (so every open file is closed and logged) and closes the logs.
func (s *Server) Close() error {
	s.connMu.Lock()
	if s.closed {
		s.connMu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.connMu.Unlock()
	s.wg.Wait()
	return errors.Join(err, s.logs.close(), s.root.Close())
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("accept failed", "err", err)
			}
			return
		}
		s.wg.Add(1)
		go s.serveConn(nc)
	}
}

func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	s.connMu.Lock()
	if s.closed {
		s.connMu.Unlock()
		nc.Close()
		return
	}
	s.conns[nc] = struct{}{}
	s.connMu.Unlock()
	defer func() {
		s.connMu.Lock()
		delete(s.conns, nc)
		s.connMu.Unlock()
		nc.Close()
	}()
	nc.SetDeadline(time.Now().Add(30 * time.Second)) // handshake only
	sc, chans, reqs, err := ssh.NewServerConn(nc, s.cfg)
	if err != nil {
		s.log.Warn("ssh handshake refused", "remote", nc.RemoteAddr().String(), "err", err)
		return
	}
	defer sc.Close()
	nc.SetDeadline(time.Time{})
	s.log.Info("ssh login", "user", sc.User(), "remote", sc.RemoteAddr().String())

	go ssh.DiscardRequests(reqs)
	var chWG sync.WaitGroup
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			continue
		}
		chWG.Add(1)
		go func() {
			defer chWG.Done()
			s.serveSession(sc, ch, creqs)
		}()
	}
	chWG.Wait()
}

// serveSession answers one session channel: the sftp subsystem, or an exec
// of sha256sum; anything else (shells, ptys, env) is refused.
func (s *Server) serveSession(sc *ssh.ServerConn, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		switch {
		case req.Type == "subsystem" && payloadString(req.Payload) == "sftp":
			req.Reply(true, nil)
			go ssh.DiscardRequests(reqs)
			h := &handlers{s: s, conn: sc}
			rs := sftp.NewRequestServer(ch, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
			if err := rs.Serve(); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Info("sftp session ended", "err", err)
			}
			rs.Close()
			return
		case req.Type == "exec":
			req.Reply(true, nil)
			go ssh.DiscardRequests(reqs)
			s.exec(ch, payloadString(req.Payload))
			return
		default:
			req.Reply(false, nil)
		}
	}
}

// payloadString decodes the one SSH string that subsystem and exec requests
// carry; "" if malformed.
func payloadString(p []byte) string {
	var v struct{ S string }
	if ssh.Unmarshal(p, &v) != nil {
		return ""
	}
	return v.S
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
