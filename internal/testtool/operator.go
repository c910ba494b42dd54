package testtool

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// OperatorWait bounds each wait for an element: a page that never shows it
// fails the test instead of hanging it until the package's timeout (one
// such wait once hung a loaded full run for 26 minutes).
const OperatorWait = 60 * time.Second

// Operator drives a browser tab as a person would, for the recorder's
// tests: real mouse events at an element's centre, real key events, and
// typed text (Input.insertText). Ctx is a chromedp context on that tab.
type Operator struct {
	T   *testing.T
	Ctx context.Context
}

// Wait waits until css is visible, at most OperatorWait.
func (op Operator) Wait(css string) {
	op.T.Helper()
	ctx, cancel := context.WithTimeout(op.Ctx, OperatorWait)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitVisible(chromedp.CSS(css))); err != nil {
		op.T.Fatalf("wait for %s: %v", css, err)
	}
}

// Click waits for css to be visible and clicks its centre with the mouse.
func (op Operator) Click(css string) {
	op.T.Helper()
	op.Wait(css)
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`, css)
	pt, err := chromedp.Run(op.Ctx, chromedp.Evaluate[[]float64](js))
	if err != nil {
		op.T.Fatalf("find %s: %v", css, err)
	}
	if err := chromedp.Do(op.Ctx, chromedp.MouseClickXY(pt[0], pt[1])); err != nil {
		op.T.Fatalf("click %s: %v", css, err)
	}
}

// TypeInto clicks a field and types text into it.
func (op Operator) TypeInto(css, text string) {
	op.T.Helper()
	op.Click(css)
	op.TypeText(text)
}

// TypeText types text where the focus is.
func (op Operator) TypeText(text string) {
	op.T.Helper()
	if err := chromedp.Do(op.Ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})); err != nil {
		op.T.Fatal(err)
	}
}

// Press presses a key (Enter, Tab) where the focus is, as a keyboard does:
// key down, char, key up (Input.dispatchKeyEvent).
func (op Operator) Press(key string) {
	op.T.Helper()
	if err := chromedp.Do(op.Ctx, chromedp.KeyEvent(key)); err != nil {
		op.T.Fatalf("press %q: %v", key, err)
	}
}
