package cohort

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

const today = 20261122

// ids are valid NHS numbers A..J and an invalid one, X, substituted into
// test inputs as {A}...
var ids = func() map[string]string {
	m := map[string]string{}
	for i, k := range "ABCDEFGHIJ" {
		m[string(k)], _ = genNHS(i)
	}
	_, m["X"] = genNHS(99)
	return m
}()

func fill(s string) string {
	for k, v := range ids {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

func defaultTemplate(t testing.TB) *Template {
	t.Helper()
	tm, err := NewTemplate(DefaultHeader)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// assertNoIdentifiers fails if any message quotes an identifier or a name
// from the inputs: problems are printed, and inputs are patient data.
func assertNoIdentifiers(t *testing.T, msgs []string) {
	t.Helper()
	for _, m := range msgs {
		for _, v := range ids {
			if strings.Contains(m, v) {
				t.Errorf("message quotes an NHS number: %s", m)
			}
		}
		if strings.Contains(m, "Smith") || strings.Contains(m, "HYPERLINK") {
			t.Errorf("message quotes a field value: %s", m)
		}
	}
}

func TestValidationErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"length", "{A}\n12345\n{B}\n", []string{"line 2, column NHS_NO: NHS number must be exactly 10 digits"}},
		{"not digits", "{A}\n94347659x9\n", []string{"line 2, column NHS_NO: NHS number must be exactly 10 digits"}},
		{"modulus 11", "{A}\n{X}\n", []string{"line 2, column NHS_NO: NHS number fails the Modulus 11 check"}},
		{"missing", "NHS_NO,FAMILY_NAME\n,Smith\n{A},Smith\n", []string{"line 2, column NHS_NO: NHS number is missing"}},
		{"dates", "nhs_number,date_of_birth,DATE_OF_DEATH\n{A},1980-01-01,\n{B},20230230,\n{C},20991231,\n{D},19800101,20261122\n{E},,20261123\n",
			[]string{
				"line 2, column DATE_OF_BIRTH: date must be YYYYMMDD",
				"line 3, column DATE_OF_BIRTH: date is not a real calendar date",
				"line 4, column DATE_OF_BIRTH: date is in the future",
				"line 6, column DATE_OF_DEATH: date is in the future",
			}},
		{"characters",
			"NHS_NO,FAMILY_NAME,GIVEN_NAME\n{A},\"Smith, Jr\",x\n{B},\"O\"\"Smith\",y\n{C},=HYPERLINK(),z\n{D},+1,z\n{E},-1,z\n{F},@x,z\n{G},Zo\u00eb,z\n{H},\"two\nlines\",z\n{I},a\x01b,z\n{J},a\rb,z\n",
			[]string{
				"line 2, column FAMILY_NAME: contains a comma",
				"line 3, column FAMILY_NAME: contains a double quote",
				"line 4, column FAMILY_NAME: starts with \"=\", which spreadsheets run as a formula",
				"line 5, column FAMILY_NAME: starts with \"+\", which spreadsheets run as a formula",
				"line 6, column FAMILY_NAME: starts with \"-\", which spreadsheets run as a formula",
				"line 7, column FAMILY_NAME: starts with \"@\", which spreadsheets run as a formula",
				"line 8, column FAMILY_NAME: contains a non-ASCII character",
				"line 9, column FAMILY_NAME: contains a line feed (LF)",
				"line 11, column FAMILY_NAME: contains a control character",
				"line 12, column FAMILY_NAME: contains a carriage return (CR)",
			}},
		{"leading space then formula", "NHS_NO,GIVEN_NAME\n{A},  =1+1\n", []string{"line 2, column GIVEN_NAME: starts with \"=\", which spreadsheets run as a formula"}},
		{"several in one row", "NHS_NO,DATE_OF_BIRTH,FAMILY_NAME\n123,2020,=x\n",
			[]string{
				"line 2, column NHS_NO: NHS number must be exactly 10 digits",
				"line 2, column DATE_OF_BIRTH: date must be YYYYMMDD",
				"line 2, column FAMILY_NAME: starts with \"=\", which spreadsheets run as a formula",
			}},
		{"header problems", "NHS_NO,SHOE_SIZE,ACTION,nhs_number,Pr\u00e9nom\n{A},1,ADD,{A},x\n",
			[]string{
				"line 1: unknown column \"SHOE_SIZE\" (field 2): not in the header template",
				"line 1, column ACTION: the action column is set by seftbot (add, remove or replace); remove it from the input",
				"line 1, column NHS_NO: column is given twice",
				"line 1: field 5 names no template column",
			}},
		{"unknown names are echoed only when they look like column names", "NHS_NO,SMITH,Shoe size\n{A},x,y\n", []string{
			"line 1: field 2 names no template column",
			"line 1: field 3 names no template column",
		}},
		{"one-column file starting with a word", "Smith\n{A}\n", []string{
			"line 1: neither an NHS number nor a column name: a one-column file is a plain list of NHS numbers, or starts with the header NHS_NO or NHS_NUMBER",
		}},
		{"no NHS column", "FAMILY_NAME\nSmith\n", []string{"line 1: no NHS_NO column: the header must name the NHS number column (NHS_NO or NHS_NUMBER)"}},
		{"headerless data", "{A},Smith\n{B},Smith\n", []string{"line 1: looks like data, not a header row: name the columns on the first line (e.g. NHS_NO,DATE_OF_BIRTH)"}},
		{"field count", "NHS_NO,FAMILY_NAME\n{A}\n{B},x,y\n{C},z\n", []string{
			"line 2: has 1 field, the header has 2",
			"line 3: has 3 fields, the header has 2",
		}},
		{"plain list with a comma line", "{A}\n{B},{C}\n", []string{"line 2: has 2 fields, the header has 1"}},
		{"empty", "", []string{"no identifiers: the input has no data rows"}},
		{"bom only", "\ufeff", []string{"no identifiers: the input has no data rows"}},
		{"blank lines", "\r\n\n\r\n", []string{"no identifiers: the input has no data rows"}},
		{"header only", "NHS_NO\r\n", []string{"no identifiers: the input has no data rows"}},
		{"duplicates", "{A}\n{B}\n{A}\n{C}\n{A}\n{B}\n", []string{
			"line 3, column NHS_NO: duplicate NHS number, first given on line 1",
			"line 5, column NHS_NO: duplicate NHS number, first given on line 1",
			"line 6, column NHS_NO: duplicate NHS number, first given on line 2",
		}},
		{"tsv", "NHS_NO\tFAMILY_NAME\n{A}\t=x\n", []string{"line 2, column FAMILY_NAME: starts with \"=\", which spreadsheets run as a formula"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ps, err := defaultTemplate(t).parse(strings.NewReader(fill(tc.in)), today)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range ps.sorted() {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			assertNoIdentifiers(t, got)
		})
	}
}

func TestValidInputsHaveNoProblems(t *testing.T) {
	for _, tc := range []struct {
		in   string
		rows int
	}{
		{"{A}\n{B}\n", 2},
		{"\ufeff{A}\r\n{B}\r\n", 2},
		{"{A}\n{B}", 2},       // no final newline
		{"  {A}  \n{B}\n", 2}, // spaces trimmed
		{"NHS_NUMBER\n{A}\n", 1},
		{"nhs_no,gender\n{A},1\n\n{B},\n", 2},
	} {
		rs, ps, err := defaultTemplate(t).parse(strings.NewReader(fill(tc.in)), today)
		if err != nil || ps.count() > 0 || len(rs.rows) != tc.rows {
			t.Errorf("%q: rows %d, want %d; problems %v, err %v", tc.in, len(rs.rows), tc.rows, ps, err)
		}
	}
}

// TestGolden checks the exact bytes of built files, CRLFs included.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		act      Action
	}{
		{"plain-list", "\ufeff{A}\r\n{B}\r\n{C}", Add},
		{"columns", "\ufeffnhs_number,Date_Of_Birth,FAMILY_NAME,POSTCODE,GENDER\r\n{A},19800101,SMITH,AB1 2CD,1\r\n{B},,JONES,,\r\n", Add},
		{"tsv-delete", "NHS_NO\tGENDER\n{C}\t2\n{A}\t\n", Delete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm := defaultTemplate(t)
			rows, ps, err := tm.parse(strings.NewReader(fill(tc.in)), today)
			if err != nil || ps.count() > 0 {
				t.Fatalf("problems %v, err %v", ps, err)
			}
			var buf bytes.Buffer
			sum, err := tm.write(&buf, rows, tc.act)
			if err != nil {
				t.Fatal(err)
			}
			if sum != sha256Hex(buf.Bytes()) {
				t.Errorf("returned sha256 is not the file's")
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("output differs from %s:\n%q\nwant\n%q", golden, buf.Bytes(), want)
			}
			if _, ps := tm.checkFile(buf.Bytes(), tc.act, today); ps.count() > 0 {
				t.Errorf("built file fails the final check: %v", ps)
			}
		})
	}
}

// TestFinalCheck breaks a good file in each way seftsim would refuse, and in
// the content rules, and expects the final check to say where.
func TestFinalCheck(t *testing.T) {
	tm := defaultTemplate(t)
	rows, _, _ := tm.parse(strings.NewReader(fill("{A}\n{B}\n")), today)
	var buf bytes.Buffer
	if _, err := tm.write(&buf, rows, Add); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	a := ids["A"]
	for _, tc := range []struct {
		name, file string
		want       string
	}{
		{"LF endings", strings.ReplaceAll(good, "\r\n", "\n"), "line 1: line ends with LF, not CRLF"},
		{"no final CRLF", strings.TrimSuffix(good, "\r\n"), "file does not end with CRLF"},
		{"header", "x" + good, "line 1: header row is not exactly the template's"},
		{"mixed actions", strings.Replace(good, ",ADD\r\n", ",DELETE\r\n", 1), "line 2, column ACTION: action is not ADD (one file, one action)"},
		{"field count", strings.Replace(good, ",ADD\r\n", ",,ADD\r\n", 1), "line 2: has 25 fields, want 24"},
		{"bad check digit", strings.Replace(good, a, a[:9]+string('0'+(a[9]-'0'+1)%10), 1), "line 2, column NHS_NO: NHS number fails the Modulus 11 check"},
		{"duplicate", good + "," + a + strings.Repeat(",", 22) + "ADD\r\n", "line 4, column NHS_NO: duplicate NHS number, first given on line 2"},
		{"formula", strings.Replace(good, ",ADD\r\n", "=1,ADD\r\n", 1), "line 2, column EMAIL_ADDRESS: starts with \"=\", which spreadsheets run as a formula"},
		{"header only", HeaderLine(DefaultHeader), "file has no rows"},
	} {
		_, ps := tm.checkFile([]byte(tc.file), Add, today)
		var got []string
		for _, p := range ps.sorted() {
			got = append(got, p.String())
		}
		if !slices.Contains(got, tc.want) {
			t.Errorf("%s: problems %q, want one to be %q", tc.name, got, tc.want)
		}
		assertNoIdentifiers(t, got)
	}
}

func TestDateProblem(t *testing.T) {
	for v, want := range map[string]string{
		"20240229": "", "20000229": "", "19000229": "date is not a real calendar date", "20230229": "date is not a real calendar date",
		"20261122": "", "20261123": "date is in the future", "20260431": "date is not a real calendar date", "20261301": "date is not a real calendar date",
		"20260100": "date is not a real calendar date", "17991231": "date is not a real calendar date", "2026112": "date must be YYYYMMDD",
		"2026-1-1": "date must be YYYYMMDD", "20261231": "date is in the future", "20251231": "",
	} {
		if got := dateProblem(v, today); got != want {
			t.Errorf("dateProblem(%s) = %q, want %q", v, got, want)
		}
	}
}

// TestDuplicateOfBadRow: a repeat is reported even when the rows involved
// have other problems.
func TestDuplicateOfBadRow(t *testing.T) {
	_, ps, _ := defaultTemplate(t).parse(strings.NewReader(fill("NHS_NO,DATE_OF_BIRTH\n{A},20991231\n{A},1980\n")), today)
	want := "line 3, column NHS_NO: duplicate NHS number, first given on line 2"
	for _, p := range ps.sorted() {
		if p.String() == want {
			return
		}
	}
	t.Fatalf("problems %v lack %q", ps, want)
}
