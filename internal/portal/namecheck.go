package portal

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// A download belongs to a row only if its name says so: sizes repeat, and a
// portal that hands out the wrong row's link (a page-wide "after click"
// control, a swapped link) would otherwise have one file saved under
// another's name. The name the browser suggests (from Content-Disposition,
// or the URL's last segment) must match the row's once both are
// normalised. A portal that renames files on download says so in the
// profile (files.name_check: false); the pairs accepted then are logged.

// errMixUp means a download's name is not its row's: refused, row retried.
var errMixUp = errors.New("download mix-up")

// nameCheck reports whether the download d may be taken for row e.
func (r *run) nameCheck(e *entry, d *download) error {
	f := r.o.Profile.Files
	if sameFileName(e.name, d.Suggested()) {
		return nil
	}
	if f.NameCheck != nil && !*f.NameCheck {
		r.o.Log.Info("accepted a download under another name (files.name_check is off)",
			"row", e.String(), "download", logName(d.Suggested()))
		return nil
	}
	return fmt.Errorf("%w: the row is %s but the download is named %s; refused (if the portal renames files on download, set files.name_check to false in the profile)",
		errMixUp, e, logName(d.Suggested()))
}

// sameFileName compares a row's name with the name a browser suggests for
// its download. Browsers replace characters a file name cannot hold (path
// separators, control characters) and cut long names short, keeping the
// extension, so only letters and digits are compared, case-folded; a long
// suggested name may be a cut-down prefix of the row's.
func sameFileName(row, suggested string) bool {
	a, b := nameKey(row), nameKey(suggested)
	if b == "" {
		return false
	}
	if a == b {
		return true
	}
	// Cut short: the stem of the suggestion begins the row's stem, and the
	// extensions agree. Only for names near the file system's limit.
	if len(suggested) < 200 {
		return false
	}
	ext := path.Ext(suggested)
	if !strings.EqualFold(ext, path.Ext(row)) {
		return false
	}
	stem := nameKey(strings.TrimSuffix(suggested, ext))
	return stem != "" && strings.HasPrefix(a, stem)
}

// nameKey keeps the letters and digits of a name, NFC-normalised and
// lower-cased.
func nameKey(s string) string {
	s = norm.NFC.String(s)
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}
