package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/archive"
	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/usererr"
)

// archiveOptions holds the flags of seftbot archive. There is deliberately
// no flag for the passphrase itself: argv is readable by every local user.
type archiveOptions struct {
	*globalOptions
	in, out        string
	method         string
	level          int
	passphraseFile string
	force          bool
}

func newArchiveCmd(g *globalOptions) *cobra.Command {
	o := &archiveOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "archive --in DIR --out FILE.7z",
		Short: "Write an AES-256 encrypted 7z archive and verify it",
		Long: `Archive every file under --in into an AES-256 encrypted 7z with encrypted
file names, prove it readable with the passphrase, and only then move it to --out.

The passphrase comes from SEFTBOT_PASSPHRASE (or SEFTBOT_PASSPHRASE_FILE, or the
env file), or from --passphrase-file: an existing file (mode 0600) is read; a
missing one is created 0600 with a newly generated passphrase. It is never printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runArchive(cmd, o, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.in, "in", "", "directory whose files are archived (required)")
	f.StringVar(&o.out, "out", "", "archive to write, e.g. isaric-NIC-402963-P0Y5D-20260101.7z (required)")
	f.StringVar(&o.method, "method", "", "compression: deflate, lzma2 or copy (default SEFTBOT_ARCHIVE_METHOD, else deflate)")
	f.IntVar(&o.level, "level", 0, "compression level, 0 = the method's default")
	f.StringVar(&o.passphraseFile, "passphrase-file", "", "0600 file holding the passphrase; if missing, a generated one is written there")
	f.BoolVar(&o.force, "force", false, "replace an existing --out")
	return cmd
}

func runArchive(cmd *cobra.Command, o *archiveOptions, _ []string) error {
	if cmd.Flags().Changed("method") {
		o.src.Set("SEFTBOT_ARCHIVE_METHOD", o.method)
	}
	if o.in == "" || o.out == "" {
		return usererr.Errorf("see seftbot archive --help", "archive needs --in DIR and --out FILE.7z")
	}
	if st, err := os.Stat(o.in); err != nil || !st.IsDir() {
		return usererr.New(fmt.Errorf("--in %s is not a directory", o.in), "give the directory holding the downloaded files")
	}
	if !o.force {
		if _, err := os.Lstat(o.out); err == nil {
			return usererr.New(fmt.Errorf("%s already exists", o.out), "choose another name, or pass --force to replace it")
		}
	}
	pass, how, created, err := o.passphrase()
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if created && !ok { // a passphrase for an archive that does not exist is useless and confusing
			_ = os.Remove(o.passphraseFile)
		}
	}()

	var total int64
	if isTerminal(o.stderr) {
		total = inputSize(o.in)
	}
	add, done := o.progress(total, "archiving")
	res, err := archive.Create(cmd.Context(), o.in, o.out, o.force, archive.Options{
		Method:     o.src.Get("SEFTBOT_ARCHIVE_METHOD"),
		Level:      o.level,
		Passphrase: pass,
		Progress:   add,
		Log:        o.log,
	})
	done()
	if err != nil {
		return err
	}
	ok = true
	o.log.Info("archive written and verified", "path", res.Path, "bytes", res.Size, "files", res.Files, "sha256", res.SHA256)
	_, err = fmt.Fprintf(o.stdout, "archive: %s\nsize: %d bytes\nfiles: %d\nsha256: %s\npassphrase: %s\n",
		res.Path, res.Size, res.Files, res.SHA256, how)
	return err
}

// passphrase finds the passphrase and says where it came from, never what it
// is. created reports that a generated one was written to --passphrase-file.
func (o *archiveOptions) passphrase() (pass, how string, created bool, err error) {
	if o.passphraseFile == "" {
		pass, err = o.src.Secret("SEFTBOT_PASSPHRASE")
		if err != nil {
			return "", "", false, err
		}
		if pass == "" {
			return "", "", false, usererr.Errorf(
				"give --passphrase-file PATH (a new path gets a generated passphrase) or set SEFTBOT_PASSPHRASE",
				"no archive passphrase")
		}
		return pass, "from SEFTBOT_PASSPHRASE", false, archive.CheckPassphrase(pass)
	}
	pf := o.passphraseFile
	if _, err := os.Lstat(pf); err == nil {
		pass, err = config.ReadSecretFile(pf)
		if err != nil {
			return "", "", false, err
		}
		if err := archive.CheckPassphrase(pass); err != nil {
			return "", "", false, fmt.Errorf("%s: %w", pf, err)
		}
		return pass, "read from " + pf, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", false, usererr.New(fmt.Errorf("passphrase file: %w", err), "check --passphrase-file")
	}
	pass, err = archive.GeneratePassphrase()
	if err != nil {
		return "", "", false, err
	}
	// O_EXCL: never replace a passphrase someone may already have sent.
	f, err := os.OpenFile(pf, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", "", false, usererr.New(fmt.Errorf("create passphrase file: %w", err), "check --passphrase-file")
	}
	_, werr := f.WriteString(pass + "\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		_ = os.Remove(pf)
		return "", "", false, fmt.Errorf("write passphrase file %s: %w", pf, err)
	}
	return pass, "generated into " + pf + " (mode 0600)", true, nil
}

// inputSize sums the regular files under dir for the progress bar; errors
// only make the bar less exact, Create reports them properly.
func inputSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
