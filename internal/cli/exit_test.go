package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/isaric/seftbot/internal/archive"
	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/notify"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/relay"
	"github.com/isaric/seftbot/internal/staging"
)

// TestReadmeExitCodes keeps the README's exit-code table and the code in step.
func TestReadmeExitCodes(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Exit codes\n")
	if !ok {
		t.Fatal("README has no '## Exit codes' section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	documented := map[int]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(section, -1) {
		n, _ := strconv.Atoi(m[1])
		documented[n] = true
	}
	want := map[int]bool{ExitOK: true, ExitBug: true, ExitUsage: true, ExitInterrupted: true}
	for _, e := range exitTable {
		want[e.code] = true
	}
	for c := range want {
		if !documented[c] {
			t.Errorf("exit code %d is not in the README", c)
		}
	}
	for c := range documented {
		if !want[c] {
			t.Errorf("README documents exit code %d, which seftbot never uses", c)
		}
	}
}

// TestExitCodeTable is the one table of realistically wrapped errors and the
// exit code each must give: each code in the README is produced by exactly
// the cases it names.
func TestExitCodeTable(t *testing.T) {
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	os.WriteFile(notADir, []byte("x"), 0o600)
	_, badState := job.Open(notADir)

	st, err := job.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := st.Lock()
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	_, locked := st.Lock()

	// A staging directory another user made (the issue's /dev/shm/seftbot-0).
	var planted error
	if os.Geteuid() == 0 {
		p := filepath.Join(dir, "planted")
		os.Mkdir(p, 0o777)
		os.Chown(p, 65534, 65534)
		_, planted = staging.Open(p)
	} else {
		_, planted = staging.Open("/") // root's, not ours
	}

	cohortDir := &cohortOptions{globalOptions: &globalOptions{}}
	_, dirInput := cohortDir.openInput(dir)

	browserDied := fmt.Errorf("download: %w", fmt.Errorf("%w: %w", portal.ErrPortal,
		fmt.Errorf("navigate: %w", context.Canceled)))
	cases := []struct {
		name string
		err  error
		code int
	}{
		{"success", nil, ExitOK},
		{"SIGTERM during a download", fmt.Errorf("%w: %w", errInterrupted, browserDied), ExitInterrupted},
		{"browser died mid-run (context.Canceled inside)", browserDied, ExitPortal},
		{"nothing new", job.ErrNothingNew, ExitNothingNew},
		{"another run holds the lock", locked, ExitLocked},
		{"staged file changed", fmt.Errorf("collect: %w", layout.Integrity(errors.New("staged file a.csv no longer matches"), "h")), ExitIntegrity},
		{"kept passphrase gone", fmt.Errorf("passphrase: %w", layout.Integrity(errors.New("the pending passphrase is gone"), "h")), ExitIntegrity},
		{"cohort step changed", fmt.Errorf("submit: %w", layout.Integrity(errors.New("step S1: sha256 mismatch"), "h")), ExitIntegrity},
		{"manifest damaged, under the portal wrapper", fmt.Errorf("download: %w", layout.Integrity(errors.New("manifest damaged"), "h")), ExitIntegrity},
		{"a directory as cohort input", dirInput, ExitUsage},
		{"a state dir that is a file", badState, ExitUsage},
		{"a staging dir planted by another user", planted, ExitUsage},
		{"disk full writing the manifest", fmt.Errorf("download: %w", fmt.Errorf("%w: %w", portal.ErrPortal,
			fmt.Errorf("manifest: %w", fmt.Errorf("%w: writing the manifest: %w", staging.ErrLocal, syscall.ENOSPC)))), ExitUsage},
		{"disk full in the job's own write, unmarked", fmt.Errorf("record stage: %w", &os.PathError{Op: "write", Path: "batch.json", Err: syscall.ENOSPC}), ExitUsage},
		{"quota exceeded in the job's own write, unmarked", fmt.Errorf("collect: %w", &os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.EDQUOT}), ExitUsage},
		{"a local write marked by layout", fmt.Errorf("collect: %w", layout.Local(errors.New("rename into the batch"))), ExitUsage},
		{"login refused", fmt.Errorf("download: %w", fmt.Errorf("%w: %w", portal.ErrLoginRejected, errors.New("Invalid credentials"))), ExitLogin},
		{"login outcome unknown", fmt.Errorf("download: %w", fmt.Errorf("%w: %w", portal.ErrLoginUnknown, context.DeadlineExceeded)), ExitLoginUnsure},
		{"profile no longer matches", fmt.Errorf("download: %w", fmt.Errorf("%w: %w", portal.ErrPortal, portal.ErrProfile)), ExitProfile},
		{"portal down after retries", fmt.Errorf("download: %w", fmt.Errorf("%w: 503 after 6 attempts", portal.ErrPortal)), ExitPortal},
		{"archive did not verify", fmt.Errorf("archive: %w", fmt.Errorf("%w: file 3 differs", archive.ErrVerify)), ExitVerify},
		{"relay failed", fmt.Errorf("relay: %w", fmt.Errorf("%w: connection reset", relay.ErrRelay)), ExitRelay},
		{"host key changed", fmt.Errorf("relay: %w", fmt.Errorf("%w: %w", relay.ErrRelay, relay.ErrHostKey)), ExitHostKey},
		{"portal certificate refused, under the sign-in wrapper", fmt.Errorf("download: %w", fmt.Errorf("%w: open login page: %w", portal.ErrPortal,
			fmt.Errorf("%w: page load error net::ERR_CERT_AUTHORITY_INVALID", portal.ErrCertificate))), ExitHostKey},
		{"inbox rejected a cohort step", fmt.Errorf("%w: step S1", errRejected), ExitRejected},
		{"mail down", fmt.Errorf("passphrase: %w", fmt.Errorf("%w: dial tcp: refused", notify.ErrMail)), ExitMail},
		{"a plain bug", errors.New("index out of range"), ExitBug},
	}
	for _, c := range cases {
		if c.code != ExitOK && c.err == nil {
			t.Errorf("%s: the real call gave no error", c.name)
			continue
		}
		if got := exitCode(c.err); got != c.code {
			t.Errorf("%s: exit %d, want %d (%v)", c.name, got, c.code, c.err)
		}
	}
}
