package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// Step is one thing a person does on a page: exactly one of fill, click,
// check, select, press, file, wait_for, wait_text, wait_url or dialog.
// Every target is waited for (attached, visible, stable, enabled, not
// covered) up to the step timeout; an optional step runs only if its
// target shows up within a short wait (a notice, a cookie banner).
type Step struct {
	Fill   Sel    `json:"fill,omitempty"`
	With   string `json:"with,omitempty"` // {user}, {password}, or a plain value (never a secret)
	Click  Sel    `json:"click,omitempty"`
	Check  Sel    `json:"check,omitempty"`  // tick a checkbox (left ticked if it is)
	Select Sel    `json:"select,omitempty"` // choose the option whose text or value is With
	Press  string `json:"press,omitempty"`  // a key: Enter, Tab, Escape or Space
	In     Sel    `json:"in,omitempty"`     // where to press it; default the focused element
	File   Sel    `json:"file,omitempty"`   // upload only: the file input, which may be hidden

	WaitFor  Sel      `json:"wait_for,omitempty"`
	WaitText []string `json:"wait_text,omitempty"`
	WaitURL  string   `json:"wait_url,omitempty"`
	// Dialog answers the confirm() dialog that the next click opens:
	// "accept" or "dismiss" (in files.after_click, the download click's).
	// Dialogs nobody asked for are dismissed.
	Dialog string `json:"dialog,omitempty"`

	Optional bool `json:"optional,omitempty"`
	// SendsSecret marks the step that sends the password (or the file);
	// by default it is the first click or key press after the fill.
	SendsSecret bool     `json:"sends_secret,omitempty"`
	Timeout     Duration `json:"timeout,omitempty"` // how long an optional step looks for its target (default 3s)
}

// Action names the step's one action ("fill", "click", ..., "wait",
// "dialog"), or several joined by "+" when the step holds more than one.
func (s Step) Action() string {
	var acts []string
	add := func(name string, set bool) {
		if set {
			acts = append(acts, name)
		}
	}
	add("fill", !s.Fill.Empty())
	add("click", !s.Click.Empty())
	add("check", !s.Check.Empty())
	add("select", !s.Select.Empty())
	add("press", s.Press != "")
	add("file", !s.File.Empty())
	add("wait", !s.WaitFor.Empty() || len(s.WaitText) > 0 || s.WaitURL != "")
	add("dialog", s.Dialog != "")
	if len(acts) != 1 {
		return strings.Join(acts, "+")
	}
	return acts[0]
}

// Target is the element the step acts on, if any.
func (s Step) Target() Sel {
	for _, t := range []Sel{s.Fill, s.Click, s.Check, s.Select, s.File, s.In, s.WaitFor} {
		if !t.Empty() {
			return t
		}
	}
	return nil
}

// Describe is the step in words, for messages: "press Enter in #pw".
// A fill shows its placeholder only, never a value.
func (s Step) Describe() string {
	switch a := s.Action(); a {
	case "fill", "select":
		w := s.With
		if !strings.HasPrefix(w, "{") {
			w = "a value"
		}
		return fmt.Sprintf("%s %s with %s", a, s.Target(), w)
	case "press":
		if s.In.Empty() {
			return "press " + s.Press
		}
		return fmt.Sprintf("press %s in %s", s.Press, s.In)
	case "wait":
		return "wait for " + describeWait(s)
	case "dialog":
		return "dialog " + s.Dialog
	default:
		return fmt.Sprintf("%s %s", a, s.Target())
	}
}

var keys = map[string]string{"enter": "\r", "tab": "\t", "escape": "\x1b", "space": " "}

// KnownKey reports whether a press step can send the key name.
func KnownKey(name string) bool { return keys[strings.ToLower(name)] != "" }

// ErrStepTarget means a required step's element never became ready: the
// steps do not match the page.
var ErrStepTarget = errors.New("step target not ready")

// Vars fill the placeholders {user} and {password}, and a file step's
// file; the password goes to the browser only.
type Vars struct{ User, Password, File string }

// RunStep performs one step in tab t. field names it for errors and drift
// reports. ran is false when an optional step's target did not show up.
func (b *Browser) RunStep(t *Tab, field string, s Step, v Vars) (ran bool, err error) {
	wait := b.o.StepTimeout
	if s.Optional {
		wait = 3 * time.Second
		if s.Timeout > 0 {
			wait = time.Duration(s.Timeout)
		}
	}
	if err := t.Pause(); err != nil {
		return false, err
	}
	act := s.Action()
	// A target inside a frame (frame=IFRAME >> INNER) is looked for, and
	// acted on, in the frame's own document, whatever its origin.
	frame, _ := SplitFrame(s.Target())
	switch act {
	case "dialog":
		t.ArmDialog(s.Dialog) // the next click's dialog is answered as it opens
		return true, nil
	case "wait":
		var r struct {
			OK bool `json:"ok"`
		}
		// A wait for an element in a frame waits in the frame, for its
		// text and URL too.
		_, in := SplitFrame(s.WaitFor)
		if err := t.await(frame, "waitCond", map[string]any{"sel": in, "text": s.WaitText, "url": s.WaitURL}, wait, &r); err != nil {
			return false, err
		}
		if !r.OK && !s.Optional {
			return false, fmt.Errorf("%w: %s: waited %s for %s", ErrStepTarget, field, wait, describeWait(s))
		}
		return r.OK, nil
	}
	need := map[string]string{"fill": "fill", "click": "click", "check": "visible", "select": "visible", "file": "attached", "press": "visible"}[act]
	target := s.Target()
	var at Located
	if target != nil {
		var err error
		if at, err = b.locateIn(t, frame, field, target, need, wait); err != nil {
			return false, err
		}
		if !at.OK {
			if s.Optional {
				return false, nil
			}
			return false, fmt.Errorf("%w: %s: %s %s (%d found) after %s", ErrStepTarget, field, target, at.Why, at.Count, wait)
		}
		target = Sel{target[at.Alt]}
		_, target = SplitFrame(target)
	}
	switch act {
	case "fill":
		text := s.With
		switch s.With {
		case "{user}":
			text = v.User
		case "{password}":
			text = v.Password
		}
		return true, t.fillIn(frame, target, text)
	case "click":
		return true, t.Step(chromedp.MouseClickXY(at.X, at.Y))
	case "check", "select":
		var r struct {
			OK  bool   `json:"ok"`
			Why string `json:"why"`
		}
		if err := t.EvalIn(frame, "act", map[string]any{"sel": target, "do": act, "value": s.With}, &r, AsUserGesture); err != nil {
			return false, err
		}
		if !r.OK {
			return false, fmt.Errorf("%w: %s: could not %s %s: %s", ErrStepTarget, field, act, target, r.Why)
		}
		return true, nil
	case "press":
		if target != nil {
			if err := t.EvalIn(frame, "act", map[string]any{"sel": target, "do": "focus"}, nil); err != nil {
				return false, err
			}
		}
		return true, t.Step(chromedp.KeyEvent(keys[strings.ToLower(s.Press)]))
	case "file":
		if !frame.Empty() {
			return true, t.setFileIn(frame, target, v.File)
		}
		expr, err := t.Expr("find", map[string]any{"sel": target})
		if err != nil {
			return false, err
		}
		return true, t.Step(chromedp.SetUploadFiles(chromedp.JSPath(expr), []string{v.File}))
	}
	return false, fmt.Errorf("%s: unknown action %q", field, act)
}

func describeWait(s Step) string {
	var parts []string
	if !s.WaitFor.Empty() {
		parts = append(parts, s.WaitFor.String())
	}
	for _, x := range s.WaitText {
		parts = append(parts, fmt.Sprintf("text %q", x))
	}
	if s.WaitURL != "" {
		parts = append(parts, "a URL with "+s.WaitURL)
	}
	return strings.Join(parts, " and ")
}

// Located is where page.js found a target ready.
type Located struct {
	OK    bool    `json:"ok"`
	Why   string  `json:"why"`
	Alt   int     `json:"alt"`
	Count int     `json:"count"`
	X     float64 `json:"x"`
	Y     float64 `json:"y"`
}

// Locate waits up to wait for target to be ready for need ("click",
// "fill", "visible" or "attached"). When an alternative after the first was
// used, the run notes the drift.
func (b *Browser) Locate(t *Tab, field string, target Sel, need string, wait time.Duration) (Located, error) {
	frame, _ := SplitFrame(target)
	return b.locateIn(t, frame, field, target, need, wait)
}

// locateIn is Locate for a target in frame (nil: the top page): the point
// it answers is in the top page's viewport, where a mouse click lands.
func (b *Browser) locateIn(t *Tab, frame Sel, field string, target Sel, need string, wait time.Duration) (Located, error) {
	var at Located
	_, in := SplitFrame(target)
	if err := t.await(frame, "locate", map[string]any{"sel": in, "need": need}, wait, &at); err != nil {
		return at, err
	}
	if at.OK && !frame.Empty() && need != "attached" {
		x, y, err := t.FrameOffset(frame)
		if err != nil {
			return at, err
		}
		at.X, at.Y = at.X+x, at.Y+y
	}
	if at.OK {
		b.NoteAlt(field, target, at.Alt)
	}
	if b.OnLocate != nil {
		b.OnLocate(t, field, target, at)
	}
	return at, nil
}

// NoteAlt records that a selector other than a target's first matched.
func (b *Browser) NoteAlt(field string, target Sel, alt int) {
	if alt <= 0 || alt >= len(target) {
		return
	}
	b.driftMu.Lock()
	defer b.driftMu.Unlock()
	if b.drift == nil {
		b.drift = map[string]string{}
	}
	if _, seen := b.drift[field]; seen {
		return
	}
	b.drift[field] = target[alt]
	b.o.Log.Warn("selector drifted: the first alternative no longer matches, a later one did; update the profile",
		"field", field, "first", target[0], "used", target[alt])
}

// Drift lists the profile fields whose first selector no longer matched in
// this run, with the alternative that did.
func (b *Browser) Drift() map[string]string {
	b.driftMu.Lock()
	defer b.driftMu.Unlock()
	out := map[string]string{}
	for k, v := range b.drift {
		out[k] = v
	}
	return out
}

// Fill focuses and empties a field and types text into it. The text may be
// a password: it goes to the browser only, never to a log.
func (t *Tab) Fill(target Sel, text string) error {
	frame, in := SplitFrame(target)
	return t.fillIn(frame, in, text)
}

func (t *Tab) fillIn(frame, target Sel, text string) error {
	var r struct {
		OK bool `json:"ok"`
	}
	if err := t.EvalIn(frame, "act", map[string]any{"sel": target, "do": "focusClear"}, &r); err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("%w: %s could not be focused", ErrStepTarget, target)
	}
	return t.Step(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
		return err
	}))
}

// awaitSlice is how long one in-page wait lasts before it reports back, so
// that a navigation in between only costs a new evaluation.
const awaitSlice = 2 * time.Second

// Await runs a waiting op of page.js until it reports ok or total has
// passed, across page loads (an evaluation cut short by a navigation is
// simply run again in the new page). out receives the last report.
func (t *Tab) Await(op string, args map[string]any, total time.Duration, out any, opts ...chromedp.EvaluateOption) error {
	return t.await(nil, op, args, total, out, opts...)
}

func (t *Tab) await(frame Sel, op string, args map[string]any, total time.Duration, out any, opts ...chromedp.EvaluateOption) error {
	deadline := time.Now().Add(total)
	var lastErr error
	for {
		left := time.Until(deadline)
		slice := min(left, awaitSlice)
		if slice < 0 {
			slice = 0
		}
		args["ms"] = slice.Milliseconds()
		raw, err := t.evalRawIn(frame, op, args, slice+t.b.o.StepTimeout, append(opts, chromedp.EvalAwaitPromise)...)
		switch {
		case err == nil:
			var probe struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			}
			if json.Unmarshal(raw, &probe) == nil && probe.Error != "" {
				return fmt.Errorf("%w: page script: %s", t.b.o.ErrScript, probe.Error)
			}
			if err := json.Unmarshal(raw, out); err != nil {
				return err
			}
			if probe.OK || left <= 0 {
				return nil
			}
		case t.IsDead():
			return ErrTabDead
		case t.ctx.Err() != nil:
			return t.ctx.Err()
		case IsNavigationErr(err) || (!frame.Empty() && isFrameWait(err)):
			lastErr = err
			// The page is being replaced: wait for it, briefly.
			select {
			case <-t.loads:
			case <-time.After(50 * time.Millisecond):
			case <-t.ctx.Done():
				return t.ctx.Err()
			}
		default:
			return err
		}
		if time.Now().After(deadline) {
			if lastErr != nil {
				return lastErr
			}
			return json.Unmarshal(raw, out)
		}
	}
}

// IsNavigationErr tells an evaluation lost to a page being replaced.
func IsNavigationErr(err error) bool {
	s := err.Error()
	for _, m := range []string{"Execution context was destroyed", "Cannot find context", "Inspected target navigated", "uniqueContextId not found", "context canceled"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// ArmDialog makes the next JS dialog in t be answered how ("accept" or
// "dismiss"), before the click that opens it: a dialog blocks the page, and
// the click with it, until it is answered.
func (t *Tab) ArmDialog(how string) {
	t.dialogMu.Lock()
	t.armed = how
	t.dialogMu.Unlock()
}

// Duration is a time.Duration written as "90s" in a profile.
type Duration time.Duration

// UnmarshalJSON reads "90s", "2m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`a duration is a string such as "90s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("bad duration %q", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
