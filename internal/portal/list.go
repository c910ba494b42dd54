package portal

import (
	"context"

	"github.com/isaric/seftbot/internal/usererr"
)

// Listed is one file of the listing as a dry run sees it.
type Listed struct {
	Name string // as the portal shows it
	Size int64  // from the listing; -1 when it shows none
	New  bool   // the manifest lacks it: a fetch would download it
}

// ListResult is what List saw.
type ListResult struct {
	Files    []Listed
	Warnings []string // as DownloadResult's
}

// New returns the files a fetch would download.
func (r *ListResult) New() []Listed {
	var out []Listed
	for _, f := range r.Files {
		if f.New {
			out = append(out, f)
		}
	}
	return out
}

// List is Download without the downloads, for fetch --dry-run: it signs in
// once the same way (the latch is read first, and a refusal latches), walks
// every page of the listing, and decides with the same plan which files a
// fetch would take. It writes nothing: the manifest is only read, staging
// is not touched, and the browser refuses any download.
func List(ctx context.Context, o Options) (*ListResult, error) {
	res := &ListResult{}
	if o.Site == "" {
		o.Site = SiteDownload
	}
	if err := o.normalise(); err != nil {
		return res, err
	}
	if o.StateDir == "" {
		return res, usererr.Errorf("set SEFTBOT_STATE_DIR", "portal: no state directory for the manifest")
	}
	m, err := o.keeper()
	if err != nil {
		return res, err
	}
	b, err := startBrowser(ctx, &o, "")
	if err != nil {
		return res, err
	}
	defer b.Close()
	r := &run{b: b, o: &o, m: m, res: &DownloadResult{}, sess: &session{}}
	r.taken = m.LocalNames()
	t, err := b.NewTab(true)
	if err != nil {
		return res, err
	}
	if err := b.login(t); err != nil {
		return res, b.WithBundle(t, "login", err)
	}
	t, err = r.walkPages(ctx, t, func(t *tab, page []*entry, _ int) (*tab, bool, error) {
		todo := map[*entry]bool{}
		for _, e := range r.plan(page) {
			todo[e] = true
		}
		for _, e := range page {
			res.Files = append(res.Files, Listed{Name: e.name, Size: e.size, New: todo[e]})
		}
		return t, true, nil
	})
	res.Warnings = append(r.res.Warnings, b.driftWarnings()...)
	if err != nil {
		return res, b.WithBundle(t, "listing", err)
	}
	return res, nil
}
