package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// clientAuth holds the signers offered to the server.
type clientAuth struct {
	signers   []ssh.Signer
	agentConn net.Conn
}

func (a *clientAuth) close() {
	if a.agentConn != nil {
		_ = a.agentConn.Close()
	}
}

// loadAuth reads the key file (decrypting it with the passphrase) and, when
// asked, the agent's keys. All signers go into one publickey method, because
// x/crypto/ssh tries each method name once only.
func loadAuth(cfg *Config) (*clientAuth, error) {
	a := &clientAuth{}
	if cfg.KeyFile != "" {
		s, err := readKey(cfg.KeyFile, cfg.KeyPassphrase)
		if err != nil {
			return nil, err
		}
		a.signers = append(a.signers, s)
	}
	if cfg.UseAgent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, usererr.Errorf("start ssh-agent, or set SEFTBOT_SFTP_USE_AGENT=false",
				"SEFTBOT_SFTP_USE_AGENT is set but SSH_AUTH_SOCK is not")
		}
		c, err := net.Dial("unix", sock)
		if err != nil {
			return nil, usererr.New(fmt.Errorf("ssh-agent: %w", err), "check SSH_AUTH_SOCK")
		}
		a.agentConn = c
		ss, err := agent.NewClient(c).Signers()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("%w: ssh-agent: %w", ErrRelay, err)
		}
		a.signers = append(a.signers, ss...)
	}
	if len(a.signers) == 0 {
		a.close()
		return nil, usererr.Errorf("set SEFTBOT_SFTP_KEY_FILE, or load a key into ssh-agent",
			"no SSH key to authenticate with")
	}
	return a, nil
}

// readKey parses a private key file, refusing one that others can read (as
// OpenSSH does) and naming the passphrase setting when it is encrypted.
func readKey(path, passphrase string) (ssh.Signer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("SFTP key: %w", err), "check SEFTBOT_SFTP_KEY_FILE")
	}
	if err := config.CheckPrivate(path, st); err != nil {
		return nil, err
	}
	pem, err := safeio.ReadFile(path, "SEFTBOT_SFTP_KEY_FILE", 1<<20)
	if err != nil {
		return nil, fmt.Errorf("%w: SFTP key: %w", ErrRelay, err)
	}
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return s, nil
	case !errors.As(err, &missing):
		return nil, usererr.New(fmt.Errorf("SFTP key %s: %w", path, err), "SEFTBOT_SFTP_KEY_FILE must be an OpenSSH or PEM private key")
	case passphrase == "":
		return nil, usererr.Errorf("set SEFTBOT_SFTP_KEY_PASSPHRASE_FILE (or SEFTBOT_SFTP_KEY_PASSPHRASE)",
			fmt.Sprintf("SFTP key %s is encrypted and no passphrase is configured", path))
	}
	s, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
	if err != nil {
		// The error never contains the passphrase itself.
		return nil, usererr.New(fmt.Errorf("SFTP key %s: cannot decrypt: %w", path, err), "check SEFTBOT_SFTP_KEY_PASSPHRASE")
	}
	return s, nil
}

// hostKeyCheck verifies the server's key before authentication, so a refused
// host never sees our key, our name or a byte of the archive.
type hostKeyCheck struct {
	cfg      *Config
	callback ssh.HostKeyCallback
	algos    []string // HostKeyAlgorithms for the handshake
	source   string   // where the trusted key came from, for messages
	known    int      // keys known_hosts holds for this host (0 with a pin)
}

// newHostKeyCheck builds the callback from the pin or the known_hosts file.
// With known_hosts it also lists the algorithms of the keys known for this
// host: otherwise the server may offer a key type we hold no entry for and a
// good server is refused as "key mismatch" (golang/go#29286).
func newHostKeyCheck(cfg *Config) (*hostKeyCheck, error) {
	if cfg.HostKeyPin != "" {
		pin := cfg.HostKeyPin
		return &hostKeyCheck{cfg: cfg, source: "SEFTBOT_SFTP_HOST_KEY_PIN", algos: preferredHostKeyAlgos, callback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if ssh.FingerprintSHA256(key) == pin {
				return nil
			}
			return hostKeyErr(cfg, key, "does not match SEFTBOT_SFTP_HOST_KEY_PIN", true)
		}}, nil
	}
	if _, err := os.Stat(cfg.KnownHosts); errors.Is(err, os.ErrNotExist) {
		// No file means no known host: the same refusal, once we have a key to show.
		return &hostKeyCheck{cfg: cfg, source: cfg.KnownHosts, algos: preferredHostKeyAlgos, callback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			return hostKeyErr(cfg, key, fmt.Sprintf("is unknown: %s does not exist", cfg.KnownHosts), false)
		}}, nil
	}
	cb, err := knownhosts.New(cfg.KnownHosts)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("%w: %w", ErrHostKey, err), "fix or replace SEFTBOT_SFTP_KNOWN_HOSTS")
	}
	hk := &hostKeyCheck{cfg: cfg, source: cfg.KnownHosts}
	hk.callback = func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &re):
			return hostKeyErr(cfg, key, "is marked @revoked in "+cfg.KnownHosts, true)
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return hostKeyErr(cfg, key, "is unknown: no entry in "+cfg.KnownHosts, false)
		case errors.As(err, &ke):
			return hostKeyErr(cfg, key, "does not match the key in "+cfg.KnownHosts+" ("+knownList(ke.Want)+")", true)
		default:
			return fmt.Errorf("%w: %w", ErrHostKey, err)
		}
	}
	// Ask the database which keys it holds for this address: a throwaway key
	// never matches, and the KeyError lists what would have.
	_, probe, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	ps, err := ssh.NewSignerFromKey(probe)
	if err != nil {
		return nil, err
	}
	var ke *knownhosts.KeyError
	if err := cb(hk.addr(), &net.TCPAddr{IP: net.IPv4zero, Port: cfg.Port}, ps.PublicKey()); errors.As(err, &ke) {
		hk.known = len(ke.Want)
		for _, k := range ke.Want {
			hk.algos = append(hk.algos, algorithmsFor(k.Key.Type())...)
		}
	}
	hk.algos = slices.Compact(hk.algos)
	if len(hk.algos) == 0 {
		hk.algos = preferredHostKeyAlgos // unknown host: show the key ssh would show
	}
	return hk, nil
}

// preferredHostKeyAlgos is OpenSSH's client order (without certificates and
// SHA-1 RSA). It is used when there is nothing in known_hosts to go by, so
// that a pin or an "unknown host" fingerprint is that of the key `ssh` and
// ssh-keyscan show first, typically ed25519.
var preferredHostKeyAlgos = []string{
	ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
}

func (hk *hostKeyCheck) addr() string {
	return net.JoinHostPort(hk.cfg.Host, strconv.Itoa(hk.cfg.Port))
}

func knownList(want []knownhosts.KnownKey) string {
	var s []string
	for _, k := range want {
		s = append(s, fmt.Sprintf("%s %s at line %d", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Line))
	}
	return strings.Join(s, "; ")
}

// algorithmsFor maps a key type to the signature algorithms that prove it.
func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// hostKeyErr explains a refused key: its fingerprint, and how to check it
// with the drop's operators before trusting it. changed is a key that
// differs from the trusted one (possibly an impostor), not a new host.
func hostKeyErr(cfg *Config, key ssh.PublicKey, why string, changed bool) error {
	hostport := knownhosts.Normalize(net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	fp := ssh.FingerprintSHA256(key)
	msg := fmt.Sprintf("%s: %s offered %s key %s, which %s", ErrHostKey.Error(), hostport, key.Type(), fp, why)
	const oob = "out of band (phone, signed message; not over this network)"
	add := fmt.Sprintf("`ssh-keyscan -p %d -t %s %s >> %s`, then check that `ssh-keygen -lf %s` lists %s",
		cfg.Port, keyscanType(key.Type()), cfg.Host, cfg.KnownHosts, cfg.KnownHosts, fp)
	var hint string
	switch {
	case changed && cfg.HostKeyPin != "":
		hint = "the key CHANGED: this may be an impostor; do not relay. Only if the drop's operators confirm " + fp + " " + oob +
			" as their new key, set SEFTBOT_SFTP_HOST_KEY_PIN=" + fp
	case changed:
		hint = "the key CHANGED: this may be an impostor; do not relay. Only if the drop's operators confirm " + fp + " " + oob +
			" as their new key, remove the old entry from " + cfg.KnownHosts + " and run " + add
	default:
		hint = "confirm " + fp + " with the drop's operators " + oob + "; if it is theirs, run " + add +
			" (or set SEFTBOT_SFTP_HOST_KEY_PIN=" + fp + ")"
	}
	return usererr.New(&hostKeyError{msg: msg}, hint)
}

// keyscanType is the -t name ssh-keyscan uses for a key type.
func keyscanType(t string) string {
	switch {
	case t == ssh.KeyAlgoRSA:
		return "rsa"
	case strings.HasPrefix(t, "ecdsa-"):
		return "ecdsa"
	case strings.HasPrefix(t, "sk-ssh-ed25519"):
		return "ed25519-sk"
	case strings.HasPrefix(t, "sk-ecdsa"):
		return "ecdsa-sk"
	}
	return strings.TrimPrefix(t, "ssh-")
}

// hostKeyError is a refused host key; it wraps ErrHostKey for the exit table.
type hostKeyError struct{ msg string }

func (e *hostKeyError) Error() string { return e.msg }
func (e *hostKeyError) Unwrap() error { return ErrHostKey }

// session is one SSH connection with its SFTP client and stall watchdog.
type session struct {
	conn  net.Conn
	ssh   *ssh.Client
	sftp  *sftp.Client
	watch *watchdog

	sftpSess *ssh.Session
	stop     func() bool // detaches the context watcher
	log      *slog.Logger
}

func (s *session) close() {
	s.stop()
	s.watch.close()
	if s.sftp != nil {
		_ = s.sftp.Close()
		_ = s.sftpSess.Close()
	}
	if s.ssh != nil {
		_ = s.ssh.Close()
	}
	_ = s.conn.Close()
}

// dial connects, verifies the host key, authenticates and starts SFTP.
// Cancelling ctx or a stalled operation closes the TCP connection, which
// fails every pending SFTP request.
func (r *relayer) dial(ctx context.Context) (*session, error) {
	cfg := r.cfg
	d := net.Dialer{Timeout: cfg.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", r.hk.addr())
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", r.hk.addr(), err)
	}
	s := &session{conn: conn, log: cfg.Log}
	s.watch = newWatchdog(cfg.OpTimeout, func() { _ = conn.Close() })
	// On cancellation the upload stops at its next read (progressReader) and
	// the temporary file is removed over the live connection; closing it is
	// the backstop for an operation that is stuck.
	s.stop = context.AfterFunc(ctx, func() { time.AfterFunc(cancelGrace, func() { _ = conn.Close() }) })

	var hkErr error
	sshCfg := &ssh.ClientConfig{
		User: cfg.User,
		Auth: []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) { return r.auth.signers, nil })},
		HostKeyCallback: func(h string, a net.Addr, k ssh.PublicKey) error {
			hkErr = r.hk.callback(h, a, k)
			return hkErr
		},
		HostKeyAlgorithms: r.hk.algos,
		Timeout:           cfg.ConnectTimeout,
	}
	_ = conn.SetDeadline(time.Now().Add(cfg.ConnectTimeout))
	c, chans, reqs, err := ssh.NewClientConn(conn, r.hk.addr(), sshCfg)
	if err != nil {
		s.close()
		switch {
		case hkErr != nil:
			return nil, hkErr
		case strings.Contains(err.Error(), "unable to authenticate"):
			// x/crypto/ssh has no typed error for this.
			return nil, usererr.New(fmt.Errorf("%w: %s@%s refused our key: %w", ErrRelay, cfg.User, r.hk.addr(), err),
				"check SEFTBOT_SFTP_USER and that the drop authorises the public half of SEFTBOT_SFTP_KEY_FILE")
		}
		return nil, fmt.Errorf("ssh %s: %w", r.hk.addr(), err)
	}
	_ = conn.SetDeadline(time.Time{})
	s.ssh = ssh.NewClient(c, chans, reqs)
	cfg.Log.Debug("ssh connected", "addr", r.hk.addr(), "host_key_checked_by", r.hk.source, "server", string(c.ServerVersion()))

	var wl int
	err = s.guard(func() (err error) { wl, err = writeLength(s.ssh); return err })
	if err != nil {
		cfg.Log.Debug("limits@openssh.com query failed; writing 32 KiB requests", "err", err)
		if s.watch.fired() {
			s.close()
			return nil, err
		}
	}
	cfg.Log.Debug("sftp write length", "bytes", wl)
	done := s.watch.start()
	s.sftp, s.sftpSess, err = startSFTP(s.ssh, sftp.MaxConcurrentRequestsPerFile(cfg.Concurrency), sftp.MaxPacketUnchecked(wl))
	done()
	if err != nil {
		s.close()
		if s.watch.fired() {
			err = errStalled
		}
		return nil, fmt.Errorf("sftp subsystem: %w", err)
	}
	return s, nil
}

// cancelGrace is how long a cancelled relay may take to clean up.
const cancelGrace = 3 * time.Second

// errStalled reports an operation that made no progress for OpTimeout; the
// connection was closed and the attempt is retried.
var errStalled = errors.New("operation stalled past the op timeout; connection closed")

// watchdog closes the connection when a guarded operation stalls. pkg/sftp
// takes no contexts, so closing the transport is the one way to unblock it.
type watchdog struct {
	timeout time.Duration
	kill    func()
	mu      sync.Mutex
	timer   *time.Timer
	last    atomic.Int64 // unix nanos of the last progress
	hit     atomic.Bool
}

func newWatchdog(timeout time.Duration, kill func()) *watchdog {
	w := &watchdog{timeout: timeout, kill: kill}
	return w
}

// start guards one operation until the returned func is called. touch
// pushes the deadline back while it makes progress.
func (w *watchdog) start() (done func()) {
	w.touch()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = time.AfterFunc(w.timeout, w.check)
	t := w.timer
	return func() { t.Stop() }
}

func (w *watchdog) check() {
	idle := time.Since(time.Unix(0, w.last.Load()))
	if idle < w.timeout {
		w.mu.Lock()
		w.timer.Reset(w.timeout - idle)
		w.mu.Unlock()
		return
	}
	w.hit.Store(true)
	w.kill()
}

func (w *watchdog) touch()      { w.last.Store(time.Now().UnixNano()) }
func (w *watchdog) fired() bool { return w.hit.Load() }
func (w *watchdog) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
}

// guard runs op under the watchdog, turning a kill into errStalled.
func (s *session) guard(op func() error) error {
	done := s.watch.start()
	err := op()
	done()
	if err != nil && s.watch.fired() {
		return fmt.Errorf("%w (%w)", errStalled, err)
	}
	return err
}

// retryable says whether err looks like a lost or stalled connection, the
// only failures worth a fresh attempt. Anything else (host key, auth,
// permission, disk full, a server "failure" status) is permanent.
func retryable(err error) bool {
	if err == nil || errors.Is(err, ErrHostKey) || usererr.Is(err) {
		return false
	}
	var ne net.Error
	switch {
	case errors.Is(err, errStalled),
		errors.Is(err, sftp.ErrSSHFxConnectionLost),
		errors.Is(err, sftp.ErrSSHFxNoConnection),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.As(err, &ne):
		return true
	}
	var se *sftp.StatusError
	if errors.As(err, &se) {
		return se.FxCode() == sftp.ErrSSHFxConnectionLost || se.FxCode() == sftp.ErrSSHFxNoConnection
	}
	return false
}
