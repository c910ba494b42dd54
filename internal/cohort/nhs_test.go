package cohort

import (
	"fmt"
	"testing"
)

// checkDigit computes a Modulus 11 check digit the way the NHS data
// dictionary states it, independently of nhsValue: remainder of the weighted
// sum, subtracted from 11; 11 becomes 0 and 10 means no valid number.
func checkDigit(first9 [9]int) (int, bool) {
	weights := [9]int{10, 9, 8, 7, 6, 5, 4, 3, 2}
	total := 0
	for i, d := range first9 {
		total += d * weights[i]
	}
	switch c := 11 - total%11; c {
	case 11:
		return 0, true
	case 10:
		return 0, false
	default:
		return c, true
	}
}

// genNHS returns the n-th valid NHS number of a deterministic sequence, in
// the 999 test range, plus one invalid variant (wrong check digit).
func genNHS(n int) (valid, invalid string) { return genNHSFrom(999000000, n*7) }

// genNHSFrom is genNHS over a range big enough for a million numbers.
func genNHSFrom(start, n int) (valid, invalid string) {
	for base := start + n; ; base++ {
		var d [9]int
		for i, v := 8, base; i >= 0; i, v = i-1, v/10 {
			d[i] = v % 10
		}
		c, ok := checkDigit(d)
		if !ok {
			continue
		}
		return fmt.Sprintf("%09d%d", base, c), fmt.Sprintf("%09d%d", base, (c+1)%10)
	}
}

func TestNHSNumberKnown(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"9434765919", true},   // the NHS's own published example
		{"9434765918", false},  // same with the check digit off by one
		{"4010232137", true},   // another published example
		{"4010232138", false},  //
		{"0000000000", true},   // weighted sum 0: check digit 0
		{"1000000001", true},   // sum 10: check digit 11-10 = 1
		{"1000000000", false},  //
		{"0000000019", true},   // sum 1*2 = 2: check digit 9
		{"0000000018", false},  //
		{"943476591", false},   // 9 digits
		{"94347659190", false}, // 11 digits
		{"943476591a", false},
		{" 943476591", false},
		{"", false},
		{"9434 65919", false},
	} {
		if got := ValidNHSNumber(tc.s); got != tc.want {
			t.Errorf("ValidNHSNumber(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestNHSNumberGenerated(t *testing.T) {
	checked, ten := 0, 0
	for n := 0; n < 5000; n++ {
		v, bad := genNHS(n)
		if !ValidNHSNumber(v) {
			t.Fatalf("generated valid number %s rejected", v)
		}
		if ValidNHSNumber(bad) {
			t.Fatalf("wrong check digit %s accepted", bad)
		}
		checked++
	}
	// Prefixes whose check digit would be 10 admit no valid number at all.
	for base := 999000000; base < 999002000; base++ {
		var d [9]int
		for i, v := 8, base; i >= 0; i, v = i-1, v/10 {
			d[i] = v % 10
		}
		if _, ok := checkDigit(d); ok {
			continue
		}
		ten++
		for last := 0; last <= 9; last++ {
			if s := fmt.Sprintf("%09d%d", base, last); ValidNHSNumber(s) {
				t.Fatalf("%s accepted, but its prefix has check digit 10", s)
			}
		}
	}
	if checked == 0 || ten == 0 {
		t.Fatalf("test generated nothing to check (%d valid, %d ten-prefixes)", checked, ten)
	}
}

func TestFormatNHSKeepsLeadingZeros(t *testing.T) {
	v, why := nhsValue("0123456789") // weighted sum 156, 156 mod 11 = 2, check 9
	if why != "" {
		t.Fatal(why)
	}
	if got := formatNHS(v); got != "0123456789" {
		t.Fatalf("formatNHS = %q", got)
	}
}
