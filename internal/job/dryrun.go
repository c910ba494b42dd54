package job

import (
	"context"
	"fmt"
	"time"

	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/relay"
	"github.com/isaric/seftbot/internal/staging"
)

// Plan is what a fetch would do now, as fetch --dry-run reports it.
type Plan struct {
	Pending *Batch          // an unfinished run a fetch would finish first
	Listed  int             // files on the portal's listing
	New     []portal.Listed // what a fetch would download
	Staged  []string        // complete downloads waiting in staging, which a fetch collects too
	// ArchiveName is the name the archive would get on the drop, before a
	// -2, -3 ... suffix if the drop already has one of that name.
	ArchiveName        string
	Relay              relay.Config
	PassphraseDelivery string // "smtp" or "file"
	PassphraseTo       []string
	PassphraseFile     string // where delivery "file" would write it
	ReportTo           []string
	Warnings           []string
}

// Files counts what the archive would hold.
func (p *Plan) Files() int { return len(p.New) + len(p.Staged) }

// DryRun signs in once, reads the listing and says what Fetch would do,
// changing nothing: it holds the run lock (so it never signs in beside a
// running fetch), only reads the manifest, batch and staging, downloads
// nothing, relays nothing and sends no mail. It does not retry: a dry run
// sends the password at most once, and a latched site gets none.
// It returns ErrNothingNew, with the plan, when a fetch would have nothing
// to deliver.
func DryRun(ctx context.Context, o Options) (*Plan, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	st, err := Open(o.StateDir)
	if err != nil {
		return nil, err
	}
	unlock, err := st.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	p := &Plan{Relay: o.Relay, PassphraseDelivery: o.PassphraseDelivery, PassphraseTo: o.Mail.PassphraseTo,
		PassphraseFile: st.l().Passphrases(), ReportTo: o.Mail.ReportTo}
	if !o.MailConfigured {
		p.ReportTo = nil
	}
	if p.Pending, err = st.LoadBatch(); err != nil {
		return nil, err
	}
	stg := staging.Area{Dir: o.StagingDir}
	if p.Staged, err = staging.ListFiles(stg.Incoming()); err != nil {
		return nil, err
	}
	if p.ArchiveName, err = relay.FinalName(o.Relay.NameTemplate, o.Project, o.Now(), nil); err != nil {
		return nil, err
	}
	po := o.Portal
	po.StagingDir, po.StateDir, po.Log = stg.Incoming(), st.Dir, o.Log
	res, err := portal.List(ctx, po)
	if res != nil {
		p.Listed, p.New, p.Warnings = len(res.Files), res.New(), res.Warnings
	}
	if err != nil {
		return p, fmt.Errorf("%s: %w", StageDownload, err)
	}
	if p.Files() == 0 && p.Pending == nil {
		return p, ErrNothingNew
	}
	return p, nil
}
