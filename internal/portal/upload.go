package portal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/isaric/seftbot/internal/retry"
	"github.com/isaric/seftbot/internal/usererr"
)

// Upload signs in to the upload site with the upload account, runs the
// profile's upload steps (set the file input, which may be hidden behind a
// "Choose file" button; send) and watches for the outcome: the portal's
// confirmation, a refusal with its reason, or neither. The portal confirms
// broken files too, so a confirmation proves receipt, not validity. A send
// is never repeated: after it, nobody can tell whether the portal kept the
// file, and it accepts one file per day (ErrUploadUnknown).
func Upload(ctx context.Context, o Options, path string) (confirmation string, err error) {
	if o.Site == "" {
		o.Site = SiteUpload
	}
	if err := o.normalise(); err != nil {
		return "", err
	}
	if o.Profile.Upload == nil {
		return "", usererr.Errorf("add an upload section, or set SEFTBOT_UPLOAD_PROFILE", "the site profile has no upload section")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(abs); err != nil || !st.Mode().IsRegular() {
		return "", usererr.Errorf("check the file to upload", fmt.Sprintf("upload: %s is not a readable file", path))
	}
	if err := checkLatch(&o); err != nil {
		return "", err
	}
	b, err := startBrowser(ctx, &o, "")
	if err != nil {
		return "", err
	}
	defer b.Close()
	t, err := b.NewTab(true)
	if err != nil {
		return "", err
	}
	text, err := b.upload(t, abs)
	if err != nil {
		return "", b.WithBundle(t, "upload", err)
	}
	return text, nil
}

func (b *browserRun) upload(t *tab, abs string) (string, error) {
	u := b.o.Profile.Upload
	sess := &session{}
	if err := b.login(t); err != nil {
		return "", err
	}
	// Open the form, by the page policy: an expired session or a transient
	// error here is safe to retry, because nothing has been sent yet.
	p := b.o.pagePolicy()
	final := false
	err := p.Do(t.Ctx(), func(int) error {
		gen := sess.generation()
		if err := navigate(t, b.o.siteURL(u.Path)); err != nil {
			return err
		}
		var r struct {
			Outcome string    `json:"outcome"`
			State   pageState `json:"state"`
		}
		if err := t.Await("outcome", map[string]any{}, b.o.StepTimeout, &r); err != nil {
			return err
		}
		st := r.State
		switch {
		case st.Transient != "":
			return fmt.Errorf("%w: %s", errTransient, describe(st))
		case st.Expired || (st.LoginForm && !st.SignedIn):
			if _, err := b.relogin(t, sess, gen, signedOutCause("uploading", st)); err != nil && !errors.Is(err, errTransient) {
				final = true
				return retry.Stop(err)
			} else if err != nil {
				return err
			}
			return errors.New("session expired")
		case st.SignedIn:
			return nil
		}
		final = true
		return retry.Stop(fmt.Errorf("%w: unexpected page %s; run seftbot probe --site upload", ErrProfile, describe(st)))
	}, nil)
	switch {
	case err != nil && (final || t.Ctx().Err() != nil):
		return "", err
	case err != nil:
		return "", fmt.Errorf("%w: could not open the upload form after %d attempts: %w", ErrPortal, p.Attempts, err)
	}
	send := secretStep(u.Steps)
	v := stepVars{User: b.o.User, File: abs}
	for i := range send {
		if _, err := b.RunStep(t, fmt.Sprintf("upload.steps[%d]", i), u.Steps[i], v); err != nil {
			return "", b.stepErr(err)
		}
	}
	b.KeepDebug(t, "upload-form", nil)
	// From here on the file may have left: the outcome is watched, never
	// assumed, and the send is never repeated.
	if _, err := b.RunStep(t, fmt.Sprintf("upload.steps[%d]", send), u.Steps[send], v); err != nil {
		if errors.Is(err, errStepTarget) {
			return "", fmt.Errorf("%w: %w", ErrProfile, err)
		}
		b.o.Log.Warn("sending the file did not complete cleanly; watching for the answer", "err", err)
	}
	for i := send + 1; i < len(u.Steps); i++ {
		if _, err := b.RunStep(t, fmt.Sprintf("upload.steps[%d]", i), u.Steps[i], v); err != nil {
			return "", fmt.Errorf("%w: after sending: %w", ErrUploadUnknown, err)
		}
	}
	timeout := time.Duration(u.OutcomeTimeout)
	if timeout <= 0 {
		timeout = defaultOutcomeTimeout
	}
	var r struct {
		OK      bool   `json:"ok"`
		Outcome string `json:"outcome"`
		Text    string `json:"text"`
	}
	err = t.Await("uploadOutcome", map[string]any{}, timeout, &r)
	b.KeepDebug(t, "upload-done", nil)
	switch {
	case err == nil && r.Outcome == "confirmed":
		b.o.Log.Info("uploaded", "file", filepath.Base(abs))
		return r.Text, nil
	case err == nil && r.Outcome == "refused":
		return "", fmt.Errorf("%w: the portal said %q", ErrUploadRefused, r.Text)
	case err != nil:
		return "", fmt.Errorf("%w: %w; it was not retried: check the portal before trying again", ErrUploadUnknown, err)
	}
	return "", fmt.Errorf("%w: no confirmation and no refusal within %s; it was not retried: check the portal before trying again",
		ErrUploadUnknown, timeout)
}
