package archive

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// SumsName is the checksum file every archive carries at its top level, in
// GNU sha256sum format over the files as named in the archive, so the
// analysts can run `sha256sum -c SHA256SUMS` after extracting with any 7-Zip.
const SumsName = "SHA256SUMS"

// sumsLine is one line as GNU sha256sum writes it (text mode, two spaces).
// A name holding a backslash, newline or carriage return is escaped and the
// line starts with a backslash, exactly as coreutils does.
func sumsLine(name, sum string) string {
	if !strings.ContainsAny(name, "\\\n\r") {
		return sum + "  " + name + "\n"
	}
	esc := strings.NewReplacer("\\", "\\\\", "\n", "\\n", "\r", "\\r").Replace(name)
	return "\\" + sum + "  " + esc + "\n"
}

// parseSumsLine reads back exactly what sumsLine writes, nothing looser.
func parseSumsLine(line string) (name, sum string, err error) {
	escaped := strings.HasPrefix(line, "\\")
	if escaped {
		line = line[1:]
	}
	if len(line) < 64+3 || line[64:66] != "  " {
		return "", "", errors.New("not a sha256sum line")
	}
	sum, name = line[:64], line[66:]
	if _, err := hex.DecodeString(sum); err != nil || strings.ToLower(sum) != sum {
		return "", "", errors.New("not a lower-case hex sha256")
	}
	if !escaped {
		return name, sum, nil
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] != '\\' {
			b.WriteByte(name[i])
			continue
		}
		if i++; i == len(name) {
			return "", "", errors.New("dangling escape")
		}
		switch name[i] {
		case '\\':
			b.WriteByte('\\')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			return "", "", fmt.Errorf("unknown escape \\%c", name[i])
		}
	}
	return b.String(), sum, nil
}

// buildSums lists the files in archive order.
func buildSums(entries []*entry, sums map[string]string) []byte {
	var b strings.Builder
	for _, e := range entries {
		if s, ok := sums[e.name]; ok && !e.dir {
			b.WriteString(sumsLine(e.name, s))
		}
	}
	return []byte(b.String())
}

// checkSums proves the checksum file read back from the archive lists every
// file of want, once, with its hash, and nothing else.
func checkSums(data []byte, want map[string]string) error {
	got := map[string]string{}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return fmt.Errorf("%s: last line is not terminated", SumsName)
	}
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(data) == 0 {
			break
		}
		name, sum, err := parseSumsLine(string(line))
		if err != nil {
			return fmt.Errorf("%s line %d: %v", SumsName, i+1, err)
		}
		if _, dup := got[name]; dup {
			return fmt.Errorf("%s line %d: %q listed twice", SumsName, i+1, name)
		}
		got[name] = sum
	}
	for name, sum := range want {
		g, ok := got[name]
		switch {
		case !ok:
			return fmt.Errorf("%s does not list %q", SumsName, name)
		case g != strings.ToLower(sum):
			return fmt.Errorf("%s: wrong sha256 for %q", SumsName, name)
		}
	}
	if len(got) != len(want) {
		for name := range got {
			if _, ok := want[name]; !ok {
				return fmt.Errorf("%s lists %q, which is not archived", SumsName, name)
			}
		}
	}
	return nil
}
