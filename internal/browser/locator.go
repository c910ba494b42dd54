package browser

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Sel is one target on a page: a selector, or alternatives tried in order
// (the first that matches wins). In a profile it is a JSON string or a list
// of strings. Alternatives let a profile survive a portal that changed: when
// a later one is used, the run names the drifted selector.
//
// Each selector is one of:
//
//	text=Sign in               a button, link, submit input or role=button/link whose visible text is "Sign in"
//	label=User name            the control labelled so (<label>, aria-label, aria-labelledby)
//	role=button[name="Save"]   an element of that ARIA role (explicit or implicit) with that accessible name
//	xpath=//div[@id='x']       XPath, evaluated from the document or the row
//	css=#files tr or #files tr CSS
//	frame=#list >> text=Download   INNER (any of the above) inside the iframe that IFRAME finds, of any origin
type Sel []string

// UnmarshalJSON takes a string or a list of strings.
func (s *Sel) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Sel{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("a selector is a string or a list of strings")
	}
	*s = many
	return nil
}

// Empty reports whether no selector is given.
func (s Sel) Empty() bool {
	for _, x := range s {
		if strings.TrimSpace(x) != "" {
			return false
		}
	}
	return true
}

func (s Sel) String() string {
	if len(s) == 1 {
		return s[0]
	}
	return "[" + strings.Join(s, " | ") + "]"
}

var roleSel = regexp.MustCompile(`^role=([a-z]+)(\[name=("[^"]*"|'[^']*')\])?$`)

// Check reports a selector that can never work, so a typo is a
// configuration error when the profile loads, not a failure at 2 a.m.
// CSS and XPath are also checked by the browser before signing in.
func (s Sel) Check() error {
	if s.Empty() {
		return errors.New("empty selector")
	}
	for _, x := range s {
		x = strings.TrimSpace(x)
		if strings.HasPrefix(x, "frame=") {
			frame, inner, ok := cutFrame(x)
			if !ok {
				return fmt.Errorf("%q: write frame=IFRAME >> INNER, e.g. frame=#list >> text=Download", x)
			}
			if strings.HasPrefix(frame, "frame=") || strings.HasPrefix(inner, "frame=") {
				return fmt.Errorf("%q: one frame level only", x)
			}
			if err := (Sel{frame, inner}).Check(); err != nil {
				return fmt.Errorf("%q: %w", x, err)
			}
			continue
		}
		prefix, rest, ok := strings.Cut(x, "=")
		if !ok || strings.ContainsAny(prefix, " .#[:>") {
			continue // plain CSS
		}
		switch prefix {
		case "text", "label":
			if strings.TrimSpace(rest) == "" {
				return fmt.Errorf("%q: nothing after %s=", x, prefix)
			}
		case "role":
			if !roleSel.MatchString(x) {
				return fmt.Errorf("%q: write role=button or role=button[name=\"Save\"]", x)
			}
		case "xpath", "css":
			if strings.TrimSpace(rest) == "" {
				return fmt.Errorf("%q: nothing after %s=", x, prefix)
			}
		default:
			return fmt.Errorf("%q: unknown selector kind %q (text=, label=, role=, xpath=, css=, frame=)", x, prefix)
		}
	}
	return nil
}
