package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/isaric/seftbot/internal/layout"
)

var bundleSeq atomic.Int64

// debugBundle saves what a person needs to see why a step failed: a
// screenshot, the page HTML with every form value redacted, the URL without
// query secrets, the console and the request log. It goes to a private
// directory (0700, files 0600) and returns the directory.
func (b *Browser) debugBundle(t *Tab, step string, cause error) (string, error) {
	name := fmt.Sprintf("%s-%03d-%s", time.Now().UTC().Format("20060102T150405Z"), bundleSeq.Add(1), step)
	dir := filepath.Join(b.o.DebugDir, name)
	if err := layout.PrivateDir(b.o.DebugDir); err != nil {
		return "", err
	}
	if err := layout.PrivateDir(dir); err != nil {
		return "", err
	}
	write := func(file string, data []byte) {
		_ = os.WriteFile(filepath.Join(dir, file), data, 0o600)
	}
	// The tab may be broken: take what can be had, each part on its own short
	// timeout, and never fail the caller for a missing part.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		write("screenshot.png", png)
	}
	if expr, err := t.Expr("redactedHTML", nil); err == nil {
		if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr)); err == nil {
			write("page.html", []byte(html))
		}
	}
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err == nil {
		write("url.txt", []byte(RedactURL(loc)+"\n"))
	}
	t.mu.Lock()
	console := strings.Join(t.console, "\n")
	requests := strings.Join(t.requests, "\n")
	t.mu.Unlock()
	write("console.txt", []byte(console+"\n"))
	write("requests.txt", []byte(requests+"\n"))
	msg := "step: " + step + "\n"
	if cause != nil {
		msg += "error: " + cause.Error() + "\n"
	}
	write("error.txt", []byte(msg))
	return dir, nil
}

// KeepDebug writes a bundle for a step that succeeded, when --debug asks for
// one per step.
func (b *Browser) KeepDebug(t *Tab, step string, cause error) {
	if !b.o.Debug {
		return
	}
	if dir, err := b.debugBundle(t, step, cause); err == nil {
		b.o.Log.Debug("debug bundle", "step", step, "dir", dir)
	}
}

// WithBundle attaches a debug bundle to a failure: err gains the bundle's
// path, so the operator's error message says where to look.
func (b *Browser) WithBundle(t *Tab, step string, err error) error {
	if err == nil || t == nil {
		return err
	}
	dir, berr := b.debugBundle(t, step, err)
	if berr != nil {
		return fmt.Errorf("%w (no debug bundle: %v)", err, berr)
	}
	return &bundleError{err: err, dir: dir}
}

// bundleError is a failure with the path of its debug bundle, so the job's
// report can name the bundle without parsing the message.
type bundleError struct {
	err error
	dir string
}

func (e *bundleError) Error() string { return fmt.Sprintf("%v (debug bundle: %s)", e.err, e.dir) }
func (e *bundleError) Unwrap() error { return e.err }

// DebugBundle returns the debug bundle directory attached to err, or "".
func DebugBundle(err error) string {
	var be *bundleError
	if errors.As(err, &be) {
		return be.dir
	}
	return ""
}
