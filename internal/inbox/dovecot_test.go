package inbox_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/cohort"
	"github.com/isaric/seftbot/internal/inbox"
	"github.com/isaric/seftbot/internal/sim/mailsink/mailsinktest"
	"github.com/isaric/seftbot/internal/testtool"
)

// dovecot is Debian's dovecot (dovecot-imapd) serving one maildir over
// implicit TLS on loopback, started by the test and stopped with it.
type dovecot struct {
	host   string
	port   int
	caFile string
	user   string
	pass   string
	mail   string // the maildir
}

// startDovecot writes a self-contained configuration (its own base and
// state directories, a passwd-file, a certificate from a throwaway CA) and
// runs dovecot in the foreground. It runs as root (CI) or as any user.
// There is no skip: scripts/install-deps.sh installs dovecot-imapd.
func startDovecot(t *testing.T) *dovecot {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/dovecot"); serr != nil {
			t.Fatalf("dovecot is not installed (apt-get install dovecot-imapd; scripts/install-deps.sh does): %v", err)
		}
		bin = "/usr/sbin/dovecot"
	}
	dir, err := os.MkdirTemp("", "seftbot-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // dovecot's unprivileged processes must reach base_dir
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	loginUser, internalUser, mailUser := me.Username, me.Username, me.Uid
	if me.Uid == "0" {
		loginUser, internalUser = "dovenull", "dovecot"
		u, err := user.Lookup("dovecot")
		if err != nil {
			t.Fatalf("the dovecot package's user is missing: %v", err)
		}
		mailUser = u.Uid
	}
	uid, _ := strconv.Atoi(mailUser)

	ca := mailsinktest.NewCA(t)
	leaf := ca.Leaf(t, "127.0.0.1")
	certPEM, keyPEM := pemOf(t, leaf)
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	d := &dovecot{host: "127.0.0.1", caFile: ca.WritePEM(t, dir), user: "operator@isaric.example", pass: "dovecot-test-password",
		mail: filepath.Join(dir, "Maildir")}
	for _, sub := range []string{"", "cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(d.mail, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	write("cert.pem", certPEM, 0o644)
	write("key.pem", keyPEM, 0o600)
	write("passwd", fmt.Sprintf("%s:{PLAIN}%s::::::\n", d.user, d.pass), 0o644)
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <%[1]s/cert.pem
ssl_key = <%[1]s/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
first_valid_uid = 0
default_login_user = %[2]s
default_internal_user = %[3]s
mail_location = maildir:%[1]s/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = static
  args = uid=%[4]s gid=%[5]d home=%[1]s/home
}
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[6]d
    ssl = yes
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
`, dir, loginUser, internalUser, mailUser, gidOf(t, mailUser), d.port)
	confPath := write("dovecot.conf", conf, 0o644)
	if me.Uid == "0" {
		for _, p := range []string{d.mail, filepath.Join(d.mail, "cur"), filepath.Join(d.mail, "new"), filepath.Join(d.mail, "tmp"), filepath.Join(dir, "home")} {
			if err := os.Chown(p, uid, gidOf(t, mailUser)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command(bin, "-F", "-c", confPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Logf("dovecot output:\n%s\n%s", out.String(), log)
		}
	})
	// Ready when it answers the TLS handshake with its greeting.
	var lastErr error
	ready := testtool.Poll(15*time.Second, func() bool {
		if cmd.ProcessState != nil {
			return true // exited: it will never answer
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", net.JoinHostPort(d.host, strconv.Itoa(d.port)),
			&tls.Config{RootCAs: poolOf(t, d.caFile), ServerName: d.host})
		if lastErr = err; err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		return strings.HasPrefix(string(buf[:n]), "* OK")
	})
	if !ready || cmd.ProcessState != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
		t.Fatalf("dovecot did not come up: %v\n%s\n%s", lastErr, out.String(), log)
	}
	return d
}

// deliver puts a message into the maildir's new/ as a local delivery does.
func (d *dovecot) deliver(t *testing.T, n int, msg string) {
	t.Helper()
	name := fmt.Sprintf("%d.%d.seftbot-test", time.Now().Unix(), n)
	p := filepath.Join(d.mail, "tmp", name)
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(msg, "\n", "\r\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if u, err := user.Lookup("dovecot"); err == nil && os.Geteuid() == 0 {
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		os.Chown(p, uid, gid)
	}
	if err := os.Rename(p, filepath.Join(d.mail, "new", name)); err != nil {
		t.Fatal(err)
	}
}

// files lists the maildir's messages with their flags (the part after ":2,").
func (d *dovecot) files(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(d.mail, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			base, flags, _ := strings.Cut(e.Name(), ":2,")
			out[base] = flags
		}
	}
	return out
}

func (d *dovecot) config() inbox.Config {
	return inbox.Config{Host: d.host, Port: d.port, User: d.user, Auth: "password", Password: d.pass, CAFile: d.caFile,
		Mailbox: "INBOX", Patterns: inbox.DefaultPatterns(), Timeout: 10 * time.Second}
}

func notice(id, date, subject, body string) string {
	return "From: SEFT <seft-noreply@nhs.example>\nTo: operator@isaric.example\nSubject: " + subject +
		"\nDate: " + date + "\nMessage-ID: <" + id + "@nhs.example>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n" + body + "\n"
}

// TestDovecotInterop runs the inbox flow against a real IMAP server: a
// broken cohort upload is rejected the next morning from the notice read
// over IMAP; a "new data" notice is recorded; other mail is left alone;
// nothing is deleted or flagged; a second read finds nothing new.
func TestDovecotInterop(t *testing.T) {
	d := startDovecot(t)
	london, _ := time.LoadLocation("Europe/London")
	uploadAt := time.Date(2026, 11, 20, 22, 0, 0, 0, time.UTC)
	now := uploadAt
	stateDir := t.TempDir()
	store := func(read *cohort.InboxRead) *cohort.Store {
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
	if _, err := store(nil).Add(context.Background(), strings.NewReader("9990000018\n9990000077\n"), "ids.txt"); err != nil {
		t.Fatal(err)
	}
	if res, err := store(nil).Submit(ctx, false); err != nil || !res.Uploaded {
		t.Fatalf("submit: %+v %v", res, err)
	}

	// The next morning: NHS England's error notice, a new-data notice, and
	// a colleague's mail that quotes an NHS number.
	morning := time.Date(2026, 11, 21, 7, 0, 0, 0, london).Format(time.RFC1123Z)
	d.deliver(t, 1, notice("err-1", morning, "SEFT file processing",
		"There was a problem processing your file.\nReference 943 476 5919."))
	d.deliver(t, 2, notice("new-1", morning, "SEFT: new data available", "There is new data for project NIC-402963-P0Y5D: 3 files."))
	d.deliver(t, 3, "From: colleague@nhs.example\nTo: operator@isaric.example\nSubject: new data available?\nDate: "+morning+
		"\nMessage-ID: <other@nhs.example>\n\nPatient 9434765919 had a problem processing your file.\n")
	before := d.files(t)

	now = time.Date(2026, 11, 21, 9, 30, 0, 0, london)
	read := &cohort.InboxRead{}
	s := store(read)
	res, err := inbox.Run(ctx, d.config(), stateDir, s, read, func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Read != 3 || len(res.Notices) != 2 || len(res.Rejected) != 1 {
		t.Fatalf("read %d, notices %+v, rejected %q", res.Read, res.Notices, res.Rejected)
	}
	if !strings.HasPrefix(res.Rejected[0], "step S1 REJECTED by NHS England's error notice of 2026-11-21 07:00 GMT: SEFT file processing: There was a problem processing your file.") {
		t.Errorf("rejection line %q", res.Rejected[0])
	}
	for _, n := range res.Notices {
		if strings.Contains(n.Text, "943") || strings.Contains(n.Text, "5919") {
			t.Errorf("an NHS number survived in the notice text: %q", n.Text)
		}
	}
	st, err := store(read).Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Last == nil || st.Last.Outcome != cohort.StateRejected || st.Held != 0 {
		t.Fatalf("after the notice: last %+v, held %d", st.Last, st.Held)
	}
	ist, err := inbox.LoadState(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if ist.UIDValidity == 0 || ist.LastUID != 3 || len(ist.NewData) != 1 || !ist.LastRead.Equal(now.UTC()) {
		t.Fatalf("inbox state %+v", ist)
	}
	after := d.files(t)
	if len(after) != len(before) {
		t.Fatalf("messages before %d, after %d: something was deleted", len(before), len(after))
	}
	for name, flags := range after {
		if strings.Contains(flags, "S") || strings.Contains(flags, "T") {
			t.Errorf("%s flagged %q; seftbot flags nothing unless asked", name, flags)
		}
	}

	// A second read: nothing new, nothing applied twice.
	res, err = inbox.Run(ctx, d.config(), stateDir, store(read), read, func() time.Time { return now }, nil)
	if err != nil || res.Read != 0 {
		t.Fatalf("second read: %+v %v", res, err)
	}

	// With SEFTBOT_IMAP_MARK_SEEN the next notice is flagged seen, the
	// other mail is not, and still nothing is deleted.
	d.deliver(t, 4, notice("new-2", morning, "SEFT: new data available", "There is new data."))
	d.deliver(t, 5, "From: colleague@nhs.example\nSubject: lunch\nDate: "+morning+"\nMessage-ID: <lunch@nhs.example>\n\nSandwiches.\n")
	cfg := d.config()
	cfg.MarkSeen = true
	if res, err = inbox.Run(ctx, cfg, stateDir, store(read), read, func() time.Time { return now }, nil); err != nil || res.Read != 2 {
		t.Fatalf("third read: %+v %v", res, err)
	}
	seen := 0
	for _, flags := range d.files(t) {
		if strings.Contains(flags, "S") {
			seen++
		}
	}
	if len(d.files(t)) != 5 || seen != 1 {
		t.Fatalf("after marking: %d messages, %d seen: %v", len(d.files(t)), seen, d.files(t))
	}

	// A wrong password is a mailbox error, recorded for the cohort.
	cfg.Password = "wrong"
	_, err = inbox.Run(ctx, cfg, stateDir, store(read), read, func() time.Time { return now }, nil)
	if err == nil || !strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
	if ist, _ := inbox.LoadState(stateDir); !strings.Contains(ist.Problem, "refused") || read.Problem == "" {
		t.Fatalf("the failed read is not recorded: %+v / %+v", ist, read)
	}
}
