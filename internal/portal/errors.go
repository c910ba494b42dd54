// Package portal drives headless Chromium (chromedp) through the SEFT web
// portal: sign in by the profile's steps, walk the file list, click every
// download, upload a file. Everything site-specific comes from a Profile, so
// retargeting is configuration; every locator waits and every outcome is
// watched, never assumed.
package portal

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/usererr"
)

var (
	// ErrLoginRejected means the portal refused the credentials, said the
	// account is locked or the password expired, or a latch from an earlier
	// refusal stops the run. It is never retried: the real portal locks
	// accounts after a few failures.
	ErrLoginRejected = errors.New("login rejected")
	// ErrLatched means an earlier run's refusal (or unknown outcome) is
	// remembered, so the password was not sent.
	ErrLatched = fmt.Errorf("%w: the site's sign-in is latched", ErrLoginRejected)
	// ErrLoginUnknown means no outcome was recognised after the password
	// was sent. The portal may have counted a failure, so it is latched
	// like a refusal and never retried.
	ErrLoginUnknown = errors.New("sign-in outcome unknown")
	// ErrProfile means the site profile no longer matches the portal's
	// pages: an operator must update it (seftbot probe helps). Not retried.
	ErrProfile = errors.New("the site profile does not match the page")
	// ErrUploadUnknown means the file may or may not have reached the
	// portal: it counts as the day's upload and is never repeated.
	ErrUploadUnknown = errors.New("upload outcome unknown")
	// ErrUploadRefused means the portal answered the upload with one of
	// the profile's refusal texts.
	ErrUploadRefused = errors.New("upload refused by the portal")
	// ErrCertificate means the portal's TLS certificate was refused: not
	// trusted, or not the pinned key. That is a configuration problem or an
	// interception, never an outage: it is not retried, and there is no
	// switch to skip the check.
	ErrCertificate = errors.New("the portal's TLS certificate was refused")
	// ErrLocal marks a failure of this machine's disk or files (staging,
	// the manifest), not of the portal: it is not retried as if the portal
	// might answer better next time. It is layout's one marker.
	ErrLocal = staging.ErrLocal
	// ErrPortal is any other failure of the portal or the browser.
	ErrPortal = errors.New("portal failure")
)

// certHint is the operator's next step for a certificate nobody trusts.
const certHint = "if your organisation inspects TLS, put its CA certificate in SEFTBOT_PORTAL_CA_FILE; " +
	"otherwise treat it as a possible interception and ask NHS England whether the portal's certificate changed"

// certError marks a refused certificate in err, from Chromium (net::ERR_CERT_*,
// a pinned key missing) or from Go's own TLS check; any other error is
// returned as it is.
func certError(err error) error {
	if err == nil {
		return nil
	}
	var ve *tls.CertificateVerificationError
	s := err.Error()
	if errors.As(err, &ve) || strings.Contains(s, "net::ERR_CERT_") || strings.Contains(s, "ERR_SSL_PINNED_KEY_NOT_IN_CERT_CHAIN") {
		return usererr.New(fmt.Errorf("%w: %w", ErrCertificate, err), certHint)
	}
	return err
}
