package portal

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chromedp/chromedp"
)

// ProbePage is what probe saw on one page: structure only, never a value
// typed into or prefilled in a form.
type ProbePage struct {
	Step       string          `json:"step"`
	Screenshot string          `json:"screenshot,omitempty"`
	Page       json.RawMessage `json:"page"`
}

// Probe helps an operator write a profile for a portal the bot has never
// seen: it opens the login page, signs in with the site's account, and
// visits the landing page and the file listing (download) or the upload form
// (upload). For each page it records the forms, inputs, buttons, links,
// tables and lists, plus a screenshot, into outDir (0700): report.json and a
// readable report.txt. Pages seen before a failure are still reported.
func Probe(ctx context.Context, o Options, outDir string) (report string, err error) {
	if err := o.normalise(); err != nil {
		return "", err
	}
	if err := privateDir(outDir); err != nil {
		return "", err
	}
	b, err := startBrowser(ctx, &o, "")
	if err != nil {
		return "", err
	}
	defer b.close()
	t, err := b.newTab(true)
	if err != nil {
		return "", err
	}
	var pages []ProbePage
	snap := func(step string) {
		var raw json.RawMessage
		if err := t.eval("probe", nil, &raw); err != nil {
			o.Log.Warn("probe: page not readable", "step", step, "err", err)
			return
		}
		pp := ProbePage{Step: step, Page: redactProbe(raw)}
		sctx, cancel := contextStep(t)
		defer cancel()
		if png, err := chromedp.Run(sctx, chromedp.CaptureScreenshot()); err == nil {
			pp.Screenshot = fmt.Sprintf("%02d-%s.png", len(pages)+1, step)
			_ = os.WriteFile(filepath.Join(outDir, pp.Screenshot), png, 0o600)
		}
		pages = append(pages, pp)
	}
	defer func() {
		report = filepath.Join(outDir, "report.txt")
		if werr := writeProbeReport(outDir, &o, pages); werr != nil && err == nil {
			err = werr
		}
	}()
	p := o.Profile
	if err := t.navigate(o.siteURL(p.Login.Path)); err != nil {
		return "", fmt.Errorf("%w: open login page: %w", ErrPortal, err)
	}
	snap("login") // before anything is typed
	if err := b.login(t); err != nil {
		snap("after-login-failed")
		return "", err
	}
	snap("signed-in")
	if o.Site == SiteUpload || p.Files == nil {
		if p.Upload == nil {
			return "", nil
		}
		if err := t.navigate(o.siteURL(p.Upload.Path)); err == nil {
			snap("upload-form")
		}
		return "", nil
	}
	if err := t.navigate(o.siteURL(p.Files.Path)); err != nil {
		return "", fmt.Errorf("%w: open the listing: %w", ErrPortal, err)
	}
	var l listingRead
	_ = t.await("listing", map[string]any{}, o.StepTimeout, &l) // rows drawn by script arrive late
	snap("files-page-1")
	for i := 2; i <= 3 && p.Files.More.Mode != MoreNone; i++ {
		at, err := b.locate(t, "files.more.control", p.Files.More.Control, "click", o.StepTimeout)
		if err != nil || !at.OK {
			break
		}
		t.drainLoads()
		if err := t.step(mouseClick(at)); err != nil {
			break
		}
		if p.Files.More.Mode == MoreNavigate {
			if err := t.waitLoad(); err != nil {
				break
			}
		}
		_ = t.await("changed", map[string]any{"sig": l.Sig, "count": len(l.Listing.Rows)}, o.StepTimeout, &l)
		snap(fmt.Sprintf("files-page-%d", i))
	}
	return "", nil
}

func contextStep(t *tab) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.ctx, t.b.o.StepTimeout)
}

func writeProbeReport(dir string, o *Options, pages []ProbePage) error {
	b, err := json.MarshalIndent(map[string]any{"site": o.Site, "url": redactURL(o.URL), "pages": pages}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o600); err != nil {
		return err
	}
	var s strings.Builder
	fmt.Fprintf(&s, "seftbot probe of the %s site %s\n", o.Site, redactURL(o.URL))
	fmt.Fprintf(&s, "Use this to write a site profile (see docs/site-profile.md). No form values are recorded.\n")
	for _, p := range pages {
		var pg map[string]any
		_ = json.Unmarshal(p.Page, &pg)
		fmt.Fprintf(&s, "\n== %s: %v", p.Step, pg["url"])
		if p.Screenshot != "" {
			fmt.Fprintf(&s, "  (screenshot %s)", p.Screenshot)
		}
		s.WriteString("\n")
		for _, k := range []string{"title", "headings", "alerts", "forms", "buttons", "links", "tables", "lists"} {
			v, ok := pg[k]
			if !ok || v == nil || v == "" {
				continue
			}
			if l, isList := v.([]any); isList && len(l) == 0 {
				continue
			}
			j, _ := json.MarshalIndent(v, "    ", "  ")
			fmt.Fprintf(&s, "  %s: %s\n", k, j)
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.txt"), []byte(s.String()), 0o600)
}

// redactProbe strips query secrets from the URLs in a probe page.
func redactProbe(raw json.RawMessage) json.RawMessage {
	var pg map[string]any
	if json.Unmarshal(raw, &pg) != nil {
		return raw
	}
	if u, ok := pg["url"].(string); ok {
		pg["url"] = redactURL(u)
	}
	if links, ok := pg["links"].([]any); ok {
		for _, l := range links {
			if m, ok := l.(map[string]any); ok {
				if h, ok := m["href"].(string); ok {
					m["href"] = redactURL(h)
				}
			}
		}
	}
	out, err := json.Marshal(pg)
	if err != nil {
		return raw
	}
	return out
}
