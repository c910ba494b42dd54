package portal

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/crypto/scrypt"

	"github.com/isaric/seftbot/internal/atomicfile"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// Latch kinds: why a site's password may not be sent again.
const (
	LatchRefused         = "refused"
	LatchLocked          = "locked"
	LatchPasswordExpired = "password_expired"
	LatchUnknown         = "unknown" // no answer was recognised: the portal may have counted a failure
)

// Latch remembers, across runs, that a site's sign-in was refused (or its
// outcome is unknown): the real portal locks accounts after a few failures
// and only NHS England can unlock them, so no later run may send the same
// password again. It lifts when the password changes, or by
// `seftbot login-latch lift`.
type Latch struct {
	Site   string    `json:"site"`
	Kind   string    `json:"kind"`
	Reason string    `json:"reason"` // what the page said (a profile text), or why the outcome is unknown
	At     time.Time `json:"at"`
	// The password is recognised by a salted scrypt hash, so that a new
	// password lifts the latch; the password itself is never stored.
	Salt []byte `json:"salt"`
	Hash []byte `json:"hash"`
}

// Describe says in plain words what happened and what to do.
func (l *Latch) Describe() string {
	what := map[string]string{
		LatchRefused:         "the portal refused the password",
		LatchLocked:          "the portal said the account is locked",
		LatchPasswordExpired: "the portal said the password has expired and must be changed",
		LatchUnknown:         "the portal gave no recognisable answer to the password, so it may have counted a failure",
	}[l.Kind]
	return fmt.Sprintf("%s site: %s (%q) at %s", l.Site, what, l.Reason, l.At.Format(time.RFC3339))
}

func latchPath(stateDir, site string) string {
	return layout.State{Dir: stateDir}.Latch(site)
}

// ReadLatch returns the site's latch, or nil when none is set.
func ReadLatch(stateDir, site string) (*Latch, error) {
	b, err := safeio.ReadFile(latchPath(stateDir, site), "the login latch", 64<<10)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var l Latch
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", latchPath(stateDir, site), err)
	}
	return &l, nil
}

// LiftLatch removes the site's latch: the operator has checked the account
// by hand. Lifting a latch that is not set is not an error.
func LiftLatch(stateDir, site string) error {
	err := os.Remove(latchPath(stateDir, site))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func hashSecret(pw string, salt []byte) ([]byte, error) {
	return scrypt.Key([]byte(pw), salt, 1<<15, 8, 1, 32)
}

// setLatch records a latch for the password pw, durably, before the run
// reports the failure.
func setLatch(stateDir, site, kind, reason, pw string) (*Latch, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	h, err := hashSecret(pw, salt)
	if err != nil {
		return nil, err
	}
	l := &Latch{Site: site, Kind: kind, Reason: reason, At: time.Now().UTC(), Salt: salt, Hash: h}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return nil, err
	}
	return l, atomicfile.WriteFile(latchPath(stateDir, site), append(b, '\n'), 0o600)
}

// checkLatch refuses to go on when the site is latched for this password.
// A latch set for another password is lifted: the operator has changed it.
func checkLatch(o *Options) error {
	l, err := ReadLatch(o.StateDir, o.Site)
	if err != nil {
		return usererr.New(fmt.Errorf("login latch: %w", err), "the state directory's latch file is damaged: check it, then run seftbot login-latch lift")
	}
	if l == nil {
		return nil
	}
	h, err := hashSecret(o.Password, l.Salt)
	if err != nil {
		return err
	}
	if len(l.Hash) > 0 && subtle.ConstantTimeCompare(h, l.Hash) != 1 {
		o.Log.Info("login latch lifted: the password has changed since it was set", "site", o.Site, "kind", l.Kind)
		return LiftLatch(o.StateDir, o.Site)
	}
	return usererr.New(fmt.Errorf("%w: not sending the password: %s", ErrLatched, l.Describe()),
		"check the account by hand (NHS England unlocks accounts); then change the password setting, or run: seftbot login-latch lift --site "+o.Site)
}
