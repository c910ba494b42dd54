package portal

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// maxLocalName keeps names well under every filesystem's 255-byte limit and
// leaves room for a disambiguating suffix.
const maxLocalName = 120

// localName turns a name supplied by the server into a safe file name inside
// the staging directory. The server is untrusted: traversal, slashes, control
// characters, odd Unicode and over-long names are neutralised. Only ASCII
// letters, digits and "._-+=,@" survive; anything else becomes "_". A name
// that had to change gets a short hash of the original, so two different
// originals cannot collide by sanitising to the same text. The result is
// deterministic: the same original always gives the same name.
func localName(orig string) string {
	var b strings.Builder
	for _, r := range orig {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			strings.ContainsRune("._-+=,@", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	// No hidden files, no "." or "..", nothing that reads as a flag.
	s = strings.TrimLeft(s, ".-")
	if s == "" {
		s = "file"
	}
	if s == orig && len(s) <= maxLocalName {
		return s
	}
	sum := sha256.Sum256([]byte(orig))
	tag := "~" + hex.EncodeToString(sum[:5])
	ext := path.Ext(s)
	if len(ext) > 16 || ext == s {
		ext = ""
	}
	stem := strings.TrimSuffix(s, ext)
	if room := maxLocalName - len(tag) - len(ext); len(stem) > room {
		stem = stem[:room]
	}
	return stem + tag + ext
}

// uniqueName returns name, or name with "-2", "-3"... before the extension,
// whichever is not yet taken; it marks the result as taken.
func uniqueName(name string, taken map[string]bool) string {
	if !taken[name] {
		taken[name] = true
		return name
	}
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := 2; ; i++ {
		n := stem + "-" + strconv.Itoa(i) + ext
		if !taken[n] {
			taken[n] = true
			return n
		}
	}
}

// logName is how a server-supplied name appears in logs and messages: quoted,
// with every control or non-ASCII character escaped, and cut short.
func logName(s string) string {
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return strconv.QuoteToASCII(s)
}

// entryKey identifies a listing entry across runs: its name and which
// occurrence of that name it is, so identical names stay apart.
func entryKey(name string, ordinal int) string {
	if ordinal == 0 {
		return name
	}
	return fmt.Sprintf("%s\x00%d", name, ordinal)
}
