package job

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/isaric/seftbot/internal/archive"
	"github.com/isaric/seftbot/internal/atomicfile"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/notify"
	"github.com/isaric/seftbot/internal/portal"
	"github.com/isaric/seftbot/internal/relay"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/staging"
)

// Options is everything one fetch needs, resolved by the CLI.
type Options struct {
	StateDir, StagingDir string
	Project              string
	Portal               portal.Options // Site, URL, credentials, browser flags
	Relay                relay.Config
	Mail                 notify.Config
	MailConfigured       bool   // SMTP settings present: reports are mailed
	PassphraseDelivery   string // "smtp" or "file"
	Passphrase           string // operator-supplied; "" = generate per archive
	ArchiveMethod        string
	// RunID names the new run ("" = a fresh ID), so the CLI's log lines and
	// the run's share one run_id; a resumed run keeps its own.
	RunID string
	Log   *slog.Logger
	Now   func() time.Time
	// Hooks for progress; may be nil. StageTotal is told, before archive
	// and relay begin, how many bytes the stage will count.
	ArchiveProgress, RelayProgress func(n int64)
	StageTotal                     func(stage string, total int64)
	// Secrets (portal and SMTP passwords) that a report must never contain.
	Secrets []string
	// ExitCode maps the run's error to the process's exit code (the CLI's
	// table), so the run record says what the process exited with. Nil:
	// 0 for success, 3 for nothing new, 1 otherwise.
	ExitCode func(error) int
	// Notices, if set, reads NHS England's notices from the mailbox before
	// anything else, and hears afterwards how many files the night found.
	// A mailbox that cannot be read never stops the download (files
	// expire); the run then ends with its error once everything else is done.
	Notices Notices
	// RetryWindow bounds how long a download the portal fails is retried
	// (SEFTBOT_RETRY_WINDOW); 0 means no retry. RetryFirst is the first
	// wait (default DefaultRetryFirst), doubling up to RetryMax.
	RetryWindow, RetryFirst time.Duration
	// Resend also sends files the manifest records as delivered (fetched
	// again with `download --all`); without it they stay in staging.
	Resend bool

	// Seams for tests (set through export_test.go), not globals, so runs
	// in parallel do not see each other's. retried runs before each wait
	// between download attempts; passphraseRemoved runs the instant the
	// kept passphrase is removed, before the stage is recorded (a kill
	// there once wedged every later run).
	retried           func(attempt int)
	passphraseRemoved func()
}

// Notices is the mailbox side of a run (the CLI joins it to the inbox and
// the cohort ledger).
type Notices interface {
	// Read acts on new notices; lines say what it did, for the report, and
	// warnings what the operator must look at (a notice too large to read,
	// one from a sender not trusted).
	Read(ctx context.Context, log *slog.Logger) (lines, warnings []string, err error)
	// Downloaded is told the files a run brought (0: nothing new) and
	// returns warnings, e.g. a "new data" notice a day old with nothing found.
	Downloaded(files int, log *slog.Logger) (warnings []string)
}

// Result is what a fetch did.
type Result struct {
	Record  Record
	Resumed bool // a pending batch from an earlier run was finished
	// Previous is the resumed run's record when the same fetch then went
	// on to deliver what was new (Record).
	Previous *Record
}

// Fetch runs the nightly job. Each stage is recorded in STATE/batch.json as
// it finishes, so a re-run after any failure, or kill -9, continues where the
// last one stopped: nothing is downloaded, relayed or mailed twice. A run
// that finishes an unfinished batch then goes on to fetch what is new the
// same night, since files on the portal expire.
func Fetch(ctx context.Context, o Options) (*Result, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	st, err := Open(o.StateDir)
	if err != nil {
		return nil, err
	}
	unlock, err := st.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	stg, err := staging.Open(o.StagingDir)
	if err != nil {
		return nil, err
	}
	st.Sweep(o.Log)
	b, err := st.LoadBatch()
	if err != nil {
		return nil, err
	}
	fresh := func() *run {
		id := o.RunID
		if id == "" {
			id = NewRunID(o.Now())
		}
		r := &run{o: o, st: st, stg: stg, b: &Batch{RunID: id, Started: o.Now().UTC()}}
		r.log = o.Log.With("run_id", r.b.RunID)
		return r
	}
	var r *run
	if b == nil {
		r = fresh()
	} else {
		r = &run{o: o, st: st, stg: stg, b: b, resumed: true}
		r.log = o.Log.With("run_id", b.RunID)
		r.log.Info("resuming an unfinished run", "done", b.Done)
	}
	if o.Notices != nil {
		lines, warns, ierr := o.Notices.Read(ctx, r.log)
		r.notes, r.noticeWarnings = lines, warns
		if ierr != nil {
			r.inboxErr = ierr
			r.notes = append(r.notes, "the mailbox could not be read: "+ierr.Error()+
				"; cohort steps stay unconfirmed and error notices unread until it can")
		}
	}
	res := &Result{}
	prevFiles := 0
	if r.resumed {
		// Finish yesterday's batch first, then go on to what is new: files
		// on the portal expire.
		rec, err := r.finish(ctx, r.do(ctx))
		res.Record, res.Resumed = rec, true
		if err != nil {
			return res, err
		}
		prevFiles = len(r.b.Files)
		inboxErr := r.inboxErr
		r = fresh()
		r.inboxErr = inboxErr
	}
	err = r.do(ctx)
	if o.Notices != nil && (err == nil || errors.Is(err, ErrNothingNew)) {
		r.warnings = o.Notices.Downloaded(prevFiles+len(r.b.Files), r.log)
	}
	if res.Resumed && errors.Is(err, ErrNothingNew) {
		r.log.Info("nothing new on the portal after the resumed run")
		return res, r.inboxErr
	}
	rec, err := r.finish(ctx, err)
	if res.Resumed {
		prev := res.Record
		res.Previous = &prev
	}
	res.Record = rec
	if r.inboxErr != nil && (err == nil || errors.Is(err, ErrNothingNew)) {
		err = r.inboxErr // everything else went as it should
	}
	return res, err
}

// finish records and reports a run that ended with err. A failed or quiet
// night is recorded and reported like a good one: silence is what the
// operator cannot trust. Even when the run was interrupted, the report and
// the record are still attempted.
func (r *run) finish(ctx context.Context, err error) (Record, error) {
	rec := r.record(err)
	if err == nil {
		return rec, nil
	}
	rctx := context.WithoutCancel(ctx)
	var reportErr error
	if errors.Is(err, ErrNothingNew) {
		r.log.Info("nothing new on the portal")
	} else {
		r.log.Error("run failed", "stage", r.stage, "err", err)
		reportErr = err
	}
	r.report(rctx, rec, reportErr)
	if aerr := r.st.AppendRecord(rec); aerr != nil {
		r.log.Error("could not record the run", "err", aerr)
	}
	return rec, err
}

type run struct {
	o       Options
	st      State
	stg     staging.Area
	b       *Batch
	log     *slog.Logger
	resumed bool
	stage   string // the stage running or failed
	pass    string // the archive's passphrase once known, so reports can redact it

	notes    []string // what the mailbox said, for the report
	warnings []string
	// portalWarnings are the download stage's: drifted selectors and the like.
	portalWarnings []string
	noticeWarnings []string // the mailbox's
	unavailable    []string // listed, marked not downloadable (files.unavailable)
	inboxErr       error
}

// step runs one stage unless the batch says it is done, then records it.
func (r *run) step(ctx context.Context, name string, f func(context.Context) error) error {
	if r.b.done(name) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.stage = name
	t := time.Now()
	r.log.Info("stage start", "stage", name)
	if err := f(ctx); err != nil {
		if errors.Is(err, ErrNothingNew) {
			return err
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	d := time.Since(t).Round(time.Millisecond)
	r.b.Stages = append(r.b.Stages, notify.StageTime{Name: name, Duration: d})
	r.b.Done = append(r.b.Done, name)
	// Download leaves nothing to resume until files are collected; from
	// then on the batch file is the truth, and "stage done" is logged only
	// once it is recorded there.
	if name != StageDownload {
		if err := r.st.SaveBatch(r.b); err != nil {
			return err
		}
	}
	r.log.Info("stage done", "stage", name, "duration", d)
	return nil
}

func (r *run) do(ctx context.Context) error {
	for _, s := range []struct {
		name string
		f    func(context.Context) error
	}{
		{StageDownload, r.download},
		{StageCollect, r.collect},
		{StageArchive, r.archive},
		{StageRelay, r.relay},
		{StageWipe, r.wipe},
		{StagePassphrase, r.passphrase},
		{StageReport, func(ctx context.Context) error { r.report(ctx, r.record(nil), nil); return nil }},
	} {
		if err := r.step(ctx, s.name, s.f); err != nil {
			return err
		}
	}
	r.stage = StageRecord
	// A run killed between its record and clearing the batch is recorded
	// already: recording it again would count its files twice. Its earlier
	// failure does not count: a resumed run that finishes must be recorded
	// as the success it is, or status keeps reporting the failure.
	if recorded, err := r.recordedOK(); err != nil {
		return err
	} else if !recorded {
		if err := r.st.AppendRecord(r.record(nil)); err != nil {
			return err
		}
	}
	return r.st.ClearBatch()
}

// recordedOK reports whether runs.jsonl holds a successful record of this
// run (its failures, before it was resumed, do not count).
func (r *run) recordedOK() (bool, error) {
	recs, err := r.st.Records(1 << 30)
	if err != nil {
		return false, err
	}
	for _, rec := range recs {
		if rec.RunID == r.b.RunID && rec.Verb == VerbFetch && rec.Outcome != "failed" {
			return true, nil
		}
	}
	return false, nil
}

func (r *run) download(ctx context.Context) error {
	po := r.o.Portal
	po.StagingDir = r.stg.Incoming()
	po.StateDir = r.st.Dir
	po.Log = r.log
	var res *portal.DownloadResult
	err := r.withRetry(ctx, func(ctx context.Context) error {
		var err error
		res, err = portal.Download(ctx, po)
		if res != nil {
			r.portalWarnings = res.Warnings
			r.unavailable = res.Unavailable
		}
		return err
	})
	if err != nil {
		return err
	}
	r.log.Info("downloaded", "new", len(res.New), "skipped", res.Skipped, "bytes", res.Bytes)
	return nil
}

// collect moves every complete download into the batch directory. It takes
// files left by an earlier, interrupted run too: they are complete (the
// portal only renames a file into incoming/ once it is verified). A file the
// manifest records as delivered (fetched again with `download --all`) is
// left where it is unless the operator asked to --resend.
func (r *run) collect(ctx context.Context) error {
	manifest, err := staging.LoadManifest(r.st.Dir)
	if err != nil {
		return err
	}
	byLocal := make(map[string]staging.File, len(manifest))
	for _, f := range manifest {
		byLocal[f.LocalName] = f
	}
	delivered := func(dir, n string) (bool, error) {
		m, ok := byLocal[n]
		if !ok || m.Delivered == "" || r.o.Resend {
			return false, nil
		}
		f, err := hashFile(filepath.Join(dir, n))
		if err != nil {
			return false, err
		}
		return f.SHA256 == m.SHA256, nil
	}
	names, err := staging.ListFiles(r.stg.Incoming())
	if err != nil {
		return err
	}
	var held []string
	for _, n := range names {
		if d, err := delivered(r.stg.Incoming(), n); err != nil {
			return err
		} else if d {
			held = append(held, n)
			continue
		}
		if err := os.Rename(filepath.Join(r.stg.Incoming(), n), filepath.Join(r.stg.Batch(), n)); err != nil {
			return err
		}
	}
	if len(held) > 0 {
		r.log.Warn("files in staging were delivered before and are not sent again",
			"files", len(held), "hint", "`seftbot fetch --resend` sends them again, `seftbot clean` wipes them")
	}
	names, err = staging.ListFiles(r.stg.Batch())
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return ErrNothingNew
	}
	r.b.Files = r.b.Files[:0]
	for _, n := range names {
		f, err := hashFile(filepath.Join(r.stg.Batch(), n))
		if err != nil {
			return err
		}
		f.LocalName, f.Name = n, n
		// The manifest's hash was taken as the file arrived; a staged file
		// that no longer matches it must not be archived as if it did.
		if m, ok := byLocal[n]; ok {
			if m.SHA256 != "" && m.SHA256 != f.SHA256 {
				return layout.Integrity(fmt.Errorf("staged file %s no longer matches the sha256 recorded at download", n),
					"something changed the clear text in "+r.stg.Batch()+"; find out what, then `seftbot clean --force` and `seftbot download --all`")
			}
			f.Name = m.Name
		}
		r.b.Files = append(r.b.Files, f)
	}
	return nil
}

func hashFile(path string) (File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return File{}, fmt.Errorf("%s: %w", path, err)
	}
	return File{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// archive writes and verifies the encrypted archive. The passphrase is kept
// 0600 in the state directory until it has been delivered, because a resumed
// run must send the passphrase of the archive that was actually relayed.
func (r *run) archive(ctx context.Context) error {
	pass, err := r.passphraseForBatch()
	if err != nil {
		return err
	}
	if err := layout.PrivateDir(r.st.outbox()); err != nil {
		return err
	}
	out := r.st.l().Archive(r.b.RunID)
	// Create reads the archive back and checks every file; Expect ties what
	// it read to the hashes taken when the files were collected, so the
	// archive is proven end to end without a second pass.
	want := make(map[string]string, len(r.b.Files))
	for _, f := range r.b.Files {
		want[f.LocalName] = f.SHA256
	}
	if r.o.StageTotal != nil {
		var total int64
		for _, f := range r.b.Files {
			total += f.Size
		}
		r.o.StageTotal(StageArchive, total)
	}
	res, err := archive.Create(ctx, r.stg.Batch(), out, true, archive.Options{
		Method:     r.o.ArchiveMethod,
		Passphrase: pass,
		Progress:   r.o.ArchiveProgress,
		Log:        r.log,
		Expect:     want,
	})
	if err != nil {
		return err
	}
	r.b.Archive, r.b.ArchiveSHA256, r.b.ArchiveSize = res.Path, res.SHA256, res.Size
	r.log.Info("archive verified", "files", res.Files, "bytes", res.Size)
	return nil
}

func (r *run) passphraseForBatch() (string, error) {
	p := r.st.passphrasePath()
	if b, err := safeio.ReadFile(p, "the pending passphrase", 4<<10); err == nil {
		r.pass = string(b)
		return r.pass, nil
	}
	pass := r.o.Passphrase
	if pass == "" {
		var err error
		if pass, err = archive.GeneratePassphrase(); err != nil {
			return "", err
		}
	}
	if err := atomicfile.WriteFile(p, []byte(pass), 0o600); err != nil {
		return "", fmt.Errorf("keeping the passphrase until delivery: %w", err)
	}
	r.pass = pass
	return pass, nil
}

func (r *run) relay(ctx context.Context) error {
	rc := r.o.Relay
	rc.Log = r.log
	rc.Progress = r.o.RelayProgress
	// A run killed mid-upload leaves its temporary file on the drop; each
	// temporary name is recorded before it is created, and the next run
	// removes what is left.
	rc.Stale = r.b.RelayTemps
	rc.OnTemp = func(p string) error {
		r.b.RelayTemps = append(r.b.RelayTemps, p)
		return r.st.SaveBatch(r.b)
	}
	if r.o.StageTotal != nil {
		r.o.StageTotal(StageRelay, r.b.ArchiveSize)
	}
	res, err := relay.Relay(ctx, rc, r.b.Archive)
	if err != nil {
		return err
	}
	r.b.RelayTemps = nil // renamed to the final name, or removed
	r.b.RemotePath, r.b.RelayCheck = res.RemotePath, res.Check
	r.b.ArchiveName = filepath.Base(res.RemotePath)
	r.log.Info("relayed", "remote_path", res.RemotePath, "bytes", res.Bytes, "check", res.Check)
	return nil
}

// wipe records the batch's files as delivered in the manifest, then removes
// the clear text, now that the archive has landed and was checked, and the
// local copy of the archive with it. Delivery is recorded first, so a file
// whose clear text is gone is never fetched and sent a second time; a kill
// in between repeats both steps, which are idempotent.
func (r *run) wipe(context.Context) error {
	pf := make([]staging.File, len(r.b.Files))
	for i, f := range r.b.Files {
		pf[i] = staging.File{LocalName: f.LocalName, SHA256: f.SHA256}
	}
	if err := staging.MarkDelivered(r.st.Dir, pf, r.b.ArchiveName, r.o.Now()); err != nil {
		return fmt.Errorf("recording delivery in the manifest: %w", err)
	}
	if err := os.RemoveAll(r.stg.Batch()); err != nil {
		return err
	}
	if err := layout.PrivateDir(r.stg.Batch()); err != nil {
		return err
	}
	if r.b.Archive != "" {
		if err := os.Remove(r.b.Archive); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (r *run) passphrase(ctx context.Context) error {
	if r.b.PassphraseSent {
		// Delivered before a kill; only the kept copy may be left.
		return ignoreMissing(os.Remove(r.st.passphrasePath()))
	}
	pass, err := safeio.ReadFile(r.st.passphrasePath(), "the pending passphrase", 4<<10)
	if err != nil {
		return layout.Integrity(fmt.Errorf("the pending passphrase is gone (%w); the archive %s cannot be opened without it", err, r.b.RemotePath),
			"tell the analysts the archive cannot be opened; `seftbot clean --force` discards the run, and `seftbot download --all` then `seftbot fetch --resend` sends its files again")
	}
	r.pass = string(pass)
	pm := notify.PassphraseMail{ArchiveName: r.b.ArchiveName, ArchiveSHA256: r.b.ArchiveSHA256, Passphrase: r.pass, Project: r.o.Project}
	switch r.o.PassphraseDelivery {
	case "file":
		if err := layout.PrivateDir(r.st.l().Passphrases()); err != nil {
			return err
		}
		path := r.st.l().PassphraseFile(r.b.ArchiveName)
		if err := notify.WritePassphraseFile(path, pm); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		r.log.Info("passphrase written for the operator to send", "path", path)
	default:
		if err := notify.SendPassphrase(ctx, r.mail(), pm); err != nil {
			return err
		}
		r.log.Info("passphrase mail sent", "recipients", len(r.o.Mail.PassphraseTo))
	}
	// Record the delivery before removing the kept copy: a run killed in
	// between then knows the passphrase went out.
	r.b.PassphraseSent = true
	if err := r.st.SaveBatch(r.b); err != nil {
		return err
	}
	if err := ignoreMissing(os.Remove(r.st.passphrasePath())); err != nil {
		return err
	}
	if r.o.passphraseRemoved != nil {
		r.o.passphraseRemoved()
	}
	return nil
}

// report mails the operator after every run, good or bad. A failure to
// report is logged, not fatal: the run record says what happened.
func (r *run) report(ctx context.Context, rec Record, runErr error) {
	rep := notify.Report{
		RunID: rec.RunID, Project: r.o.Project, Started: rec.Started,
		Files: rec.Files, Bytes: rec.Bytes, ArchiveName: rec.Archive, RemotePath: rec.RemotePath,
		Stages: r.b.Stages, Err: runErr, DebugBundle: rec.DebugDir, NothingNew: rec.Outcome == "nothing-new",
		Mailbox: r.notes, Warnings: slices.Concat(r.noticeWarnings, r.warnings, r.portalWarnings),
	}
	if runErr != nil {
		rep.FailedStage = rec.Stage
	}
	for _, site := range []string{portal.SiteDownload, portal.SiteUpload} {
		if l, err := portal.ReadLatch(r.o.Portal.StateDir, site); err == nil && l != nil {
			rep.Latched = append(rep.Latched, l.Describe())
		}
	}
	if p, err := safeio.ReadFile(r.st.passphrasePath(), "the pending passphrase", 4<<10); err == nil {
		r.pass = string(p)
	}
	for _, secret := range append([]string{r.pass}, r.o.Secrets...) {
		if secret != "" {
			rep.Redact = append(rep.Redact, secret)
		}
	}
	if !r.o.MailConfigured || len(r.o.Mail.ReportTo) == 0 {
		r.log.Info("no report recipients configured (SEFTBOT_REPORT_TO); report not mailed")
		return
	}
	if err := notify.SendReport(ctx, r.mail(), rep); err != nil {
		r.log.Warn("operator report not sent", "err", err)
	}
}

// mail is the mail configuration with the run's logger.
func (r *run) mail() notify.Config {
	c := r.o.Mail
	c.Log = r.log
	return c
}

func (r *run) record(err error) Record {
	rec := Record{
		Verb: VerbFetch, ExitCode: r.exitCode(r.final(err)),
		RunID: r.b.RunID, Started: r.b.Started, Finished: r.o.Now().UTC(), Outcome: "ok",
		Files: len(r.b.Files), Archive: r.b.ArchiveName, RemotePath: r.b.RemotePath, Stages: r.b.Stages,
		Unavailable: r.unavailable,
	}
	for _, f := range r.b.Files {
		rec.Bytes += f.Size
		rec.FileNames = append(rec.FileNames, f.Name)
	}
	switch {
	case errors.Is(err, ErrNothingNew):
		rec.Outcome = "nothing-new"
	case err != nil:
		rec.Outcome, rec.Stage, rec.Error = "failed", r.stage, err.Error()
		rec.DebugDir = portal.DebugBundle(err)
	}
	return rec
}

// final is the error the process ends with: the run's, or the mailbox's
// when the run itself went as it should.
func (r *run) final(err error) error {
	if r.inboxErr != nil && (err == nil || errors.Is(err, ErrNothingNew)) {
		return r.inboxErr
	}
	return err
}

func (r *run) exitCode(err error) int {
	switch {
	case r.o.ExitCode != nil:
		return r.o.ExitCode(err)
	case err == nil:
		return 0
	case errors.Is(err, ErrNothingNew):
		return 3
	}
	return 1
}
