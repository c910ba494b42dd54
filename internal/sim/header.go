package sim

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// seftsim keeps its own copy of the portal's cohort rules, written from
// docs/seft-process.md and never imported from the bot: a wrong default or
// column count in internal/cohort must make a test fail, not agree with
// itself.

// DefaultHeader is the header row seftsim enforces when no --header-file is
// given: the 23 columns of NHS Digital's MPS request file and the action.
var DefaultHeader = []string{
	"UNIQUE_REFERENCE", "NHS_NO", "FAMILY_NAME", "GIVEN_NAME", "OTHER_GIVEN_NAME",
	"GENDER", "DATE_OF_BIRTH", "DATE_OF_DEATH", "ADDRESS_LINE1", "ADDRESS_LINE2",
	"ADDRESS_LINE3", "ADDRESS_LINE4", "ADDRESS_LINE5", "ADDRESS_DATE", "POSTCODE",
	"GP_PRACTICE_CODE", "NHAIS_POSTING_ID", "AS_AT_DATE", "LOCAL_PATIENT_ID",
	"INTERNAL_ID", "TELEPHONE_NUMBER", "MOBILE_NUMBER", "EMAIL_ADDRESS", "ACTION",
}

// Columns is the number of fields the portal wants on every row.
const Columns = 24

// readHeader reads a header template given to seftsim: one line (a UTF-8
// BOM and a final line break are tolerated), Columns non-empty names.
// An empty path gives DefaultHeader.
func readHeader(path string) ([]string, error) {
	if path == "" {
		return append([]string(nil), DefaultHeader...), nil
	}
	b, err := os.ReadFile(path)
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
