package testtool

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Xvfb starts a virtual display of the test's own and points DISPLAY at it,
// for the visible-window tests. Xvfb picks a free display number and writes
// it to -displayfd once it accepts clients, so nothing polls. A missing Xvfb
// stops the test through Missing (it fails in CI).
func Xvfb(t *testing.T) {
	t.Helper()
	xvfb := Need(t, "xvfb; scripts/install-deps.sh installs it", "Xvfb")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(xvfb, "-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		w.Close()
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// The read ends with the number, or with EOF if Xvfb exits first.
	n, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("Xvfb gave no display: %v", err)
	}
	t.Setenv("DISPLAY", ":"+strings.TrimSpace(n))
	t.Setenv("WAYLAND_DISPLAY", "")
}
