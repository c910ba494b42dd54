package cohort

import (
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with an input, located by line and column name
// so the operator can find it. It never carries the offending value: inputs
// are patient data.
type Problem struct {
	Line   int    // 1-based input line; 0 for the file as a whole
	Column string // template column name, "" if the problem is the whole line
	Msg    string
}

func (p Problem) String() string {
	switch {
	case p.Line == 0:
		return p.Msg
	case p.Column == "":
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	default:
		return fmt.Sprintf("line %d, column %s: %s", p.Line, p.Column, p.Msg)
	}
}

// ProblemsError carries every problem found in one input, so the operator can
// fix them all in one go rather than one per run.
type ProblemsError struct {
	Name     string // the input, as the operator named it
	Problems []Problem
}

func (e *ProblemsError) Error() string {
	var b strings.Builder
	n := len(e.Problems)
	fmt.Fprintf(&b, "%s: %d problem%s found; nothing was changed or uploaded", e.Name, n, plural(n))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Character classes refused in any field, as bits; byteClass is indexed by
// byte so the common clean field costs one table lookup a byte.
const (
	clComma = 1 << iota
	clQuote
	clCR
	clLF
	clCtl
	clHigh
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c == ',':
			t[c] = clComma
		case c == '"':
			t[c] = clQuote
		case c == '\r':
			t[c] = clCR
		case c == '\n':
			t[c] = clLF
		case c < 0x20 || c == 0x7f:
			t[c] = clCtl
		case c >= 0x80:
			t[c] = clHigh
		}
	}
	return t
}()

var classMsg = []struct {
	bit uint8
	msg string
}{
	{clComma, "contains a comma"},
	{clQuote, "contains a double quote"},
	{clCR, "contains a carriage return (CR)"},
	{clLF, "contains a line feed (LF)"},
	{clCtl, "contains a control character"},
	{clHigh, "contains a non-ASCII character"},
}

// fieldProblems appends what is wrong with one field's characters: the
// receiving system does no CSV quoting, and the files get opened in
// spreadsheets, so separators, quotes, line breaks, control characters,
// non-ASCII and formula prefixes are all refused.
func fieldProblems(ps []Problem, line int, col, v string) []Problem {
	if v == "" {
		return ps
	}
	if len(v) > MaxFieldBytes {
		return append(ps, Problem{Line: line, Column: col, Msg: fmt.Sprintf("is %d bytes long; a field may be at most %d", len(v), MaxFieldBytes)})
	}
	var seen uint8
	for i := 0; i < len(v); i++ {
		seen |= byteClass[v[i]]
	}
	if seen != 0 {
		for _, c := range classMsg {
			if seen&c.bit != 0 {
				ps = append(ps, Problem{Line: line, Column: col, Msg: c.msg})
			}
		}
	}
	if c := v[0]; c == '=' || c == '+' || c == '-' || c == '@' {
		ps = append(ps, Problem{Line: line, Column: col, Msg: fmt.Sprintf("starts with %q, which spreadsheets run as a formula", string(c))})
	}
	return ps
}

// dateProblem checks a YYYYMMDD date: a real calendar date, not after today
// (today is YYYYMMDD as an integer, in Europe/London).
func dateProblem(v string, today int) string {
	if len(v) != 8 {
		return "date must be YYYYMMDD"
	}
	n := 0
	for i := 0; i < 8; i++ {
		if v[i] < '0' || v[i] > '9' {
			return "date must be YYYYMMDD"
		}
		n = n*10 + int(v[i]-'0')
	}
	y, m, d := n/10000, n/100%100, n%100
	if y < 1800 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return "date is not a real calendar date"
	}
	if n > today {
		return "date is in the future"
	}
	return ""
}

// daysIn is the length of month m of year y in the Gregorian calendar.
func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
