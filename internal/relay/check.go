package relay

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/isaric/seftbot/internal/usererr"
)

// KnownHost reports, without connecting, how the drop's host key will be
// checked: a pin, or the known_hosts entries for that host. No entry is an
// error, since the first relay would be refused.
func KnownHost(cfg Config) (string, error) {
	cfg.setDefaults()
	if cfg.HostKeyPin != "" {
		return "pinned by SEFTBOT_SFTP_HOST_KEY_PIN", nil
	}
	if _, err := os.Stat(cfg.KnownHosts); errors.Is(err, os.ErrNotExist) {
		return "", usererr.New(fmt.Errorf("%w: %s does not exist", ErrHostKey, cfg.KnownHosts),
			"get the drop's key from its administrator, or ssh-keyscan it and compare the fingerprint out of band")
	}
	hk, err := newHostKeyCheck(&cfg)
	if err != nil {
		return "", err
	}
	if hk.known == 0 {
		return "", usererr.New(fmt.Errorf("%w: no entry for %s in %s", ErrHostKey, hk.addr(), cfg.KnownHosts),
			"get the drop's key from its administrator, or ssh-keyscan it and compare the fingerprint out of band")
	}
	return fmt.Sprintf("%d key(s) for %s in %s", hk.known, hk.addr(), cfg.KnownHosts), nil
}

// Check connects exactly as Relay does (host key verified, our key
// authenticated, SFTP started) and stats the remote directory. It writes
// nothing; `seftbot doctor` uses it.
func Check(ctx context.Context, cfg Config) (string, error) {
	cfg.setDefaults()
	auth, err := loadAuth(&cfg)
	if err != nil {
		return "", err
	}
	defer auth.close()
	hk, err := newHostKeyCheck(&cfg)
	if err != nil {
		return "", err
	}
	r := &relayer{cfg: &cfg, auth: auth, hk: hk}
	s, err := r.dial(ctx)
	if err != nil {
		return "", wrapFinal(err, 1)
	}
	defer s.close()
	st, err := s.sftp.Stat(cfg.RemoteDir)
	if err != nil {
		return "", usererr.New(fmt.Errorf("%w: remote directory %s: %w", ErrRelay, cfg.RemoteDir, err), "check SEFTBOT_SFTP_REMOTE_DIR")
	}
	if !st.IsDir() {
		return "", usererr.Errorf("check SEFTBOT_SFTP_REMOTE_DIR", fmt.Sprintf("remote %s is not a directory", cfg.RemoteDir))
	}
	return fmt.Sprintf("%s@%s: host key verified (%s), key accepted, %s is a directory", cfg.User, hk.addr(), hk.source, cfg.RemoteDir), nil
}
