package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// emptySHA256 is sha256sum's answer for an empty file: the probe that tells
// a real sha256sum from a shell-less server or a forced command.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// remoteHashWorks reports whether the server runs sha256sum over an exec
// channel on empty, the freshly created temporary file. Many drops forbid
// exec (ForceCommand internal-sftp, chroot, plain pkg/sftp servers); the
// relay then checks sizes only and logs so.
func (s *session) remoteHashWorks(ctx context.Context, timeout time.Duration, empty string) bool {
	out, err := s.exec(ctx, timeout, "sha256sum "+shellQuote(empty))
	ok := err == nil && strings.HasPrefix(out, emptySHA256+" ")
	s.log.Info("remote hash check", "available", ok, "check", map[bool]string{true: "sha256", false: "size"}[ok])
	if !ok && err != nil {
		s.log.Debug("exec sha256sum unavailable", "err", err)
	}
	return ok
}

// checkRemoteHash compares sha256sum of the remote file abs with want. A
// mismatch is a permanent error. A sha256sum that gives no answer (it timed
// out, or the exec view differs from the SFTP view) is an error when
// required, else falls back to the size check already done, with a warning.
func (s *session) checkRemoteHash(ctx context.Context, timeout time.Duration, abs, want string, required bool) error {
	out, err := s.exec(ctx, timeout, "sha256sum "+shellQuote(abs))
	got, _, _ := strings.Cut(out, " ")
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if required && (err != nil || len(got) != len(emptySHA256)) {
		return fmt.Errorf("%w: remote sha256sum of %s gave no answer: %v", ErrRelay, abs, err)
	}
	if err != nil || len(got) != len(emptySHA256) {
		s.log.Warn("remote sha256sum failed; relying on the size check", "path", abs, "err", err)
		return nil
	}
	if got != want {
		return fmt.Errorf("%w: %s has sha256 %s on the drop, the local archive %s: not handed over", ErrRelay, abs, got, want)
	}
	return nil
}

// exec runs cmd on the server with no stdin and returns its stdout (capped:
// we only ever want one line). It gives up after timeout, because a server
// may never answer an exec request.
func (s *session) exec(ctx context.Context, timeout time.Duration, cmd string) (string, error) {
	sess, err := s.ssh.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	var out capped
	sess.Stdout = &out
	done := make(chan error, 1)
	go func() { done <- sess.Run(cmd) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err = <-done:
		return out.String(), err
	case <-t.C:
		return "", errors.New("no answer to exec within the op timeout")
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// capped keeps the first 4 KiB written to it and drops the rest.
type capped struct{ bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := 4096 - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// shellQuote quotes s for a POSIX shell: the remote command line is parsed
// by the user's login shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
