// Package cohort builds, validates and records the cohort files that are
// uploaded to SEFT, and keeps the ledger of identifiers NHS England holds.
package cohort

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/isaric/seftbot/internal/safeio"
)

// DefaultHeader is our best reconstruction of NHS England's header row: the
// 23 columns of the MPS request file and a 24th that carries the action.
// Operators replace it with the exact row they were given (HeaderFile).
var DefaultHeader = []string{
	"UNIQUE_REFERENCE", "NHS_NO", "FAMILY_NAME", "GIVEN_NAME", "OTHER_GIVEN_NAME",
	"GENDER", "DATE_OF_BIRTH", "DATE_OF_DEATH", "ADDRESS_LINE1", "ADDRESS_LINE2",
	"ADDRESS_LINE3", "ADDRESS_LINE4", "ADDRESS_LINE5", "ADDRESS_DATE", "POSTCODE",
	"GP_PRACTICE_CODE", "NHAIS_POSTING_ID", "AS_AT_DATE", "LOCAL_PATIENT_ID",
	"INTERNAL_ID", "TELEPHONE_NUMBER", "MOBILE_NUMBER", "EMAIL_ADDRESS", "ACTION",
}

// Columns is the number of fields every row of a cohort file carries.
const Columns = 24

// LoadHeader reads a header template: one line, 24 comma-separated column
// names, the last being the action column. An empty path gives DefaultHeader.
// seftsim reads the same file with its own code (internal/sim), so a
// mistake here fails a test instead of agreeing with itself.
func LoadHeader(path string) ([]string, error) {
	if path == "" {
		return append([]string(nil), DefaultHeader...), nil
	}
	// One line of 24 names: 64 KiB is far past any real header.
	b, err := safeio.ReadFile(path, "the header template", 64<<10)
	if err != nil {
		return nil, fmt.Errorf("header template: %w", err)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	line := strings.TrimRight(string(b), "\r\n")
	if strings.ContainsAny(line, "\r\n") {
		return nil, fmt.Errorf("header template %s: must be a single line", path)
	}
	cols := strings.Split(line, ",")
	if len(cols) != Columns {
		return nil, fmt.Errorf("header template %s: has %d columns, want %d", path, len(cols), Columns)
	}
	for i, c := range cols {
		if strings.TrimSpace(c) == "" {
			return nil, fmt.Errorf("header template %s: column %d is empty", path, i+1)
		}
	}
	return cols, nil
}

// HeaderLine is the exact bytes of the header row as uploaded, CRLF included.
func HeaderLine(cols []string) string { return strings.Join(cols, ",") + "\r\n" }
