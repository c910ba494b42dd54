// Package cli is seftbot's command line: one options struct and one runX
// function per verb, a single exit-code table, and user errors printed with
// a hint line, kept apart from bugs.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/usererr"
)

// globalOptions are the flags every verb shares, and what they resolve to.
type globalOptions struct {
	envFile   string
	logFormat string
	debug     bool

	stdin          io.Reader
	stdout, stderr io.Writer

	src  *config.Source // resolved configuration, set before any verb runs
	log  *slog.Logger
	sink *logSink // where log lines go: stderr, or above a progress meter

	recorded bool // the verb wrote its own runs.jsonl record (fetch)
}

// Main runs seftbot with os.Args and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	start := time.Now()
	cmd, err := root.ExecuteContextC(ctx)
	err = interrupted(ctx, err)
	code := exitCode(err)
	g.afterRun(cmd, start, code, err)
	switch {
	case err == nil:
	case code == ExitBug:
		fmt.Fprintf(stderr, "seftbot: internal error: %v\n", err)
		fmt.Fprintln(stderr, "This is a bug in seftbot; please report it with the log above.")
	default:
		fmt.Fprintf(stderr, "seftbot: %v\n", err)
		h := usererr.Hint(err)
		if h == "" && errors.Is(err, portal.ErrLocal) {
			h = "check free space and permissions of the state and staging directories"
		}
		if h != "" {
			fmt.Fprintf(stderr, "hint: %s\n", h)
		}
	}
	return code
}

// interrupted marks err as an interruption when the run was signalled, so
// it exits 130 whatever the stage made of the cancellation.
func interrupted(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(err, errInterrupted) {
		return fmt.Errorf("%w: %w", errInterrupted, err)
	}
	return err
}

func newRootCmd(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:           "seftbot",
		Short:         "Fetch, encrypt and relay research data from NHS England's SEFT portal",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.setup(cmd)
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usererr.New(err, "see seftbot --help")
	})
	f := root.PersistentFlags()
	f.StringVar(&g.envFile, "env-file", "", "env file with settings and secrets (default ./.env if present; must be mode 0600)")
	f.StringVar(&g.logFormat, "log-format", "", "log format: text or json (default text on a TTY, json otherwise)")
	f.BoolVar(&g.debug, "debug", false, "debug logging; keep a debug bundle for every portal step")
	// A runnable root checks its arguments, so an unknown verb is a user
	// error (exit 2) rather than help and exit 0.
	root.Args = cobra.NoArgs
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	root.AddCommand(
		newVersionCmd(g),
		newDownloadCmd(g),
		newProbeCmd(g),
		newRecordCmd(g),
		newProfileCmd(g),
		newArchiveCmd(g),
		newRelayCmd(g),
		newCohortCmd(g),
		newFetchCmd(g),
		newStatusCmd(g),
		newCleanCmd(g),
		newDoctorCmd(g),
		newMailCmd(g),
		newInboxCmd(g),
		newLatchCmd(g),
		newInitCmd(g),
	)
	wrapArgs(root)
	return root
}

// wrapArgs makes every argument-count error a user error with a hint:
// cobra reports them as plain errors, which would read as bugs.
func wrapArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usererr.New(err, "see "+cmd.CommandPath()+" --help")
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

// setup resolves configuration and logging once, before any verb.
func (g *globalOptions) setup(cmd *cobra.Command) error {
	src, err := config.Load(g.envFile, cmd.Flags().Changed("env-file"), nil)
	if err != nil {
		return err
	}
	g.src = src
	if g.logFormat != "" {
		src.Set("SEFTBOT_LOG_FORMAT", g.logFormat)
	}
	format := src.Get("SEFTBOT_LOG_FORMAT")
	if format == "" {
		format = "json"
		if isTerminal(g.stderr) {
			format = "text"
		}
	}
	level := slog.LevelInfo
	if g.debug {
		level = slog.LevelDebug
	}
	hopts := &slog.HandlerOptions{Level: level}
	g.sink = &logSink{w: g.stderr}
	switch format {
	case "json":
		g.log = slog.New(slog.NewJSONHandler(g.sink, hopts))
	case "text":
		g.log = slog.New(slog.NewTextHandler(g.sink, hopts))
	default:
		return usererr.New(fmt.Errorf("unknown log format %q", format), "use --log-format text or json")
	}
	// Packages that log on their own (notify, mailauth) write in the same
	// format to the same place.
	slog.SetDefault(g.log)
	return nil
}

// isTerminal reports whether w is an interactive terminal: progress bars and
// colour only go there.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
