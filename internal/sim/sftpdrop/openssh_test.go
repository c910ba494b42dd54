package sftpdrop_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/isaric/seftbot/internal/sim/sftpdrop"
	"github.com/isaric/seftbot/internal/testtool"
)

// TestOpenSSHClients drives the drop with OpenSSH's own sftp and ssh, as
// the benchmark baseline and operators do: upload, rename into isaric-*,
// and a remote sha256sum.
func TestOpenSSHClients(t *testing.T) {
	sftpBin := testtool.Need(t, "openssh-client; scripts/install-deps.sh installs it", "sftp")
	sshBin := testtool.Need(t, "openssh-client; scripts/install-deps.sh installs it", "ssh")
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clientKey, _ := ssh.NewSignerFromKey(priv)
	hostKey := newSigner(t)
	root := filepath.Join(dir, "sftp")
	os.Mkdir(root, 0o700)
	events, routed := filepath.Join(dir, "ev.jsonl"), filepath.Join(dir, "ro.jsonl")
	s, err := sftpdrop.Start(sftpdrop.Options{Root: root, HostKey: hostKey, User: "analyst",
		AuthorizedKey: clientKey.PublicKey(), EventLog: events, RoutedLog: routed})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile, khFile, local := filepath.Join(dir, "id"), filepath.Join(dir, "known_hosts"), filepath.Join(dir, "local.7z")
	os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600)
	os.WriteFile(khFile, []byte(knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, hostKey.PublicKey())+"\n"), 0o600)
	data := payload(300_000)
	os.WriteFile(local, data, 0o600)
	_, port, _ := net.SplitHostPort(s.Addr())
	opts := []string{"-i", keyFile, "-o", "UserKnownHostsFile=" + khFile, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-F", "/dev/null"}

	batch := filepath.Join(dir, "batch")
	os.WriteFile(batch, []byte("put "+local+" /.part\nrename /.part /isaric-o.7z\nls -l /\n"), 0o600)
	cmd := exec.Command(sftpBin, append(opts, "-b", batch, "-P", port, "analyst@127.0.0.1")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sftp: %v\n%s", err, out)
	}
	ev, _ := sftpdrop.ReadEvents(events)
	ro, _ := sftpdrop.ReadRouted(routed)
	if len(ro) != 1 || ro[0].Name != "/isaric-o.7z" || ro[0].SHA256 != sum(data) {
		t.Fatalf("routed = %+v", ro)
	}
	if p := sftpdrop.PartialRouted(ev, ro); len(p) != 0 {
		t.Fatalf("PartialRouted = %q", p)
	}

	cmd = exec.Command(sshBin, append(opts, "-p", port, "analyst@127.0.0.1", "sha256sum", "'/isaric-o.7z'")...)
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != sum(data)+"  /isaric-o.7z" {
		t.Fatalf("ssh sha256sum: %q, %v", out, err)
	}
}
