package relay

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/usererr"
)

func TestFinalNameLondonDate(t *testing.T) {
	cases := []struct {
		utc  time.Time
		want string
	}{
		{time.Date(2026, 7, 15, 23, 30, 0, 0, time.UTC), "isaric-P-20260716.7z"}, // BST: already tomorrow
		{time.Date(2026, 7, 15, 22, 59, 0, 0, time.UTC), "isaric-P-20260715.7z"},
		{time.Date(2026, 1, 15, 23, 30, 0, 0, time.UTC), "isaric-P-20260115.7z"}, // GMT: same day
		{time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC), "isaric-P-20260329.7z"},  // the spring-forward night
	}
	for _, c := range cases {
		got, err := FinalName(DefaultNameTemplate, "P", c.utc, nil)
		if err != nil || got != c.want {
			t.Errorf("%v: got %q, %v; want %q", c.utc, got, err, c.want)
		}
	}
}

func TestFinalNameSuffix(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	existing := []string{"isaric-P-20261122.7z", "isaric-P-20261122-2.7z"}
	var asked []string
	got, err := FinalName(DefaultNameTemplate, "P", now, func(n string) (bool, error) {
		asked = append(asked, n)
		return slices.Contains(existing, n), nil
	})
	if err != nil || got != "isaric-P-20261122-3.7z" {
		t.Fatalf("got %q, %v", got, err)
	}
	if len(asked) != 3 {
		t.Fatalf("asked %v", asked)
	}
	boom := errors.New("stat failed")
	if _, err := FinalName(DefaultNameTemplate, "P", now, func(string) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	if _, err := FinalName(DefaultNameTemplate, "P", now, func(string) (bool, error) { return true, nil }); !errors.Is(err, ErrRelay) {
		t.Fatalf("all taken: got %v", err)
	}
}

func TestFinalNameRejects(t *testing.T) {
	now := time.Now()
	for _, c := range []struct{ tmpl, project, want string }{
		{"isaric-{proj}.7z", "P", "unknown placeholder {proj}"},
		{DefaultNameTemplate, "../x", "not a plain file name"},
		{".{project}", "P", "not a plain file name"},
		{"{project}", "", "not a plain file name"},
	} {
		_, err := FinalName(c.tmpl, c.project, now, nil)
		if !usererr.Is(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q/%q: got %v, want %q", c.tmpl, c.project, err, c.want)
		}
	}
}
