package cli

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/config"
)

// TestDeploymentCheck: with the env file where the service reads it, doctor
// refuses state under /tmp or outside the units' writable dir and a key of
// another user, naming the env file line to change; the template as
// written passes.
func TestDeploymentCheck(t *testing.T) {
	etc := t.TempDir()
	me := strconv.Itoa(os.Geteuid())
	d := deployment{etc: etc, euid: os.Geteuid(), lookupUser: func(name string) (*user.User, error) {
		if name != serviceUser {
			return nil, user.UnknownUserError(name)
		}
		return &user.User{Username: name, Uid: me}, nil
	}}
	env := filepath.Join(etc, "seftbot.env")
	write := func(body string) *config.Source {
		t.Helper()
		if err := os.WriteFile(env, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		src, err := config.Load(env, true, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		return src
	}

	var tmpl strings.Builder
	if err := config.WriteTemplate(&tmpl, "vtest"); err != nil {
		t.Fatal(err)
	}
	if detail, err := d.check(write(tmpl.String())); err != nil {
		t.Errorf("the template fails the service check: %v", err)
	} else if !strings.Contains(detail, "service layout") {
		t.Errorf("detail %q does not say the service layout was checked", detail)
	}

	_, err := d.check(write("SEFTBOT_PROJECT_ID=x\nSEFTBOT_STATE_DIR=/tmp/sim/state\n"))
	if err == nil || !strings.Contains(err.Error(), "SEFTBOT_STATE_DIR /tmp/sim/state is under a temporary directory") ||
		!strings.Contains(err.Error(), env+" line 2") {
		t.Errorf("state under /tmp: %v; want it refused, naming %s line 2", err, env)
	}
	_, err = d.check(write("SEFTBOT_STATE_DIR=/srv/seftbot\n"))
	if err == nil || !strings.Contains(err.Error(), "not under /var/lib/seftbot") || !strings.Contains(err.Error(), env+" line 1") {
		t.Errorf("state outside the units' writable dir: %v", err)
	}
	_, err = d.check(write("SEFTBOT_STAGING_DIR=/tmp/stage\n"))
	if err == nil || !strings.Contains(err.Error(), "SEFTBOT_STAGING_DIR /tmp/stage") || !strings.Contains(err.Error(), env+" line 1") {
		t.Errorf("staging under /tmp: %v", err)
	}

	// A key of another user (root's, say) passes a check run as root and
	// fails the service at night.
	key := filepath.Join(etc, "sftp_key")
	if err := os.WriteFile(key, []byte("k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(key, 65534, 65534); err != nil {
		t.Fatalf("chown (the test needs root to give a file to another user): %v", err)
	}
	_, err = d.check(write(fmt.Sprintf("SEFTBOT_STATE_DIR=/var/lib/seftbot\n\nSEFTBOT_SFTP_KEY_FILE=%s\n", key)))
	if err == nil || !strings.Contains(err.Error(), "SEFTBOT_SFTP_KEY_FILE: "+key+" belongs to") || !strings.Contains(err.Error(), env+" line 3") {
		t.Errorf("key of another user: %v", err)
	}

	// Run as another user than the service's: said so, with the command.
	other := d
	other.euid = os.Geteuid() + 1
	if _, err := other.check(write("")); err == nil || !strings.Contains(err.Error(), "doctor runs as uid") {
		t.Errorf("doctor as another user: %v", err)
	}
	// No seftbot user at all.
	none := d
	none.lookupUser = func(name string) (*user.User, error) { return nil, user.UnknownUserError(name) }
	if _, err := none.check(write("")); err == nil || !strings.Contains(err.Error(), `no "seftbot" user`) {
		t.Errorf("no seftbot user: %v", err)
	}
	// An env file elsewhere is not the service's: skipped, and says so.
	away := d
	away.etc = "/nonexistent"
	if detail, err := away.check(write("SEFTBOT_STATE_DIR=/tmp/x\n")); err != nil || !strings.Contains(detail, "skipped") {
		t.Errorf("personal layout: %q, %v", detail, err)
	}
}
