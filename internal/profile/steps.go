package profile

import (
	"errors"
	"fmt"
	"strings"

	"github.com/isaric/seftbot/internal/browser"
)

// Where a list of steps is used, which decides what it may hold.
const (
	stepsLogin = iota
	stepsUpload
	stepsAfterClick
)

// checkStep reports a step that cannot work where it is used.
func checkStep(s Step, field string, where int) error {
	act := s.Action()
	switch {
	case act == "":
		return fmt.Errorf("%s: no action (fill, click, check, select, press, file, wait_for, wait_text, wait_url or dialog)", field)
	case strings.Contains(act, "+"):
		return fmt.Errorf("%s: one action per step, not %s", field, act)
	case act == "file" && where != stepsUpload:
		return fmt.Errorf("%s: a file step belongs in upload.steps", field)
	case s.With == "{password}" && where != stepsLogin:
		return fmt.Errorf("%s: {password} belongs in login.steps", field)
	case s.With != "" && act != "fill" && act != "select":
		return fmt.Errorf("%s: with goes with fill or select", field)
	case (act == "fill" || act == "select") && s.With == "":
		return fmt.Errorf("%s: %s needs with", field, act)
	case act == "press" && !browser.KnownKey(s.Press):
		return fmt.Errorf("%s: press %q: use Enter, Tab, Escape or Space", field, s.Press)
	case act == "dialog" && s.Dialog != "accept" && s.Dialog != "dismiss":
		return fmt.Errorf("%s: dialog is accept or dismiss", field)
	case strings.HasPrefix(s.With, "{") && s.With != "{user}" && s.With != "{password}":
		return fmt.Errorf("%s: unknown placeholder %s ({user} or {password})", field, s.With)
	}
	if t := s.Target(); t != nil {
		if err := t.Check(); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
	}
	return nil
}

// SecretStep is the index of the step that sends the password (login) or
// the file (upload): the one marked sends_secret, else the first click or
// key press after the last {password} fill or file step. -1 if none.
func SecretStep(steps []Step) int {
	last := -1
	for i, s := range steps {
		if s.SendsSecret {
			return i
		}
		if s.With == "{password}" || !s.File.Empty() {
			last = i
		}
	}
	if last < 0 {
		return -1
	}
	for i := last + 1; i < len(steps); i++ {
		if a := steps[i].Action(); a == "click" || a == "press" {
			return i
		}
	}
	return -1
}

// checkRowSteps names what keeps files.download's steps from working:
// only clicks and waits (wait_for, wait_text) inside a row, ending with a
// click that is not optional.
func checkRowSteps(ss []Step) []string {
	var out []string
	for i, s := range ss {
		field := fmt.Sprintf("files.download[%d]", i)
		if err := checkStep(s, field, stepsAfterClick); err != nil {
			out = append(out, err.Error())
			continue
		}
		switch act := s.Action(); {
		case act == "wait" && s.WaitURL != "":
			out = append(out, field+": wait_url has no meaning inside a row; use wait_for or wait_text")
		case act != "click" && act != "wait":
			out = append(out, fmt.Sprintf("%s: a download step clicks or waits inside the row, it does not %s", field, act))
		}
	}
	if last := ss[len(ss)-1]; last.Action() != "click" || last.Optional {
		out = append(out, fmt.Sprintf("files.download[%d]: the last download step must be a click that is not optional (the one that starts the file)", len(ss)-1))
	}
	return out
}

// ListFrame is the frame that holds the list; nil when the list is in the
// page itself.
func (p *Profile) ListFrame() Sel {
	if p.Files == nil {
		return nil
	}
	return p.Files.Frame
}

// InList is s looked up in the list's frame (every alternative prefixed
// with frame=IFRAME >> ), or s itself when the list is in the page.
func (p *Profile) InList(s Sel) Sel {
	f := p.ListFrame()
	if f.Empty() || s.Empty() {
		return s
	}
	out := make(Sel, len(s))
	for i, x := range s {
		out[i] = "frame=" + f[0] + " >> " + x
	}
	return out
}

// checkFrame names a frame selector that cannot work.
func checkFrame(f Sel) error {
	if f.Empty() {
		return nil
	}
	if len(f) != 1 {
		return errors.New("files.frame: one selector, not alternatives")
	}
	if err := f.Check(); err != nil {
		return fmt.Errorf("files.frame: %w", err)
	}
	if strings.HasPrefix(strings.TrimSpace(f[0]), "frame=") {
		return errors.New("files.frame: the selector of the <iframe> element itself, without frame=")
	}
	return nil
}

// The engine's words, as a profile uses them.
type (
	Step = browser.Step
	Sel  = browser.Sel
)

// Sites.
const (
	SiteDownload = "download"
	SiteUpload   = "upload"
)
