package sftpdrop_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/isaric/seftbot/internal/sim/sftpdrop"
	"github.com/isaric/seftbot/internal/testtool"
)

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type drop struct {
	*sftpdrop.Server
	dir, root, events, routed string
	hostKey, clientKey        ssh.Signer
}

func startDrop(t *testing.T) *drop {
	t.Helper()
	dir := t.TempDir()
	d := &drop{
		dir: dir, root: filepath.Join(dir, "sftp"),
		events: filepath.Join(dir, "sftp-events.jsonl"), routed: filepath.Join(dir, "sftp-routed.jsonl"),
		hostKey: newSigner(t), clientKey: newSigner(t),
	}
	if err := os.Mkdir(d.root, 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := sftpdrop.Start(sftpdrop.Options{
		Root: d.root, HostKey: d.hostKey, User: "analyst", AuthorizedKey: d.clientKey.PublicKey(),
		EventLog: d.events, RoutedLog: d.routed,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d.Server = s
	return d
}

func (d *drop) sshDial(user string, key ssh.Signer, hostKey ssh.PublicKey) (*ssh.Client, error) {
	return ssh.Dial("tcp", d.Addr(), &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
	})
}

// client logs in as the authorised user, checking the real host key.
func (d *drop) client(t *testing.T) *sftp.Client {
	t.Helper()
	sc, err := d.sshDial("analyst", d.clientKey, d.hostKey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	c, err := sftp.NewClient(sc)
	if err != nil {
		sc.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); sc.Close() })
	return c
}

func put(t *testing.T, c *sftp.Client, name string, data []byte) {
	t.Helper()
	f, err := c.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func payload(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func (d *drop) logs(t *testing.T) ([]sftpdrop.Event, []sftpdrop.Routed) {
	t.Helper()
	ev, err := sftpdrop.ReadEvents(d.events)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := sftpdrop.ReadRouted(d.routed)
	if err != nil {
		t.Fatal(err)
	}
	return ev, ro
}

func TestHostKey(t *testing.T) {
	d := startDrop(t)
	c, err := d.sshDial("analyst", d.clientKey, d.hostKey.PublicKey())
	if err != nil {
		t.Fatalf("right host key refused: %v", err)
	}
	c.Close()
	_, err = d.sshDial("analyst", d.clientKey, newSigner(t).PublicKey())
	if err == nil || !strings.Contains(err.Error(), "host key mismatch") {
		t.Fatalf("wrong expected host key: err = %v, want host key mismatch", err)
	}
}

func TestAuthRefused(t *testing.T) {
	d := startDrop(t)
	if _, err := d.sshDial("analyst", newSigner(t), d.hostKey.PublicKey()); err == nil {
		t.Fatal("a key that is not authorised logged in")
	}
	if _, err := d.sshDial("root", d.clientKey, d.hostKey.PublicKey()); err == nil {
		t.Fatal("the authorised key logged in as another user")
	}
	// Password auth is not offered at all.
	_, err := ssh.Dial("tcp", d.Addr(), &ssh.ClientConfig{
		User: "analyst", Auth: []ssh.AuthMethod{ssh.Password("x")},
		HostKeyCallback: ssh.FixedHostKey(d.hostKey.PublicKey()),
	})
	if err == nil {
		t.Fatal("password auth accepted")
	}
}

// The atomic relay: upload under a name routing ignores, close, rename.
func TestRouteByRenameAndEventLog(t *testing.T) {
	d := startDrop(t)
	c := d.client(t)
	data := payload(100_000)
	if err := c.Mkdir("/incoming"); err != nil {
		t.Fatal(err)
	}
	put(t, c, "/incoming/.part-a", data)
	if err := c.Rename("/incoming/.part-a", "/incoming/isaric-a.7z"); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove("/incoming/isaric-a.7z"); err != nil {
		t.Fatal(err)
	}

	ev, ro := d.logs(t)
	want := []sftpdrop.Routed{{Name: "/incoming/isaric-a.7z", Size: int64(len(data)), SHA256: sum(data)}}
	for i := range ro {
		ro[i].Time = want[0].Time
	}
	if !slices.Equal(ro, want) {
		t.Fatalf("routed = %+v, want %+v", ro, want)
	}
	var ops []string
	var last int64
	for _, e := range ev {
		if e.Time.IsZero() {
			t.Errorf("event without time: %+v", e)
		}
		if e.Op == "write" {
			if e.Name != "/incoming/.part-a" || e.Size < last {
				t.Errorf("bad write event %+v after size %d", e, last)
			}
			last = e.Size
			continue
		}
		ops = append(ops, e.Op+" "+e.Name)
	}
	wantOps := []string{"mkdir /incoming", "create /incoming/.part-a", "close /incoming/.part-a",
		"rename /incoming/isaric-a.7z", "remove /incoming/isaric-a.7z"}
	if !slices.Equal(ops, wantOps) || last != int64(len(data)) {
		t.Fatalf("ops = %q (last write size %d), want %q", ops, last, wantOps)
	}
	if r := ev[len(ev)-2]; r.From != "/incoming/.part-a" || r.Size != int64(len(data)) {
		t.Fatalf("rename event = %+v", r)
	}
	if p := sftpdrop.PartialRouted(ev, ro); len(p) != 0 {
		t.Fatalf("atomic relay flagged as partial: %q", p)
	}
}

// Writing straight to an isaric-* name is routed on close, and flagged.
func TestRouteByCloseIsFlagged(t *testing.T) {
	d := startDrop(t)
	c := d.client(t)
	data := payload(70_000)
	put(t, c, "isaric-direct.7z", data) // relative: the root is home
	ev, ro := d.logs(t)
	if len(ro) != 1 || ro[0].Name != "/isaric-direct.7z" || ro[0].Size != int64(len(data)) || ro[0].SHA256 != sum(data) {
		t.Fatalf("routed = %+v", ro)
	}
	if p := sftpdrop.PartialRouted(ev, ro); !slices.Equal(p, []string{"/isaric-direct.7z"}) {
		t.Fatalf("PartialRouted = %q, want the direct upload", p)
	}
	got, err := os.ReadFile(filepath.Join(d.root, "isaric-direct.7z"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file on disk differs (err %v)", err)
	}
}

func TestRenameOverExisting(t *testing.T) {
	d := startDrop(t)
	c := d.client(t)
	put(t, c, "/old", []byte("old"))
	put(t, c, "/new", []byte("new!"))

	err := c.Rename("/new", "/old")
	var se *sftp.StatusError
	if !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxFailure {
		t.Fatalf("plain rename onto an existing name: err = %v, want SSH_FX_FAILURE", err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.root, "old")); string(b) != "old" {
		t.Fatalf("target changed to %q", b)
	}

	if err := c.PosixRename("/new", "/old"); err != nil {
		t.Fatalf("posix-rename: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.root, "old")); string(b) != "new!" {
		t.Fatalf("posix-rename left %q", b)
	}

	d.SetFaults(sftpdrop.Faults{NoOverwrite: true})
	if !d.Faults().NoOverwrite {
		t.Fatal("Faults() does not report NoOverwrite")
	}
	put(t, c, "/newer", []byte("newer"))
	if err := c.PosixRename("/newer", "/old"); err == nil {
		t.Fatal("posix-rename overwrote with NoOverwrite on")
	}
	if err := c.PosixRename("/newer", "/fresh"); err != nil {
		t.Fatalf("NoOverwrite refused a rename onto a free name: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(d.root, "old")); string(b) != "new!" {
		t.Fatalf("target changed to %q under NoOverwrite", b)
	}
}

func TestDropAfter(t *testing.T) {
	d := startDrop(t)
	d.SetFaults(sftpdrop.Faults{DropAfter: 1000})
	c := d.client(t)
	f, err := c.Create("/isaric-cut.7z")
	if err != nil {
		t.Fatal(err)
	}
	_, werr := f.Write(payload(10_000))
	cerr := f.Close()
	if werr == nil && cerr == nil {
		t.Fatal("upload survived the drop fault")
	}
	if got := d.Faults().DropAfter; got != 0 {
		t.Fatalf("DropAfter = %d after firing, want 0 (one shot)", got)
	}
	if _, err := c.Stat("/"); err == nil {
		t.Fatal("connection still usable after the cut")
	}

	// The cut upload was closed by the server and routed half-written:
	// exactly the incident the relay must prevent, and the checker sees it.
	waitFor(t, func() bool { _, ro := d.logs(t); return len(ro) == 1 })
	ev, ro := d.logs(t)
	if ro[0].Size != 1000 {
		t.Fatalf("routed %+v, want the 1000 bytes written before the cut", ro[0])
	}
	if p := sftpdrop.PartialRouted(ev, ro); !slices.Equal(p, []string{"/isaric-cut.7z"}) {
		t.Fatalf("PartialRouted = %q", p)
	}

	// Disarmed: the next upload on a new connection goes through.
	c2 := d.client(t)
	data := payload(10_000)
	put(t, c2, "/whole", data)
	if b, _ := os.ReadFile(filepath.Join(d.root, "whole")); !bytes.Equal(b, data) {
		t.Fatal("second upload incomplete")
	}
}

func TestTraversalConfined(t *testing.T) {
	d := startDrop(t)
	outside := filepath.Join(d.dir, "outside")
	if err := os.Mkdir(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(d.root, "link")); err != nil {
		t.Fatal(err)
	}
	c := d.client(t)

	// "../" is clamped at the root, as in a chroot: nothing lands beside it.
	put(t, c, "../../escaped", []byte("x"))
	if _, err := os.Stat(filepath.Join(d.dir, "escaped")); err == nil {
		t.Fatal("../ wrote outside the root")
	}
	if _, err := os.Stat(filepath.Join(d.root, "escaped")); err != nil {
		t.Fatalf("../escaped not clamped into the root: %v", err)
	}
	if _, err := c.Open("/../outside/secret"); err == nil {
		t.Fatal("read outside the root via ../")
	}
	// A symlink that points out of the root is refused.
	if _, err := c.Open("/link/secret"); err == nil {
		t.Fatal("read outside the root via a symlink")
	}
	if _, err := c.Create("/link/planted"); err == nil {
		t.Fatal("wrote outside the root via a symlink")
	}
	if err := c.Symlink("/", "/newlink"); err == nil {
		t.Fatal("symlink creation allowed")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); err == nil {
		t.Fatal("file planted outside the root")
	}
}

func TestExecSHA256Sum(t *testing.T) {
	d := startDrop(t)
	c := d.client(t)
	data := payload(5000)
	put(t, c, "/isaric-h.7z", data)
	sc, err := d.sshDial("analyst", d.clientKey, d.hostKey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	run := func(cmd string) (string, error) {
		s, err := sc.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out, err := s.Output(cmd)
		return string(out), err
	}
	if err := c.Rename("/isaric-h.7z", "/it's here.7z"); err != nil {
		t.Fatal(err)
	}
	for cmd, p := range map[string]string{
		"sha256sum /it\\'s\\ here.7z":  "/it's here.7z",
		`sha256sum '/it'\''s here.7z'`: "/it's here.7z",
		"sha256sum 'it'\\''s here.7z'": "it's here.7z", // relative to the root
	} {
		out, err := run(cmd)
		if err != nil || out != sum(data)+"  "+p+"\n" {
			t.Fatalf("%s: %q, %v", cmd, out, err)
		}
	}
	for cmd, code := range map[string]int{"ls /": 127, "sha256sum ../../../etc/passwd": 1, "sha256sum /a;id": 2} {
		_, err := run(cmd)
		var ee *ssh.ExitError
		if !errors.As(err, &ee) || ee.ExitStatus() != code {
			t.Errorf("%s: err = %v, want exit %d", cmd, err, code)
		}
	}
}

func TestStatVFS(t *testing.T) {
	d := startDrop(t)
	st, err := d.client(t).StatVFS("/")
	if err != nil {
		t.Fatal(err)
	}
	if st.Blocks == 0 || st.Frsize == 0 {
		t.Fatalf("statvfs = %+v", st)
	}
}

// waitFor polls cond for up to 5 s: the server finishes a cut connection
// asynchronously.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	testtool.WaitFor(t, 5*time.Second, "the server's side of the cut connection", cond)
}

// Close must not wait for a client that connected and never spoke.
func TestCloseWithSilentClient(t *testing.T) {
	d := startDrop(t)
	nc, err := net.Dial("tcp", d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// The server has accepted it once it sends its version line.
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(nc).ReadString('\n'); err != nil || !strings.HasPrefix(line, "SSH-2.0-") {
		t.Fatalf("no SSH version line from the server: %q %v", line, err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a silent client")
	}
}
