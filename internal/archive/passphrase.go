package archive

import (
	"crypto/rand"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/isaric/seftbot/internal/usererr"
)

// passAlphabet is upper-case letters and digits without the look-alikes
// 0/O, 1/I/L: it survives email, phones and both 7-Zip front ends.
const passAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

const (
	passGroups   = 6
	passGroupLen = 5 // 30 symbols × log2(31) ≈ 148.6 bits
	// MinPassphraseLen is the shortest passphrase an operator may supply.
	MinPassphraseLen = 20
)

// GeneratePassphrase returns a fresh passphrase with over 128 bits from
// crypto/rand, as dash-separated groups of five, e.g. "K7MQ2-…".
func GeneratePassphrase() (string, error) {
	var b strings.Builder
	var buf [64]byte
	n := 0
	for n < passGroups*passGroupLen {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("generate passphrase: %w", err)
		}
		for _, c := range buf {
			v := int(c & 31)
			if v >= len(passAlphabet) { // reject, so every symbol is equally likely
				continue
			}
			if n > 0 && n%passGroupLen == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(passAlphabet[v])
			if n++; n == passGroups*passGroupLen {
				break
			}
		}
	}
	return b.String(), nil
}

// CheckPassphrase vets an operator-supplied passphrase: long enough to resist
// guessing, and only Basic Multilingual Plane characters without controls,
// which every 7-Zip front end can type and encodes the same way.
func CheckPassphrase(p string) error {
	hint := fmt.Sprintf("use at least %d characters from the Basic Multilingual Plane, or let seftbot generate one", MinPassphraseLen)
	if !utf8.ValidString(p) {
		return usererr.Errorf(hint, "passphrase is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(p); n < MinPassphraseLen {
		return usererr.New(fmt.Errorf("passphrase has %d characters, fewer than %d", n, MinPassphraseLen), hint)
	}
	for i, r := range p {
		if r > 0xFFFF {
			return usererr.New(fmt.Errorf("passphrase character %d is outside the Basic Multilingual Plane", utf8.RuneCountInString(p[:i])+1), hint)
		}
		if unicode.IsControl(r) {
			return usererr.New(fmt.Errorf("passphrase character %d is a control character", utf8.RuneCountInString(p[:i])+1), hint)
		}
	}
	return nil
}
