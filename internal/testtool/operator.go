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
		op.T.Fatalf("wait for %s: %v (the tab shows %s)", css, err, op.where())
	}
}

// where says which page the tab shows and where the focus is, for a
// failed wait: never field values.
func (op Operator) where() string {
	ctx, cancel := context.WithTimeout(op.Ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + " (" + document.readyState + "), focus on " + (document.activeElement ? document.activeElement.tagName + "#" + document.activeElement.id : "nothing") + ", inputs " + [...document.querySelectorAll("input")].map((i) => i.id + ":" + i.value.length).join(" ") + ", loaded " + Math.round(performance.now()) + " ms ago by " + (performance.getEntriesByType("navigation")[0] || {}).type + ", history " + history.length + ", referrer " + document.referrer`))
	if err != nil {
		return "nothing readable: " + err.Error()
	}
	return s
}

// Click waits for css to be visible on a page that has finished loading
// and clicks its centre with the mouse. A click the element did not get
// (a fresh Xvfb window sometimes loses the first mouse event; a browser
// popup such as a field's suggestions can take it), or that left a field
// without the cursor, is clicked again, as a person would.
func (op Operator) Click(css string) {
	op.T.Helper()
	for try := 1; ; try++ {
		op.Wait(css)
		ctx, cancel := context.WithTimeout(op.Ctx, OperatorWait)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.readyState === "complete"`, chromedp.WithPollingTimeout(OperatorWait)))
		cancel()
		if err != nil {
			op.T.Fatalf("page with %s never finished loading: %v (the tab shows %s)", css, err, op.where())
		}
		// A one-time listener tells whether the mouse reached the element.
		js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: 'center'}); window.__operatorHit = false;
  e.addEventListener('mousedown', () => { window.__operatorHit = true; }, {once: true, capture: true});
  const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2, e.matches("input,textarea,select") ? 1 : 0]; })()`, css)
		pt, err := chromedp.Run(op.Ctx, chromedp.Evaluate[[]float64](js))
		if err != nil {
			op.T.Fatalf("find %s: %v", css, err)
		}
		if err := chromedp.Do(op.Ctx, chromedp.MouseClickXY(pt[0], pt[1])); err != nil {
			op.T.Fatalf("click %s: %v", css, err)
		}
		// The flag lives in the page's main world, where Evaluate runs
		// (chromedp's Poll runs elsewhere).
		// A page without the flag is another page: the click led there.
		check := `window.__operatorHit === true`
		if pt[2] == 1 {
			check += fmt.Sprintf(` && document.activeElement === document.querySelector(%q)`, css)
		}
		check = `window.__operatorHit === undefined || (` + check + `)`
		landed := Poll(2*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(op.Ctx, 5*time.Second)
			defer cancel()
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](check))
			return ok || err != nil // an error: the click led to another page
		})
		if landed {
			return
		}
		if try == 5 {
			op.T.Fatalf("clicking %s did not reach it, 5 times (the tab shows %s)", css, op.where())
		}
		op.T.Logf("clicking %s did not reach it (the tab shows %s); clicking again", css, op.where())
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
