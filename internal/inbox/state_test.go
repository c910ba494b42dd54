package inbox

import (
	"fmt"
	"testing"
)

// TestStateIsBounded: inbox.json keeps the newest notices it acted on and
// the newest it could not match, not every one since installation.
func TestStateIsBounded(t *testing.T) {
	dir := t.TempDir()
	st := &State{}
	for i := range 1000 {
		st.Applied = append(st.Applied, fmt.Sprintf("<m%d@example>", i))
		st.Unmatched = append(st.Unmatched, fmt.Sprintf("notice %d", i))
	}
	if err := st.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Applied) != keepApplied || got.Applied[len(got.Applied)-1] != "<m999@example>" {
		t.Errorf("applied: %d kept, last %q", len(got.Applied), got.Applied[len(got.Applied)-1])
	}
	if len(got.Unmatched) != keepUnmatched || got.Unmatched[len(got.Unmatched)-1] != "notice 999" {
		t.Errorf("unmatched: %d kept, want the newest %d", len(got.Unmatched), keepUnmatched)
	}
}
