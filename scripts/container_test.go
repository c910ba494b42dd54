package scripts

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/sim"
)

// containerEngine returns a container engine whose daemon answers (docker
// or podman), or "" and why none does: a docker client with no daemon
// behind it is not an engine.
func containerEngine() (string, string) {
	why := []string{}
	for _, e := range []string{"docker", "podman"} {
		if _, err := exec.LookPath(e); err != nil {
			why = append(why, e+": not installed")
			continue
		}
		out, err := exec.Command(e, "info", "--format", "{{.ServerVersion}}").CombinedOutput()
		if e == "podman" {
			out, err = exec.Command(e, "info", "--format", "{{.Version.Version}}").CombinedOutput()
		}
		if err == nil && len(strings.TrimSpace(string(out))) > 0 {
			return e, ""
		}
		why = append(why, e+": no engine answers ("+firstLine(string(out))+")")
	}
	return "", strings.Join(why, "; ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// TestContainerFetchesFromSeftsim builds the image and runs its default
// verb, fetch, against seftsim, as README "Container" shows. It needs a
// container engine; without one it says so and skips (a client alone,
// as on a machine without a daemon, is not one). When CI is set and an
// engine answers, it runs.
func TestContainerFetchesFromSeftsim(t *testing.T) {
	engine, why := containerEngine()
	if engine == "" {
		t.Skip("no container engine: " + why)
	}
	if os.Getuid() != 0 {
		t.Fatal("the test gives seftsim's files to the image's uid 10001: needs root")
	}
	tag := "seftbot:test"
	build := exec.Command(engine, "build", "-t", tag, "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s build: %v\n%s", engine, err, out)
	}
	dir := t.TempDir()
	s, err := sim.Start(context.Background(), sim.Options{Dir: filepath.Join(dir, "sim"), Files: 3, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The container's seftbot (uid 10001) must own the env file, keys and
	// state, as the README says an operator arranges.
	if out, err := exec.Command("chown", "-R", "10001:10001", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	// Chromium sandboxes itself with user namespaces, which Docker's default
	// seccomp profile refuses (README "Container").
	run := exec.Command(engine, "run", "--rm", "--network", "host", "--shm-size", "512m", "--security-opt", "seccomp=unconfined",
		"-v", dir+":"+dir, "-e", "SEFTBOT_STATE_DIR="+filepath.Join(s.Dir(), "state"),
		tag, "--env-file", s.EnvFile(), "fetch")
	out, err := run.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "delivered 3 file(s)") {
		t.Fatalf("%s run ... fetch: %v\n%s", engine, err, out)
	}
	if got := s.State().Downloads; got != 3 {
		t.Errorf("seftsim sent %d files, want 3", got)
	}
}
