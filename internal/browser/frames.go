package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// Frames. A portal may show its file list (or a form) inside an <iframe>,
// on its own origin or on another site. page.js cannot reach into a frame
// of another origin, so the engine runs its ops in the frame's own
// document instead: EvalIn and AwaitIn take the selector of the <iframe>
// element in the top page. The frame is found through the protocol
// (DOM.describeNode gives the element's content frame), then
//   - a frame in the page's own process (same origin, or another site when
//     site isolation keeps it there) gets an isolated world of ours
//     (Page.createIsolatedWorld), and ops are evaluated in it;
//   - a frame in a process of its own (another site: Chrome's default) is a
//     target of type "iframe", which the engine attaches to (CDP target
//     attachment) and evaluates in.
//
// Either way the op sees the frame's DOM as the page's scripts do, and
// clicks it makes are the frame's. The frame is looked up again when the
// frame navigates (its context is gone), so a list that pages inside the
// frame is followed.

// ErrNoFrame means the iframe a selector names is not (yet) in the page.
var ErrNoFrame = errors.New("frame not found")

// frameWorld is the name of the isolated world the engine makes in a frame.
const frameWorld = "seftbot-frame"

// frameCtx is where an op for one frame runs: the tab's own target with
// an execution context, or an attached iframe target (context 0: its main
// world).
type frameCtx struct {
	id        cdp.FrameID
	ctx       context.Context
	cancel    context.CancelFunc // for an attached target; nil otherwise
	contextID runtime.ExecutionContextID
}

// frameOf finds the frame that the <iframe> element sel (in the top page)
// holds, reusing what an earlier call made for it.
func (t *Tab) frameOf(ctx context.Context, sel Sel) (*frameCtx, error) {
	expr, err := t.Expr("find", map[string]any{"sel": sel})
	if err != nil {
		return nil, err
	}
	var id cdp.FrameID
	err = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		r, err := cdp.Call(ctx, tg, runtime.Evaluate, runtime.EvaluateParams{Expression: expr, ObjectGroup: frameWorld})
		if err != nil {
			return err
		}
		defer cdp.Call(ctx, tg, runtime.ReleaseObjectGroup, runtime.ReleaseObjectGroupParams{ObjectGroup: frameWorld})
		if r.ExceptionDetails != nil {
			return fmt.Errorf("%w: %s", t.b.o.ErrScript, r.ExceptionDetails.Text)
		}
		if r.Result == nil || r.Result.ObjectID == "" {
			return fmt.Errorf("%w: no iframe matches %s", ErrNoFrame, sel)
		}
		n, err := cdp.Call(ctx, tg, dom.DescribeNode, dom.DescribeNodeParams{ObjectID: r.Result.ObjectID})
		if err != nil {
			return err
		}
		if n.Node == nil || n.Node.FrameID == "" {
			return fmt.Errorf("%w: %s is not a frame with a document yet", ErrNoFrame, sel)
		}
		id = n.Node.FrameID
		return nil
	}))
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	fc := t.frames[id]
	t.mu.Unlock()
	if fc != nil {
		return fc, nil
	}
	fc = &frameCtx{id: id, ctx: t.alive}
	// In the page's process: an isolated world of ours in the frame.
	err = chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		r, err := cdp.Call(ctx, tg, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{FrameID: id, WorldName: frameWorld})
		if err != nil {
			return err
		}
		fc.contextID = r.ExecutionContextID
		return nil
	}))
	if err != nil {
		// In a process of its own: attach to the frame's target. Chrome
		// gives an out-of-process frame's target the frame's ID.
		fctx, cancel := chromedp.NewContext(t.ctx, chromedp.WithTargetID(target.ID(id)), chromedp.WithDetachOnCancel())
		attached := make(chan error, 1)
		go func() { attached <- chromedp.Do(fctx) }()
		select {
		case aerr := <-attached:
			if aerr != nil {
				cancel()
				return nil, fmt.Errorf("%w: frame %s: neither in the page (%v) nor a target of its own (%v)", ErrNoFrame, sel, err, aerr)
			}
		case <-ctx.Done():
			cancel()
			return nil, ctx.Err()
		}
		fc.ctx, fc.cancel = fctx, cancel
		t.b.o.Log.Debug("frame runs in a process of its own: attached to its target", "frame", sel.String())
	}
	t.mu.Lock()
	if old := t.frames[id]; old != nil { // another goroutine was first
		t.mu.Unlock()
		if fc.cancel != nil {
			fc.cancel()
		}
		return old, nil
	}
	if t.frames == nil {
		t.frames = map[cdp.FrameID]*frameCtx{}
	}
	t.frames[id] = fc
	t.mu.Unlock()
	return fc, nil
}

// forgetFrame drops a frame whose document went away (it navigated).
func (t *Tab) forgetFrame(fc *frameCtx) {
	t.mu.Lock()
	if t.frames[fc.id] == fc {
		delete(t.frames, fc.id)
	}
	t.mu.Unlock()
	if fc.cancel != nil {
		fc.cancel()
	}
}

// closeFrames detaches from every frame target, when the tab closes.
func (t *Tab) closeFrames() {
	t.mu.Lock()
	fs := t.frames
	t.frames = nil
	t.mu.Unlock()
	for _, fc := range fs {
		if fc.cancel != nil {
			fc.cancel()
		}
	}
}

// EvalIn runs one op of page.js in the document of the iframe that frame
// finds in the top page (the top page itself when frame is empty).
func (t *Tab) EvalIn(frame Sel, op string, args any, out any, opts ...chromedp.EvaluateOption) error {
	raw, err := t.evalRawIn(frame, op, args, t.b.o.StepTimeout, opts...)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// AwaitIn is Await in the document of the iframe that frame finds. A
// frame not there yet, or navigating, is waited for like a page load.
func (t *Tab) AwaitIn(frame Sel, op string, args map[string]any, total time.Duration, out any, opts ...chromedp.EvaluateOption) error {
	return t.await(frame, op, args, total, out, opts...)
}

func (t *Tab) evalRawIn(frame Sel, op string, args any, timeout time.Duration, opts ...chromedp.EvaluateOption) ([]byte, error) {
	if frame.Empty() {
		return t.EvalRaw(op, args, timeout, opts...)
	}
	expr, err := t.Expr(op, args)
	if err != nil {
		return nil, err
	}
	return t.EvalExprIn(frame, expr, timeout, opts...)
}

// EvalExprIn evaluates a JavaScript expression (a caller's own reading
// script, e.g. probe's) in the document of the iframe that frame finds,
// and returns its JSON value.
func (t *Tab) EvalExprIn(frame Sel, expr string, timeout time.Duration, opts ...chromedp.EvaluateOption) ([]byte, error) {
	ctx, cancel := context.WithTimeout(t.alive, timeout)
	defer cancel()
	fc, err := t.frameOf(ctx, frame)
	if err != nil {
		return nil, err
	}
	if fc.contextID != 0 {
		id := fc.contextID
		opts = append(opts, func(p *runtime.EvaluateParams) { p.ContextID = id })
	}
	rctx, rcancel := context.WithTimeout(fc.ctx, timeout)
	defer rcancel()
	stop := context.AfterFunc(ctx, rcancel) // the tab's death ends it too
	defer stop()
	raw, err := chromedp.Run(rctx, chromedp.Evaluate[[]byte](expr, opts...))
	if err != nil && (IsNavigationErr(err) || strings.Contains(err.Error(), "No target with given id")) {
		t.forgetFrame(fc) // the frame's document is gone: find it again next time
	}
	return raw, err
}

// setFileIn sets the file input that sel finds in frame's document to the
// file at path (DOM.setFileInputFiles on the element, in the frame's own
// target when it has one).
func (t *Tab) setFileIn(frame, sel Sel, path string) error {
	expr, err := t.Expr("find", map[string]any{"sel": sel})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(t.alive, t.b.o.StepTimeout)
	defer cancel()
	fc, err := t.frameOf(ctx, frame)
	if err != nil {
		return err
	}
	rctx, rcancel := context.WithTimeout(fc.ctx, t.b.o.StepTimeout)
	defer rcancel()
	stop := context.AfterFunc(ctx, rcancel)
	defer stop()
	return chromedp.Do(rctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		r, err := cdp.Call(ctx, tg, runtime.Evaluate, runtime.EvaluateParams{Expression: expr, ContextID: fc.contextID, ObjectGroup: frameWorld})
		if err != nil {
			return err
		}
		defer cdp.Call(ctx, tg, runtime.ReleaseObjectGroup, runtime.ReleaseObjectGroupParams{ObjectGroup: frameWorld})
		if r.ExceptionDetails != nil || r.Result == nil || r.Result.ObjectID == "" {
			return fmt.Errorf("%w: no file input %s in the frame %s", ErrStepTarget, sel, frame)
		}
		_, err = cdp.Call(ctx, tg, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: []string{path}, ObjectID: r.Result.ObjectID})
		return err
	}))
}

// FrameOffset is where the top-left of the iframe's content lies in the
// top page's viewport: a point page.js reports inside the frame plus this
// is where a mouse click lands on it.
func (t *Tab) FrameOffset(frame Sel) (x, y float64, err error) {
	var r struct {
		OK bool    `json:"ok"`
		X  float64 `json:"x"`
		Y  float64 `json:"y"`
	}
	if err := t.Eval("frameOffset", map[string]any{"sel": frame}, &r); err != nil {
		return 0, 0, err
	}
	if !r.OK {
		return 0, 0, fmt.Errorf("%w: no iframe matches %s", ErrNoFrame, frame)
	}
	return r.X, r.Y, nil
}

// SplitFrame splits a target whose every alternative reads
// "frame=IFRAME >> INNER", with one IFRAME, into the frame and the inner
// selectors; any other target comes back as it is, with no frame.
func SplitFrame(s Sel) (frame, inner Sel) {
	var f string
	for _, alt := range s {
		fr, in, ok := cutFrame(alt)
		if !ok || (f != "" && fr != f) {
			return nil, s
		}
		f = fr
		inner = append(inner, in)
	}
	if f == "" {
		return nil, s
	}
	return Sel{f}, inner
}

// cutFrame splits "frame=IFRAME >> INNER".
func cutFrame(sel string) (frame, inner string, ok bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(sel), "frame=")
	if !ok {
		return "", "", false
	}
	frame, inner, ok = strings.Cut(rest, " >> ")
	frame, inner = strings.TrimSpace(frame), strings.TrimSpace(inner)
	return frame, inner, ok && frame != "" && inner != ""
}

// isFrameWait tells an error worth waiting out in AwaitIn: the frame is not
// there yet, or its document is being replaced.
func isFrameWait(err error) bool {
	return errors.Is(err, ErrNoFrame) || strings.Contains(err.Error(), "No target with given id") ||
		strings.Contains(err.Error(), "No frame for given id")
}
