package archive

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bodgit/sevenzip"

	"github.com/isaric/seftbot/internal/usererr"
)

// sumsTree has the names that test sha256sum's escaping and paths: a
// backslash, a newline, a carriage return, a leading space, non-ASCII, an
// empty file and a subdirectory.
func sumsTree() map[string]string {
	return map[string]string{
		"NIC-402963-P0Y5D_a.csv": csvLike(1, 30_000),
		"sub/deeper/b.csv":       csvLike(2, 5_000),
		"back\\slash.csv":        "bs\r\n",
		"new\nline.csv":          "nl\r\n",
		"carriage\rreturn.csv":   "cr\r\n",
		" leading space.csv":     "sp\r\n",
		"résumé ✓.csv":           "u\r\n",
		"empty.csv":              "",
	}
}

// TestSHA256SUMSWithStock7Zip is what the analysts do: extract with stock
// 7-Zip (both front ends), then `sha256sum -c SHA256SUMS`. It must pass, and
// must fail once an extracted file differs from what was archived.
func TestSHA256SUMSWithStock7Zip(t *testing.T) {
	sha, err := exec.LookPath("sha256sum")
	if err != nil {
		t.Fatal("sha256sum (coreutils) is needed: the analysts' check is the test")
	}
	files := sumsTree()
	in := writeTree(t, files)
	out := filepath.Join(t.TempDir(), "out.7z")
	if _, err := Create(context.Background(), in, out, false, Options{Passphrase: testPass}); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"7zz", "7z"} {
		t.Run(tool, func(t *testing.T) {
			bin, err := exec.LookPath(tool)
			if err != nil {
				t.Fatalf("%s not installed; scripts/install-deps.sh installs it", tool)
			}
			dest := t.TempDir()
			cmd := exec.Command(bin, "x", "-y", out)
			cmd.Dir, cmd.Stdin = dest, strings.NewReader(testPass+"\n")
			if o, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s x: %v\n%s", tool, err, o)
			}
			check := func() (string, error) {
				c := exec.Command(sha, "-c", "--strict", SumsName)
				c.Dir = dest
				o, err := c.CombinedOutput()
				return string(o), err
			}
			o, err := check()
			if err != nil {
				t.Fatalf("sha256sum -c after %s x: %v\n%s", tool, err, o)
			}
			if n := strings.Count(o, ": OK"); n != len(files) {
				t.Errorf("sha256sum checked %d files, want %d:\n%s", n, len(files), o)
			}
			// The same check must fail when a file is not what was archived.
			if err := os.WriteFile(filepath.Join(dest, "sub", "deeper", "b.csv"), []byte("changed"), 0o600); err != nil {
				t.Fatal(err)
			}
			if o, err := check(); err == nil || !strings.Contains(o, "b.csv: FAILED") {
				t.Errorf("sha256sum -c passed a changed file: %v\n%s", err, o)
			}
		})
	}
}

// TestVerifyChecksSHA256SUMS: the read-back refuses an archive whose
// SHA256SUMS does not list exactly the archived files and their hashes.
func TestVerifyChecksSHA256SUMS(t *testing.T) {
	in := writeTree(t, map[string]string{"a.csv": "alpha\r\n", "b.csv": "beta\r\n"})
	want := treeSums(t, in)
	for name, tamper := range map[string]func([]byte) []byte{
		"wrong hash": func(b []byte) []byte {
			return []byte(strings.Replace(string(b), want["a.csv"], want["b.csv"], 1))
		},
		"missing line": func(b []byte) []byte { return b[:strings.IndexByte(string(b), '\n')+1] },
		"extra line":   func(b []byte) []byte { return append(b, []byte(want["a.csv"]+"  c.csv\n")...) },
		"bad format":   func(b []byte) []byte { return []byte(strings.Replace(string(b), "  ", " *", 1)) },
		"missing":      func([]byte) []byte { return nil },
	} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.7z")
			_, err := Create(context.Background(), in, out, false, Options{Passphrase: testPass, sumsHook: tamper})
			if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), SumsName) {
				t.Fatalf("err = %v, want ErrVerify naming %s", err, SumsName)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("archive installed despite a bad %s", SumsName)
			}
		})
	}
	// Untampered, the entry is there and lists every file.
	out := filepath.Join(t.TempDir(), "ok.7z")
	if _, err := Create(context.Background(), in, out, false, Options{Passphrase: testPass}); err != nil {
		t.Fatal(err)
	}
	if err := Verify(context.Background(), out, testPass, want); err != nil {
		t.Fatal(err)
	}
	r, err := sevenzip.OpenReaderWithPassword(out, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := len(r.File); n != 3 || r.File[n-1].Name != SumsName {
		t.Errorf("entries %d, last %q; want a.csv, b.csv, %s", n, r.File[n-1].Name, SumsName)
	}
}

// TestSHA256SUMSNameTaken: an input file of that name would be shadowed, so
// Create refuses it with a user error and writes nothing.
func TestSHA256SUMSNameTaken(t *testing.T) {
	in := writeTree(t, map[string]string{"a.csv": "x", SumsName: "mine"})
	out := filepath.Join(t.TempDir(), "out.7z")
	_, err := Create(context.Background(), in, out, false, Options{Passphrase: testPass})
	if !usererr.Is(err) || !strings.Contains(err.Error(), SumsName) {
		t.Fatalf("err = %v, want a user error naming %s", err, SumsName)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("archive written")
	}
}

// TestSumsLineEscaping pins the GNU format for names sha256sum escapes.
func TestSumsLineEscaping(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for name, want := range map[string]string{
		"plain.csv":   h + "  plain.csv\n",
		"a\\b":        "\\" + h + "  a\\\\b\n",
		"a\nb":        "\\" + h + "  a\\nb\n",
		"a\rb":        "\\" + h + "  a\\rb\n",
		"sub/x y.csv": h + "  sub/x y.csv\n",
	} {
		got := sumsLine(name, h)
		if got != want {
			t.Errorf("sumsLine(%q) = %q, want %q", name, got, want)
		}
		n, s, err := parseSumsLine(strings.TrimSuffix(got, "\n"))
		if err != nil || n != name || s != h {
			t.Errorf("parse(%q) = %q, %q, %v", got, n, s, err)
		}
	}
}
