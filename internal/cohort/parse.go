package cohort

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
)

// row is one identifier of a cohort file. fields holds the row's other
// values, comma-joined, in the order of its rowSet's extras: short, so a
// million-row cohort stays at a few tens of megabytes.
type row struct {
	nhs    uint64
	line   int32 // input line, 0 for rows made from the ledger
	fields string
}

// rowSet is rows that share their columns: extras are the template columns,
// besides the NHS number, that the input supplied, in template order.
type rowSet struct {
	rows   []row
	extras []int
}

// maxLine bounds line numbers so that (nhs, line) packs into one uint64 for
// sorting: NHS numbers need 34 bits.
const maxLine = 1<<30 - 1

// parse reads the operator's file: CSV or TSV with a header row naming any
// subset of the template's columns (any case; NHS_NUMBER for NHS_NO), or a
// plain list of NHS numbers. It returns the rows in input order and every
// problem found (the first MaxProblems by line, and a count); today
// (YYYYMMDD, Europe/London) bounds dates. The error is for I/O failures and
// for an input past the bounds of input.go, the kept rows' included.
func (t *Template) parse(r io.Reader, today int) (rowSet, *problems, error) {
	if _, ok := r.(*boundedReader); !ok {
		r = &boundedReader{r: r, name: "the input"}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	first, _ := br.Peek(br.Size())
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	cr := csv.NewReader(br)
	if bytes.IndexByte(first, '\t') >= 0 && bytes.IndexByte(first, ',') < 0 {
		cr.Comma = '\t'
	}
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true // a stray quote becomes a reported problem, not a parse failure
	cr.ReuseRecord = true

	var (
		ps     = &problems{}
		kept   int64 // bytes the rows and keys hold, for maxKeptBytes
		rows   []row
		colIdx []int    // input field -> template column, -1 if unknown
		seen   bool     // a data record was read
		keys   []uint64 // nhs<<30|line of every valid NHS number, for duplicates
		extras []int    // template columns given besides the NHS number
		joined []byte   // a row's extra values, reused
	)
	buf := make([]string, len(t.Cols)-1)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return rowSet{}, nil, err
			}
			ps.add(Problem{Line: pe.StartLine, Msg: "not valid CSV: " + pe.Err.Error()})
			continue
		}
		lineNo, _ := cr.FieldPos(0)
		if lineNo > maxLine {
			return rowSet{}, nil, fmt.Errorf("input has more than %d lines", maxLine)
		}
		if colIdx == nil {
			var isHeader bool
			colIdx, isHeader = t.header(rec, lineNo, ps)
			if colIdx == nil {
				return rowSet{}, ps, nil // line 1 is data with no header: nothing else can be located
			}
			for _, ci := range colIdx {
				if ci >= 0 && ci != t.nhs {
					extras = append(extras, ci)
				}
			}
			slices.Sort(extras)
			if isHeader {
				continue
			}
		}
		seen = true
		if len(rec) != len(colIdx) {
			ps.add(Problem{Line: lineNo, Msg: fmt.Sprintf("has %d field%s, the header has %d", len(rec), plural(len(rec)), len(colIdx))})
			continue
		}
		before := ps.count()
		var nhs uint64
		haveNHS := false
		for i := range buf {
			buf[i] = ""
		}
		for i, v := range rec {
			ci := colIdx[i]
			if ci < 0 {
				continue
			}
			v = strings.Trim(v, " ")
			name := t.Cols[ci]
			n := ps.count()
			fieldProblems(ps, lineNo, name, v)
			if ps.count() > n {
				continue
			}
			switch {
			case ci == t.nhs:
				val, why := nhsValue(v)
				if why != "" {
					ps.add(Problem{Line: lineNo, Column: name, Msg: why})
					continue
				}
				nhs, haveNHS = val, true
				keys = append(keys, val<<30|uint64(lineNo))
			case t.date[ci] && v != "":
				if why := dateProblem(v, today); why != "" {
					ps.add(Problem{Line: lineNo, Column: name, Msg: why})
					continue
				}
			}
			buf[ci] = v
		}
		if haveNHS {
			kept += keyBytes
		}
		if ps.count() > before || !haveNHS {
			if kept > maxKeptBytes {
				return rowSet{}, nil, tooManyRows(lineNo)
			}
			continue
		}
		rw := row{nhs: nhs, line: int32(lineNo)}
		if len(extras) > 0 {
			joined = joined[:0]
			for i, ci := range extras {
				if i > 0 {
					joined = append(joined, ',')
				}
				joined = append(joined, buf[ci]...)
			}
			rw.fields = string(joined)
		}
		if kept += rowBytes + int64(len(rw.fields)); kept > maxKeptBytes || len(rows) >= maxRows {
			return rowSet{}, nil, tooManyRows(lineNo)
		}
		rows = append(rows, rw)
	}
	if !seen {
		ps.add(Problem{Msg: "no identifiers: the input has no data rows"})
	}
	t.duplicates(keys, ps)
	return rowSet{rows: rows, extras: extras}, ps, nil
}

// header maps the first record onto the template. A single field that is
// not a column name means a plain list of NHS numbers with no header; a first
// line that looks like data (long digit runs) is refused without echoing it,
// since it would be patient data.
func (t *Template) header(rec []string, line int, ps *problems) (colIdx []int, isHeader bool) {
	if len(rec) == 1 {
		v := strings.Trim(rec[0], " ")
		if _, ok := t.byName[strings.ToUpper(v)]; !ok {
			if strings.IndexFunc(v, unicode.IsLetter) < 0 {
				return []int{t.nhs}, false // a plain list: line 1 is data
			}
			ps.add(Problem{Line: line,
				Msg: fmt.Sprintf("neither an NHS number nor a column name: a one-column file is a plain list of NHS numbers, or starts with the header %s or NHS_NUMBER", t.NHSColumn())})
			return []int{t.nhs}, true
		}
	}
	for _, c := range rec {
		if digitRun(c) >= 6 {
			ps.add(Problem{Line: line,
				Msg: "looks like data, not a header row: name the columns on the first line (e.g. NHS_NO,DATE_OF_BIRTH)"})
			return nil, false
		}
	}
	colIdx = make([]int, len(rec))
	given := map[int]bool{}
	for i, c := range rec {
		name := strings.ToUpper(strings.Trim(c, " "))
		ci, ok := t.byName[name]
		colIdx[i] = -1
		switch {
		case !ok && printableName(name):
			ps.add(Problem{Line: line, Msg: fmt.Sprintf("unknown column %q (field %d): not in the header template", c, i+1)})
		case !ok:
			ps.add(Problem{Line: line, Msg: fmt.Sprintf("field %d names no template column", i+1)})
		case ci == t.action():
			ps.add(Problem{Line: line, Column: t.Cols[ci], Msg: "the action column is set by seftbot (add, remove or replace); remove it from the input"})
		case given[ci]:
			ps.add(Problem{Line: line, Column: t.Cols[ci], Msg: "column is given twice"})
		default:
			colIdx[i] = ci
			given[ci] = true
		}
	}
	if !given[t.nhs] {
		ps.add(Problem{Line: line, Msg: fmt.Sprintf("no %s column: the header must name the NHS number column (%s or NHS_NUMBER)", t.NHSColumn(), t.NHSColumn())})
	}
	return colIdx, true
}

// duplicates reports every repeat of an NHS number by line, pointing at the
// line of its first occurrence rather than at the value. keys are
// nhs<<30|line, and are sorted in place.
func (t *Template) duplicates(keys []uint64, ps *problems) {
	slices.Sort(keys)
	first := 0
	for i := 1; i < len(keys); i++ {
		if keys[i]>>30 != keys[first]>>30 {
			first = i
			continue
		}
		ps.add(Problem{Line: int(keys[i] & maxLine), Column: t.NHSColumn(),
			Msg: fmt.Sprintf("duplicate NHS number, first given on line %d", keys[first]&maxLine)})
	}
}

func digitRun(s string) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// printableName says whether an unknown header cell may be echoed: short,
// plain ASCII name characters, and an underscore, as column names have and
// names, dates, postcodes and NHS numbers do not (a first line may be data).
func printableName(s string) bool {
	if len(s) > 40 || !strings.Contains(s, "_") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ' ' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
