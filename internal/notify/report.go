package notify

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/isaric/seftbot/internal/usererr"
)

// Report is what the operator hears after every run, good or bad. It has no
// field for the passphrase on purpose.
type Report struct {
	RunID       string
	Project     string
	Started     time.Time
	Files       int
	Bytes       int64
	ArchiveName string
	RemotePath  string
	Stages      []StageTime // in the order they ran
	// NothingNew: the portal had nothing new, so no archive was made; the
	// report must not read as if one had been delivered.
	NothingNew bool
	// Err is nil on success. On failure FailedStage names the stage and
	// DebugBundle the path of the debug bundle, if one was written.
	Err         error
	FailedStage string
	DebugBundle string
	// Warnings are things the operator should look at although the run
	// itself went well; Mailbox says what the run did with NHS England's
	// notices (text already cleared of identifiers).
	Warnings []string
	Mailbox  []string
	// Latched describes each site whose password seftbot will not send
	// again until a person has checked the account (portal.Latch).
	Latched []string
	// Redact lists secrets (passwords, the passphrase) that must not appear
	// in the mail; if one does, nothing is sent. They are never printed.
	Redact []string
}

// StageTime is how long one stage took.
type StageTime struct {
	Name     string
	Duration time.Duration
}

// SendReport mails the run's report to cfg.ReportTo.
func SendReport(ctx context.Context, cfg Config, r Report) error {
	subject, body, err := RenderReport(r)
	if err != nil {
		return err
	}
	id := "seftbot-report." + strings.ToLower(rand.Text()) + "@" + domainOf(cfg.From)
	return send(ctx, cfg, "report", cfg.ReportTo, subject, body, id)
}

// RenderReport returns the report's subject and body, so it can also be
// logged or printed when mail is not possible. It fails, wrapping
// ErrMail, if any Redact string would appear in either.
func RenderReport(r Report) (subject, body string, err error) {
	run := "run " + r.RunID
	if r.Project != "" {
		run = r.Project + " " + run
	}
	if r.Err == nil {
		what := fmt.Sprintf("%d files, %s", r.Files, size(r.Bytes))
		if r.NothingNew {
			what = "nothing new"
		}
		level := "OK"
		if len(r.Warnings) > 0 {
			level = "WARNING"
		}
		subject = fmt.Sprintf("seftbot: %s %s: %s", level, run, what)
	} else {
		stage := r.FailedStage
		if stage == "" {
			stage = "unknown stage"
		}
		subject = fmt.Sprintf("seftbot: FAILED at %s %s", stage, run)
	}

	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%-14s %s\n", k+":", v) }
	switch {
	case r.Err == nil && r.NothingNew:
		b.WriteString("The run finished: there was nothing new on the portal, so nothing was sent.\n\n")
	case r.Err == nil:
		b.WriteString("The run finished: the archive is on the analysts' drop.\n\n")
	case len(r.Latched) > 0:
		b.WriteString("The run FAILED, and no later run will sign in until a person has checked the account.\n\n")
	default:
		b.WriteString("The run FAILED. The next `seftbot fetch` resumes it.\n\n")
	}
	if len(r.Latched) > 0 {
		b.WriteString("LOGIN LATCHED (the portal locks accounts after a few failures; only NHS England unlocks them):\n")
		for _, l := range r.Latched {
			fmt.Fprintf(&b, "  - %s\n", l)
		}
		b.WriteString("  Check the account by hand, then change the password setting or run `seftbot login-latch lift --site SITE`.\n\n")
	}
	if r.Err != nil {
		line("Failed stage", r.FailedStage)
		line("Error", r.Err.Error())
		if h := usererr.Hint(r.Err); h != "" {
			line("Hint", h)
		}
		if r.DebugBundle != "" {
			line("Debug bundle", r.DebugBundle)
		}
		b.WriteString("\n")
	}
	if len(r.Warnings) > 0 {
		b.WriteString("WARNING:\n")
		for _, w := range r.Warnings {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
		b.WriteString("\n")
	}
	if len(r.Mailbox) > 0 {
		b.WriteString("NHS England's notices (mailbox):\n")
		for _, m := range r.Mailbox {
			fmt.Fprintf(&b, "  - %s\n", m)
		}
		b.WriteString("\n")
	}
	line("Run", r.RunID)
	if r.Project != "" {
		line("Project", r.Project)
	}
	if !r.Started.IsZero() {
		line("Started", r.Started.UTC().Format(time.RFC3339))
	}
	if !r.NothingNew {
		line("Files", fmt.Sprint(r.Files))
		line("Bytes", fmt.Sprintf("%d (%s)", r.Bytes, size(r.Bytes)))
	}
	if r.ArchiveName != "" {
		line("Archive", r.ArchiveName)
	}
	if r.RemotePath != "" {
		line("Remote path", r.RemotePath)
	}
	if len(r.Stages) > 0 {
		b.WriteString("\nStage durations:\n")
		var total time.Duration
		for _, s := range r.Stages {
			fmt.Fprintf(&b, "  %-12s %s\n", s.Name, s.Duration.Round(time.Millisecond))
			total += s.Duration
		}
		fmt.Fprintf(&b, "  %-12s %s\n", "total", total.Round(time.Millisecond))
	}
	b.WriteString("\n-- \nseftbot\n")
	body = b.String()

	for i, secret := range r.Redact {
		if secret != "" && (strings.Contains(body, secret) || strings.Contains(subject, secret)) {
			return "", "", fmt.Errorf("%w: report not sent: it would contain secret #%d of Report.Redact", ErrMail, i+1)
		}
	}
	return subject, body, nil
}

// size is a byte count for people.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
