package cohort

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// crashList is n valid NHS numbers, one a line.
func crashList(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		v, _ := genNHS(1000 + i)
		b.WriteString(v + "\n")
	}
	return b.String()
}

// TestCrashHelper is the process that gets killed: it rewrites the ledger
// (1 -> 20000 identifiers) and, at the named write point, announces itself
// and waits for the kill. With no point it rewrites in a loop.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv("COHORT_CRASH_DIR")
	if dir == "" {
		t.Skip("helper process for TestLedgerCrashSafety")
	}
	point := os.Getenv("COHORT_CRASH_POINT")
	atStep := func(p string) {
		if p == point {
			fmt.Println("at " + p)
			time.Sleep(time.Hour)
		}
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	big, small := crashList(20000), crashList(1)
	for i := 0; ; i++ {
		s, err := Open(Options{Dir: dir, Project: project, Header: DefaultHeader, Now: func() time.Time { return now }, atStep: atStep})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		in := big
		if i%2 == 1 {
			in = small
		}
		if _, err := s.ImportHeld(context.Background(), strings.NewReader(in), "held.txt"); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		if point != "" {
			fmt.Println("done")
			os.Exit(0)
		}
		if i == 0 {
			fmt.Println("looping")
		}
	}
}

func runHelper(t *testing.T, dir, point string) (*exec.Cmd, *bufio.Reader) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "COHORT_CRASH_DIR="+dir, "COHORT_CRASH_POINT="+point)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewReader(out)
}

func heldCount(t *testing.T, dir string) int {
	t.Helper()
	s, err := Open(Options{Dir: dir, Project: project, Header: DefaultHeader})
	if err != nil {
		t.Fatalf("ledger unreadable after kill -9: %v", err)
	}
	return len(s.l.Held)
}

// TestLedgerCrashSafety kills (SIGKILL) a process rewriting the ledger at
// each write point, then at random moments: the ledger is always the old
// state or the new one, never torn, and leftovers are cleared next time.
func TestLedgerCrashSafety(t *testing.T) {
	for _, tc := range []struct {
		point string
		want  int // held count after the kill: 1 (old) or 20000 (new)
	}{
		{"created", 1}, {"written", 1}, {"synced", 1}, {"renamed", 20000}, {"dir-synced", 20000},
	} {
		t.Run(tc.point, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cohort")
			h := &harness{t: t, dir: dir, now: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
			h.importHeld(crashList(1)) // the old state
			cmd, out := runHelper(t, dir, tc.point)
			line, err := out.ReadString('\n')
			if line != "at "+tc.point+"\n" {
				cmd.Process.Kill()
				t.Fatalf("helper said %q (%v)", line, err)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if got := heldCount(t, dir); got != tc.want {
				t.Fatalf("held %d after kill at %s, want %d", got, tc.point, tc.want)
			}
			tmps := func() (n int) {
				ents, _ := os.ReadDir(dir)
				for _, e := range ents {
					if strings.Contains(e.Name(), ".tmp-") {
						n++
					}
				}
				return n
			}
			if before := tmps(); (before == 1) != (tc.want == 1) {
				t.Errorf("%d temp files after kill at %s", before, tc.point)
			}
			if _, err := h.store().Cancel(); err != nil { // any change tidies
				t.Fatal(err)
			}
			if n := tmps(); n != 0 {
				t.Errorf("%d temp files survived the next run", n)
			}
		})
	}
	t.Run("random", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "cohort")
		h := &harness{t: t, dir: dir, now: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
		h.importHeld(crashList(1))
		for i := 0; i < 8; i++ {
			cmd, out := runHelper(t, dir, "")
			if line, _ := out.ReadString('\n'); line != "looping\n" {
				cmd.Process.Kill()
				t.Fatalf("helper said %q", line)
			}
			time.Sleep(time.Duration(i*7) * time.Millisecond)
			cmd.Process.Kill()
			cmd.Wait()
			if got := heldCount(t, dir); got != 1 && got != 20000 {
				t.Fatalf("held %d after a random kill", got)
			}
		}
	})
}
