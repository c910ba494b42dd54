package sim

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestFaultLatencyAndSlowLogin(t *testing.T) {
	s := startSim(t, Options{Files: 1, Faults: Faults{Latency: 150 * time.Millisecond}})
	c := newClient(t, s)
	start := time.Now()
	c.get("/download/login")
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("latency fault: answered in %s", d)
	}
	if err := s.SetFaults(Faults{SlowLogin: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	c.get("/download/login")
	if d := time.Since(start); d >= 150*time.Millisecond {
		t.Fatalf("latency still applied after it was cleared: %s", d)
	}
	start = time.Now()
	c.signIn(siteDownload)
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("slow login: signed in in %s", d)
	}
}

func TestFaultErrorRate(t *testing.T) {
	s := startSim(t, Options{Files: 1, Faults: Faults{ErrorRate: 1}})
	c := newClient(t, s)
	if r := c.get("/download/login"); r.StatusCode != http.StatusInternalServerError {
		t.Fatalf("error rate 1: %d", r.StatusCode)
	}
	// At 0.5 both outcomes occur, in an order fixed by the seed.
	sequence := func(seed int64) string {
		s := startSim(t, Options{Files: 1, Seed: seed, Faults: Faults{ErrorRate: 0.5}})
		c := newClient(t, s)
		var b strings.Builder
		for range 40 {
			if c.get("/download/login").StatusCode == http.StatusOK {
				b.WriteByte('.')
			} else {
				b.WriteByte('x')
			}
		}
		return b.String()
	}
	a, b := sequence(7), sequence(7)
	if a != b {
		t.Fatalf("same seed, different 500s:\n%s\n%s", a, b)
	}
	if !strings.Contains(a, ".") || !strings.Contains(a, "x") {
		t.Fatalf("error rate 0.5 gave %s", a)
	}
	if a == sequence(8) {
		t.Fatalf("another seed gave the same 500s: %s", a)
	}
}

func TestFaultTruncate(t *testing.T) {
	s := startSim(t, Options{Files: 2, FileSize: 200_000, Faults: Faults{TruncateRate: 1}})
	c := newClient(t, s)
	c.signIn(siteDownload)
	l := c.listPage(1)
	form := url.Values{"token": {l.tokens[0]}}
	req, _ := http.NewRequest(http.MethodPost, s.PortalURL()+"/download/fetch", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := s.Files()[0].Size
	if resp.StatusCode != http.StatusOK || resp.ContentLength != want {
		t.Fatalf("truncated download: %d, Content-Length %d, want %d", resp.StatusCode, resp.ContentLength, want)
	}
	got, err := io.ReadAll(resp.Body)
	if err == nil || int64(len(got)) >= want {
		t.Fatalf("read %d of %d bytes, err %v: the body was not cut", len(got), want, err)
	}
	if len(got) == 0 {
		t.Fatal("nothing arrived before the cut")
	}
	// Clearing the fault gives whole files again.
	if err := s.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if r := c.post("/download/fetch", url.Values{"token": {l.tokens[1]}}); int64(len(r.body)) != s.Files()[1].Size {
		t.Fatalf("after clearing: %d bytes", len(r.body))
	}
}

func TestFaultExpireAfter(t *testing.T) {
	s := startSim(t, Options{Files: 1})
	c := newClient(t, s)
	c.signIn(siteDownload)
	if code, m := admin(t, s, "POST", "/admin/faults", `{"expire_after":2}`); code != 200 || m["expire_after"] != float64(2) {
		t.Fatalf("set expire_after: %d %v", code, m)
	}
	for i := range 2 {
		if r := c.get("/download/files"); r.StatusCode != http.StatusOK {
			t.Fatalf("request %d of 2: %d", i+1, r.StatusCode)
		}
	}
	r := c.get("/download/files")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/download/login?expired=1" {
		t.Fatalf("third request: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	// Once only: a new session lives on.
	c.signIn(siteDownload)
	for range 5 {
		if r := c.get("/download/files"); r.StatusCode != http.StatusOK {
			t.Fatalf("after the one-shot expiry: %d", r.StatusCode)
		}
	}
	if f := s.Faults(); f.ExpireAfter != 0 {
		t.Fatalf("expire_after left at %d", f.ExpireAfter)
	}
}

func TestFaultMaintenance(t *testing.T) {
	s := startSim(t, Options{Files: 1, Faults: Faults{Maintenance: true}})
	c := newClient(t, s)
	for _, p := range []string{"/download/login", "/upload/login", "/download/files", "/"} {
		r := c.get(p)
		if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, "maintenance") {
			t.Fatalf("%s under maintenance: %d", p, r.StatusCode)
		}
	}
	if code, _ := admin(t, s, "POST", "/admin/faults", `{"maintenance":false}`); code != 200 {
		t.Fatalf("clear maintenance: %d", code)
	}
	if r := c.get("/download/login"); r.StatusCode != http.StatusOK {
		t.Fatalf("after maintenance: %d", r.StatusCode)
	}
}

func TestFaultsReachSFTPAndSMTP(t *testing.T) {
	s := startSim(t, Options{Files: 1, Faults: Faults{SFTPDropAfter: 100, SMTPDown: true}})
	if f := s.Faults(); f.SFTPDropAfter != 100 || !f.SMTPDown {
		t.Fatalf("start faults %+v", f)
	}
	if f := s.ext.sftp.Faults(); f.DropAfter != 100 || f.NoOverwrite {
		t.Fatalf("drop faults %+v", f)
	}
	code, m := admin(t, s, "POST", "/admin/faults", `{"sftp_no_overwrite":true,"smtp_down":false}`)
	if code != 200 || m["sftp_no_overwrite"] != true || m["smtp_down"] != false || m["sftp_drop_after"] != float64(100) {
		t.Fatalf("faults: %d %v", code, m)
	}
	if f := s.ext.sftp.Faults(); !f.NoOverwrite {
		t.Fatalf("drop faults %+v", f)
	}
}

func TestSetFaultsRefusesNonsense(t *testing.T) {
	s := startSim(t, Options{Files: 1})
	for _, f := range []Faults{{ErrorRate: 1.5}, {TruncateRate: -0.1}, {Latency: -time.Second}, {SlowLogin: time.Hour},
		{ExpireAfter: -1}, {SFTPDropAfter: -5}} {
		if err := s.SetFaults(f); err == nil {
			t.Errorf("SetFaults(%+v) accepted", f)
		}
	}
	if _, err := Start(t.Context(), Options{Dir: t.TempDir(), Faults: Faults{ErrorRate: 2}}); err == nil {
		t.Error("Start accepted error rate 2")
	}
	var nan Faults
	nan.ErrorRate = zero() / zero()
	if err := nan.validate(); err == nil {
		t.Error("NaN error rate accepted")
	}
}

func zero() float64 { return 0 }
