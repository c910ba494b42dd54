package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/testtool"
)

const testPass = "Tëst passphrase, long enough: ✓"

// writeTree creates files (name → content; a name ending in "/" is an empty
// directory) under a new temp dir and returns it.
func writeTree(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// csvLike returns n bytes of CSV that compress roughly like the real data:
// repeated column shapes, varying digits.
func csvLike(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.WriteString("UNIQUE_REFERENCE,NHS_NO,DATE_OF_BIRTH,POSTCODE,GP_PRACTICE_CODE,VALUE\r\n")
	for b.Len() < n {
		fmt.Fprintf(&b, "R%08d,%010d,19%02d-%02d-%02d,AB%d %dCD,G%05d,%d.%02d\r\n",
			r.IntN(1e8), r.Int64N(1e10), r.IntN(100), 1+r.IntN(12), 1+r.IntN(28),
			r.IntN(99), r.IntN(9), r.IntN(99999), r.IntN(1000), r.IntN(100))
	}
	return b.String()[:n]
}

// treeSums lists the regular files under dir as name → sha256, the same
// shape Verify takes, computed independently of the writer.
func treeSums(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		s := sha256.Sum256(b)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// emptyDirs lists directories with no entries, relative and '/'-separated.
func emptyDirs(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != dir {
			if ents, _ := os.ReadDir(p); len(ents) == 0 {
				rel, _ := filepath.Rel(dir, p)
				out = append(out, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	return out
}

// sevenZip finds the real 7-Zip binary; without it the test fails in CI
// and is skipped elsewhere.
func sevenZip(t testing.TB) string {
	t.Helper()
	for _, n := range []string{"7z", "7zz", "7za"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	// The interop checks are the only proof that a third party can open
	// our archives: a missing 7-Zip fails them in CI.
	testtool.Missing(t, "7-Zip (7z, 7zz or 7za) is not installed; scripts/install-deps.sh installs it")
	return ""
}

// run7z runs 7-Zip with the passphrase on stdin: 7-Zip prompts for it when
// -p has no value (for "a") or the archive is encrypted (t, x, l), and reads
// the answer from a non-terminal stdin. The passphrase never enters argv.
// An empty passphrase means stdin is empty, so 7-Zip gets no password.
func run7z(t testing.TB, dir, pass string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(sevenZip(t), args...)
	cmd.Dir = dir
	if pass != "" {
		cmd.Stdin = strings.NewReader(pass + "\n")
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	for _, a := range cmd.Args {
		if pass != "" && strings.Contains(a, pass) {
			t.Fatal("passphrase in argv")
		}
	}
	return out.String(), err
}
