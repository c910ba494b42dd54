// Command seftsim runs the simulated SEFT portal, SFTP drop and SMTP server
// that seftbot is tested against. It only parses flags; internal/sim does
// the work. See docs/seftsim.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/isaric/seftbot/internal/sim"
	"github.com/isaric/seftbot/internal/sim/oauthsrv"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o sim.Options
	var debug bool
	fs := flag.NewFlagSet("seftsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Dir, "dir", "", "directory for everything seftsim writes (required)")
	fs.IntVar(&o.Files, "files", sim.DefaultFiles, "files in the first batch")
	fs.Int64Var(&o.FileSize, "file-size", sim.DefaultFileSize, "mean file size in bytes (each file varies by up to 25%)")
	fs.Int64Var(&o.Seed, "seed", 1, "seed of file content, sizes and faults")
	fs.StringVar(&o.ProjectID, "project-id", sim.DefaultProjectID, "NHS England project ID")
	fs.StringVar(&o.Markup, "markup", "v1", "portal markup: v1, v2, v3 (a single-page app) or v4 (interstitial, prepared and expired rows)")
	fs.StringVar(&o.Paging, "paging", "", "v3 file list paging: append (a Show more button, the default) or inplace (Older/Newer)")
	fs.DurationVar(&o.V4.InterstitialDelay, "v4-interstitial-delay", 0, "v4: the interstitial page starts the file after this (default 2s)")
	fs.IntVar(&o.V4.PrepareEvery, "v4-prepare-every", 0, "v4: every n-th file must be requested and prepared first (0: none)")
	fs.IntVar(&o.V4.ExpiredEvery, "v4-expired-every", 0, "v4: every n-th file is listed as expired, with no control (0: none)")
	fs.DurationVar(&o.V4.PrepareTime, "v4-prepare-time", 0, "v4: how long preparing a file takes (default 1-3s at random)")
	fs.DurationVar(&o.V4.LinkLifetime, "v4-link-lifetime", 0, "v4: how long a prepared one-time link works (default 1m)")
	fs.IntVar(&o.V4.SwapTwins, "v4-swap-twins", 0, "v4 fault: the next n listings swap the links of files 1 and 2, which have the same size")
	fs.IntVar(&o.V4.SpoilLinks, "v4-spoil-links", 0, "v4 fault: the next n prepared links are answered as expired when used")
	fs.StringVar(&o.V4.Frame, "v4-frame", "", "v4: the file list inside an iframe: same (same origin) or cross (another site, on host localhost)")
	fs.BoolVar(&o.V4.IdP, "v4-idp", false, "v4: sign in through an identity provider on another site (host localhost): e-mail, password, stay signed in?, cookie banner")
	fs.BoolVar(&o.HostileNames, "hostile-names", false, "also offer files with hostile names (../x.csv, a/b.csv, ...)")
	fs.BoolVar(&o.BenchDirect, "bench-direct", false, "enable GET /download/direct/<id> without a token (benchmarks only)")
	fs.BoolVar(&o.HTTP, "http", false, "serve the portal over plain HTTP (debugging only)")
	fs.IntVar(&o.PageSize, "page-size", sim.DefaultPageSize, "files per listing page")
	fs.DurationVar(&o.SessionIdle, "session-idle", sim.DefaultSessionIdle, "idle session expiry")
	fs.DurationVar(&o.Retention, "retention", sim.DefaultRetention, "files older than this disappear")
	fs.StringVar(&o.HeaderFile, "header-file", "", "cohort header template (default: the built-in reconstruction)")
	fs.StringVar(&o.UploadPasswordFile, "upload-password-file", "", "file holding the upload password (default: random)")
	fs.StringVar(&o.DownloadPasswordFile, "download-password-file", "", "file holding the download password (default: random)")
	fs.StringVar(&o.SMTPPasswordFile, "smtp-password-file", "", "file holding the SMTP password (default: random)")
	fs.StringVar(&o.SMTPAuth, "smtp-auth", "password", "SMTP sink login: password, or xoauth2 (OAuth 2.0 tokens only; passwords get 550 5.7.30, as Exchange Online)")
	fs.DurationVar(&o.OAuthTTL, "oauth-token-ttl", oauthsrv.DefaultTTL, "lifetime of the access tokens seftsim's token endpoint issues")
	fs.BoolVar(&o.OAuthAutoApprove, "oauth-auto-approve", false, "approve every device-code sign-in at once (unattended demos)")
	fs.DurationVar(&o.Faults.Latency, "latency", 0, "fault: added to every portal response")
	fs.Float64Var(&o.Faults.ErrorRate, "error-rate", 0, "fault: share of portal requests answered 500")
	fs.Float64Var(&o.Faults.TruncateRate, "truncate-rate", 0, "fault: share of downloads cut mid-body")
	fs.IntVar(&o.Faults.ExpireAfter, "expire-after", 0, "fault: sessions expire after K more portal requests (once)")
	fs.BoolVar(&o.Faults.Maintenance, "maintenance", false, "fault: every portal page is a 503")
	fs.DurationVar(&o.Faults.SlowLogin, "slow-login", 0, "fault: delay on every login POST")
	fs.Int64Var(&o.Faults.SFTPDropAfter, "sftp-drop-after", 0, "fault: cut the next SFTP upload after N bytes (once)")
	fs.BoolVar(&o.Faults.APIMaintenance, "api-maintenance", false, "fault (v3): only the API is in maintenance; the notice is drawn by script")
	fs.BoolVar(&o.Faults.SFTPNoOverwrite, "sftp-no-overwrite", false, "fault: renames onto an existing name fail")
	fs.BoolVar(&o.Faults.SFTPLoseRenameReply, "sftp-lose-rename-reply", false, "fault: the next rename onto an isaric-* name is done but never answered (once)")
	fs.BoolVar(&o.Faults.SMTPDown, "smtp-down", false, "fault: the SMTP server refuses connections")
	fs.BoolVar(&debug, "debug", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "seftsim: unexpected argument %q (all settings are flags; see seftsim -h)\n", fs.Arg(0))
		return 2
	}
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := sim.Run(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "seftsim: %v\n", err)
		return 1
	}
	return 0
}
