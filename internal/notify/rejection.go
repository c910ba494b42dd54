package notify

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"
)

// Rejection is a cohort step NHS England's error notice rejected: the
// operator hears of it at once, not at the next look at `cohort status`.
type Rejection struct {
	Step    string
	Notice  time.Time // the notice's date
	Subject string    // the notice's subject, identifiers already cleared
	Line    string    // what seftbot did (the inbox's line)
}

// SendRejections mails the rejections to cfg.ReportTo.
func SendRejections(ctx context.Context, cfg Config, project string, rs []Rejection) error {
	subject, body := RenderRejections(project, rs)
	id := "seftbot-rejected." + strings.ToLower(rand.Text()) + "@" + domainOf(cfg.From)
	return send(ctx, cfg, "rejection", cfg.ReportTo, subject, body, id)
}

// RenderRejections returns the rejection mail's subject and body.
func RenderRejections(project string, rs []Rejection) (subject, body string) {
	var steps []string
	for _, r := range rs {
		steps = append(steps, r.Step)
	}
	subject = "seftbot: REJECTED cohort step " + strings.Join(steps, ", ")
	if project != "" {
		subject += " (" + project + ")"
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		london = time.UTC
	}
	var b strings.Builder
	b.WriteString("NHS England's error notice rejected a cohort upload. Its plan has stopped:\n")
	b.WriteString("nothing more is uploaded until you act.\n\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "Step:          %s\n", r.Step)
		fmt.Fprintf(&b, "Notice of:     %s\n", r.Notice.In(london).Format("Mon 2 Jan 2006 15:04 MST"))
		fmt.Fprintf(&b, "Subject:       %s\n", r.Subject)
		if r.Line != "" {
			fmt.Fprintf(&b, "What happened: %s\n", r.Line)
		}
		b.WriteString("\n")
	}
	b.WriteString("Check the file with NHS England (`seftbot cohort status` shows the step), then\n")
	for _, s := range steps {
		fmt.Fprintf(&b, "  seftbot cohort ack %s\n", s)
	}
	b.WriteString("`seftbot status` exits 14 until then.\n\n-- \nseftbot\n")
	return subject, b.String()
}
