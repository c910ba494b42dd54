package cli

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/isaric/seftbot/internal/job"
)

// runFetchDryRun prints what fetch would do, the way cohort submit
// --dry-run does: "dry run:" first, "nothing was ..." last. It is not
// recorded as a run (it would pass for a fetch in status and the metrics),
// and reads no mailbox (that would act on notices).
func runFetchDryRun(ctx context.Context, o *fetchOptions, jo job.Options) error {
	o.recorded = true
	p, err := job.DryRun(ctx, jo)
	if p == nil {
		return err
	}
	w := o.stdout
	fmt.Fprintf(w, "dry run: signed in to %s as %s; %d file(s) listed, %d new\n", jo.Portal.URL, jo.Portal.User, p.Listed, len(p.New))
	if b := p.Pending; b != nil {
		fmt.Fprintf(w, "would first finish unfinished run %s (%d file(s), done: %s)\n", b.RunID, len(b.Files), strings.Join(b.Done, ", "))
	}
	for _, f := range p.New {
		fmt.Fprintf(w, "would download: %s (%s)\n", strconv.QuoteToASCII(f.Name), sizeOf(f.Size))
	}
	for _, n := range p.Staged {
		fmt.Fprintf(w, "would take from staging: %s\n", strconv.QuoteToASCII(n))
	}
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if p.Files() > 0 {
		var bytes int64
		known := true
		for _, f := range p.New {
			if f.Size < 0 {
				known = false
			}
			bytes += max(f.Size, 0)
		}
		total := fmt.Sprintf("%d bytes listed", bytes)
		if !known || len(p.Staged) > 0 {
			total = "at least " + total
		}
		fmt.Fprintf(w, "would archive: %d file(s), %s, into an AES-256 7z (%s)\n", p.Files(), total, jo.ArchiveMethod)
		rc := p.Relay
		fmt.Fprintf(w, "would relay to: %s@%s:%d %s\n", rc.User, rc.Host, rc.Port, path.Join(rc.RemoteDir, p.ArchiveName))
		switch p.PassphraseDelivery {
		case "file":
			fmt.Fprintf(w, "would write the passphrase (0600) under: %s\n", p.PassphraseFile)
		default:
			fmt.Fprintf(w, "would mail the passphrase to: %s\n", strings.Join(p.PassphraseTo, ", "))
		}
	}
	if len(p.ReportTo) > 0 {
		fmt.Fprintf(w, "would mail the report to: %s\n", strings.Join(p.ReportTo, ", "))
	}
	if errors.Is(err, job.ErrNothingNew) {
		fmt.Fprintln(w, "nothing new on the portal; a fetch would send no archive")
	}
	fmt.Fprintln(w, "nothing was downloaded, archived, relayed or mailed")
	return err
}

func sizeOf(n int64) string {
	if n < 0 {
		return "size not shown"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
