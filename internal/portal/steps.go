package portal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

// Where a list of steps is used, which decides what it may hold.
const (
	stepsLogin = iota
	stepsUpload
	stepsAfterClick
)

// action names the step's one action.
func (s Step) action() string {
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

// target is the element the step acts on, if any.
func (s Step) target() Sel {
	for _, t := range []Sel{s.Fill, s.Click, s.Check, s.Select, s.File, s.In, s.WaitFor} {
		if !t.Empty() {
			return t
		}
	}
	return nil
}

// describe is the step in words, for messages: "press Enter in #pw".
// A fill shows its placeholder only, never a value.
func (s Step) describe() string {
	switch a := s.action(); a {
	case "fill", "select":
		w := s.With
		if !strings.HasPrefix(w, "{") {
			w = "a value"
		}
		return fmt.Sprintf("%s %s with %s", a, s.target(), w)
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
		return fmt.Sprintf("%s %s", a, s.target())
	}
}

var keys = map[string]string{"enter": "\r", "tab": "\t", "escape": "\x1b", "space": " "}

func (s Step) check(field string, where int) error {
	act := s.action()
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
	case act == "press" && keys[strings.ToLower(s.Press)] == "":
		return fmt.Errorf("%s: press %q: use Enter, Tab, Escape or Space", field, s.Press)
	case act == "dialog" && s.Dialog != "accept" && s.Dialog != "dismiss":
		return fmt.Errorf("%s: dialog is accept or dismiss", field)
	case strings.HasPrefix(s.With, "{") && s.With != "{user}" && s.With != "{password}":
		return fmt.Errorf("%s: unknown placeholder %s ({user} or {password})", field, s.With)
	}
	if t := s.target(); t != nil {
		if err := t.check(); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
	}
	return nil
}

// secretStep is the index of the step that sends the password (login) or
// the file (upload): the one marked sends_secret, else the first click or
// key press after the last {password} fill or file step. -1 if none.
func secretStep(steps []Step) int {
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
		if a := steps[i].action(); a == "click" || a == "press" {
			return i
		}
	}
	return -1
}

// errStepTarget means a required step's element never became ready: the
// profile does not match the page.
var errStepTarget = errors.New("step target not ready")

// stepVars fill the placeholders; the password goes to the browser only.
type stepVars struct{ user, password, file string }

// runStep performs one step in tab t. field names it for errors and drift
// reports. ran is false when an optional step's target did not show up.
func (b *browserRun) runStep(t *tab, field string, s Step, v stepVars) (ran bool, err error) {
	wait := b.o.StepTimeout
	if s.Optional {
		wait = 3 * time.Second
		if s.Timeout > 0 {
			wait = time.Duration(s.Timeout)
		}
	}
	if err := t.pause(); err != nil {
		return false, err
	}
	act := s.action()
	switch act {
	case "dialog":
		t.armDialog(s.Dialog) // the next click's dialog is answered as it opens
		return true, nil
	case "wait":
		var r struct {
			OK bool `json:"ok"`
		}
		if err := t.await("waitCond", map[string]any{"sel": s.WaitFor, "text": s.WaitText, "url": s.WaitURL}, wait, &r); err != nil {
			return false, err
		}
		if !r.OK && !s.Optional {
			return false, fmt.Errorf("%w: %s: waited %s for %s", errStepTarget, field, wait, describeWait(s))
		}
		return r.OK, nil
	}
	need := map[string]string{"fill": "fill", "click": "click", "check": "visible", "select": "visible", "file": "attached", "press": "visible"}[act]
	target := s.target()
	var at located
	if target != nil {
		var err error
		if at, err = b.locate(t, field, target, need, wait); err != nil {
			return false, err
		}
		if !at.OK {
			if s.Optional {
				return false, nil
			}
			return false, fmt.Errorf("%w: %s: %s %s (%d found) after %s", errStepTarget, field, target, at.Why, at.Count, wait)
		}
		target = Sel{target[at.Alt]}
	}
	switch act {
	case "fill":
		text := s.With
		switch s.With {
		case "{user}":
			text = v.user
		case "{password}":
			text = v.password
		}
		return true, t.fill(target, text)
	case "click":
		return true, t.step(chromedp.MouseClickXY(at.X, at.Y))
	case "check", "select":
		var r struct {
			OK  bool   `json:"ok"`
			Why string `json:"why"`
		}
		if err := t.eval("act", map[string]any{"sel": target, "do": act, "value": s.With}, &r, asUserGesture); err != nil {
			return false, err
		}
		if !r.OK {
			return false, fmt.Errorf("%w: %s: could not %s %s: %s", errStepTarget, field, act, target, r.Why)
		}
		return true, nil
	case "press":
		if target != nil {
			if err := t.eval("act", map[string]any{"sel": target, "do": "focus"}, nil); err != nil {
				return false, err
			}
		}
		return true, t.step(chromedp.KeyEvent(keys[strings.ToLower(s.Press)]))
	case "file":
		expr, err := t.expr("find", map[string]any{"sel": target})
		if err != nil {
			return false, err
		}
		return true, t.step(chromedp.SetUploadFiles(chromedp.JSPath(expr), []string{v.file}))
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

// located is where page.js found a target ready.
type located struct {
	OK    bool    `json:"ok"`
	Why   string  `json:"why"`
	Alt   int     `json:"alt"`
	Count int     `json:"count"`
	X     float64 `json:"x"`
	Y     float64 `json:"y"`
}

// locate waits up to wait for target to be ready for need. When an
// alternative after the first was used, the run notes the drift.
func (b *browserRun) locate(t *tab, field string, target Sel, need string, wait time.Duration) (located, error) {
	var at located
	if err := t.await("locate", map[string]any{"sel": target, "need": need}, wait, &at); err != nil {
		return at, err
	}
	if at.OK {
		b.noteAlt(field, target, at.Alt)
	}
	if b.onLocate != nil {
		b.onLocate(t, field, target, at)
	}
	return at, nil
}

// noteAlt records that a selector other than a target's first matched.
func (b *browserRun) noteAlt(field string, target Sel, alt int) {
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
func (b *browserRun) Drift() map[string]string {
	b.driftMu.Lock()
	defer b.driftMu.Unlock()
	out := map[string]string{}
	for k, v := range b.drift {
		out[k] = v
	}
	return out
}

// driftWarnings says, for the run's report, which selectors drifted.
func (b *browserRun) driftWarnings() []string {
	var out []string
	for field, used := range b.Drift() {
		out = append(out, fmt.Sprintf("site profile %s: its first selector no longer matches; %q did: update the profile", field, used))
	}
	slices.Sort(out)
	return out
}

// fill focuses and empties a field and types text into it. The text may be
// a password: it goes to the browser only, never to a log.
func (t *tab) fill(target Sel, text string) error {
	var r struct {
		OK bool `json:"ok"`
	}
	if err := t.eval("act", map[string]any{"sel": target, "do": "focusClear"}, &r); err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("%w: %s could not be focused", errStepTarget, target)
	}
	return t.step(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
		return err
	}))
}

// awaitSlice is how long one in-page wait lasts before it reports back, so
// that a navigation in between only costs a new evaluation.
const awaitSlice = 2 * time.Second

// await runs a waiting op of page.js until it reports ok or total has
// passed, across page loads (an evaluation cut short by a navigation is
// simply run again in the new page). out receives the last report.
func (t *tab) await(op string, args map[string]any, total time.Duration, out any, opts ...chromedp.EvaluateOption) error {
	deadline := time.Now().Add(total)
	var lastErr error
	for {
		left := time.Until(deadline)
		slice := min(left, awaitSlice)
		if slice < 0 {
			slice = 0
		}
		args["ms"] = slice.Milliseconds()
		raw, err := t.evalRaw(op, args, slice+t.b.o.StepTimeout, append(opts, chromedp.EvalAwaitPromise)...)
		switch {
		case err == nil:
			var probe struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			}
			if json.Unmarshal(raw, &probe) == nil && probe.Error != "" {
				return fmt.Errorf("%w: page script: %s", ErrProfile, probe.Error)
			}
			if err := json.Unmarshal(raw, out); err != nil {
				return err
			}
			if probe.OK || left <= 0 {
				return nil
			}
		case t.isDead():
			return errTabDead
		case t.ctx.Err() != nil:
			return t.ctx.Err()
		case isNavigationErr(err):
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

// isNavigationErr tells an evaluation lost to a page being replaced.
func isNavigationErr(err error) bool {
	s := err.Error()
	for _, m := range []string{"Execution context was destroyed", "Cannot find context", "Inspected target navigated", "uniqueContextId not found", "context canceled"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return errors.Is(err, context.DeadlineExceeded)
}

// armDialog makes the next JS dialog in t be answered how ("accept" or
// "dismiss"), before the click that opens it: a dialog blocks the page, and
// the click with it, until it is answered.
func (t *tab) armDialog(how string) {
	t.dialogMu.Lock()
	t.armed = how
	t.dialogMu.Unlock()
}
