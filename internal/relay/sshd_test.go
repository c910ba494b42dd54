package relay

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/testtool"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const sshdPath = "/usr/sbin/sshd"

// testKey is a generated key pair written in OpenSSH format.
type testKey struct {
	signer ssh.Signer
	path   string // private key file, 0600
}

func newKey(t testing.TB, dir, name, kind, passphrase string) testKey {
	t.Helper()
	return writeKey(t, dir, name, generate(t, kind), passphrase)
}

// hostKeys are generated once: RSA generation is slow on a busy machine and
// every sshd may share them (each test writes its own known_hosts).
var hostKeys = sync.OnceValues(func() (crypto.PrivateKey, crypto.PrivateKey) {
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return ed, rk
})

func generate(t testing.TB, kind string) crypto.PrivateKey {
	t.Helper()
	var priv crypto.PrivateKey
	switch kind {
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv = k
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		priv = k
	default:
		t.Fatalf("key kind %q", kind)
	}
	return priv
}

func writeKey(t testing.TB, dir, name string, priv crypto.PrivateKey, passphrase string) testKey {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase != "" {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, name, []byte(passphrase))
	} else {
		block, err = ssh.MarshalPrivateKey(priv, name)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return testKey{signer: s, path: p}
}

// sshdServer is a real OpenSSH sshd on a loopback port, with its own host
// keys and one authorised client key, serving internal-sftp.
type sshdServer struct {
	port      int
	dir       string // config, keys, logs
	drop      string // the remote directory uploads go to (absolute)
	hostKeys  []testKey
	client    testKey
	userName  string
	knownHost string // known_hosts file listing the ed25519 host key
}

// startSSHD starts sshd, or skips the test when sshd is not installed.
// extra lines are appended to sshd_config.
func startSSHD(t testing.TB, extra ...string) *sshdServer {
	t.Helper()
	testtool.Need(t, "openssh-server; scripts/install-deps.sh installs it", sshdPath)
	if os.Geteuid() == 0 {
		// sshd's privilege separation directory; a fresh container lacks it.
		_ = os.MkdirAll("/run/sshd", 0o755)
	}
	dir := t.TempDir()
	s := &sshdServer{dir: dir, drop: filepath.Join(dir, "drop")}
	if err := os.Mkdir(s.drop, 0o755); err != nil {
		t.Fatal(err)
	}
	ed, rk := hostKeys()
	s.hostKeys = []testKey{writeKey(t, dir, "host_ed25519", ed, ""), writeKey(t, dir, "host_rsa", rk, "")}
	s.client = newKey(t, dir, "client_ed25519", "ed25519", "")
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(s.client.signer.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	u := os.Getenv("USER")
	if out, err := exec.Command("id", "-un").Output(); err == nil {
		u = strings.TrimSpace(string(out))
	}
	s.userName = u

	for try := 0; ; try++ {
		s.port = freePort(t)
		cfg := []string{
			"HostKey " + s.hostKeys[0].path,
			"HostKey " + s.hostKeys[1].path,
			"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
			"StrictModes no", "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
			"PermitRootLogin prohibit-password",
			"ListenAddress 127.0.0.1", "Port " + strconv.Itoa(s.port),
			"PidFile " + filepath.Join(dir, "sshd.pid"),
			"Subsystem sftp internal-sftp",
			"LogLevel ERROR",
		}
		cfg = append(cfg, extra...)
		cfgPath := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(cfgPath, []byte(strings.Join(cfg, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgPath)
		cmd.Stdout, cmd.Stderr = &syncWriter{w: &log}, &syncWriter{w: &log}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if waitListening(s.port, exited) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
			})
			break
		}
		_ = cmd.Process.Kill()
		<-exited
		if try == 3 {
			t.Fatalf("sshd did not start: %s", log.String())
		}
	}
	s.knownHost = s.writeKnownHosts(t, "known_hosts", 0, s.hostKeys[0].signer.PublicKey())
	return s
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(port int, exited <-chan struct{}) bool {
	up := false
	testtool.Poll(10*time.Second, func() bool {
		select {
		case <-exited:
			return true // stop waiting: it will never listen
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
		if err == nil {
			c.Close()
			up = true
		}
		return up
	})
	return up
}

// writeKnownHosts writes a known_hosts file listing keys for this server.
// port 0 means the server's own port.
func (s *sshdServer) writeKnownHosts(t testing.TB, name string, port int, keys ...ssh.PublicKey) string {
	t.Helper()
	if port == 0 {
		port = s.port
	}
	var b strings.Builder
	addr := knownhosts.Normalize(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	for _, k := range keys {
		b.WriteString(knownhosts.Line([]string{addr}, k) + "\n")
	}
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// config is a relay Config for this server that should succeed.
func (s *sshdServer) config(t testing.TB) Config {
	return Config{
		Host: "127.0.0.1", Port: s.port, User: s.userName,
		KeyFile: s.client.path, KnownHosts: s.knownHost,
		RemoteDir: s.drop, Project: "NIC-402963-P0Y5D",
		ConnectTimeout: 10 * time.Second, OpTimeout: 20 * time.Second,
		Retries: -1,
		Now:     func() time.Time { return time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC) },
		Log:     testLogger(t),
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// dropFiles lists the names in dir, sorted.
func dropFiles(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// randomFile writes n random bytes to a new local file.
func randomFile(t testing.TB, n int64) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	p := filepath.Join(t.TempDir(), "archive.7z")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func fileEquals(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d sent", path, len(got), len(want))
	}
}
