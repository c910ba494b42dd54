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

// MaxProblems is how many problems one input reports: enough to fix a file
// in a few rounds, and a bound on memory and on the error text, whatever the
// file (5,000,000 bad lines print the first 100 and a count, not 339 MB).
const MaxProblems = 100

// ProblemsError carries the first problems found in one input, by line, so
// the operator can fix many in one go rather than one per run.
type ProblemsError struct {
	Name     string    // the input, as the operator named it
	Problems []Problem // at most MaxProblems, by line
	More     int       // problems found beyond those listed
}

func (e *ProblemsError) Error() string {
	var b strings.Builder
	n := len(e.Problems) + e.More
	fmt.Fprintf(&b, "%s: %d problem%s found; nothing was changed or uploaded", e.Name, n, plural(n))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more (the first %d, by line, are listed)", e.More, len(e.Problems))
	}
	return b.String()
}

// problems collects what is wrong with one input, keeping only the
// MaxProblems with the lowest line numbers and counting the rest, so a file
// of nothing but bad lines costs a few KiB, not gigabytes.
type problems struct {
	list  []Problem
	total int
}

func (p *problems) add(ps ...Problem) {
	for _, x := range ps {
		p.total++
		p.list = append(p.list, x)
		if len(p.list) >= 4*MaxProblems {
			p.trim()
		}
	}
}

// trim keeps the MaxProblems lowest lines, in a stable order.
func (p *problems) trim() {
	sortProblems(p.list)
	if len(p.list) > MaxProblems {
		clear(p.list[MaxProblems:])
		p.list = p.list[:MaxProblems]
	}
}

// count is every problem found, listed or not.
func (p *problems) count() int { return p.total }

// sorted returns the listed problems, by line.
func (p *problems) sorted() []Problem {
	p.trim()
	return p.list
}

// error is the ProblemsError for input name, or nil when none was found.
func (p *problems) error(name string) *ProblemsError {
	if p.total == 0 {
		return nil
	}
	l := p.sorted()
	return &ProblemsError{Name: name, Problems: l, More: p.total - len(l)}
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
func fieldProblems(ps *problems, line int, col, v string) {
	if v == "" {
		return
	}
	if len(v) > MaxFieldBytes {
		ps.add(Problem{Line: line, Column: col, Msg: fmt.Sprintf("is %d bytes long; a field may be at most %d", len(v), MaxFieldBytes)})
		return
	}
	var seen uint8
	for i := 0; i < len(v); i++ {
		seen |= byteClass[v[i]]
	}
	if seen != 0 {
		for _, c := range classMsg {
			if seen&c.bit != 0 {
				ps.add(Problem{Line: line, Column: col, Msg: c.msg})
			}
		}
	}
	if c := v[0]; c == '=' || c == '+' || c == '-' || c == '@' {
		ps.add(Problem{Line: line, Column: col, Msg: fmt.Sprintf("starts with %q, which spreadsheets run as a formula", string(c))})
	}
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
