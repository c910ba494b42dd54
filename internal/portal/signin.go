package portal

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

// SignInPage is what a site's sign-in page shows a browser that types
// nothing: doctor's portal check. It is read in Chromium with a run's trust
// (CA file, pin) and once the page has said what it is, so a maintenance
// notice a script draws after the load counts as much as a served one.
type SignInPage struct {
	URL       string // the page, without its query
	Status    int    // the page's HTTP status; 0 when the browser does not say
	LoginForm bool   // the login's first step found its target
	Transient string // one of the profile's transient texts, shown
}

// ReadSignInPage opens o's sign-in page and reads it; nothing is typed or
// sent, so no password and no latch are involved.
func ReadSignInPage(ctx context.Context, o Options) (*SignInPage, error) {
	if o.Profile == nil {
		o.Profile = DefaultProfile()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 30 * time.Second
	}
	b, err := startBrowser(ctx, &o, "")
	if err != nil {
		return nil, err
	}
	defer b.Close()
	t, err := b.NewTab(true)
	if err != nil {
		return nil, err
	}
	page := o.siteURL(o.Profile.Login.Path)
	res := &SignInPage{URL: page}
	if u, err := url.Parse(page); err == nil {
		u.RawQuery = ""
		res.URL = u.String()
	}
	if err := navigate(t, page); err != nil {
		return res, fmt.Errorf("%w: open the sign-in page: %w", ErrPortal, err)
	}
	var v struct {
		State  pageState `json:"state"`
		Status int       `json:"status"`
	}
	if err := t.Await("pageSays", map[string]any{}, o.StepTimeout, &v); err != nil {
		return res, fmt.Errorf("%w: read the sign-in page: %w", ErrPortal, err)
	}
	res.Status, res.LoginForm, res.Transient = v.Status, v.State.LoginForm, v.State.Transient
	return res, nil
}
