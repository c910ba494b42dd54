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

	"github.com/isaric/seftbot/internal/authoring"
	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/usererr"
)

// globalOptions are the flags every verb shares, and what they resolve to.
type globalOptions struct {
	envFile   string
	logFormat string
	debug     bool

	stdin          io.Reader
	stdout, stderr io.Writer
	// recording, set by a test (like stdin and stdout), is handed the
	// recorder of seftbot record once its window is open, to drive it as
	// an operator would.
	recording func(*authoring.Recorder)

	src  *config.Source // resolved configuration, set before any verb runs
	log  *slog.Logger
	sink *logSink // where log lines go: stderr, or above a progress meter

	recorded bool // the verb wrote its own runs.jsonl record (fetch)

	runID    string // this process's run, on every log line and in runs.jsonl
	jsonLogs bool   // stderr carries JSON lines only: the error and hint too
}

// maxErrorText bounds the error printed on stderr: no input can make it
// megabytes (cohort problems are listed up to cohort.MaxProblems).
const maxErrorText = 64 << 10

// Main runs seftbot with os.Args and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runWith(ctx, &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr}, args)
}

// runWith is run with the global options (and their test seams) given.
func runWith(ctx context.Context, g *globalOptions, args []string) int {
	root := newRootCmd(g)
	root.SetArgs(args)
	root.SetIn(g.stdin)
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	start := time.Now()
	g.runID = job.NewRunID(start)
	cmd, err := root.ExecuteContextC(ctx)
	err = interrupted(ctx, err)
	code := exitCode(err)
	if g.log == nil { // setup did not run: a flag or env file error
		g.fallbackLogger(cmd)
	}
	g.afterRun(cmd, start, code, err)
	g.printError(err, code)
	return code
}

// printError tells the operator why the run failed, with the hint. Without
// a terminal (JSON logs) it is one more JSON line, so that a journal piped
// through jq never meets a plain line.
func (g *globalOptions) printError(err error, code int) {
	if err == nil {
		return
	}
	h := usererr.Hint(err)
	if h == "" && (errors.Is(err, layout.ErrLocal) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
		h = "check free space and permissions of the state and staging directories"
	}
	const bug = "This is a bug in seftbot; please report it with the log above."
	text := job.CapText(err.Error(), maxErrorText)
	if g.jsonLogs {
		args := []any{"err", text, "exit_code", code}
		msg := "seftbot: " + text
		switch {
		case code == ExitBug:
			msg = "seftbot: internal error: " + text
			args = append(args, "hint", bug)
		case h != "":
			args = append(args, "hint", h)
		}
		g.log.Error(msg, args...)
		return
	}
	if code == ExitBug {
		fmt.Fprintf(g.stderr, "seftbot: internal error: %s\n", text)
		fmt.Fprintln(g.stderr, bug)
		return
	}
	fmt.Fprintf(g.stderr, "seftbot: %s\n", text)
	if h != "" {
		fmt.Fprintf(g.stderr, "hint: %s\n", h)
	}
}

// fallbackLogger is the logger of a run whose setup failed: the format
// comes from the flag or the environment alone.
func (g *globalOptions) fallbackLogger(cmd *cobra.Command) {
	for i, format := range []string{g.logFormat, os.Getenv("SEFTBOT_LOG_FORMAT"), ""} {
		if (format != "" || i == 2) && g.newLogger(format, cmd, slog.LevelInfo) == nil {
			return
		}
	}
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
	level := slog.LevelInfo
	if g.debug {
		level = slog.LevelDebug
	}
	return g.newLogger(format, cmd, level)
}

// newLogger sets g.log: JSON or text ("" = text on a terminal, JSON
// otherwise), every line with this run's run_id and verb. Packages that
// log on their own (notify, mailauth) write in the same format to the
// same place.
func (g *globalOptions) newLogger(format string, cmd *cobra.Command, level slog.Level) error {
	if format == "" {
		format = "json"
		if isTerminal(g.stderr) {
			format = "text"
		}
	}
	hopts := &slog.HandlerOptions{Level: level}
	g.sink = &logSink{w: g.stderr}
	var h slog.Handler
	switch format {
	case "json":
		h = slog.NewJSONHandler(g.sink, hopts)
	case "text":
		h = slog.NewTextHandler(g.sink, hopts)
	default:
		return usererr.New(fmt.Errorf("unknown log format %q", format), "use --log-format text or json")
	}
	verb := ""
	if cmd != nil && cmd != cmd.Root() {
		verb = verbOf(cmd)
	}
	g.jsonLogs = format == "json"
	g.log = slog.New(runFields{h: h, runID: g.runID, verb: verb})
	slog.SetDefault(g.log)
	return nil
}

// runFields puts run_id and verb on every log line, so one night can be
// picked out of a journal. A later With("run_id", ...) (fetch resuming an
// earlier run) replaces the value rather than adding a second key.
type runFields struct {
	h           slog.Handler
	runID, verb string
}

func (r runFields) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r runFields) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, rec.Message, rec.PC)
	runID, verb := r.runID, r.verb
	var rest []slog.Attr
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "run_id":
			runID = a.Value.String()
		case "verb":
			verb = a.Value.String()
		default:
			rest = append(rest, a)
		}
		return true
	})
	out.AddAttrs(slog.String("run_id", runID), slog.String("verb", verb))
	out.AddAttrs(rest...)
	return r.h.Handle(ctx, out)
}

func (r runFields) WithAttrs(as []slog.Attr) slog.Handler {
	var rest []slog.Attr
	for _, a := range as {
		switch a.Key {
		case "run_id":
			r.runID = a.Value.String()
		case "verb":
			r.verb = a.Value.String()
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) > 0 {
		r.h = r.h.WithAttrs(rest)
	}
	return r
}

func (r runFields) WithGroup(name string) slog.Handler {
	r.h = r.h.WithGroup(name)
	return r
}

// isTerminal reports whether w is an interactive terminal: progress bars and
// colour only go there.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
