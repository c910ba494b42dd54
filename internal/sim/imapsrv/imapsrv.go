// Package imapsrv is seftsim's stand-in for the NHSmail mailbox that NHS
// England's notices arrive in: an IMAP server over implicit TLS (port 993
// style) that serves, as INBOX, the messages of the mail sink's directory
// addressed to its one user, with each message's number as its UID. Logins
// are a password or, like Exchange Online, an XOAUTH2 token; in xoauth2 mode
// a password is refused as Exchange refuses it. It never deletes anything.
package imapsrv

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap"
	"github.com/emersion/go-imap/backend"
	"github.com/emersion/go-imap/backend/backendutil"
	"github.com/emersion/go-imap/server"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-sasl"

	"github.com/isaric/seftbot/internal/sim/oauthsrv"
)

// Options configures a server. Dir, User, TLS and UIDValidityFile are
// required, and Password unless XOAUTH2 is set.
type Options struct {
	Addr     string // "" = 127.0.0.1:0
	TLS      *tls.Config
	Dir      string // the mail sink's directory of <n>.eml
	User     string // the mailbox; messages whose envelope names it are its INBOX
	Password string
	// XOAUTH2, when set, is the only way in: LOGIN and AUTHENTICATE PLAIN
	// are refused, as Exchange Online refuses Basic authentication.
	XOAUTH2 func(user, token string) bool
	// UIDValidityFile keeps the mailbox's UIDVALIDITY across restarts.
	UIDValidityFile string
	Logger          *slog.Logger
}

// Server is a running IMAP server.
type Server struct {
	o           Options
	srv         *server.Server
	ln          net.Listener
	done        chan struct{}
	uidValidity uint32

	mu    sync.Mutex
	flags map[uint32][]string // per UID, kept in memory
}

// ErrLoginFailed is Exchange's answer to a refused login.
var ErrLoginFailed = errors.New("LOGIN failed.")

// Start listens and serves.
func Start(o Options) (*Server, error) {
	if o.Dir == "" || o.User == "" || o.TLS == nil || o.UIDValidityFile == "" || o.Password == "" && o.XOAUTH2 == nil {
		return nil, errors.New("imapsrv: Dir, User, TLS, UIDValidityFile and a password or XOAUTH2 are required")
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	uv, err := uidValidity(o.UIDValidityFile)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("imapsrv: %w", err)
	}
	s := &Server{o: o, uidValidity: uv, flags: map[uint32][]string{}, done: make(chan struct{})}
	s.ln = tls.NewListener(ln, o.TLS)
	s.srv = server.New(s)
	s.srv.AllowInsecureAuth = false
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	if o.XOAUTH2 != nil {
		s.srv.EnableAuth(sasl.Plain, func(server.Conn) sasl.Server { return refuse{} })
		s.srv.EnableAuth(oauthsrv.XOAUTH2, func(conn server.Conn) sasl.Server {
			return oauthsrv.NewXOAUTH2Server(func(user, token string) bool {
				return strings.EqualFold(user, o.User) && o.XOAUTH2(user, token)
			}, func(string) {
				ctx := conn.Context()
				ctx.State = imap.AuthenticatedState
				ctx.User = &user{s: s}
			})
		})
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(s.ln)
	}()
	return s, nil
}

type refuse struct{}

func (refuse) Next([]byte) ([]byte, bool, error) { return nil, true, ErrLoginFailed }

// uidValidity reads the file, or makes a random non-zero value and keeps it.
func uidValidity(path string) (uint32, error) {
	if b, err := os.ReadFile(path); err == nil {
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
		if err != nil || v == 0 {
			return 0, fmt.Errorf("imapsrv: %s: not a UIDVALIDITY", path)
		}
		return uint32(v), nil
	}
	var b [4]byte
	rand.Read(b[:])
	v := binary.BigEndian.Uint32(b[:])&0x7fffffff | 1
	if err := os.WriteFile(path, []byte(strconv.FormatUint(uint64(v), 10)+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("imapsrv: %w", err)
	}
	return v, nil
}

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// UIDValidity is the INBOX's UIDVALIDITY.
func (s *Server) UIDValidity() uint32 { return s.uidValidity }

// Close stops the server and drops open connections.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.ln.Close() // Serve may not have registered the listener with go-imap yet
	<-s.done
	return err
}

// Login implements backend.Backend: the password, unless only tokens count.
func (s *Server) Login(_ *imap.ConnInfo, username, password string) (backend.User, error) {
	if s.o.XOAUTH2 != nil {
		return nil, ErrLoginFailed
	}
	userOK := subtle.ConstantTimeCompare([]byte(strings.ToLower(username)), []byte(strings.ToLower(s.o.User))) == 1
	passOK := subtle.ConstantTimeCompare([]byte(password), []byte(s.o.Password)) == 1
	if !userOK || !passOK {
		return nil, ErrLoginFailed
	}
	return &user{s: s}, nil
}

type user struct{ s *Server }

func (u *user) Username() string { return u.s.o.User }
func (u *user) ListMailboxes(bool) ([]backend.Mailbox, error) {
	return []backend.Mailbox{&mailbox{s: u.s}}, nil
}
func (u *user) GetMailbox(name string) (backend.Mailbox, error) {
	if !strings.EqualFold(name, "INBOX") {
		return nil, backend.ErrNoSuchMailbox
	}
	return &mailbox{s: u.s}, nil
}

var errReadOnly = errors.New("seftsim's mailbox cannot be changed")

func (u *user) CreateMailbox(string) error         { return errReadOnly }
func (u *user) DeleteMailbox(string) error         { return errReadOnly }
func (u *user) RenameMailbox(string, string) error { return errReadOnly }
func (u *user) Logout() error                      { return nil }

// msg is one message of INBOX.
type msg struct {
	uid  uint32
	date time.Time
	body []byte
}

// messages reads the INBOX afresh: every <n>.eml whose envelope (the sink's
// X-Envelope-To) names the user, in UID order.
func (s *Server) messages() ([]msg, error) {
	ents, err := os.ReadDir(s.o.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []msg
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".eml")
		n, err := strconv.ParseUint(base, 10, 32)
		if !ok || err != nil || n == 0 {
			continue
		}
		p := filepath.Join(s.o.Dir, e.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		pm, err := mail.ReadMessage(bytes.NewReader(b))
		if err != nil || !names(pm.Header.Get("X-Envelope-To"), s.o.User) {
			continue
		}
		fi, _ := e.Info()
		date := time.Now()
		if fi != nil {
			date = fi.ModTime()
		}
		out = append(out, msg{uid: uint32(n), date: date, body: b})
	}
	slices.SortFunc(out, func(a, b msg) int { return int(a.uid) - int(b.uid) })
	return out, nil
}

func names(list, addr string) bool {
	for _, a := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(a), addr) {
			return true
		}
	}
	return false
}

type mailbox struct{ s *Server }

func (m *mailbox) Name() string { return "INBOX" }
func (m *mailbox) Info() (*imap.MailboxInfo, error) {
	return &imap.MailboxInfo{Delimiter: "/", Name: "INBOX"}, nil
}

func (m *mailbox) Status(items []imap.StatusItem) (*imap.MailboxStatus, error) {
	ms, err := m.s.messages()
	if err != nil {
		return nil, err
	}
	st := imap.NewMailboxStatus("INBOX", items)
	st.Flags = []string{imap.SeenFlag}
	st.PermanentFlags = []string{imap.SeenFlag}
	for _, it := range items {
		switch it {
		case imap.StatusMessages:
			st.Messages = uint32(len(ms))
		case imap.StatusUidNext:
			st.UidNext = 1
			if len(ms) > 0 {
				st.UidNext = ms[len(ms)-1].uid + 1
			}
		case imap.StatusUidValidity:
			st.UidValidity = m.s.uidValidity
		case imap.StatusUnseen:
			m.s.mu.Lock()
			for _, x := range ms {
				if !slices.Contains(m.s.flags[x.uid], imap.SeenFlag) {
					st.Unseen++
				}
			}
			m.s.mu.Unlock()
		}
	}
	return st, nil
}

func (m *mailbox) SetSubscribed(bool) error { return nil }
func (m *mailbox) Check() error             { return nil }

func (m *mailbox) ListMessages(uid bool, set *imap.SeqSet, items []imap.FetchItem, ch chan<- *imap.Message) error {
	defer close(ch)
	ms, err := m.s.messages()
	if err != nil {
		return err
	}
	for i, x := range ms {
		seq := uint32(i + 1)
		id := seq
		if uid {
			id = x.uid
		}
		if !set.Contains(id) {
			continue
		}
		f, err := m.fetch(seq, x, items)
		if err != nil {
			return err
		}
		ch <- f
	}
	return nil
}

func (m *mailbox) fetch(seq uint32, x msg, items []imap.FetchItem) (*imap.Message, error) {
	out := imap.NewMessage(seq, items)
	header := func() (textproto.Header, *bufio.Reader, error) {
		r := bufio.NewReader(bytes.NewReader(x.body))
		h, err := textproto.ReadHeader(r)
		return h, r, err
	}
	for _, it := range items {
		switch it {
		case imap.FetchEnvelope:
			h, _, err := header()
			if err != nil {
				return nil, err
			}
			out.Envelope, _ = backendutil.FetchEnvelope(h)
		case imap.FetchBody, imap.FetchBodyStructure:
			h, r, err := header()
			if err != nil {
				return nil, err
			}
			out.BodyStructure, _ = backendutil.FetchBodyStructure(h, r, it == imap.FetchBodyStructure)
		case imap.FetchFlags:
			m.s.mu.Lock()
			out.Flags = slices.Clone(m.s.flags[x.uid])
			m.s.mu.Unlock()
		case imap.FetchInternalDate:
			out.InternalDate = x.date
		case imap.FetchRFC822Size:
			out.Size = uint32(len(x.body))
		case imap.FetchUid:
			out.Uid = x.uid
		default:
			sec, err := imap.ParseBodySectionName(it)
			if err != nil {
				continue
			}
			h, r, err := header()
			if err != nil {
				return nil, err
			}
			l, err := backendutil.FetchBodySection(h, r, sec)
			if err != nil {
				return nil, err
			}
			out.Body[sec] = l
			if !sec.Peek {
				m.s.mu.Lock()
				m.s.flags[x.uid] = backendutil.UpdateFlags(m.s.flags[x.uid], imap.AddFlags, []string{imap.SeenFlag})
				m.s.mu.Unlock()
			}
		}
	}
	return out, nil
}

func (m *mailbox) SearchMessages(uid bool, c *imap.SearchCriteria) ([]uint32, error) {
	ms, err := m.s.messages()
	if err != nil {
		return nil, err
	}
	var ids []uint32
	for i, x := range ms {
		e, err := message.Read(bytes.NewReader(x.body))
		if err != nil && e == nil {
			continue
		}
		m.s.mu.Lock()
		fl := slices.Clone(m.s.flags[x.uid])
		m.s.mu.Unlock()
		if ok, _ := backendutil.Match(e, uint32(i+1), x.uid, x.date, fl, c); ok {
			if uid {
				ids = append(ids, x.uid)
			} else {
				ids = append(ids, uint32(i+1))
			}
		}
	}
	return ids, nil
}

func (m *mailbox) CreateMessage([]string, time.Time, imap.Literal) error { return errReadOnly }
func (m *mailbox) CopyMessages(bool, *imap.SeqSet, string) error         { return errReadOnly }
func (m *mailbox) Expunge() error                                        { return errReadOnly }

// UpdateMessagesFlags changes flags (\Seen, say); \Deleted is refused, since
// nothing here is ever deleted.
func (m *mailbox) UpdateMessagesFlags(uid bool, set *imap.SeqSet, op imap.FlagsOp, flags []string) error {
	if slices.Contains(flags, imap.DeletedFlag) {
		return errReadOnly
	}
	ms, err := m.s.messages()
	if err != nil {
		return err
	}
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	for i, x := range ms {
		id := uint32(i + 1)
		if uid {
			id = x.uid
		}
		if set.Contains(id) {
			m.s.flags[x.uid] = backendutil.UpdateFlags(m.s.flags[x.uid], op, flags)
		}
	}
	return nil
}
