package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/isaric/seftbot/internal/sim/sftpdrop"
	"github.com/isaric/seftbot/internal/usererr"
)

// simDrop is seftsim's in-process SFTP drop with its event and routed logs.
type simDrop struct {
	*sftpdrop.Server
	root, events, routed string
	hostKey, client      testKey
	knownHosts           string
}

func startDrop(t *testing.T) *simDrop {
	t.Helper()
	dir := t.TempDir()
	d := &simDrop{
		root: filepath.Join(dir, "sftp"), events: filepath.Join(dir, "sftp-events.jsonl"),
		routed:  filepath.Join(dir, "sftp-routed.jsonl"),
		hostKey: newKey(t, dir, "host", "ed25519", ""), client: newKey(t, dir, "client_ed25519", "ed25519", ""),
	}
	if err := os.Mkdir(d.root, 0o700); err != nil {
		t.Fatal(err)
	}
	srv, err := sftpdrop.Start(sftpdrop.Options{
		Root: d.root, HostKey: d.hostKey.signer, User: "analyst", AuthorizedKey: d.client.signer.PublicKey(),
		EventLog: d.events, RoutedLog: d.routed,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	d.Server = srv
	d.knownHosts = filepath.Join(dir, "known_hosts")
	d.writeKnownHosts(t, d.knownHosts, d.hostKey.signer.PublicKey())
	return d
}

func (d *simDrop) writeKnownHosts(t *testing.T, path string, key ssh.PublicKey) {
	t.Helper()
	line := knownhosts.Line([]string{knownhosts.Normalize(d.Addr())}, key) + "\n"
	if err := os.WriteFile(path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (d *simDrop) config(t *testing.T) Config {
	host, port, _ := net.SplitHostPort(d.Addr())
	p, _ := strconv.Atoi(port)
	return Config{
		Host: host, Port: p, User: "analyst", KeyFile: d.client.path, KnownHosts: d.knownHosts,
		RemoteDir: "/", Project: "NIC-402963-P0Y5D",
		ConnectTimeout: 10 * time.Second, OpTimeout: 20 * time.Second, Retries: -1,
		Now: func() time.Time { return time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC) },
		Log: testLogger(t),
	}
}

// logs closes the drop (flushing its logs) and returns them, failing the
// test if any isaric-* name was ever visible while partial.
func (d *simDrop) logs(t *testing.T) ([]sftpdrop.Event, []sftpdrop.Routed) {
	t.Helper()
	d.Close()
	ev, err := sftpdrop.ReadEvents(d.events)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := sftpdrop.ReadRouted(d.routed)
	if err != nil {
		t.Fatal(err)
	}
	if bad := sftpdrop.PartialRouted(ev, ro); len(bad) > 0 {
		t.Fatalf("partial isaric-* files were visible: %v\nevents: %+v", bad, ev)
	}
	return ev, ro
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestDropAtomicHandOver: the event log shows the archive written under a
// dot-name and renamed once; the routed log took it whole, hash checked.
func TestDropAtomicHandOver(t *testing.T) {
	d := startDrop(t)
	local, data := randomFile(t, 2<<20+5)
	res, err := Relay(context.Background(), d.config(t), local)
	if err != nil {
		t.Fatal(err)
	}
	const name = "/isaric-NIC-402963-P0Y5D-20261122.7z"
	if res.RemotePath != name || res.Check != "sha256" || res.Bytes != int64(len(data)) {
		t.Fatalf("result %+v", res)
	}
	// pkg/sftp's server has no limits@openssh.com: the safe default applies.
	cfg := d.config(t)
	cfg.setDefaults()
	if wl, err := writeLength(dialForTest(t, &cfg).ssh); err != nil || wl != defaultWriteLen {
		t.Fatalf("write length %d, %v; want %d", wl, err, defaultWriteLen)
	}
	ev, ro := d.logs(t)
	if len(ro) != 1 || ro[0].Name != name || ro[0].Size != int64(len(data)) || ro[0].SHA256 != sha256Hex(data) {
		t.Fatalf("routed %+v", ro)
	}
	var renames int
	for _, e := range ev {
		if strings.Contains(e.Name, "isaric-") && e.Op != "rename" {
			t.Fatalf("isaric-* name touched by %+v", e)
		}
		if e.Op == "rename" {
			renames++
			if !strings.HasPrefix(e.From, "/"+tempPrefix) || e.Size != int64(len(data)) {
				t.Fatalf("rename %+v", e)
			}
		}
	}
	if renames != 1 {
		t.Fatalf("%d renames, want 1: %+v", renames, ev)
	}
}

// TestDropRetryAtHalf: the drop cuts the connection half way; the relay
// retries on a fresh name, removes the half-written one and routes the
// whole archive exactly once.
func TestDropRetryAtHalf(t *testing.T) {
	d := startDrop(t)
	const size = 3 << 20
	d.SetFaults(sftpdrop.Faults{DropAfter: size / 2})
	cfg := d.config(t)
	cfg.Retries = 2
	local, data := randomFile(t, size)
	res, err := Relay(context.Background(), cfg, local)
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Fatalf("%d attempts, want 2", res.Attempts)
	}
	if d.Faults().DropAfter != 0 {
		t.Fatal("the drop fault never fired")
	}
	ev, ro := d.logs(t)
	if len(ro) != 1 || ro[0].Size != size || ro[0].SHA256 != sha256Hex(data) {
		t.Fatalf("routed %+v", ro)
	}
	// The first temporary file was cut part-way and later removed.
	var cut string
	for _, e := range ev {
		if e.Op == "create" && cut == "" {
			cut = e.Name
		}
	}
	removed := slices.ContainsFunc(ev, func(e sftpdrop.Event) bool {
		return e.Op == "remove" && e.Name == cut && e.Size > 0 && e.Size < size
	})
	if !removed {
		t.Fatalf("half-written %s not removed: %+v", cut, ev)
	}
	if got := dropFiles(t, d.root); len(got) != 1 {
		t.Fatalf("drop holds %v", got)
	}
}

// TestDropRefusals: a host key mismatch and an unauthorised client key are
// refused before any SFTP operation, so the event log stays empty.
func TestDropRefusals(t *testing.T) {
	local, _ := randomFile(t, 4096)
	t.Run("host key mismatch", func(t *testing.T) {
		d := startDrop(t)
		cfg := d.config(t)
		cfg.Retries = 3
		cfg.KnownHosts = filepath.Join(t.TempDir(), "known_hosts")
		d.writeKnownHosts(t, cfg.KnownHosts, newKey(t, t.TempDir(), "impostor", "ed25519", "").signer.PublicKey())
		_, err := Relay(context.Background(), cfg, local)
		if !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), ssh.FingerprintSHA256(d.hostKey.signer.PublicKey())) {
			t.Fatalf("got %v", err)
		}
		if ev, _ := d.logs(t); len(ev) != 0 {
			t.Fatalf("events after a refused host key: %+v", ev)
		}
	})
	t.Run("wrong client key", func(t *testing.T) {
		d := startDrop(t)
		cfg := d.config(t)
		cfg.Retries = 3
		cfg.KeyFile = newKey(t, t.TempDir(), "stranger", "ed25519", "").path
		_, err := Relay(context.Background(), cfg, local)
		if !errors.Is(err, ErrRelay) || errors.Is(err, ErrHostKey) || !usererr.Is(err) {
			t.Fatalf("got %v", err)
		}
		if ev, _ := d.logs(t); len(ev) != 0 {
			t.Fatalf("events after a refused login: %+v", ev)
		}
	})
}

// TestDropNeverOverwrites: a rename onto an existing archive is refused,
// with and without the drop's NoOverwrite fault, and a relay on a day that
// already has an archive goes to the next suffix, leaving the first intact.
func TestDropNeverOverwrites(t *testing.T) {
	for _, noOverwrite := range []bool{false, true} {
		t.Run("NoOverwrite="+strconv.FormatBool(noOverwrite), func(t *testing.T) {
			d := startDrop(t)
			d.SetFaults(sftpdrop.Faults{NoOverwrite: noOverwrite})
			cfg := d.config(t)
			cfg.setDefaults()
			first, firstData := randomFile(t, 3000)
			if _, err := Relay(context.Background(), cfg, first); err != nil {
				t.Fatal(err)
			}
			const name = "isaric-NIC-402963-P0Y5D-20261122.7z"
			sess := dialForTest(t, &cfg)
			f, err := sess.sftp.Create("/.upload-test.part")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = f.Write([]byte("impostor content"))
			_ = f.Close()
			if err := renameNoReplace(sess, "/.upload-test.part", "/"+name); err == nil {
				t.Fatal("rename onto an existing archive succeeded")
			}
			_ = sess.sftp.Remove("/.upload-test.part")
			second, secondData := randomFile(t, 4000)
			res, err := Relay(context.Background(), cfg, second)
			if err != nil {
				t.Fatal(err)
			}
			if res.RemotePath != "/isaric-NIC-402963-P0Y5D-20261122-2.7z" {
				t.Fatalf("second relay went to %s", res.RemotePath)
			}
			fileEquals(t, filepath.Join(d.root, name), firstData)
			fileEquals(t, filepath.Join(d.root, filepath.Base(res.RemotePath)), secondData)
			_, ro := d.logs(t)
			if len(ro) != 2 || ro[0].Name != "/"+name || ro[1].Name != res.RemotePath {
				t.Fatalf("routed %+v", ro)
			}
		})
	}
}

// TestDropLondonDate: at 23:30 UTC in British Summer Time it is already the
// next day in London, and that is the date in the name.
func TestDropLondonDate(t *testing.T) {
	d := startDrop(t)
	cfg := d.config(t)
	cfg.Now = func() time.Time { return time.Date(2026, 7, 15, 23, 30, 0, 0, time.UTC) }
	local, _ := randomFile(t, 100)
	res, err := Relay(context.Background(), cfg, local)
	if err != nil {
		t.Fatal(err)
	}
	if res.RemotePath != "/isaric-NIC-402963-P0Y5D-20260716.7z" {
		t.Fatalf("relayed to %s", res.RemotePath)
	}
	d.logs(t)
}

// TestDropCancel: cancelling mid-upload stops the writes, removes the
// temporary file over the live connection and hands nothing over.
func TestDropCancel(t *testing.T) {
	d := startDrop(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := d.config(t)
	cfg.Retries = 3
	cfg.Progress = func(int64) { cancel() }
	local, _ := randomFile(t, 3<<20)
	_, err := Relay(ctx, cfg, local)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if got := dropFiles(t, d.root); len(got) != 0 {
		t.Fatalf("drop holds %v", got)
	}
	ev, ro := d.logs(t)
	if len(ro) != 0 || !slices.ContainsFunc(ev, func(e sftpdrop.Event) bool { return e.Op == "remove" }) {
		t.Fatalf("routed %+v, events %+v", ro, ev)
	}
}
