package cli

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/mailauth"
	"github.com/isaric/seftbot/internal/usererr"
)

// mailStatusOptions holds the flags of seftbot mail status.
type mailStatusOptions struct{ *globalOptions }

func newMailStatusCmd(g *globalOptions) *cobra.Command {
	o := &mailStatusOptions{g}
	return &cobra.Command{
		Use:   "status",
		Short: "Show the OAuth 2.0 set-up: which flow, which account, when the stored sign-in was made and its token expires (never a token)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runMailStatus(o) },
	}
}

// runMailStatus reads the configuration and the stored sign-in only: it
// asks no server, so it is safe to run at any time.
func runMailStatus(o *mailStatusOptions) error {
	src := o.src
	smtp, imap := src.Get("SEFTBOT_SMTP_AUTH") == "xoauth2", src.Get("SEFTBOT_IMAP_HOST") != "" && src.Get("SEFTBOT_IMAP_AUTH") == "xoauth2"
	if !smtp && !imap {
		fmt.Fprintln(o.stdout, "OAuth 2.0: not used (SEFTBOT_SMTP_AUTH and SEFTBOT_IMAP_AUTH are not xoauth2)")
		return nil
	}
	cfg, err := mailauth.FromSource(src)
	if err != nil {
		return err
	}
	u, _ := url.Parse(cfg.TokenURL)
	w := o.stdout
	fmt.Fprintf(w, "flow:          %s\n", cfg.Flow)
	fmt.Fprintf(w, "client:        %s at %s%s\n", cfg.ClientID, u.Host, u.Path)
	var used []string
	if smtp {
		used = append(used, "SMTP as "+orUnset(src.Get("SEFTBOT_SMTP_USER")))
	}
	if imap {
		used = append(used, "IMAP as "+orUnset(src.Get("SEFTBOT_IMAP_USER")))
	}
	fmt.Fprintf(w, "account:       %s\n", strings.Join(used, "; "))
	if cfg.Flow != mailauth.FlowDevice {
		fmt.Fprintln(w, "sign-in:       none needed: each run gets a token with the app registration's credential")
		return nil
	}
	// Without a usable sign-in a run would exit with the token's code;
	// status exits with it too.
	si, err := mailauth.Stored(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", mailauth.ErrToken, err)
	}
	now := clock()
	fmt.Fprintf(w, "sign-in:       %s (mode 0600), made %s\n", si.File, si.SignedIn.UTC().Format(time.RFC3339))
	switch {
	case si.Expiry.IsZero():
		fmt.Fprintln(w, "access token:  none cached; the next run gets one with the stored sign-in")
	case now.Before(si.Expiry):
		fmt.Fprintf(w, "access token:  expires %s (in %s); then renewed with the stored sign-in\n",
			si.Expiry.UTC().Format(time.RFC3339), si.Expiry.Sub(now).Round(time.Minute))
	default:
		fmt.Fprintf(w, "access token:  expired %s; the next run renews it with the stored sign-in\n", si.Expiry.UTC().Format(time.RFC3339))
	}
	if !si.Matches {
		return fmt.Errorf("%w: %w", mailauth.ErrToken,
			usererr.Errorf("run seftbot mail login again", "the stored sign-in was made for another token URL or client ID; a run would refuse it"))
	}
	return nil
}

// mailLogoutOptions holds the flags of seftbot mail logout.
type mailLogoutOptions struct{ *globalOptions }

func newMailLogoutCmd(g *globalOptions) *cobra.Command {
	o := &mailLogoutOptions{g}
	return &cobra.Command{
		Use:   "logout",
		Short: "Remove the stored sign-in (device flow); runs then send and read no mail over OAuth until seftbot mail login",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runMailLogout(o) },
	}
}

func runMailLogout(o *mailLogoutOptions) error {
	stateDir := o.src.Get("SEFTBOT_STATE_DIR")
	if stateDir == "" {
		return usererr.Errorf("set SEFTBOT_STATE_DIR", "no state directory configured")
	}
	removed, err := mailauth.Logout(stateDir)
	if err != nil {
		return err
	}
	if !removed {
		fmt.Fprintln(o.stdout, "no stored sign-in; nothing removed")
		return nil
	}
	fmt.Fprintln(o.stdout, "stored sign-in removed; to end it at Microsoft too, revoke the user's sessions in Entra ID")
	return nil
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}
