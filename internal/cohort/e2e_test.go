package cohort_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/cohort"
	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/sim"
)

// TestEndToEndSeftsim runs a diff replace over simulated days against
// seftsim in real Chromium, through portal.Upload, and checks that
// afterwards seftsim holds exactly what the ledger says. A file broken
// through the test hook is caught locally and never reaches seftsim.
func TestEndToEndSeftsim(t *testing.T) {
	if testing.Short() {
		t.Skip("starts seftsim and Chromium")
	}
	ctx := context.Background()
	s, err := sim.Start(ctx, sim.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src, err := config.Load(s.EnvFile(), true, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	popts, err := portal.OptionsFromSource(src, portal.SiteUpload)
	if err != nil {
		t.Fatal(err)
	}
	popts.StepTimeout = 30 * time.Second
	header, err := cohort.LoadHeader(s.HeaderFile())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() + "/cohort"
	var hook func([]byte) []byte
	open := func() *cohort.Store {
		st, err := cohort.Open(cohort.Options{Dir: dir, Project: src.Get("SEFTBOT_PROJECT_ID"), Header: header,
			Now: s.Now, BeforeCheck: hook,
			Uploader: func() (cohort.Uploader, error) {
				return func(ctx context.Context, path string) (string, error) { return portal.Upload(ctx, popts, path) }, nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	submit := func(wantUpload bool) {
		t.Helper()
		res, err := open().Submit(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if res.Uploaded != wantUpload {
			t.Fatalf("at %s: uploaded=%v, want %v (%s)", s.Now(), res.Uploaded, wantUpload, res.Reason)
		}
	}
	// nextMorning moves seftsim's clock to 10:00 London the next day, past
	// the quiet period whatever time the test started.
	london, _ := time.LoadLocation("Europe/London")
	nextMorning := func() {
		t.Helper()
		y, m, d := s.Now().In(london).Date()
		if _, err := s.AdvanceClock(time.Date(y, m, d+1, 10, 0, 0, 0, london).Sub(s.Now())); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(from, n int) string {
		var b strings.Builder
		b.WriteString("NHS_NO\n")
		for i := from; i < from+n; i++ {
			b.WriteString(validNHS(i) + "\n")
		}
		return b.String()
	}

	// Day 1: the first cohort, 0..29.
	if _, err := open().Add(context.Background(), strings.NewReader(ids(0, 30)), "first.csv"); err != nil {
		t.Fatal(err)
	}
	submit(true)
	submit(false) // the same day: nothing
	nextMorning()

	// Days 2 and 3: replace with 10..39 by diff: DELETE 0..9, then ADD 30..39.
	res, err := open().Replace(context.Background(), strings.NewReader(ids(10, 30)), "next.csv", cohort.Diff)
	if err != nil || len(res.Steps) != 2 || res.Steps[0].Count != 10 || res.Steps[1].Count != 10 {
		t.Fatalf("replace: %+v %v", res, err)
	}
	submit(true)
	submit(false)
	nextMorning()
	submit(true)
	nextMorning()
	submit(false)

	st := open()
	if _, err := st.Status(); err != nil {
		t.Fatal(err)
	}
	if got, want := s.HeldSet(), st.Held(); !slices.Equal(got, want) || len(want) != 30 {
		t.Fatalf("seftsim holds %d identifiers, the ledger %d; equal: %v", len(got), len(want), slices.Equal(got, want))
	}
	if want := ids(10, 30); strings.Join(st.Held(), "\n")+"\n" != strings.TrimPrefix(want, "NHS_NO\n") {
		t.Fatal("ledger does not hold the second cohort")
	}

	// A deliberately broken file is caught before it leaves.
	if _, err := open().Add(context.Background(), strings.NewReader(ids(100, 2)), "more.csv"); err != nil {
		t.Fatal(err)
	}
	before := len(s.Uploads())
	hook = func(b []byte) []byte { return []byte(strings.ReplaceAll(string(b), "\r\n", "\n")) }
	_, err = open().Submit(ctx, false)
	var pe *cohort.ProblemsError
	if !errors.As(err, &pe) {
		t.Fatalf("broken file: %v", err)
	}
	if len(s.Uploads()) != before {
		t.Fatal("the broken file reached seftsim")
	}
	for _, u := range s.Uploads() {
		if u.Verdict != sim.Accepted {
			t.Errorf("seftsim rejected an upload: rule %d: %s", u.Rule, u.Reason)
		}
	}
	if ents, _ := os.ReadDir(s.Dir() + "/mail"); len(ents) != 0 {
		t.Errorf("seftsim mailed %d error notices", len(ents))
	}
}

// validNHS is the i-th valid NHS number in the 999 test range.
func validNHS(i int) string {
	for base := 999100000 + i*11; ; base++ {
		sum := 0
		for k, v := 8, base; k >= 0; k, v = k-1, v/10 {
			sum += (v % 10) * (10 - k)
		}
		c := (11 - sum%11) % 11
		if c != 10 {
			return fmt.Sprintf("%09d%d", base, c)
		}
	}
}
