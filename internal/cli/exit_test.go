package cli

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
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
