package inbox_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/cohort"
	"github.com/isaric/seftbot/internal/inbox"
	"github.com/isaric/seftbot/internal/usererr"
)

// TestSenders: SEFTBOT_NOTICE_FROM takes exact addresses only, and has no
// default; each refusal names the setting and says where to find it.
func TestSenders(t *testing.T) {
	got, err := inbox.Senders(" SEFT-NoReply@NHS.example , SEFT <other@nhs.example>")
	if err != nil || strings.Join(got, ",") != "seft-noreply@nhs.example,other@nhs.example" {
		t.Fatalf("two addresses: %q %v", got, err)
	}
	for _, bad := range []string{"", " , ", `(?i)^seft-noreply@`, "seft-noreply@", "@nhs.example", "seft-noreply@localhost", "*@nhs.example"} {
		_, err := inbox.Senders(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "SEFTBOT_NOTICE_FROM") || !strings.Contains(usererr.Hint(err), "From line of the first SEFT notice") {
			t.Errorf("%q: %v (hint %q)", bad, err, usererr.Hint(err))
		}
	}
}

func message(from, id, subject, extraHeaders, body string) string {
	return extraHeaders + "From: " + from + "\nTo: operator@isaric.example\nSubject: " + subject +
		"\nDate: Sat, 21 Nov 2026 07:00:00 +0000\nMessage-ID: <" + id + ">\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n" + body + "\n"
}

// TestDovecotOnlyNHSEnglandCounts: over a real IMAP server, an error
// notice from a lookalike domain and one whose DMARC failed are reported
// and change nothing; a notice too large to read is a warning; only the
// genuine notice rejects the step. With the Authentication-Results check
// off, the DMARC-failed one is trusted by its address.
func TestDovecotOnlyNHSEnglandCounts(t *testing.T) {
	d := startDovecot(t)
	uploadAt := time.Date(2026, 11, 20, 22, 0, 0, 0, time.UTC)
	now := uploadAt
	stateDir := t.TempDir()
	open := func(read *cohort.InboxRead) *cohort.Store {
		s, err := cohort.Open(cohort.Options{Dir: filepath.Join(stateDir, "cohort"), Project: "NIC-402963-P0Y5D",
			Header: cohort.DefaultHeader, Now: func() time.Time { return now }, Inbox: read,
			Uploader: func() (cohort.Uploader, error) {
				return func(context.Context, string) (string, error) { return "Your file has been received.", nil }, nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	if _, err := open(nil).Add(ctx, strings.NewReader("9990000018\n9990000077\n"), "ids.txt"); err != nil {
		t.Fatal(err)
	}
	if res, err := open(nil).Submit(ctx, false); err != nil || !res.Uploaded {
		t.Fatalf("submit: %+v %v", res, err)
	}
	const problem = "There was a problem processing your file."
	d.deliver(t, 1, message("SEFT <seft-noreply@evil.example>", "spoof@evil.example", "SEFT file processing", "", problem))
	d.deliver(t, 2, message("SEFT <seft-noreply@nhs.example>", "forged@nhs.example", "SEFT: new data available",
		"Authentication-Results: mx.isaric.example; spf=fail smtp.mailfrom=nhs.example; dkim=none; dmarc=fail header.from=nhs.example\n",
		"There is new data for project NIC-402963-P0Y5D."))
	d.deliver(t, 3, message("SEFT <seft-noreply@nhs.example>", "big@nhs.example", "SEFT file processing", "", problem+"\n"+strings.Repeat("x", 1<<20)))
	d.deliver(t, 4, message("SEFT <seft-noreply@nhs.example>", "real@nhs.example", "SEFT file processing",
		"Authentication-Results: mx.isaric.example; dkim=pass header.d=nhs.example; dmarc=pass header.from=nhs.example\n"+
			"Authentication-Results: mx.evil.example; dmarc=fail\n", problem))

	now = time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)
	read := &cohort.InboxRead{}
	res, err := inbox.Run(ctx, d.config(), stateDir, open(read), read, func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notices) != 1 || res.Notices[0].MessageID != "<real@nhs.example>" || len(res.Rejections) != 1 || res.Rejections[0].Step != "S1" {
		t.Fatalf("notices %+v, rejections %+v", res.Notices, res.Rejections)
	}
	if len(res.Ignored) != 2 ||
		!strings.HasPrefix(res.Ignored[0], "ignored a notice from seft-noreply@evil.example of ") ||
		!strings.HasPrefix(res.Ignored[1], "ignored a notice from seft-noreply@nhs.example of ") ||
		!strings.HasSuffix(res.Ignored[0], ": sender not trusted") ||
		!strings.HasSuffix(res.Ignored[1], ": sender not trusted (Authentication-Results: dkim=none, dmarc=fail)") ||
		strings.Contains(strings.Join(res.Ignored, " "), "SEFT") {
		t.Fatalf("ignored %q", res.Ignored)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "larger than 1048576 bytes and was not read") {
		t.Fatalf("warnings %q", res.Warnings)
	}
	st, err := inbox.LoadState(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.NewData) != 0 || len(st.Rejections) != 1 || st.Rejections[0].Subject != "SEFT file processing" {
		t.Fatalf("state: new data %+v, rejections %+v", st.NewData, st.Rejections)
	}

	// The check off: the DMARC-failed notice counts by its address alone;
	// the lookalike domain still does not.
	other := t.TempDir()
	cfg := d.config()
	cfg.CheckAuth = false
	res, err = inbox.Run(ctx, cfg, other, nil, nil, func() time.Time { return now }, nil)
	if err != nil || len(res.Notices) != 2 || len(res.Ignored) != 1 {
		t.Fatalf("check off: notices %+v ignored %q: %v", res.Notices, res.Ignored, err)
	}

	// last_uid past UIDNEXT (the mailbox restored from a backup): a
	// warning, and the mailbox is read again, so the new notice counts.
	st.LastUID = 100
	b, _ := json.Marshal(st)
	if err := os.WriteFile(filepath.Join(other, inbox.StateName), b, 0o600); err != nil {
		t.Fatal(err)
	}
	d.deliver(t, 5, message("SEFT <seft-noreply@nhs.example>", "new-2@nhs.example", "SEFT: new data available", "", "There is new data."))
	res, err = inbox.Run(ctx, d.config(), other, nil, nil, func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "last_uid 100 is past the mailbox's UIDNEXT 6") {
		t.Fatalf("warnings %q", res.Warnings)
	}
	if ist, _ := inbox.LoadState(other); ist.LastUID != 5 || len(ist.NewData) != 1 || ist.NewData[0].MessageID != "<new-2@nhs.example>" {
		t.Fatalf("after the rescan: %+v", ist)
	}
}
