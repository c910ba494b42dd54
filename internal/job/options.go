package job

import (
	"fmt"
	"time"

	"github.com/isaric/seftbot/internal/archive"
	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/notify"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/relay"
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/usererr"
)

// OptionsFromSource resolves everything a fetch needs from configuration,
// failing early, before any browser starts, on anything missing or wrong.
func OptionsFromSource(src *config.Source) (Options, error) {
	var o Options
	o.PassphraseDelivery = src.Get("SEFTBOT_PASSPHRASE_DELIVERY")
	if o.PassphraseDelivery != "smtp" && o.PassphraseDelivery != "file" {
		return o, usererr.Errorf("set SEFTBOT_PASSPHRASE_DELIVERY to smtp or file",
			fmt.Sprintf("unknown passphrase delivery %q", o.PassphraseDelivery))
	}
	var err error
	if o.Portal, err = portal.OptionsFromSource(src, portal.SiteDownload); err != nil {
		return o, err
	}
	if o.Relay, err = relay.FromSource(src); err != nil {
		return o, err
	}
	o.MailConfigured = src.Get("SEFTBOT_SMTP_HOST") != ""
	if o.MailConfigured || o.PassphraseDelivery == "smtp" {
		if o.Mail, err = notify.FromSource(src); err != nil {
			return o, err
		}
	}
	if o.Passphrase, err = src.Secret("SEFTBOT_PASSPHRASE"); err != nil {
		return o, err
	}
	if o.Passphrase != "" {
		if err := archive.CheckPassphrase(o.Passphrase); err != nil {
			return o, err
		}
	}
	o.Secrets = []string{o.Portal.Password, o.Mail.Password, o.Relay.KeyPassphrase}
	// The mailbox's password and the OAuth client secret never reach a
	// report either (the mailbox stage's lines go into it).
	for _, k := range []string{"SEFTBOT_IMAP_PASSWORD", "SEFTBOT_OAUTH_CLIENT_SECRET"} {
		v, err := src.Secret(k)
		if err != nil {
			return o, err
		}
		o.Secrets = append(o.Secrets, v)
	}
	o.StateDir, o.StagingDir = staging.Dirs(src.Get("SEFTBOT_STATE_DIR"), src.Get("SEFTBOT_STAGING_DIR"))
	o.Project = src.Get("SEFTBOT_PROJECT_ID")
	o.ArchiveMethod = src.Get("SEFTBOT_ARCHIVE_METHOD")
	o.RetryWindow = DefaultRetryWindow
	if v := src.Get("SEFTBOT_RETRY_WINDOW"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 24*time.Hour {
			return o, usererr.Errorf("set SEFTBOT_RETRY_WINDOW to a duration such as 2h or 30m (0 = no retry, at most 24h)",
				fmt.Sprintf("bad SEFTBOT_RETRY_WINDOW %q", v))
		}
		o.RetryWindow = d
	}
	return o, nil
}
