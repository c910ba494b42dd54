package relay

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Europe/London must resolve on hosts without zoneinfo

	"github.com/isaric/seftbot/internal/usererr"
)

// london is where the analysts' day starts and ends: the date in the name is
// the UK calendar date, whatever the host's time zone.
var london = mustLoad("Europe/London")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // time/tzdata is embedded, so this cannot happen
	}
	return loc
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// maxSuffix bounds the search for a free name; a drop holding that many
// archives of one day is misconfigured, not busy.
const maxSuffix = 999

// FinalName renders template ({project}, {yyyymmdd} as the Europe/London
// date of now) and returns the first of name, name-2, name-3 ... (the suffix
// goes before the extension: isaric-P-20261122-2.7z) for which taken says
// false. A nil taken returns the rendered name. The job records it as the
// intended name; Relay calls it again on the drop.
func FinalName(template, project string, now time.Time, taken func(name string) (bool, error)) (string, error) {
	var bad []string
	name := placeholder.ReplaceAllStringFunc(template, func(p string) string {
		switch p {
		case "{project}":
			return project
		case "{yyyymmdd}":
			return now.In(london).Format("20060102")
		}
		bad = append(bad, p)
		return p
	})
	const hint = "SEFTBOT_SFTP_NAME_TEMPLATE may use {project} and {yyyymmdd}, e.g. " + DefaultNameTemplate
	switch {
	case len(bad) > 0:
		return "", usererr.Errorf(hint, fmt.Sprintf("name template %q: unknown placeholder %s", template, strings.Join(bad, ", ")))
	case name == "" || strings.ContainsAny(name, "/\\\x00") || strings.HasPrefix(name, "."):
		return "", usererr.Errorf(hint+"; SEFTBOT_PROJECT_ID must not contain /",
			fmt.Sprintf("name template %q renders %q, which is not a plain file name", template, name))
	}
	if taken == nil {
		return name, nil
	}
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := 1; i <= maxSuffix; i++ {
		cand := name
		if i > 1 {
			cand = stem + "-" + strconv.Itoa(i) + ext
		}
		t, err := taken(cand)
		if err != nil {
			return "", err
		}
		if !t {
			return cand, nil
		}
	}
	return "", fmt.Errorf("%w: %s and %d suffixed names are all taken on the drop", ErrRelay, name, maxSuffix-1)
}
