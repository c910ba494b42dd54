package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/isaric/seftbot/internal/testtool"
	"github.com/isaric/seftbot/internal/usererr"
)

// tlogWriter sends log lines to t.Log, so they show only for failures.
type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestInteropOpenSSH relays to a real OpenSSH sshd: the hash is compared
// over exec, the final name is the template's, and nothing else is left.
func TestInteropOpenSSH(t *testing.T) {
	s := startSSHD(t)
	local, data := randomFile(t, 3<<20+17)
	cfg := s.config(t)
	var progress atomic.Int64
	cfg.Progress = func(n int64) { progress.Add(n) }
	res, err := Relay(context.Background(), cfg, local)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(s.drop, "isaric-NIC-402963-P0Y5D-20261122.7z")
	if res.RemotePath != want || res.Bytes != int64(len(data)) || res.Check != "sha256" || res.Attempts != 1 {
		t.Fatalf("result %+v, want %s, %d bytes, sha256, 1 attempt", res, want, len(data))
	}
	fileEquals(t, want, data)
	if got := dropFiles(t, s.drop); !slices.Equal(got, []string{filepath.Base(want)}) {
		t.Fatalf("drop holds %v", got)
	}
	if progress.Load() != int64(len(data)) {
		t.Fatalf("progress counted %d bytes, want %d", progress.Load(), len(data))
	}
	// OpenSSH (8.7 and later) announces limits@openssh.com: we write as
	// large requests as its own sftp client does.
	cfg.setDefaults()
	sess := dialForTest(t, &cfg)
	if _, ok := sess.sftp.HasExtension("limits@openssh.com"); ok {
		if wl, err := writeLength(sess.ssh); err != nil || wl != maxWriteLen {
			t.Fatalf("write length %d, %v; want %d", wl, err, maxWriteLen)
		}
	}
}

// TestSameDaySuffix: a second relay on the same London day gets -2, a third
// -3; the first is untouched.
func TestSameDaySuffix(t *testing.T) {
	s := startSSHD(t)
	cfg := s.config(t)
	var sent [][]byte
	for i := range 3 {
		local, data := randomFile(t, int64(1000+i))
		sent = append(sent, data)
		if _, err := Relay(context.Background(), cfg, local); err != nil {
			t.Fatal(err)
		}
	}
	names := []string{"isaric-NIC-402963-P0Y5D-20261122.7z", "isaric-NIC-402963-P0Y5D-20261122-2.7z", "isaric-NIC-402963-P0Y5D-20261122-3.7z"}
	if got := dropFiles(t, s.drop); !slices.Equal(got, slices.Sorted(slices.Values(names))) {
		t.Fatalf("drop holds %v, want %v", got, names)
	}
	for i, n := range names {
		fileEquals(t, filepath.Join(s.drop, n), sent[i])
	}
}

// TestRenameNeverOverwrites calls the hand-over's rename onto an existing
// name directly: OpenSSH refuses it and the existing file is untouched.
func TestRenameNeverOverwrites(t *testing.T) {
	s := startSSHD(t)
	cfg := s.config(t)
	cfg.setDefaults()
	existing := filepath.Join(s.drop, "isaric-existing.7z")
	if err := os.WriteFile(existing, []byte("delivered earlier"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.drop, ".upload-x.part"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	sess := dialForTest(t, &cfg)
	if err := renameNoReplace(sess, filepath.Join(s.drop, ".upload-x.part"), existing); err == nil {
		t.Fatal("rename onto an existing name succeeded")
	}
	fileEquals(t, existing, []byte("delivered earlier"))
}

func dialForTest(t testing.TB, cfg *Config) *session {
	t.Helper()
	auth, err := loadAuth(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(auth.close)
	hk, err := newHostKeyCheck(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &relayer{cfg: cfg, auth: auth, hk: hk}
	sess, err := r.dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.close)
	return sess
}

// TestHostKeyRefused: an unknown key, a changed key and a wrong pin are all
// refused before authentication, with the offered fingerprint and a hint;
// nothing reaches the drop and nothing is retried.
func TestHostKeyRefused(t *testing.T) {
	s := startSSHD(t)
	other := newKey(t, t.TempDir(), "other", "ed25519", "")
	offered := ssh.FingerprintSHA256(s.hostKeys[0].signer.PublicKey())
	cases := []struct {
		name, knownHosts, pin, wantMsg, wantHint string
	}{
		{"unknown", s.writeKnownHosts(t, "kh_empty", 0), "", "is unknown", "ssh-keyscan -p " + strconv.Itoa(s.port)},
		{"missing file", filepath.Join(s.dir, "nope"), "", "does not exist", "ssh-keyscan"},
		{"changed", s.writeKnownHosts(t, "kh_other", 0, other.signer.PublicKey()), "", "does not match", "CHANGED"},
		{"wrong pin", s.knownHost, ssh.FingerprintSHA256(other.signer.PublicKey()), "does not match SEFTBOT_SFTP_HOST_KEY_PIN", "CHANGED"},
	}
	local, _ := randomFile(t, 4096)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := s.config(t)
			cfg.KnownHosts, cfg.HostKeyPin = c.knownHosts, c.pin
			cfg.Retries = 3
			res, err := Relay(context.Background(), cfg, local)
			if !errors.Is(err, ErrHostKey) || errors.Is(err, ErrRelay) {
				t.Fatalf("got %v, %v; want ErrHostKey only", res, err)
			}
			if !strings.Contains(err.Error(), offered) || !strings.Contains(err.Error(), c.wantMsg) {
				t.Fatalf("error %q lacks fingerprint %s or %q", err, offered, c.wantMsg)
			}
			if h := usererr.Hint(err); !strings.Contains(h, c.wantHint) || !strings.Contains(h, offered) {
				t.Fatalf("hint %q lacks %q", h, c.wantHint)
			}
			if got := dropFiles(t, s.drop); len(got) != 0 {
				t.Fatalf("drop holds %v", got)
			}
		})
	}
	t.Run("right pin", func(t *testing.T) {
		cfg := s.config(t)
		cfg.KnownHosts, cfg.HostKeyPin = filepath.Join(s.dir, "nope"), offered
		if _, err := Relay(context.Background(), cfg, local); err != nil {
			t.Fatal(err)
		}
	})
}

// TestKnownHostsAlgorithms: known_hosts holds only the server's RSA key
// while the server prefers ed25519. Without HostKeyAlgorithms taken from
// known_hosts the handshake would pick ed25519 and report a mismatch
// (golang/go#29286).
func TestKnownHostsAlgorithms(t *testing.T) {
	s := startSSHD(t)
	cfg := s.config(t)
	cfg.KnownHosts = s.writeKnownHosts(t, "kh_rsa", 0, s.hostKeys[1].signer.PublicKey())
	local, data := randomFile(t, 10_000)
	res, err := Relay(context.Background(), cfg, local)
	if err != nil {
		t.Fatal(err)
	}
	fileEquals(t, res.RemotePath, data)
}

// TestClientKeys: a key the server does not authorise fails at once with a
// user error (not a host-key error, not retried); an encrypted key works
// with its passphrase and is refused clearly without it.
func TestClientKeys(t *testing.T) {
	s := startSSHD(t)
	local, data := randomFile(t, 5000)

	t.Run("unauthorised", func(t *testing.T) {
		cfg := s.config(t)
		cfg.KeyFile = newKey(t, t.TempDir(), "stranger", "ed25519", "").path
		cfg.Retries = 3
		start := time.Now()
		_, err := Relay(context.Background(), cfg, local)
		if !errors.Is(err, ErrRelay) || errors.Is(err, ErrHostKey) || !usererr.Is(err) {
			t.Fatalf("got %v; want a user ErrRelay", err)
		}
		if !strings.Contains(err.Error(), "refused our key") || time.Since(start) > backoffBase {
			t.Fatalf("%v after %v: want an immediate auth refusal", err, time.Since(start))
		}
	})

	enc := newKey(t, t.TempDir(), "enc", "ed25519", "correct horse")
	if err := os.WriteFile(filepath.Join(s.dir, "authorized_keys"), ssh.MarshalAuthorizedKey(enc.signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("encrypted without passphrase", func(t *testing.T) {
		cfg := s.config(t)
		cfg.KeyFile = enc.path
		_, err := Relay(context.Background(), cfg, local)
		if !usererr.Is(err) || !strings.Contains(usererr.Hint(err), "SEFTBOT_SFTP_KEY_PASSPHRASE") {
			t.Fatalf("got %v (hint %q)", err, usererr.Hint(err))
		}
	})
	t.Run("encrypted wrong passphrase", func(t *testing.T) {
		cfg := s.config(t)
		cfg.KeyFile, cfg.KeyPassphrase = enc.path, "wrong horse"
		_, err := Relay(context.Background(), cfg, local)
		if !usererr.Is(err) || strings.Contains(err.Error(), "wrong horse") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("encrypted with passphrase", func(t *testing.T) {
		cfg := s.config(t)
		cfg.KeyFile, cfg.KeyPassphrase = enc.path, "correct horse"
		res, err := Relay(context.Background(), cfg, local)
		if err != nil {
			t.Fatal(err)
		}
		fileEquals(t, res.RemotePath, data)
	})
	t.Run("key readable by others", func(t *testing.T) {
		if err := os.Chmod(enc.path, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := s.config(t)
		cfg.KeyFile, cfg.KeyPassphrase = enc.path, "correct horse"
		if _, err := Relay(context.Background(), cfg, local); !usererr.Is(err) || !strings.Contains(err.Error(), "accessible by other users") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestPermanentNotRetried: a missing remote directory is reported at once
// with a hint, not retried.
func TestPermanentNotRetried(t *testing.T) {
	s := startSSHD(t)
	cfg := s.config(t)
	cfg.RemoteDir = filepath.Join(s.drop, "no-such-dir")
	cfg.Retries = 3
	local, _ := randomFile(t, 5000)
	_, err := Relay(context.Background(), cfg, local)
	// A retried failure says "after N attempts" (wrapFinal); this one must
	// have been given up after the first, whatever the machine's load.
	if !errors.Is(err, ErrRelay) || !usererr.Is(err) || strings.Contains(err.Error(), "attempts") {
		t.Fatalf("got %v; want a user ErrRelay after one attempt", err)
	}
}

// faultProxy forwards TCP to target. The first connection is cut (or, with
// stall, silently stops forwarding) once clientBytes bytes have gone from
// client to server; later connections pass untouched.
type faultProxy struct {
	ln          net.Listener
	target      string
	clientBytes int64
	stall       bool
	conns       atomic.Int32
	mu          sync.Mutex
	open        []net.Conn
}

func startProxy(t testing.TB, target string, clientBytes int64, stall bool) *faultProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, clientBytes: clientBytes, stall: stall}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.open {
			c.Close()
		}
		p.mu.Unlock()
	})
	go p.serve()
	return p
}

func (p *faultProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *faultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		n := p.conns.Add(1)
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.open = append(p.open, c, u)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(c, u); c.Close() }()
		go func() {
			if n == 1 {
				_, _ = io.CopyN(u, c, p.clientBytes)
				if p.stall {
					return // keep both ends open, forward nothing more
				}
				c.Close()
				u.Close()
				return
			}
			_, _ = io.Copy(u, c)
			u.Close()
		}()
	}
}

// TestRetryAfterDrop: the connection is cut half way through the upload;
// the relay reconnects, uploads onto a fresh temporary name, removes the
// half-written one and delivers the whole archive under the final name.
func TestRetryAfterDrop(t *testing.T) {
	for _, stall := range []bool{false, true} {
		t.Run(map[bool]string{false: "cut", true: "stall"}[stall], func(t *testing.T) {
			s := startSSHD(t)
			const size = 4 << 20
			p := startProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), size/2, stall)
			cfg := s.config(t)
			cfg.Port, cfg.Retries = p.port(), 2
			cfg.KnownHosts = s.writeKnownHosts(t, "kh_proxy", p.port(), s.hostKeys[0].signer.PublicKey())
			if stall {
				cfg.OpTimeout = time.Second
			}
			var progress atomic.Int64
			cfg.Progress = func(n int64) { progress.Add(n) }
			local, data := randomFile(t, size)
			res, err := Relay(context.Background(), cfg, local)
			if err != nil {
				t.Fatal(err)
			}
			if res.Attempts != 2 || p.conns.Load() != 2 {
				t.Fatalf("%d attempts over %d connections, want 2", res.Attempts, p.conns.Load())
			}
			fileEquals(t, res.RemotePath, data)
			if got := dropFiles(t, s.drop); len(got) != 1 {
				t.Fatalf("drop holds %v; want only the archive", got)
			}
			if progress.Load() != size {
				t.Fatalf("progress ends at %d, want %d", progress.Load(), size)
			}
		})
	}
}

// smallDisk mounts a 1 MiB tmpfs in the drop, or skips where mounting is
// not allowed.
func smallDisk(t *testing.T, s *sshdServer) string {
	t.Helper()
	dir := filepath.Join(s.drop, "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		testtool.Missing(t, fmt.Sprintf("cannot mount a small tmpfs to fill (needs root): %v %s", err, out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	return dir
}

// TestDiskFull: a drop without room is a permanent, clearly reported error,
// whether statvfs catches it before the upload or a write fails on it; the
// temporary file is removed either way.
func TestDiskFull(t *testing.T) {
	s := startSSHD(t)
	dir := smallDisk(t, s)
	cfg := s.config(t)
	cfg.RemoteDir, cfg.Retries = dir, 3
	local, _ := randomFile(t, 3<<20)

	start := time.Now()
	_, err := Relay(context.Background(), cfg, local)
	if !errors.Is(err, ErrRelay) || !usererr.Is(err) || !strings.Contains(err.Error(), "disk full") || time.Since(start) > backoffBase {
		t.Fatalf("got %v after %v; want an immediate disk-full user error", err, time.Since(start))
	}

	// Past the statvfs check: the write itself fails with ENOSPC.
	cfg.setDefaults()
	sess := dialForTest(t, &cfg)
	f, err := os.Open(local)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &relayer{cfg: &cfg, local: f, size: 3 << 20, hashProbed: true}
	tmp := filepath.Join(dir, tempName())
	rf, err := sess.sftp.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.upload(context.Background(), sess, rf, tmp, 1)
	if retryable(err) || !usererr.Is(err) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("got %v (retryable %v); want a permanent disk-full user error", err, retryable(err))
	}
	if r.cleanup(sess, tmp) != "" || len(dropFiles(t, dir)) != 0 {
		t.Fatalf("temporary file left: %v", dropFiles(t, dir))
	}
}

// TestAgent authenticates with a key held only by a real ssh-agent.
func TestAgent(t *testing.T) {
	agentBin := testtool.Need(t, "openssh-client; scripts/install-deps.sh installs it", "ssh-agent")
	s := startSSHD(t)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agentCmd := exec.Command(agentBin, "-D", "-a", sock)
	if err := agentCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agentCmd.Process.Kill(); _ = agentCmd.Wait() })
	testtool.WaitFor(t, 5*time.Second, "ssh-agent's socket", func() bool { _, err := os.Stat(sock); return err == nil })
	add := exec.Command("ssh-add", "-q", s.client.path)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v %s", err, out)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	cfg := s.config(t)
	cfg.KeyFile, cfg.UseAgent = "", true
	local, data := randomFile(t, 20_000)
	res, err := Relay(context.Background(), cfg, local)
	if err != nil {
		t.Fatal(err)
	}
	fileEquals(t, res.RemotePath, data)

	t.Setenv("SSH_AUTH_SOCK", "")
	if _, err := Relay(context.Background(), cfg, local); !usererr.Is(err) || !strings.Contains(err.Error(), "SSH_AUTH_SOCK is not") {
		t.Fatalf("without an agent: got %v", err)
	}
}
