package sim

import (
	"fmt"
	"github.com/isaric/seftbot/internal/atomicfile"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// now is seftsim's clock: real time plus whatever AdvanceClock added.
func (s *Sim) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Sim) nowLocked() time.Time { return time.Now().Add(s.offset).In(s.london) }

// Now returns seftsim's clock, in Europe/London.
func (s *Sim) Now() time.Time { return s.now() }

// AdvanceClock moves seftsim's clock forward by d, then purges expired files
// and mails the notices that have fallen due. It returns the new time.
func (s *Sim) AdvanceClock(d time.Duration) (time.Time, error) {
	if d <= 0 || d > 10*365*24*time.Hour {
		return time.Time{}, fmt.Errorf("advance the clock by a positive duration of at most 10 years, not %s", d)
	}
	s.mu.Lock()
	s.offset += d
	s.mu.Unlock()
	s.housekeep()
	return s.now(), nil
}

// housekeep applies the passage of time: retention, notices, stale sessions.
// Concurrent callers are serialised so a notice is mailed exactly once.
// Failures are logged and retried on the next tick: time has moved anyway.
func (s *Sim) housekeep() {
	s.hk.Lock()
	defer s.hk.Unlock()
	s.mu.Lock()
	now := s.nowLocked()
	kept := s.files[:0:0]
	for _, f := range s.files {
		if now.Before(f.Published.Add(s.opts.Retention)) {
			kept = append(kept, f)
		}
	}
	if purged := len(s.files) - len(kept); purged > 0 {
		s.files = kept
		s.log.Info("retention purge", "files", purged)
		if err := s.writePublishedLocked(); err != nil {
			s.log.Error("rewriting published.sha256", "err", err)
		}
	}
	for id, ss := range s.sessions {
		if now.Sub(ss.lastSeen) > s.opts.SessionIdle+time.Hour {
			delete(s.sessions, id)
		}
	}
	var due []notice
	rest := s.notices[:0:0]
	for _, n := range s.notices {
		if !now.Before(n.due) {
			due = append(due, n)
		} else {
			rest = append(rest, n)
		}
	}
	s.notices = rest
	s.mu.Unlock()

	for i, n := range due {
		if err := s.ext.deliverNotice(n); err != nil {
			s.mu.Lock()
			s.notices = append(s.notices, due[i:]...) // retried on the next tick
			s.mu.Unlock()
			s.log.Error("mailing an error notice", "upload", n.upload, "err", err)
			return
		}
		s.mu.Lock()
		if n.upload < len(s.uploads) && s.uploads[n.upload].NoticeDue != nil {
			s.uploads[n.upload].NoticeSent = true
		}
		s.mu.Unlock()
		s.log.Info("error notice mailed", "upload", n.upload)
	}
}

// Publish adds a batch of n files ("there is new data") of about fileSize
// bytes each (0 = the size given at start) and rewrites published.sha256.
func (s *Sim) Publish(n int, fileSize int64) ([]File, error) {
	if n < 1 || n > maxFiles {
		return nil, fmt.Errorf("files must be between 1 and %d, not %d", maxFiles, n)
	}
	if fileSize == 0 {
		fileSize = s.opts.FileSize
	}
	if err := checkFileSize(fileSize); err != nil {
		return nil, err
	}
	s.mu.Lock()
	first := s.nextID
	s.nextID += n
	s.mu.Unlock()
	batch := make([]*File, n)
	for i := range batch {
		id := first + i
		batch[i] = s.newFile(id, regularName(s.opts.ProjectID, id), fileSize)
	}
	hashFiles(batch)
	if err := s.addFiles(batch); err != nil {
		return nil, err
	}
	out := make([]File, n)
	for i, f := range batch {
		out[i] = *f
	}
	s.log.Info("published", "files", n)
	if err := s.ext.deliverNewData(s.opts.ProjectID, n, s.now()); err != nil { // "there is new data"
		s.log.Error("mailing the new data notice", "err", err)
	}
	return out, nil
}

func (s *Sim) newFile(id int, name string, size int64) *File {
	seed := fileSeed(s.opts.Seed, id, "content")
	return &File{ID: id, Name: name, Size: variedSize(fileSeed(s.opts.Seed, v4SizeID(s.opts.Markup, id), "size"), size), seed: seed}
}

// addFiles lists files, stamped with seftsim's clock.
func (s *Sim) addFiles(batch []*File) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.nowLocked()
	for _, f := range batch {
		f.Published = now
		s.files = append(s.files, f)
	}
	return s.writePublishedLocked()
}

// publishInitial lists the start batch. Its hashes are computed once and
// kept, so Reset is quick.
func (s *Sim) publishInitial() error {
	if s.initial == nil {
		var batch []*File
		id := 1
		for ; id <= s.opts.Files; id++ {
			batch = append(batch, s.newFile(id, regularName(s.opts.ProjectID, id), s.opts.FileSize))
		}
		if s.opts.HostileNames {
			for _, name := range hostileNames(s.opts.ProjectID) {
				batch = append(batch, s.newFile(id, name, minFileSize*4))
				id++
			}
		}
		hashFiles(batch)
		s.initial = batch
	}
	batch := make([]*File, len(s.initial))
	for i, f := range s.initial {
		c := *f
		batch[i] = &c
	}
	s.mu.Lock()
	s.nextID = len(batch) + 1
	s.mu.Unlock()
	return s.addFiles(batch)
}

// writePublishedLocked rewrites DIR/published.sha256 in sha256sum format,
// escaping names the way GNU sha256sum does.
func (s *Sim) writePublishedLocked() error {
	var b strings.Builder
	for _, f := range s.files {
		name := f.Name
		if strings.ContainsAny(name, "\\\n\r") {
			name = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`).Replace(name)
			b.WriteString(`\`)
		}
		fmt.Fprintf(&b, "%s  %s\n", f.SHA256, name)
	}
	return atomicfile.WriteFile(s.PublishedFile(), []byte(b.String()), 0o644)
}

// PublishedFile is DIR/published.sha256.
func (s *Sim) PublishedFile() string { return filepath.Join(s.dir, "published.sha256") }

// Files returns the files listed now, in listing order.
func (s *Sim) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]File, len(s.files))
	for i, f := range s.files {
		out[i] = *f
	}
	return out
}

// AccountState is what the admin API shows of one account.
type AccountState struct {
	User         string `json:"user"`
	FailedLogins int    `json:"failed_logins"`
	Locked       bool   `json:"locked"`
	Logins       int    `json:"logins"`
	// PasswordPosts counts login requests that carried a password field.
	PasswordPosts int `json:"password_posts"`
	// PasswordExpired is the admin flag; PasswordChangePosts counts POSTs to
	// the change-password endpoint.
	PasswordExpired     bool `json:"password_expired"`
	PasswordChangePosts int  `json:"password_change_posts"`
}

// State is a snapshot of everything seftsim knows.
type State struct {
	Clock       time.Time               `json:"clock"`
	Accounts    map[string]AccountState `json:"accounts"`
	FilesListed int                     `json:"files_listed"`
	Files       []File                  `json:"files"`
	Faults      Faults                  `json:"faults"`
	HeldCount   int                     `json:"held_count"`
	Uploads     int                     `json:"uploads"`
	// Downloads counts file bodies sent whole, whatever the route.
	Downloads      int `json:"downloads"`
	PendingNotices int `json:"pending_notices"`
	// V4 is markup v4's counters and row kinds; absent in other markups.
	V4 *V4State `json:"v4,omitempty"`
}

// State returns a snapshot.
func (s *Sim) State() State {
	faults := s.Faults()
	files := s.Files()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := State{
		Clock:          s.nowLocked(),
		Accounts:       map[string]AccountState{},
		FilesListed:    len(files),
		Files:          files,
		Faults:         faults,
		HeldCount:      len(s.held),
		Uploads:        len(s.uploads),
		Downloads:      s.sent,
		PendingNotices: len(s.notices),
		V4:             s.v4StateLocked(),
	}
	for name, a := range s.accounts {
		st.Accounts[name] = AccountState{User: a.User, FailedLogins: a.Failed, Locked: a.Locked, Logins: a.Logins,
			PasswordPosts: a.PasswordPosts, PasswordExpired: a.PasswordExpired, PasswordChangePosts: a.PasswordChangePosts}
	}
	return st
}

// Unlock clears an account's lock and failed-login count.
func (s *Sim) Unlock(account string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[account]
	if !ok {
		return fmt.Errorf("unknown account %q: use \"upload\" or \"download\"", account)
	}
	a.Locked, a.Failed = false, 0
	s.log.Info("account unlocked", "account", account)
	return nil
}

// SetPasswordExpired sets or clears an account's expired-password flag:
// while set, the right password shows "Your password has expired. Choose a
// new password." and a change form instead of signing in.
func (s *Sim) SetPasswordExpired(account string, expired bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[account]
	if !ok {
		return fmt.Errorf("unknown account %q: use \"upload\" or \"download\"", account)
	}
	a.PasswordExpired = expired
	s.log.Info("password expiry set", "account", account, "expired", expired)
	return nil
}

// HeldSet returns the identifiers seftsim holds for the project, sorted.
func (s *Sim) HeldSet() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.held))
}

// Uploads returns every upload received, oldest first.
func (s *Sim) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.uploads)
	for i := range out {
		if out[i].NoticeDue != nil {
			d := *out[i].NoticeDue
			out[i].NoticeDue = &d
		}
	}
	return out
}

// Reset returns seftsim to its start state: clock, accounts, sessions,
// uploads, held set, pending notices, faults and the first batch of files.
// Passwords, ports, keys and what is already on the drop or in the mail
// directory are kept.
func (s *Sim) Reset() error {
	s.hk.Lock()
	defer s.hk.Unlock()
	s.mu.Lock()
	s.offset = 0
	s.files = nil
	clear(s.sessions)
	for _, a := range s.accounts {
		a.Failed, a.Locked, a.Logins, a.PasswordPosts = 0, false, 0, 0
		a.PasswordExpired, a.PasswordChangePosts = false, 0
	}
	s.uploads = nil
	s.sent = 0
	clear(s.held)
	s.notices = nil
	s.faults = s.opts.Faults
	s.rng = newFaultRNG(s.opts.Seed)
	if s.v4 != nil {
		s.v4 = newV4State(s.opts)
	}
	s.mu.Unlock()
	s.applyExternalFaults(s.opts.Faults)
	s.log.Info("reset")
	return s.publishInitial()
}
