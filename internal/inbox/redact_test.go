package inbox_test

import (
	"strings"
	"testing"

	"github.com/isaric/seftbot/internal/inbox"
)

// TestRedact: a notice's text is kept only without anything that could be
// an identifier, on one line, and bounded.
func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"Row 3: NHS number 943 476 5919 invalid": "Row 3: NHS number [number removed] invalid",
		"9434765919 and 943-476-5919":            "[number removed] and [number removed]",
		"born 1980-01-01, ref 19800101":          "born [number removed], ref [number removed]",
		"There was a problem\r\n\tprocessing.":   "There was a problem processing.",
		"3 files, 24 columns, 2026":              "3 files, 24 columns, 2026",
	} {
		if got := inbox.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if got := inbox.Redact(strings.Repeat("x", 2000)); len(got) != 503 {
		t.Errorf("long text kept %d characters", len(got))
	}
}
