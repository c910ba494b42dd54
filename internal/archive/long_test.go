package archive

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLongFiveGiB streams a 5 GiB file (sparse, with generated CSV at the
// start, across the 4 GiB boundary and at the end) plus a small file behind
// it. With copy the archive itself passes 4 GiB, so pack positions and sizes
// need all 64 bits; deflate puts a > 4 GiB unpack size in one stream.
// Create verifies with bodgit/sevenzip; real 7-Zip tests it too.
// Needs SEFTBOT_LONG_TESTS=1 and about 5.5 GiB of free disk.
func TestLongFiveGiB(t *testing.T) {
	if os.Getenv("SEFTBOT_LONG_TESTS") != "1" {
		t.Skip("set SEFTBOT_LONG_TESTS=1 to run the 5 GiB test")
	}
	in := t.TempDir()
	big := filepath.Join(in, "big.csv")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	const size = 5 << 30
	chunk := []byte(csvLike(42, 1<<20))
	for _, off := range []int64{0, 4<<30 - 1<<19, size - int64(len(chunk))} {
		if _, err := f.WriteAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, "z-after.csv"), chunk[:12345], 0o644); err != nil {
		t.Fatal(err)
	}
	// The source's sums, streamed and independent of the writer's reading.
	want := map[string]string{}
	for _, name := range []string{"big.csv", "z-after.csv"} {
		sum, err := sha256File(filepath.Join(in, name))
		if err != nil {
			t.Fatal(err)
		}
		want[name] = sum
	}

	for _, method := range []string{"copy", "deflate"} {
		t.Run(method, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "big.7z")
			start := time.Now()
			res, err := Create(context.Background(), in, out, false, Options{Method: method, Passphrase: testPass})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d bytes in, %d bytes out, %v (write + bodgit verify); peak RSS so far %s",
				method, res.InputBytes, res.Size, time.Since(start).Round(time.Second), peakRSS())
			if res.InputBytes != size+12345 || res.Files != 2 {
				t.Errorf("result %+v", res)
			}
			if method == "copy" && res.Size <= 1<<32 {
				t.Errorf("copy archive is %d bytes; the test needs it past 4 GiB", res.Size)
			}
			start = time.Now()
			if err := Verify(context.Background(), out, testPass, want); err != nil {
				t.Errorf("against the source's own sums: %v", err)
			}
			t.Logf("second Verify: %v", time.Since(start).Round(time.Second))
			if _, err := os.Stat(out); err == nil {
				sevenZip(t)
				start = time.Now()
				if o, err := run7z(t, t.TempDir(), testPass, "t", out); err != nil || !strings.Contains(o, "Everything is Ok") {
					t.Errorf("7z t: %v\n%s", err, o)
				}
				t.Logf("7z t: %v", time.Since(start).Round(time.Second))
			}
			_ = os.Remove(out)
		})
	}
}

// peakRSS reads the process's high-water mark of resident memory.
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "unknown"
}
