package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/job"
)

// A fetch that found files marked unavailable on the portal says how many
// on its status line, and names them with --files.
func TestStatusNamesUnavailable(t *testing.T) {
	r := job.Record{Verb: job.VerbFetch, Outcome: "ok", Started: time.Now(), Finished: time.Now(), RunID: "r1",
		Files: 2, Unavailable: []string{`"x_003.csv"`}}
	var b bytes.Buffer
	printRecord(&b, r, true)
	out := b.String()
	if !strings.Contains(out, " unavailable=1 ") || !strings.Contains(out, `    unavailable on the portal: "x_003.csv"`) {
		t.Errorf("status:\n%s", out)
	}
	b.Reset()
	r.Unavailable = nil
	printRecord(&b, r, true)
	if strings.Contains(b.String(), "unavailable") {
		t.Errorf("status of a fetch with none:\n%s", b.String())
	}
}
