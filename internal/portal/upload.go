package portal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chromedp/chromedp"

	"github.com/isaric/seftbot/internal/usererr"
)

// Upload signs in to the upload site with the upload account, sets the file
// input to path (DOM.setFileInputFiles), submits, and returns the text of
// the page's confirmation element. The portal confirms broken files too, so
// the text proves receipt, not validity. A submit is never repeated: after a
// failure nobody can tell whether the portal kept the file, and it accepts
// one file per day.
func Upload(ctx context.Context, o Options, path string) (confirmation string, err error) {
	if o.Site == "" {
		o.Site = SiteUpload
	}
	if err := o.normalise(); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(abs); err != nil || !st.Mode().IsRegular() {
		return "", usererr.Errorf("check the file to upload", fmt.Sprintf("upload: %s is not a readable file", path))
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
	text, err := b.upload(t, abs)
	if err != nil {
		return "", b.withBundle(t, "upload", err)
	}
	return text, nil
}

func (b *browserRun) upload(t *tab, abs string) (string, error) {
	p := b.o.Profile
	sess := &session{}
	if err := b.login(t); err != nil {
		return "", err
	}
	// Open the form; an expired session or a transient error here is safe to
	// retry, because nothing has been sent yet.
	var last error
	opened := false
	for attempt := 0; attempt < b.o.Retries && !opened; attempt++ {
		if attempt > 0 {
			if err := sleepCtx(t.ctx, backoff(attempt)); err != nil {
				return "", err
			}
		}
		gen := sess.generation()
		if err := t.navigate(b.o.siteURL(p.Upload.Path)); err != nil {
			last = err
			continue
		}
		st, err := t.state()
		if err != nil {
			last = err
			continue
		}
		switch {
		case st.SignedIn:
			opened = true
		case st.Transient != "":
			last = fmt.Errorf("%w: %s", errTransient, describe(st))
		case st.Expired || st.LoginForm:
			if _, err := b.relogin(t, sess, gen); err != nil {
				return "", err
			}
			last = errors.New("session expired")
		default:
			return "", fmt.Errorf("%w: unexpected page %s; the site profile may need updating", ErrPortal, describe(st))
		}
	}
	if !opened {
		return "", fmt.Errorf("%w: could not open the upload form after %d attempts: %w", ErrPortal, b.o.Retries, last)
	}
	expr, err := t.expr("find", map[string]string{"sel": p.Upload.Input})
	if err != nil {
		return "", err
	}
	if err := t.step(chromedp.SetUploadFiles(chromedp.JSPath(expr), []string{abs})); err != nil {
		return "", fmt.Errorf("%w: set the file input %q: %w", ErrPortal, p.Upload.Input, err)
	}
	b.keepDebug(t, "upload-form", nil)
	if err := t.clickAndLoad("point", map[string]string{"sel": p.Upload.Submit}); err != nil {
		return "", fmt.Errorf("%w: submit the upload: %w", ErrPortal, err)
	}
	st, err := t.state()
	if err != nil {
		return "", fmt.Errorf("%w: read the page after the upload: %w", ErrPortal, err)
	}
	if st.Transient != "" || st.Expired || !st.SignedIn {
		return "", fmt.Errorf("%w: the upload was not confirmed (%s); it was not retried, check the portal before trying again",
			ErrPortal, describe(st))
	}
	var c struct {
		Found bool   `json:"found"`
		Text  string `json:"text"`
	}
	if err := t.eval("text", map[string]string{"sel": p.Upload.Confirmation}, &c); err != nil || !c.Found {
		return "", fmt.Errorf("%w: no confirmation %q after the upload", ErrPortal, p.Upload.Confirmation)
	}
	b.keepDebug(t, "upload-done", nil)
	b.o.Log.Info("uploaded", "file", filepath.Base(abs))
	return c.Text, nil
}
