package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/isaric/seftbot/internal/portal"
)

// Set at build time by make build and make dist, e.g.
// -ldflags "-X .../cli.version=v1.2.3 -X .../cli.commit=abc -X .../cli.buildDate=2026-01-02T03:04:05Z".
// A plain go build falls back to what the toolchain stamped (BuildInfo).
var (
	version   = ""
	commit    = ""
	buildDate = ""
)

// Version returns the build's version, falling back to the module's.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// buildInfo says which source the binary was built from and when: the
// ldflags values, else the VCS stamp the go command records.
func buildInfo() (rev, date string) {
	rev, date = commit, buildDate
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return orUnknown(rev), orUnknown(date)
	}
	var vcsRev, vcsTime string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			vcsRev = s.Value
		case "vcs.time":
			vcsTime = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" && vcsRev != "" {
		rev = vcsRev
		if modified {
			rev += " (modified)"
		}
	}
	if date == "" && vcsTime != "" {
		date = vcsTime + " (commit time)"
	}
	return orUnknown(rev), orUnknown(date)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

type versionOptions struct{ *globalOptions }

func newVersionCmd(g *globalOptions) *cobra.Command {
	o := &versionOptions{g}
	return &cobra.Command{
		Use:   "version",
		Short: "Print seftbot's version, commit, build date, Go version and the Chromium it would use",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runVersion(cmd.Context(), o) },
	}
}

// runVersion always succeeds: a missing Chromium is reported, not an error,
// so the line can go into a bug report from any machine.
func runVersion(ctx context.Context, o *versionOptions) error {
	rev, date := buildInfo()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	chromium, err := portal.ChromiumVersion(ctx, o.src.Get("SEFTBOT_CHROMIUM"))
	if err != nil {
		chromium = "none: " + err.Error()
	}
	_, err = fmt.Fprintf(o.stdout, "seftbot %s\ncommit:   %s\nbuilt:    %s\ngo:       %s %s/%s\nchromium: %s\n",
		Version(), rev, date, runtime.Version(), runtime.GOOS, runtime.GOARCH, chromium)
	return err
}
