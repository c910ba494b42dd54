package cohort

import "strconv"

// nhsValue parses a 10-digit NHS number and checks its Modulus 11 check
// digit: the first nine digits are weighted 10 down to 2, and the check digit
// is 11 minus the weighted sum mod 11 (11 becomes 0; 10 means the number can
// never be issued). It returns the number as an integer, which keeps a
// million-row cohort small in memory, and a reason when it is not valid.
// The reason never quotes the value.
func nhsValue(s string) (uint64, string) {
	if s == "" {
		return 0, "NHS number is missing"
	}
	if len(s) != 10 {
		return 0, "NHS number must be exactly 10 digits"
	}
	var v uint64
	sum := 0
	for i := 0; i < 10; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, "NHS number must be exactly 10 digits"
		}
		d := int(c - '0')
		v = v*10 + uint64(d)
		if i < 9 {
			sum += d * (10 - i)
		}
	}
	check := 11 - sum%11
	if check == 11 {
		check = 0
	}
	if check == 10 || check != int(s[9]-'0') {
		return 0, "NHS number fails the Modulus 11 check"
	}
	return v, ""
}

// ValidNHSNumber reports whether s is a 10-digit NHS number with a valid
// Modulus 11 check digit.
func ValidNHSNumber(s string) bool {
	_, why := nhsValue(s)
	return why == ""
}

// formatNHS turns a parsed NHS number back into its 10 digits, leading zeros
// included.
func formatNHS(v uint64) string {
	s := strconv.FormatUint(v, 10)
	for len(s) < 10 {
		s = "0" + s
	}
	return s
}
