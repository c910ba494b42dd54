package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// downloadOptions holds the flags of seftbot download.
type downloadOptions struct{ *globalOptions }

func newDownloadCmd(g *globalOptions) *cobra.Command {
	o := &downloadOptions{globalOptions: g}
	return &cobra.Command{
		Use:    "download",
		Short:  "Download new files from the SEFT download site",
		Hidden: true, // not built yet
		RunE:   func(cmd *cobra.Command, args []string) error { return runDownload(cmd, o, args) },
	}
}

func runDownload(_ *cobra.Command, _ *downloadOptions, _ []string) error {
	return errors.New("seftbot download is not built yet")
}
