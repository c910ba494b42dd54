package cohort

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"
)

// benchInput is n valid NHS numbers with a date of birth and postcode: the
// realistic large case (every row carries fields besides the NHS number).
func benchInput(n int, withColumns bool) []byte {
	var b bytes.Buffer
	if withColumns {
		b.WriteString("NHS_NO,DATE_OF_BIRTH,POSTCODE\r\n")
	}
	for i := 0; i < n; i++ {
		v, _ := genNHSFrom(400000000, i*2)
		b.WriteString(v)
		if withColumns {
			b.WriteString(",19800101,AB1 2CD")
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// BenchmarkAdd1M plans one ADD step for a million identifiers: parse,
// validate, check duplicates, write the exact step file and the ledger.
// scripts/bench-cohort.sh measures the same through the binary, with
// peak RSS.
func BenchmarkAdd1M(b *testing.B) { benchAdd(b, false) }

// BenchmarkAddSubmitDryRun1M adds the final pre-upload check: the step file
// read back, re-validated and copied to the outbox.
func BenchmarkAddSubmitDryRun1M(b *testing.B) { benchAdd(b, true) }

func benchAdd(b *testing.B, checkToo bool) {
	for _, cols := range []bool{false, true} {
		name := "nhs-only"
		if cols {
			name = "with-columns"
		}
		b.Run(name, func(b *testing.B) {
			in := benchInput(1_000_000, cols)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s, err := Open(Options{Dir: filepath.Join(b.TempDir(), "c"), Project: project, Header: DefaultHeader})
				if err != nil {
					b.Fatal(err)
				}
				res, err := s.Add(context.Background(), bytes.NewReader(in), "bench.csv")
				if err != nil || res.Steps[0].Count != 1_000_000 {
					b.Fatal(err)
				}
				if checkToo {
					if _, err := s.Submit(context.Background(), true); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkReplaceDiff1M: a million held, a new cohort of a million with a
// tenth changed.
func BenchmarkReplaceDiff1M(b *testing.B) {
	held := benchInput(1_000_000, false)
	var next bytes.Buffer
	for i := 100_000; i < 1_100_000; i++ {
		v, _ := genNHSFrom(400000000, i*2)
		next.WriteString(v + "\n")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
		s, err := Open(Options{Dir: filepath.Join(b.TempDir(), "c"), Project: project, Header: DefaultHeader, Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.ImportHeld(context.Background(), bytes.NewReader(held), "held"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		s, err = Open(Options{Dir: s.o.Dir, Project: project, Header: DefaultHeader, Now: func() time.Time { return now }})
		if err != nil {
			b.Fatal(err)
		}
		res, err := s.Replace(context.Background(), bytes.NewReader(next.Bytes()), "next", Diff)
		if err != nil || len(res.Steps) != 2 {
			b.Fatal(err)
		}
	}
}
