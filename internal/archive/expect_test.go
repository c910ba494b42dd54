package archive

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCreateExpect: what Create read must be exactly what the caller expected,
// or nothing is installed.
func TestCreateExpect(t *testing.T) {
	in := writeTree(t, map[string]string{"a.csv": "alpha\r\n", "sub/b.csv": "beta\r\n"})
	want := treeSums(t, in)
	out := filepath.Join(t.TempDir(), "x.7z")
	if _, err := Create(context.Background(), in, out, false, Options{Passphrase: testPass, Expect: want}); err != nil {
		t.Fatalf("matching expectation: %v", err)
	}

	for name, expect := range map[string]map[string]string{
		"changed": {"a.csv": want["sub/b.csv"], "sub/b.csv": want["sub/b.csv"]},
		"missing": {"a.csv": want["a.csv"], "sub/b.csv": want["sub/b.csv"], "c.csv": want["a.csv"]},
		"extra":   {"a.csv": want["a.csv"]},
	} {
		out := filepath.Join(t.TempDir(), name+".7z")
		_, err := Create(context.Background(), in, out, false, Options{Passphrase: testPass, Expect: expect})
		if !errors.Is(err, ErrVerify) {
			t.Errorf("%s: err = %v, want ErrVerify", name, err)
		}
		if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
			t.Errorf("%s: left behind %v", name, ents)
		}
	}
}
