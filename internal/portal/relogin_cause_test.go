package portal

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/isaric/seftbot/internal/sim"
)

// TestReloginLogsCause: every extra sign-in in a run is explained in its
// log, with where the run was, the profile check that said the session had
// ended, and the page.
func TestReloginLogsCause(t *testing.T) {
	s := startSim(t, sim.Options{Files: 6, Faults: sim.Faults{ExpireAfter: 4}})
	o := simOptions(t, s, SiteDownload)
	o.Concurrency = 1
	var mu sync.Mutex
	var out bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &out}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := Download(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.New) != 6 {
		t.Fatalf("%d new files, want 6", len(res.New))
	}
	mu.Lock()
	log := out.String()
	mu.Unlock()
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "signing in again") {
			lines = append(lines, l)
		}
	}
	logins := s.State().Accounts["download"].Logins
	if logins < 2 || len(lines) != logins-1 {
		t.Fatalf("%d sign-ins, %d explained re-logins; want every sign-in after the first explained:\n%s", logins, len(lines), log)
	}
	cause := regexp.MustCompile(`cause="(reading the list|clicking [^:]+): the (profile's session_expired text or selector matched|login form was shown without login\.outcomes\.signed_in), at https://127\.0\.0\.1:\d+/`)
	for _, l := range lines {
		if !cause.MatchString(l) {
			t.Errorf("re-login without its cause: %s", l)
		}
	}
	checkNoLeaks(t)
}
