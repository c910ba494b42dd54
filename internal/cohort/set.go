package cohort

import (
	"fmt"
	"slices"
	"strconv"
)

// idSet is a set of NHS numbers kept as a sorted slice of integers: 8 bytes
// an identifier, and differences between sets are linear merges. In JSON it
// is an array of 10-digit strings, readable and free of leading-zero loss.
type idSet []uint64

// sortedSet sorts ids in place and drops repeats.
func sortedSet(ids []uint64) idSet {
	slices.Sort(ids)
	return idSet(slices.Compact(ids))
}

func (s idSet) has(v uint64) bool {
	_, ok := slices.BinarySearch(s, v)
	return ok
}

// minus returns the members of s not in o.
func (s idSet) minus(o idSet) idSet {
	out := make(idSet, 0, len(s))
	j := 0
	for _, v := range s {
		for j < len(o) && o[j] < v {
			j++
		}
		if j < len(o) && o[j] == v {
			continue
		}
		out = append(out, v)
	}
	return out
}

// union returns the members of either set.
func (s idSet) union(o idSet) idSet {
	out := make(idSet, 0, len(s)+len(o))
	i, j := 0, 0
	for i < len(s) || j < len(o) {
		switch {
		case j == len(o) || i < len(s) && s[i] < o[j]:
			out = append(out, s[i])
			i++
		case i == len(s) || o[j] < s[i]:
			out = append(out, o[j])
			j++
		default:
			out = append(out, s[i])
			i++
			j++
		}
	}
	return out
}

// MarshalJSON writes the set as an array of 10-digit strings, without going
// through a []string of a million entries.
func (s idSet) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(s)*13)
	b = append(b, '[')
	for i, v := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, formatNHS(v)...)
		b = append(b, '"')
	}
	return append(b, ']'), nil
}

// UnmarshalJSON reads an array of 10-digit strings and checks it is sorted
// and free of repeats, which a hand-edited ledger might break.
func (s *idSet) UnmarshalJSON(b []byte) error {
	out := make(idSet, 0, len(b)/13)
	i := 0
	skip := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
			i++
		}
	}
	skip()
	if i >= len(b) || b[i] != '[' {
		return fmt.Errorf("held set: want an array")
	}
	i++
	for {
		skip()
		if i < len(b) && b[i] == ']' && len(out) == 0 {
			break
		}
		if i+12 > len(b) || b[i] != '"' || b[i+11] != '"' {
			return fmt.Errorf("held set: entry %d is not a 10-digit string", len(out)+1)
		}
		v, err := strconv.ParseUint(string(b[i+1:i+11]), 10, 64)
		if err != nil {
			return fmt.Errorf("held set: entry %d is not a 10-digit string", len(out)+1)
		}
		if len(out) > 0 && v <= out[len(out)-1] {
			return fmt.Errorf("held set: entry %d is out of order or repeated", len(out)+1)
		}
		out = append(out, v)
		i += 12
		skip()
		if i < len(b) && b[i] == ',' {
			i++
			continue
		}
		if i < len(b) && b[i] == ']' {
			break
		}
		return fmt.Errorf("held set: malformed after entry %d", len(out))
	}
	*s = out
	return nil
}
