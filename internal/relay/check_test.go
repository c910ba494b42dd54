package relay

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"
)

func TestKnownHostAndCheck(t *testing.T) {
	d := startDrop(t)
	cfg := d.config(t)
	if got, err := KnownHost(cfg); err != nil {
		t.Fatalf("KnownHost with an entry: %v", err)
	} else if got == "" {
		t.Fatal("KnownHost said nothing")
	}
	if _, err := Check(context.Background(), cfg); err != nil {
		t.Fatalf("Check: %v", err)
	}

	// No entry for this host: refused offline, and online before auth.
	other := filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{"[198.51.100.7]:22"}, d.hostKey.signer.PublicKey()) + "\n"
	if err := os.WriteFile(other, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.KnownHosts = other
	if _, err := KnownHost(cfg); !errors.Is(err, ErrHostKey) {
		t.Errorf("KnownHost without an entry: %v, want ErrHostKey", err)
	}
	if _, err := Check(context.Background(), cfg); !errors.Is(err, ErrHostKey) {
		t.Errorf("Check without an entry: %v, want ErrHostKey", err)
	}
	cfg.KnownHosts = filepath.Join(t.TempDir(), "missing")
	if _, err := KnownHost(cfg); !errors.Is(err, ErrHostKey) {
		t.Errorf("KnownHost with no file: %v, want ErrHostKey", err)
	}

	// A remote directory that is not there is named.
	cfg = d.config(t)
	cfg.RemoteDir = "/nope"
	if _, err := Check(context.Background(), cfg); err == nil {
		t.Error("Check passed with a missing remote dir")
	}
	events, _ := d.logs(t)
	for _, e := range events {
		if e.Op != "open" && e.Op != "stat" {
			t.Errorf("Check changed the drop: %+v", e)
		}
	}
}
