package sim

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The portal's rules are written down here, from docs/seft-process.md, and
// not taken from the bot: a change to the bot's default must not change what
// seftsim accepts.
func TestDefaultHeaderIsTheSpecifiedOne(t *testing.T) {
	const want = "UNIQUE_REFERENCE,NHS_NO,FAMILY_NAME,GIVEN_NAME,OTHER_GIVEN_NAME,GENDER," +
		"DATE_OF_BIRTH,DATE_OF_DEATH,ADDRESS_LINE1,ADDRESS_LINE2,ADDRESS_LINE3,ADDRESS_LINE4," +
		"ADDRESS_LINE5,ADDRESS_DATE,POSTCODE,GP_PRACTICE_CODE,NHAIS_POSTING_ID,AS_AT_DATE," +
		"LOCAL_PATIENT_ID,INTERNAL_ID,TELEPHONE_NUMBER,MOBILE_NUMBER,EMAIL_ADDRESS,ACTION\r\n"
	s := startSim(t, Options{})
	got, err := os.ReadFile(s.HeaderFile())
	if err != nil || string(got) != want {
		t.Fatalf("DIR/header.csv = %q (%v), want %q", got, err, want)
	}
	if Columns != 24 {
		t.Fatalf("Columns = %d, want 24", Columns)
	}
}

func TestHeaderFileRefused(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"short":      "A,B,C\n",
		"two lines":  strings.Repeat("A,", 23) + "B\nC\n",
		"empty name": strings.Repeat("A,", 23) + " \n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := readHeader(p); err == nil {
			t.Errorf("%s: header accepted", name)
		}
	}
	p := filepath.Join(dir, "bom")
	os.WriteFile(p, []byte("\xef\xbb\xbf"+strings.Repeat("A,", 23)+"B\r\n"), 0o644)
	if cols, err := readHeader(p); err != nil || len(cols) != 24 || cols[0] != "A" {
		t.Errorf("BOM header: %v %v", cols, err)
	}
}

// seftsim must not import the bot's cohort, job or portal packages.
func TestNoBotCohortImport(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasSuffix(p, "/internal/cohort") || strings.HasSuffix(p, "/internal/job") || strings.HasSuffix(p, "/internal/portal") {
				t.Errorf("%s imports %s: seftsim keeps its own rules", f, p)
			}
		}
	}
}
