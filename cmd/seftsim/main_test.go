package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBadFlagsAreErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--dir"},
		{[]string{"--dir", dir, "--files", "many"}, "invalid value"},
		{[]string{"--dir", dir, "--files", "-1"}, "files"},
		{[]string{"--dir", dir, "--error-rate", "2"}, "error_rate"},
		{[]string{"--dir", dir, "--latency", "fast"}, "invalid value"},
		{[]string{"--dir", dir, "--markup", "v9"}, "markup"},
		{[]string{"--dir", dir, "--markup", "v3", "--paging", "pages"}, "paging"},
		{[]string{"--dir", dir, "--paging", "inplace"}, "only markup v3"},
		{[]string{"--dir", dir, "--file-size", "12"}, "file size"},
		{[]string{"--dir", dir, "--no-such-flag"}, "not defined"},
		{[]string{"--dir", dir, "extra"}, "unexpected argument"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want an error mentioning %q", tc.args, code, errb.String(), tc.want)
		}
		if strings.Contains(out.String(), "ready") {
			t.Errorf("%q: printed the ready line", tc.args)
		}
	}
}

// TestCommand builds seftsim, runs it, waits for the ready line and stops
// it with SIGTERM, as make demo and the bot's tests do.
func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "seftsim")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "sim")
	cmd := exec.Command(bin, "--dir", dir, "--files", "20", "--file-size", "100000", "--seed", "5")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line := <-lines:
		if want := "seftsim ready: " + filepath.Join(dir, "seftbot.env"); line != want {
			t.Fatalf("first line %q, want %q", line, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no ready line within 30 s; stderr:\n%s", stderr.String())
	}
	for _, f := range []string{"seftbot.env", "seftsim.json", "published.sha256", "tls/ca.pem", "header.csv", "known_hosts", "client_ed25519"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("after ready: %v", err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15 s after SIGTERM")
	}
	if line, ok := <-lines; ok {
		t.Errorf("more stdout after the ready line: %q", line)
	}
	env, err := os.ReadFile(filepath.Join(dir, "seftbot.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasSuffix(k, "_PASSWORD") && strings.Contains(stderr.String(), v) {
			t.Errorf("%s appears in the log", k)
		}
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}
