// Package portal drives headless Chromium (chromedp) through the SEFT web
// portal: log in, walk the file list, click every download, upload a file.
// Everything site-specific comes from a Profile, so retargeting is configuration.
package portal

import "errors"

var (
	// ErrLoginRejected means the portal refused the credentials. It is never
	// retried: the real portal locks accounts after a few failures.
	ErrLoginRejected = errors.New("login rejected")
	// ErrPortal is any other failure of the portal or the browser.
	ErrPortal = errors.New("portal failure")
)
