// Package scripts holds the install, demo and benchmark scripts; its tests
// prove the schedule installs and runs as README "Scheduling" says.
package scripts

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/testtool"
)

var units = []string{"seftbot-fetch.service", "seftbot-fetch.timer", "seftbot-cohort.service", "seftbot-cohort.timer"}

// systemdRoot makes a root for `systemd-analyze verify --root`: the host's
// own system units (targets the ours refer to), a stub at the ExecStart
// path, and ours in /etc/systemd/system. It fails, never skips, on a
// machine without systemd's units: scripts/install-deps.sh installs them.
func systemdRoot(t *testing.T, root string) {
	t.Helper()
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze is not installed; scripts/install-deps.sh installs Debian's systemd package for this test")
	}
	if _, err := os.Stat("/usr/lib/systemd/system/timers.target"); err != nil {
		t.Fatalf("systemd's own units are missing (%v); scripts/install-deps.sh installs them", err)
	}
	if err := os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-a", "/usr/lib/systemd/system", filepath.Join(root, "usr/lib/systemd/")).CombinedOutput(); err != nil {
		t.Fatalf("copy systemd units: %v\n%s", err, out)
	}
}

// verify runs systemd-analyze verify on our units under root; any output,
// warnings included, is a failure.
func verify(t *testing.T, root string) (string, error) {
	t.Helper()
	args := []string{"verify", "--root=" + root}
	for _, u := range units {
		args = append(args, "/etc/systemd/system/"+u)
	}
	out, err := exec.Command("systemd-analyze", args...).CombinedOutput()
	if err == nil && len(bytes.TrimSpace(out)) > 0 {
		err = errors.New("warnings")
	}
	return string(out), err
}

// TestSystemdVerify: the units as shipped pass `systemd-analyze verify`, and
// the check fails on a broken one.
func TestSystemdVerify(t *testing.T) {
	root := t.TempDir()
	systemdRoot(t, root)
	stub := filepath.Join(root, "usr/local/bin/seftbot")
	if err := os.MkdirAll(filepath.Dir(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(root, "etc/systemd/system")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, u), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := verify(t, root); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The same check must catch a bad calendar and an unknown key.
	timer := filepath.Join(dst, "seftbot-cohort.timer")
	good, _ := os.ReadFile(timer)
	for name, bad := range map[string]string{
		"bad calendar": strings.Replace(string(good), "10:00:00", "25:00:00", 1),
		"unknown key":  strings.Replace(string(good), "Persistent=true", "Persistant=true", 1),
	} {
		if err := os.WriteFile(timer, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := verify(t, root); err == nil {
			t.Errorf("%s: verify passed:\n%s", name, out)
		}
	}
}

// TestCohortAfterConfirmTime: the morning cohort run (timer and cron) comes
// after the default confirm time, so the previous upload counts as
// confirmed, and the fetch runs at night.
func TestCohortAfterConfirmTime(t *testing.T) {
	cal := regexp.MustCompile(`(?m)^OnCalendar=\*-\*-\* (\d\d):(\d\d):00 Europe/London$`)
	timer, _ := os.ReadFile("systemd/seftbot-cohort.timer")
	m := cal.FindStringSubmatch(string(timer))
	if m == nil || m[1]+":"+m[2] <= "09:00" || m[1] >= "12" {
		t.Errorf("cohort timer OnCalendar %q: want a London morning time after 09:00", m)
	}
	cron, _ := os.ReadFile("cron/seftbot")
	c := regexp.MustCompile(`(?m)^(\d+) (\d+) \* \* \* seftbot .* cohort submit `).FindStringSubmatch(string(cron))
	if m == nil || c == nil || atoi(c[2]) != atoi(m[1]) || atoi(c[1]) != atoi(m[2]) {
		t.Errorf("cron cohort line %q does not run at the timer's time %q", c, m)
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// TestInstallAsReadme follows README "Scheduling" as far as this machine
// allows: scripts/install.sh as root creates a real system user and installs
// under a scratch root; then, as that user, the README's status command
// reads the state dir from the env file alone, the cron line's shell
// command runs and logs where the install said, and status reports that
// run. Creating a user needs root: elsewhere the test says so and stops.
func TestInstallAsReadme(t *testing.T) {
	testtool.NeedRoot(t, "to create the system user the README's steps create (CI runs as root)")
	for _, tool := range []string{"useradd", "userdel", "runuser"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (Debian's passwd and util-linux)", tool)
		}
	}
	bin := filepath.Join(t.TempDir(), "seftbot")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/seftbot").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	user := "sbtest" + hex.EncodeToString(r[:])
	t.Cleanup(func() { _ = exec.Command("userdel", user).Run() })

	for _, mode := range []string{"systemd", "cron"} {
		t.Run(mode, func(t *testing.T) {
			root := t.TempDir()
			// The seftbot user must reach its files through the scratch root.
			for d := root; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
				_ = os.Chmod(d, 0o755)
			}
			env := filepath.Join(t.TempDir(), "seftbot.env")
			if err := os.WriteFile(env, []byte("SEFTBOT_PROJECT_ID=NIC-402963-P0Y5D\nSEFTBOT_STAGING_DIR="+root+"/staging\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"install.sh", env}
			if mode == "cron" {
				args = []string{"install.sh", "--cron", env}
			}
			cmd := exec.Command("sh", args...)
			cmd.Env = append(os.Environ(), "ROOT="+root, "SEFTBOT_USER="+user, "SEFTBOT_BIN="+bin)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("install.sh: %v\n%s", err, out)
			}

			envFile := filepath.Join(root, "etc/seftbot/seftbot.env")
			b, err := os.ReadFile(envFile)
			if err != nil {
				t.Fatal(err)
			}
			state := root + "/var/lib/seftbot"
			if !strings.Contains(string(b), "\nSEFTBOT_STATE_DIR="+state+"\n") {
				t.Errorf("env file lacks the state dir:\n%s", b)
			}
			owned(t, envFile, user, 0o600)
			owned(t, state, user, 0o700)
			owned(t, filepath.Join(root, "var/log/seftbot"), user, 0o750)

			// The README's command, as the service user, with nothing but the env file.
			seftbot := filepath.Join(root, "usr/local/bin/seftbot")
			out, code := asUser(t, user, seftbot, "--env-file", envFile, "status", "--json")
			if code != 0 {
				t.Fatalf("status exit %d\n%s", code, out)
			}
			var st struct {
				StateDir string `json:"state_dir"`
				Healthy  bool   `json:"healthy"`
			}
			if err := json.Unmarshal([]byte(out), &st); err != nil || st.StateDir != state || !st.Healthy {
				t.Fatalf("status --json: %v %+v\n%s", err, st, out)
			}

			if mode == "cron" {
				cronLine(t, root, user, envFile)
				return
			}
			if _, err := exec.LookPath("systemd-analyze"); err == nil {
				systemdRoot(t, root)
				if out, err := verify(t, root); err != nil {
					t.Errorf("installed units: systemd-analyze verify: %v\n%s", err, out)
				}
			} else {
				t.Error("systemd-analyze missing: scripts/install-deps.sh installs it")
			}
		})
	}
}

// cronLine runs the installed cron file's fetch command with /bin/sh as the
// user, as cron would (paths mapped into the scratch root): it must run
// seftbot and append its JSON log to the log directory the install made.
func cronLine(t *testing.T, root, user, envFile string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "etc/cron.d/seftbot"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^30 2 \* \* \* seftbot (.* fetch .*)$`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no nightly fetch line in the cron file:\n%s", b)
	}
	line := strings.NewReplacer("/usr/local/bin/", root+"/usr/local/bin/", "/etc/seftbot/", root+"/etc/seftbot/",
		"/var/log/seftbot/", root+"/var/log/seftbot/").Replace(m[1])
	// No portal is configured here, so the fetch itself fails (exit 2);
	// what matters is that cron's shell ran it and the log landed.
	_, _ = asUser(t, user, "/bin/sh", "-c", line)
	logb, err := os.ReadFile(filepath.Join(root, "var/log/seftbot/fetch.log"))
	if err != nil {
		t.Fatalf("cron line left no log: %v", err)
	}
	if !strings.Contains(string(logb), "missing configuration") {
		t.Errorf("fetch.log:\n%s", logb)
	}
	seftbot := filepath.Join(root, "usr/local/bin/seftbot")
	out, code := asUser(t, user, seftbot, "--env-file", envFile, "status")
	if code != 14 || !regexp.MustCompile(`fetch +failed .*exit=2`).MatchString(out) {
		t.Errorf("status after the cron run: exit %d\n%s", code, out)
	}
}

// asUser runs a command as user with a bare environment, as a scheduler
// would, and returns its stdout (stderr is appended after a marker line) and
// exit code.
func asUser(t *testing.T, user string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", user, "--"}, args...)...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	if errb.Len() > 0 {
		t.Logf("%s: stderr:\n%s", strings.Join(args, " "), errb.String())
	}
	return out.String(), code
}

func owned(t *testing.T, path, user string, mode os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("stat", "-c", "%U", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != user || st.Mode().Perm() != mode {
		t.Errorf("%s: owner %s mode %04o, want %s %04o", path, got, st.Mode().Perm(), user, mode)
	}
}
