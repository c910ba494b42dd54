package cli

import (
	"bytes"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/relay"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// relayOptions holds the flags of seftbot relay.
type relayOptions struct {
	*globalOptions
	verify string
}

func newRelayCmd(g *globalOptions) *cobra.Command {
	o := &relayOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "relay FILE.7z",
		Short: "Relay an archive to the analysts' SFTP drop",
		Long: `Relay an encrypted 7z archive to the analysts' SFTP drop (SEFTBOT_SFTP_*).

The drop's host key must be in SEFTBOT_SFTP_KNOWN_HOSTS (or pinned with
SEFTBOT_SFTP_HOST_KEY_PIN). The archive is uploaded under a temporary name,
checked, and renamed to SEFTBOT_SFTP_NAME_TEMPLATE (date in Europe/London;
-2, -3 ... when the name is taken). An existing file is never overwritten.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usererr.Errorf("usage: seftbot relay FILE.7z", fmt.Sprintf("relay takes one archive, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runRelay(cmd, o, args) },
	}
	cmd.Flags().StringVar(&o.verify, "verify", "",
		"check of the remote copy: auto (sha256 when the drop can run sha256sum, else size), sha256 (required) or size (default SEFTBOT_SFTP_VERIFY)")
	return cmd
}

// sevenZipMagic starts every 7z archive. The drop routes whatever it gets
// to the analysts, so anything else (a clear-text CSV by mistake) is refused.
var sevenZipMagic = []byte{'7', 'z', 0xBC, 0xAF, 0x27, 0x1C}

func runRelay(cmd *cobra.Command, o *relayOptions, args []string) error {
	if o.verify != "" {
		o.src.Set("SEFTBOT_SFTP_VERIFY", o.verify)
	}
	cfg, err := relay.FromSource(o.src)
	if err != nil {
		return err
	}
	local := args[0]
	size, err := checkArchive(local)
	if err != nil {
		return err
	}
	add, done := o.progress(size, "relay")
	cfg.Log, cfg.Progress = o.log, add
	res, err := relay.Relay(cmd.Context(), cfg, local)
	done()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(o.stdout, "relayed to %s (%d bytes sent, checked by %s)\n", res.RemotePath, res.Bytes, res.Check)
	return err
}

// checkArchive returns the size of a regular file that starts like a 7z archive.
func checkArchive(path string) (int64, error) {
	f, err := safeio.Open(path, "the archive") // a FIFO would block open(2)
	if err != nil {
		return 0, usererr.New(err, "give the path of the encrypted 7z archive")
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	head := make([]byte, len(sevenZipMagic))
	if !st.Mode().IsRegular() {
		return 0, usererr.Errorf("give the path of the encrypted 7z archive", path+" is not a regular file")
	}
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, sevenZipMagic) {
		return 0, usererr.Errorf("seftbot relays only 7z archives (seftbot archive makes them)", path+" is not a 7z archive")
	}
	return st.Size(), nil
}
