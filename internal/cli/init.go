package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/atomicfile"
	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/usererr"
)

// initOptions holds the flags of seftbot init.
type initOptions struct {
	*globalOptions
	out string
}

func newInitCmd(g *globalOptions) *cobra.Command {
	o := &initOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a commented env file of every setting (0600); never overwrites",
		Long: "Writes the env file template: every setting with its meaning and default, secrets as\n" +
			"*_FILE paths, and the state directory the packaged service uses. It never replaces a file.\n" +
			"Fill it in, then run seftbot --env-file FILE doctor --offline: it lists what is left.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runInit(o) },
	}
	cmd.Flags().StringVar(&o.out, "out", config.DefaultEnvFile, "file to create (mode 0600), or - for standard output")
	return cmd
}

func runInit(o *initOptions) error {
	var buf bytes.Buffer
	if err := config.WriteTemplate(&buf, Version()); err != nil {
		return err
	}
	if o.out == "-" {
		_, err := o.stdout.Write(buf.Bytes())
		return err
	}
	if err := createNew(o.out, buf.Bytes()); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "wrote %s (mode 0600); fill it in, then run: seftbot --env-file %s doctor --offline\n", o.out, o.out)
	return nil
}

// createNew writes data to path 0600 unless path exists: it is written in
// full under a temporary name first and then linked into place, which fails
// if anything is there, so neither an existing file nor a half-written one
// is ever left at path, even after kill -9.
func createNew(path string, data []byte) error {
	if _, err := os.Lstat(path); err == nil {
		return usererr.Errorf("edit it, or name another file with --out", path+" already exists; seftbot init never overwrites")
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return usererr.New(fmt.Errorf("init: %w", err), "check that "+dir+" exists and is writable")
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, werr := f.Write(data)
	cherr := f.Chmod(0o600)
	serr := f.Sync()
	if err := errors.Join(werr, cherr, serr, f.Close()); err != nil {
		return fmt.Errorf("init: writing %s: %w", tmp, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return usererr.Errorf("edit it, or name another file with --out", path+" already exists; seftbot init never overwrites")
		}
		return usererr.New(fmt.Errorf("init: %w", err), "check that "+dir+" is writable")
	}
	return atomicfile.SyncDir(dir)
}
