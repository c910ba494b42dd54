// Command docshots takes the screenshots of docs/site-profile.md's
// walkthrough from seftsim markup v3 with headless Chromium:
//
//	go run ./scripts/docshots docs/img
//
// It starts its own seftsim, signs in as the walkthrough's operator would
// and saves small PNGs of the sign-in page, the notice and the file list.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/isaric/seftbot/internal/sim"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: docshots DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "docshots:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	dir, err := os.MkdirTemp("", "docshots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := sim.Start(ctx, sim.Options{Dir: dir, Files: 12, PageSize: 5, Markup: "v3", Seed: 7})
	if err != nil {
		return err
	}
	defer s.Close()
	env := s.Env()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"),
		chromedp.Flag("ignore-certificate-errors-spki-list", s.SPKIPin()),
		chromedp.Flag("no-sandbox", os.Geteuid() == 0),
		chromedp.WindowSize(800, 720),
	)
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(out, name), png, 0o644)
		})
	}
	return chromedp.Do(bctx,
		chromedp.Navigate(env["SEFTBOT_DOWNLOAD_URL"]),
		chromedp.WaitVisible(chromedp.CSS("#account-name")),
		shot("v3-sign-in.png"),
		chromedp.SendKeys(chromedp.CSS("#account-name"), env["SEFTBOT_DOWNLOAD_USER"]),
		chromedp.Click(chromedp.CSS("#next-step")),
		chromedp.WaitVisible(chromedp.CSS("#passphrase")),
		chromedp.SendKeys(chromedp.CSS("#passphrase"), env["SEFTBOT_DOWNLOAD_PASSWORD"]),
		chromedp.Click(chromedp.CSS("#enter")),
		chromedp.WaitVisible(chromedp.CSS("#notice-read")),
		shot("v3-notice.png"),
		chromedp.Click(chromedp.CSS("#notice-read")),
		chromedp.Click(chromedp.CSS("#proceed")),
		chromedp.WaitVisible(chromedp.CSS("#parcels .parcel")),
		chromedp.WaitVisible(chromedp.CSS("#show-more")),
		shot("v3-files.png"),
	)
}
