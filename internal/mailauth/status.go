package mailauth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/gofrs/flock"
	"github.com/isaric/seftbot/internal/layout"
)

// SignIn describes the stored delegated sign-in, without its tokens, for
// `seftbot mail status`.
type SignIn struct {
	File     string    // the cache, 0600
	SignedIn time.Time // when seftbot mail login was done
	Expiry   time.Time // the cached access token's; zero when none is cached
	// Matches is false when the sign-in was made for another token URL or
	// client ID than configured: a run would refuse it.
	Matches bool
}

// Stored reads the delegated sign-in of cfg. It returns an error that
// says to run seftbot mail login when there is none. It never refreshes.
func Stored(cfg Config) (SignIn, error) {
	c, err := readCache(cfg.CacheFile)
	if err != nil {
		return SignIn{}, err
	}
	exp := c.Expiry
	if c.AccessToken == "" {
		exp = time.Time{}
	}
	return SignIn{File: cfg.CacheFile, SignedIn: c.SignedIn, Expiry: exp,
		Matches: c.TokenURL == cfg.TokenURL && c.ClientID == cfg.ClientID}, nil
}

// Logout removes the delegated sign-in cached under stateDir, holding the
// cache's lock so no run is refreshing it meanwhile. It reports whether
// there was one. Revoking the refresh token at the identity provider is the
// tenant administrator's (it cannot be done from here).
func Logout(stateDir string) (bool, error) {
	path := layout.State{Dir: stateDir}.TokenCache()
	lk := flock.New(path + ".lock")
	if err := lk.Lock(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // no state dir: nothing stored
		}
		return false, fmt.Errorf("locking the OAuth token cache: %w", err)
	}
	defer lk.Unlock()
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("removing the stored sign-in: %w", err)
	}
	d, err := os.Open(stateDir)
	if err != nil {
		return true, err
	}
	defer d.Close()
	return true, d.Sync()
}
