package job_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/archive"
	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/sim"
)

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkDelivered proves the drop holds exactly want archives, whose contents,
// opened by real 7-Zip with the mailed passphrases, are exactly the files
// seftsim published, each once.
func (w *world) checkDelivered(wantArchives int) map[string]string {
	w.t.Helper()
	routed := w.routed()
	secure, _ := w.mails()
	if len(routed) != wantArchives {
		w.t.Fatalf("%d archives routed, want %d: %+v", len(routed), wantArchives, routed)
	}
	if len(secure) != wantArchives {
		w.t.Fatalf("%d [secure] mails, want %d", len(secure), wantArchives)
	}
	got := map[string]string{}
	for i, r := range routed {
		if !strings.HasPrefix(filepath.Base(r.Name), "isaric-") {
			w.t.Errorf("routed %s: not an isaric-* name", r.Name)
		}
		pass := passphraseOf(w.t, secure[i])
		if !strings.Contains(secure[i].Text, filepath.Base(r.Name)) || !strings.Contains(secure[i].Text, r.SHA256) {
			w.t.Errorf("passphrase mail %d does not name archive %s and its sha256", i, r.Name)
		}
		_, sums := extract(w.t, filepath.Join(w.sim.Dir(), "sftp", filepath.Base(r.Name)), pass)
		for name, sum := range sums {
			if _, dup := got[name]; dup {
				w.t.Errorf("%s delivered twice", name)
			}
			got[name] = sum
		}
	}
	return got
}

func sameFiles(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("delivered %d files, published %d", len(got), len(want))
	}
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("%s: delivered sha256 %q, published %q", name, got[name], sum)
		}
	}
}

// TestFetchNights is the operator's week: a first night with 160 files, a
// night with nothing new, and a night with a new batch, where only the new
// files are sent. It also scans every log line and mail for secrets.
func TestFetchNights(t *testing.T) {
	w := newWorld(t, sim.Options{Files: 160, FileSize: 64 << 10})
	night1 := w.published()

	res, err := w.fetch()
	if err != nil {
		t.Fatalf("night 1: %v\nlogs:\n%s", err, w.log)
	}
	if res.Record.Outcome != "ok" || res.Record.Files != 160 {
		t.Fatalf("night 1 record: %+v", res.Record)
	}
	sameFiles(t, w.checkDelivered(1), night1)
	if n := w.stagingFiles(); n != 0 {
		t.Errorf("%d clear-text files left in staging", n)
	}
	if _, other := w.mails(); len(other) != 1 || !strings.Contains(other[0].Subject, "OK") {
		t.Errorf("want one OK report mail, got %d", len(other))
	}

	// Night 2: nothing new. Its own error, no archive, no passphrase mail.
	res, err = w.fetch()
	if !errors.Is(err, job.ErrNothingNew) || res.Record.Outcome != "nothing-new" {
		t.Fatalf("night 2: %v %+v", err, res)
	}
	w.checkDelivered(1)

	// Night 3: a new batch; only it is sent.
	if _, err := w.sim.Publish(12, 32<<10); err != nil {
		t.Fatal(err)
	}
	all := w.published()
	res, err = w.fetch()
	if err != nil || res.Record.Files != 12 {
		t.Fatalf("night 3: %v %+v", err, res)
	}
	got := w.checkDelivered(2)
	sameFiles(t, got, all)

	// Nothing secret anywhere in the logs or the report mails: not the
	// passwords, not the passphrases, not an identifier, not file content.
	secrets := map[string]string{}
	for _, k := range []string{"SEFTBOT_DOWNLOAD_PASSWORD", "SEFTBOT_UPLOAD_PASSWORD", "SEFTBOT_SMTP_PASSWORD"} {
		v, _ := w.src.Secret(k)
		secrets[k] = v
	}
	secure, other := w.mails()
	for i, m := range secure {
		secrets["passphrase "+string(rune('1'+i))] = passphraseOf(t, m)
	}
	ids := sampleIdentifiers(t, w)
	haystack := w.log.String()
	for _, m := range other {
		haystack += m.Subject + "\n" + m.Text
	}
	for what, s := range secrets {
		if s == "" {
			t.Fatalf("%s is empty: the scan would prove nothing", what)
		}
		if strings.Contains(haystack, s) {
			t.Errorf("%s appears in the logs or the report", what)
		}
	}
	for _, id := range ids {
		if strings.Contains(haystack, id) {
			t.Errorf("a patient identifier or content line appears in the logs or the report")
			break
		}
	}
	if !strings.Contains(haystack, `"run_id"`) {
		t.Error("log lines carry no run_id")
	}
}

// sampleIdentifiers reads identifiers and whole content lines from the files
// seftsim serves, so the secret scan looks for real content.
func sampleIdentifiers(t *testing.T, w *world) []string {
	t.Helper()
	secure, _ := w.mails()
	routed := w.routed()
	dir, _ := extract(t, filepath.Join(w.sim.Dir(), "sftp", filepath.Base(routed[0].Name)), passphraseOf(t, secure[0]))
	var ents []os.DirEntry
	all, _ := os.ReadDir(dir)
	for _, e := range all {
		if e.Name() != archive.SumsName {
			ents = append(ents, e)
		}
	}
	var out []string
	digits := regexp.MustCompile(`\b\d{10}\b`)
	for _, e := range ents[:3] {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		lines := strings.Split(string(b), "\n")
		for _, l := range lines[1:4] {
			out = append(out, strings.TrimRight(l, "\r"))
			out = append(out, digits.FindAllString(l, -1)...)
		}
	}
	if len(out) == 0 {
		t.Fatal("no content sampled: the scan would prove nothing")
	}
	return out
}
