package portal

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/isaric/seftbot/internal/retry"
	"github.com/isaric/seftbot/internal/usererr"
)

// Sign-in outcomes, as site.js classifies the page after the password.
const (
	outSignedIn        = "signed_in"
	outRefused         = "refused"
	outLocked          = "locked"
	outPasswordExpired = "password_expired"
	outTransient       = "transient"
	outExpired         = "expired_session"
	outContinue        = "continue"     // a later step's element is ready
	outInterstitial    = "interstitial" // a notice the steps after the password deal with
	outUnknown         = ""
)

// defaultOutcomeTimeout is how long the answer to a password may take: a
// login answer from a busy portal can take a minute or more.
const defaultOutcomeTimeout = 2 * time.Minute

// login signs in within tab t. The password is sent at most once per
// attempt, and another attempt is made only after a recognised transient
// page or session expiry (or before the password was sent at all). A
// refusal, a locked account, an expired password or an unrecognised answer
// is latched in the state directory, so no later run sends it again.
func (b *browserRun) login(t *tab) error { return b.signIn(t, b.o.pagePolicy()) }

// signIn is login under policy p: what it retries is a transient page or
// step (errTransient), never a refusal or an unknown outcome.
func (b *browserRun) signIn(t *tab, p retry.Policy) error {
	o := b.o
	if err := checkLatch(o); err != nil {
		return err
	}
	if err := b.checkSelectors(t); err != nil {
		return err
	}
	p.Retryable = func(err error) bool { return errors.Is(err, errTransient) }
	err := p.Do(t.Ctx(), func(int) error { return b.loginOnce(t) }, func(attempt int, err error, _ time.Duration) {
		o.Log.Warn("sign-in did not complete, will retry", "site", o.Site, "attempt", attempt, "err", err)
	})
	switch {
	case err == nil:
		o.Log.Info("signed in", "site", o.Site)
		b.KeepDebug(t, "login", nil)
		return nil
	case p.Attempts > 1 && errors.Is(err, errTransient) && t.Ctx().Err() == nil:
		return fmt.Errorf("%w: could not sign in to the %s site after %d attempts: %w", ErrPortal, o.Site, p.Attempts, err)
	}
	return err
}

// checkSelectors has the browser parse every CSS and XPath selector of the
// profile once per run, before anything is sent: a typo is a configuration
// error naming its field, not a failure at 2 a.m. that looks transient.
func (b *browserRun) checkSelectors(t *tab) error {
	b.selOnce.Do(func() {
		var bad map[string]string
		if err := t.Eval("validate", map[string]any{"sels": b.o.Profile.Selectors()}, &bad); err != nil {
			b.selErr = fmt.Errorf("%w: check the profile's selectors: %w", errTransient, err)
			return
		}
		if len(bad) > 0 {
			var msgs []string
			for k, v := range bad {
				msgs = append(msgs, k+": "+v)
			}
			slices.Sort(msgs)
			b.selErr = usererr.New(fmt.Errorf("%w: selectors the browser cannot read: %s", ErrProfile, strings.Join(msgs, "; ")),
				"fix them in the site profile (see docs/site-profile.md, Selectors)")
		}
	})
	return b.selErr
}

// errTransient marks a page or step worth trying again.
var errTransient = errors.New("transient portal failure")

// loginOnce runs the login steps once. Before the password is sent, any
// trouble is transient or a profile mismatch; after it, only the outcome
// decides.
func (b *browserRun) loginOnce(t *tab) error {
	p := b.o.Profile
	if err := navigate(t, b.o.siteURL(p.Login.Path)); err != nil {
		if errors.Is(err, ErrCertificate) {
			return fmt.Errorf("open login page: %w", err) // not transient: nothing to wait for
		}
		return fmt.Errorf("%w: open login page: %w", errTransient, err)
	}
	steps := p.Login.Steps
	send := secretStep(steps)
	// Wait for the sign-in page, or a page that says we are signed in. A
	// portal may remember the first steps (the account name) and show a
	// later one: the steps go on from the first whose element is ready.
	var firsts []Sel
	for _, s := range steps[:send+1] {
		firsts = append(firsts, s.Target())
	}
	var r struct {
		Outcome string    `json:"outcome"`
		State   pageState `json:"state"`
		Which   int       `json:"which"`
	}
	if err := t.Await("outcome", map[string]any{"next": firsts, "loginPage": true}, b.o.StepTimeout, &r); err != nil {
		return fmt.Errorf("%w: read login page: %w", errTransient, err)
	}
	switch r.Outcome {
	case outSignedIn, outInterstitial:
		return b.afterSignIn(t, steps[send+1:]) // the session is still good
	case outContinue:
	case outTransient, outExpired:
		return fmt.Errorf("%w: login page not shown (%s)", errTransient, describe(r.State))
	case outRefused, outLocked, outPasswordExpired:
		// Said before any password was sent in this attempt: nothing to latch.
		return fmt.Errorf("%w: the %s site's login page says %q before anything was sent", ErrLoginRejected, b.o.Site,
			r.State.Refused+r.State.Locked+r.State.PwExpired)
	default:
		return fmt.Errorf("%w: the login page shows neither the first step's element %s nor a signed-in marker (%s); run seftbot probe",
			ErrProfile, steps[0].Target(), describe(r.State))
	}
	v := stepVars{User: b.o.User, Password: b.o.Password}
	for i := max(r.Which, 0); i < send; i++ {
		if err := b.wouldSendEmpty(t, steps, i); err != nil {
			return err
		}
		if _, err := b.RunStep(t, fmt.Sprintf("login.steps[%d]", i), steps[i], v); err != nil {
			return b.stepErr(err)
		}
	}
	// From here on the password may have left: never retried unless the
	// portal says something we recognise.
	if err := b.allowSecret(); err != nil {
		return err
	}
	field := fmt.Sprintf("login.steps[%d]", send)
	if _, err := b.RunStep(t, field, steps[send], v); err != nil {
		if errors.Is(err, errStepTarget) {
			// The button never became ready: nothing was sent.
			b.secretDone(outTransient)
			return fmt.Errorf("%w: %w", ErrProfile, err)
		}
		b.o.Log.Warn("sending the password did not complete cleanly; watching for the answer", "site", b.o.Site, "err", err)
	}
	var next []Sel
	for _, s := range steps[send+1:] {
		if tg := s.Target(); tg != nil {
			next = append(next, tg)
		}
	}
	timeout := time.Duration(p.Login.OutcomeTimeout)
	if timeout <= 0 {
		timeout = defaultOutcomeTimeout
	}
	r.Outcome, r.State = "", pageState{}
	err := t.Await("outcome", map[string]any{"next": next}, timeout, &r)
	if err != nil && (t.IsDead() || t.Ctx().Err() != nil) {
		return b.latch(LatchUnknown, "the browser went away while waiting for the answer to the password", err)
	}
	b.secretDone(r.Outcome)
	switch r.Outcome {
	case outSignedIn, outContinue, outInterstitial:
		return b.afterSignIn(t, steps[send+1:])
	case outRefused:
		return b.latch(LatchRefused, r.State.Refused, nil)
	case outLocked:
		return b.latch(LatchLocked, r.State.Locked, nil)
	case outPasswordExpired:
		return b.latch(LatchPasswordExpired, r.State.PwExpired, nil)
	case outTransient, outExpired:
		return fmt.Errorf("%w: after the password: %s", errTransient, describe(r.State))
	}
	why := fmt.Sprintf("after %s sent the password, for %s the page showed none of the profile's outcomes (%s)", p.SendingStep(), timeout, describe(r.State))
	return b.latch(LatchUnknown, why, err)
}

// afterSignIn runs the steps after the password (notices, terms, "Proceed":
// usually optional) and checks that a signed-in page follows.
func (b *browserRun) afterSignIn(t *tab, rest []Step) error {
	if rest == nil {
		steps := b.o.Profile.Login.Steps
		rest = steps[secretStep(steps)+1:]
	}
	base := len(b.o.Profile.Login.Steps) - len(rest)
	v := stepVars{User: b.o.User}
	for i, s := range rest {
		if s.With == "{password}" {
			return fmt.Errorf("%w: login.steps[%d]: a second password field after sign-in; seftbot never types into a password-change form", ErrProfile, base+i)
		}
		if _, err := b.RunStep(t, fmt.Sprintf("login.steps[%d]", base+i), s, v); err != nil {
			return b.stepErr(err)
		}
	}
	var r struct {
		Outcome string    `json:"outcome"`
		State   pageState `json:"state"`
	}
	if err := t.Await("outcome", map[string]any{"settle": len(rest) > 0}, b.o.StepTimeout, &r); err != nil {
		return fmt.Errorf("%w: %w", errTransient, err)
	}
	switch r.Outcome {
	case outSignedIn:
		return nil
	case outPasswordExpired:
		return b.latch(LatchPasswordExpired, r.State.PwExpired, nil)
	case outLocked:
		return b.latch(LatchLocked, r.State.Locked, nil)
	case outTransient, outInterstitial, outExpired:
		// The notice did not go away (its answer failed), or the session
		// ended meanwhile: try again.
		return fmt.Errorf("%w: after the steps that follow sign-in: %s", errTransient, describe(r.State))
	}
	return fmt.Errorf("%w: after signing in, the page shows no %s (%s); run seftbot probe",
		ErrProfile, b.o.Profile.Login.Outcomes.SignedIn, describe(r.State))
}

// wouldSendEmpty refuses step i, a key press or click ahead of the
// {password} fill, when the page shows the password field already and the
// step would submit its form: a one-page form whose Enter in the user
// name field (or whose submit button) goes before the password is typed
// sends an empty password, a failure counted towards locking the account.
// The loader cannot tell a one-page form from a two-step one; the page
// can.
func (b *browserRun) wouldSendEmpty(t *tab, steps []Step, i int) error {
	s := steps[i]
	if s.Press == "" && s.Click.Empty() {
		return nil
	}
	fill := -1
	for j := i + 1; j < len(steps); j++ {
		if steps[j].With == "{password}" && !steps[j].Fill.Empty() {
			fill = j
			break
		}
	}
	if fill < 0 {
		return nil
	}
	var r struct {
		Risky bool `json:"risky"`
	}
	args := map[string]any{"password": steps[fill].Fill}
	if s.Press != "" {
		args["in"] = s.In
	} else {
		args["click"] = s.Click
	}
	if err := t.Eval("submitsEmptyPassword", args, &r); err != nil {
		return fmt.Errorf("%w: read login page: %w", errTransient, err)
	}
	if !r.Risky {
		return nil
	}
	return usererr.New(fmt.Errorf("%w: login.steps[%d] (%s) would send the form that shows the password field before login.steps[%d] (%s) fills it: an empty password, a failed sign-in counted towards locking the account; nothing was sent",
		ErrProfile, i, s.Describe(), fill, steps[fill].Describe()), "put the key press or click after the {password} fill in the site profile")
}

// stepErr classifies a failed step before the password was sent.
func (b *browserRun) stepErr(err error) error {
	if errors.Is(err, errStepTarget) {
		return fmt.Errorf("%w: %w", ErrProfile, err)
	}
	if errors.Is(err, ErrProfile) || errors.Is(err, errTabDead) {
		return err
	}
	return fmt.Errorf("%w: %w", errTransient, err)
}

// secretGuard is the guard on sending the password, one per run: see
// allowSecret.
type secretGuard struct {
	mu              sync.Mutex
	sent, mayResend bool
	sends           int
}

// allowSecret is the guard on sending the password: once it was sent in
// this run, it may go again only if the last answer was recognised as a
// sign-in (later expired), a transient page, or an expired session.
func (b *browserRun) allowSecret() error {
	g := &b.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sent && !g.mayResend {
		return fmt.Errorf("%w: the password was already sent in this run without a recognised answer; not sending it again", ErrLoginUnknown)
	}
	g.sent, g.mayResend = true, false
	g.sends++
	return nil
}

func (b *browserRun) secretDone(outcome string) {
	g := &b.guard
	g.mu.Lock()
	defer g.mu.Unlock()
	switch outcome {
	case outSignedIn, outContinue, outInterstitial, outTransient, outExpired:
		g.mayResend = true
	}
}

// latch records why the password must not be sent again and returns the
// run's error.
func (b *browserRun) latch(kind, reason string, cause error) error {
	o := b.o
	l, err := setLatch(o.StateDir, o.Site, kind, reason, o.Password)
	if err != nil {
		o.Log.Error("could not record the login latch; do not run seftbot again before checking the account", "site", o.Site, "err", err)
		l = &Latch{Site: o.Site, Kind: kind, Reason: reason, At: time.Now().UTC()}
	}
	o.Log.Error("sign-in stopped; the password will not be sent again until the latch is lifted", "site", o.Site, "kind", kind)
	if kind == LatchUnknown {
		e := fmt.Errorf("%w: %s; not retrying, and no later run will send this password until you check the account by hand and run: seftbot login-latch lift --site %s",
			ErrLoginUnknown, l.Describe(), o.Site)
		if cause != nil {
			e = fmt.Errorf("%w (%v)", e, cause)
		}
		return latchedNow{kind, e}
	}
	return latchedNow{kind, fmt.Errorf("%w: %s; not retrying, because the portal locks accounts after a few failures", ErrLoginRejected, l.Describe())}
}

// latchedNow is the error of a run that sent the password and set the
// latch on the answer (kind), as opposed to one stopped by an old latch.
type latchedNow struct {
	kind string
	error
}

func (e latchedNow) Unwrap() error { return e.error }

// LatchedNow is the latch kind (LatchRefused, LatchUnknown, ...) that this
// run set after sending the password, or "" when err is not that.
func LatchedNow(err error) string {
	var l latchedNow
	if errors.As(err, &l) {
		return l.kind
	}
	return ""
}
