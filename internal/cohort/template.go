package cohort

import (
	"fmt"
	"strings"
)

// Template is a header row made usable: where the NHS number goes, which
// columns hold dates, and how input column names map onto it.
type Template struct {
	Cols   []string
	nhs    int            // index of the NHS number column
	date   []bool         // columns validated as YYYYMMDD dates
	byName map[string]int // upper-cased input name -> column index
}

// NewTemplate checks a header row (see LoadHeader) and indexes it. The NHS
// number column is the one named NHS_NO, else the second column, the same
// rule seftsim applies; the last column is always the action.
func NewTemplate(cols []string) (*Template, error) {
	if len(cols) != Columns {
		return nil, fmt.Errorf("header template has %d columns, want %d", len(cols), Columns)
	}
	t := &Template{Cols: cols, nhs: 1, date: make([]bool, len(cols)), byName: map[string]int{}}
	for i, c := range cols {
		if c == "" || strings.ContainsAny(c, ",\"\r\n") || !isASCII(c) {
			return nil, fmt.Errorf("header template column %d is empty or not plain ASCII", i+1)
		}
		u := strings.ToUpper(strings.TrimSpace(c))
		if _, dup := t.byName[u]; dup {
			return nil, fmt.Errorf("header template names column %s twice", c)
		}
		t.byName[u] = i
		if u == "NHS_NO" {
			t.nhs = i
		}
		t.date[i] = i != len(cols)-1 && strings.Contains(u, "DATE")
	}
	if t.nhs == len(cols)-1 {
		return nil, fmt.Errorf("header template: the NHS number column cannot be the last (action) column")
	}
	if _, ok := t.byName["NHS_NUMBER"]; !ok {
		t.byName["NHS_NUMBER"] = t.nhs
	}
	return t, nil
}

// action is the index of the action column, always the last.
func (t *Template) action() int { return len(t.Cols) - 1 }

// NHSColumn names the NHS number column, for messages.
func (t *Template) NHSColumn() string { return t.Cols[t.nhs] }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
