package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/bodgit/sevenzip"

	"github.com/isaric/seftbot/internal/usererr"
)

// manyFiles is the 160-file case: CSVs of varied sizes, some empty, plus
// non-ASCII names and empty directories at several depths.
func manyFiles() map[string]string {
	m := map[string]string{}
	for i := range 157 {
		body := ""
		if i%23 != 5 { // every 23rd file is empty
			body = csvLike(uint64(i), 200+(i*997)%20000)
		}
		m[fmt.Sprintf("data/part_%03d.csv", i)] = body
	}
	m["naïve/résumé ✓ 日本語.csv"] = csvLike(1000, 3000)
	m["Ünïcödé-ŁØß.txt"] = "tiny\n"
	m["zero-length.csv"] = ""
	m["empty-dir/"] = ""
	m["nested/deeper/empty/"] = ""
	return m
}

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
	}{
		{"0files", map[string]string{}},
		{"1file", map[string]string{"NIC-402963-P0Y5D.csv": csvLike(7, 50_000)}},
		{"160files", manyFiles()},
	}
	for _, method := range Methods {
		for _, c := range cases {
			t.Run(method+"/"+c.name, func(t *testing.T) {
				in := writeTree(t, c.files)
				out := filepath.Join(t.TempDir(), "out.7z")
				res, err := Create(context.Background(), in, out, false, Options{Method: method, Passphrase: testPass, Concurrency: 3})
				if err != nil {
					t.Fatal(err)
				}
				want := treeSums(t, in)
				checkResult(t, res, out, in, want)
				checkWithBodgit(t, out, in, want)
				checkWith7z(t, out, in, want, c.name == "160files")
				checkNoPlainNames(t, out, c.files)
			})
		}
	}
}

func checkResult(t *testing.T, res *Result, out, in string, want map[string]string) {
	t.Helper()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	var inBytes int64
	for name := range want {
		st, err := os.Stat(filepath.Join(in, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		inBytes += st.Size()
	}
	if res.Path != out || res.Size != int64(len(b)) || res.SHA256 != hex.EncodeToString(sum[:]) ||
		res.Files != len(want) || res.InputBytes != inBytes {
		t.Errorf("result %+v; file has %d bytes, sha256 %x; want %d files, %d input bytes", res, len(b), sum, len(want), inBytes)
	}
	st, _ := os.Stat(out)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("archive mode %v, want 0600", st.Mode().Perm())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*tmp*"))
	if len(left) > 0 {
		t.Errorf("temp files left behind: %v", left)
	}
}

// checkWithBodgit reads the archive independently of Verify: names, order,
// content, empty directories and modification times.
func checkWithBodgit(t *testing.T, out, in string, want map[string]string) {
	t.Helper()
	r, err := sevenzip.OpenReaderWithPassword(out, testPass)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := map[string]string{}
	var names []string
	dirs := map[string]bool{}
	if n := len(r.File); n == 0 || r.File[n-1].Name != SumsName {
		t.Errorf("last entry is not %s", SumsName)
	}
	for _, f := range r.File {
		if f.Name == SumsName {
			continue // made by Create; TestSHA256SUMSWithStock7Zip checks it
		}
		names = append(names, strings.TrimSuffix(f.Name, "/"))
		st, err := os.Stat(filepath.Join(in, filepath.FromSlash(strings.TrimSuffix(f.Name, "/"))))
		if err != nil {
			t.Fatalf("entry %q has no source: %v", f.Name, err)
		}
		if d := f.Modified.Sub(st.ModTime()); d > 100*time.Nanosecond || d < -100*time.Nanosecond {
			t.Errorf("%s: mtime %v, source %v", f.Name, f.Modified, st.ModTime())
		}
		if f.FileInfo().IsDir() {
			dirs[strings.TrimSuffix(f.Name, "/")] = true
			continue
		}
		if f.Mode().Perm() != st.Mode().Perm() {
			t.Errorf("%s: mode %v, source %v", f.Name, f.Mode(), st.Mode())
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, rc); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		rc.Close()
		got[f.Name] = hex.EncodeToString(h.Sum(nil))
	}
	if !equalMaps(got, want) {
		t.Errorf("bodgit read %d files, want %d (or contents differ)", len(got), len(want))
	}
	for _, d := range emptyDirs(t, in) {
		if !dirs[d] {
			t.Errorf("empty directory %q missing", d)
		}
	}
	if !sort.StringsAreSorted(pathOrder(names)) {
		t.Errorf("entries not in walk order: %q", names)
	}
}

// pathOrder maps names so that lexical order equals WalkDir's order
// ('/' sorts before every other byte within a name's components).
func pathOrder(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ReplaceAll(n, "/", "\x00")
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkWith7z extracts with the real 7-Zip and compares the tree; for the
// big case it also runs 7z t, and checks that neither listing nor testing
// works without the right passphrase.
func checkWith7z(t *testing.T, out, in string, want map[string]string, full bool) {
	t.Helper()
	dest := t.TempDir()
	if o, err := run7z(t, dest, testPass, "x", "-y", out); err != nil {
		t.Fatalf("7z x: %v\n%s", err, o)
	}
	got := treeSums(t, dest)
	if _, ok := got[SumsName]; !ok {
		t.Errorf("7z extracted no %s", SumsName)
	}
	delete(got, SumsName)
	if !equalMaps(got, want) {
		t.Errorf("7z extracted %d files, want %d (or contents differ)", len(got), len(want))
	}
	for _, d := range emptyDirs(t, in) {
		if st, err := os.Stat(filepath.Join(dest, d)); err != nil || !st.IsDir() {
			t.Errorf("7z did not restore empty directory %q", d)
		}
	}
	if !full {
		return
	}
	if o, err := run7z(t, dest, testPass, "t", out); err != nil || !strings.Contains(o, "Everything is Ok") {
		t.Errorf("7z t: %v\n%s", err, o)
	}
	o, err := run7z(t, dest, "", "l", out)
	if err == nil {
		t.Errorf("7z l without a passphrase succeeded:\n%s", o)
	}
	for name := range want {
		if strings.Contains(o, filepath.Base(name)) {
			t.Errorf("7z l without a passphrase shows %q", name)
		}
	}
	if o, err := run7z(t, dest, testPass+"x", "t", out); err == nil || strings.Contains(o, "part_000") {
		t.Errorf("7z t with a wrong passphrase: err=%v\n%s", err, o)
	}
}

// checkNoPlainNames looks for every name, in UTF-8 and UTF-16LE, in the
// archive's bytes: none may appear.
func checkNoPlainNames(t *testing.T, out string, files map[string]string) {
	t.Helper()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for name := range files {
		base := filepath.Base(strings.TrimSuffix(name, "/"))
		u := utf16.Encode([]rune(base))
		u16 := make([]byte, 0, 2*len(u))
		for _, c := range u {
			u16 = append(u16, byte(c), byte(c>>8))
		}
		if bytes.Contains(b, []byte(base)) || bytes.Contains(b, u16) {
			t.Errorf("name %q readable in the archive", base)
		}
	}
}

func TestCreateRefusesExistingUnlessForce(t *testing.T) {
	in := writeTree(t, map[string]string{"a.csv": "1,2\r\n"})
	out := filepath.Join(t.TempDir(), "out.7z")
	if err := os.WriteFile(out, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Create(context.Background(), in, out, false, Options{Passphrase: testPass})
	if err == nil || !usererr.Is(err) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("err = %v, want a user error saying it exists", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Fatal("existing output was changed")
	}
	if _, err := Create(context.Background(), in, out, true, Options{Passphrase: testPass}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b[:2]) != "7z" {
		t.Fatal("--force did not replace the output")
	}
}

func TestCreateLeavesNothingOnFailure(t *testing.T) {
	big := csvLike(3, 3<<20)
	cases := []struct {
		name   string
		prep   func(t *testing.T, in string)
		opts   func(in string, cancel func()) Options
		wantIs error
		want   string
	}{
		{
			name: "cancelled",
			opts: func(_ string, cancel func()) Options {
				return Options{Passphrase: testPass, Progress: func(int64) { cancel() }}
			},
			wantIs: context.Canceled,
		},
		{
			name: "file shrinks while read",
			opts: func(in string, _ func()) Options {
				return Options{Passphrase: testPass, Concurrency: 1, Progress: func(int64) {
					_ = os.Truncate(filepath.Join(in, "b.csv"), 10)
				}}
			},
			want: "b.csv changed while being archived",
		},
		{
			name: "symlink out of the input",
			prep: func(t *testing.T, in string) {
				if err := os.Symlink("/etc/hostname", filepath.Join(in, "link.csv")); err != nil {
					t.Fatal(err)
				}
			},
			opts: func(string, func()) Options { return Options{Passphrase: testPass} },
			want: "link.csv",
		},
		{
			name: "unknown method",
			opts: func(string, func()) Options { return Options{Passphrase: testPass, Method: "zstd"} },
			want: `unknown compression method "zstd"`,
		},
		{
			name: "no passphrase",
			opts: func(string, func()) Options { return Options{} },
			want: "no passphrase",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := writeTree(t, map[string]string{"a.csv": big, "b.csv": big})
			if c.prep != nil {
				c.prep(t, in)
			}
			outDir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := Create(ctx, in, filepath.Join(outDir, "out.7z"), false, c.opts(in, cancel))
			if err == nil {
				t.Fatal("Create succeeded")
			}
			if c.wantIs != nil && !errors.Is(err, c.wantIs) {
				t.Errorf("err = %v, want %v", err, c.wantIs)
			}
			if c.want != "" && !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
			if left, _ := os.ReadDir(outDir); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

func TestCreateRefusesOutputInsideInput(t *testing.T) {
	in := writeTree(t, map[string]string{"a.csv": "x"})
	_, err := Create(context.Background(), in, filepath.Join(in, "out.7z"), false, Options{Passphrase: testPass})
	if err == nil || !usererr.Is(err) {
		t.Fatalf("err = %v, want a user error", err)
	}
}

func TestVerifyCatchesDamage(t *testing.T) {
	files := map[string]string{"a.csv": csvLike(1, 40_000), "b.csv": csvLike(2, 40_000)}
	in := writeTree(t, files)
	out := filepath.Join(t.TempDir(), "out.7z")
	if _, err := Create(context.Background(), in, out, false, Options{Method: "copy", Passphrase: testPass}); err != nil {
		t.Fatal(err)
	}
	want := treeSums(t, in)
	ctx := context.Background()

	wrongSum := map[string]string{"a.csv": want["a.csv"], "b.csv": want["a.csv"]}
	missing := map[string]string{"a.csv": want["a.csv"]}
	extra := map[string]string{"a.csv": want["a.csv"], "b.csv": want["b.csv"], "c.csv": want["a.csv"]}
	for name, w := range map[string]map[string]string{"wrong sum": wrongSum, "unexpected entry": missing, "missing": extra} {
		if err := Verify(ctx, out, testPass, w); !errors.Is(err, ErrVerify) {
			t.Errorf("%s: err = %v, want ErrVerify", name, err)
		}
	}
	if err := Verify(ctx, out, testPass+"!", want); !errors.Is(err, ErrVerify) {
		t.Errorf("wrong passphrase: err = %v, want ErrVerify", err)
	}

	// Flip one bit in the middle of the first file's ciphertext: CBC garbles
	// that block, the sha256 must catch it.
	b, _ := os.ReadFile(out)
	b[signatureHeaderSize+20_000] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.7z")
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, bad, testPass, want); !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "a.csv") {
		t.Errorf("damaged data: err = %v, want ErrVerify naming a.csv", err)
	}
}

// TestHeaderIsEncrypted rejects, via the structural check, an archive whose
// start header points to a plain header.
func TestHeaderIsEncrypted(t *testing.T) {
	plain := encodeHeader([]*entry{{name: "secret-cohort.csv", empty: true, mtime: time.Now()}}, nil)
	b := append(startHeader(0, plain), plain...)
	p := filepath.Join(t.TempDir(), "plain.7z")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// bodgit itself lists it without a passphrase: the check is not vacuous.
	if r, err := sevenzip.OpenReader(p); err != nil || len(r.File) != 1 {
		t.Fatalf("plain archive should be readable: %v", err)
	}
	err := Verify(context.Background(), p, testPass, map[string]string{})
	if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "not encoded") {
		t.Fatalf("err = %v, want ErrVerify about the plain header", err)
	}
}

// TestParallelOrder checks that output does not depend on scheduling: the
// same tree with 1 and 4 workers gives identical headers (apart from
// the random salt and IVs, so compared through bodgit's view).
func TestParallelOrder(t *testing.T) {
	files := map[string]string{}
	for i := range 12 {
		files[fmt.Sprintf("f%02d.csv", i)] = csvLike(uint64(i), 1000+((11-i)*50_000))
	}
	in := writeTree(t, files)
	var views []string
	for _, workers := range []int{1, 4} {
		out := filepath.Join(t.TempDir(), "out.7z")
		if _, err := Create(context.Background(), in, out, false, Options{Passphrase: testPass, Concurrency: workers}); err != nil {
			t.Fatal(err)
		}
		r, err := sevenzip.OpenReaderWithPassword(out, testPass)
		if err != nil {
			t.Fatal(err)
		}
		var v strings.Builder
		for _, f := range r.File {
			fmt.Fprintf(&v, "%s %d %d %08x\n", f.Name, f.Stream, f.UncompressedSize, f.CRC32)
		}
		r.Close()
		views = append(views, v.String())
	}
	if views[0] != views[1] || !strings.Contains(views[0], "f11.csv 11 ") {
		t.Errorf("1 worker:\n%s4 workers:\n%s", views[0], views[1])
	}
}
