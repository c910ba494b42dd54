// Package relay hands an archive to the analysts' SFTP drop atomically: a
// temporary name that cannot match isaric-*, then a rename that never overwrites.
//
// The drop routes any file named isaric-* at once, so the final name must
// only ever appear complete, and only on the host whose key we know:
//
//  1. the host key is checked against known_hosts (or an explicit pin) before
//     any byte is sent; there is no accept-any mode;
//  2. the archive is written to .upload-<random>.part (O_CREATE|O_EXCL), with
//     pipelined writes;
//  3. the written length, the Close status and the remote size are checked,
//     plus a remote sha256sum over an exec channel when the server allows one;
//  4. a plain SSH_FXP_RENAME moves it to the final name (see handOver for why
//     never posix-rename); the temporary file is removed on any failure.
//
// Connection drops are retried onto a fresh temporary name; permanent errors
// (host key, authentication, permission, disk full) are not.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/retry"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// Defaults used when the Config leaves a field at its zero value.
const (
	DefaultConnectTimeout = 30 * time.Second
	DefaultOpTimeout      = 2 * time.Minute // longest stall of any one operation
	DefaultRetries        = 4
	DefaultConcurrency    = 64 // requests in flight, as OpenSSH's sftp -R default
	DefaultNameTemplate   = "isaric-{project}-{yyyymmdd}.7z"

	VerifyAuto   = "auto"
	VerifySHA256 = "sha256"
	VerifySize   = "size"

	backoffBase = time.Second
	backoffMax  = 30 * time.Second
)

// Config says where and how to relay. Zero values get the defaults above.
type Config struct {
	Host string
	Port int
	User string

	KeyFile       string
	KeyPassphrase string // for an encrypted KeyFile; never logged
	UseAgent      bool   // also offer the keys of ssh-agent at SSH_AUTH_SOCK

	KnownHosts string // known_hosts file holding the drop's key
	HostKeyPin string // "SHA256:..." fingerprint; when set, used instead of KnownHosts

	RemoteDir    string
	NameTemplate string // {project}, {yyyymmdd} (Europe/London)
	Project      string

	ConnectTimeout time.Duration // TCP connect plus SSH handshake
	OpTimeout      time.Duration // an operation making no progress this long is a drop
	Retries        int           // retries after the first attempt; 0 = DefaultRetries, <0 = none
	Concurrency    int           // write requests in flight; 0 = DefaultConcurrency

	// Verify is "auto" (default: sha256 when the server can run sha256sum,
	// else size), "sha256" (fail if it cannot) or "size".
	Verify string

	Now      func() time.Time // for tests; nil = time.Now
	Log      *slog.Logger     // nil = discard
	Progress func(n int64)    // bytes sent since the last call; negative when a retry restarts

	// Stale lists temporary paths that an earlier run, killed mid-upload,
	// may have left on the drop; they are removed, if there, once
	// connected. OnTemp, when set, is told each temporary path before it is
	// created, so that the caller can record it durably for that purpose;
	// an error from it stops the relay.
	Stale  []string
	OnTemp func(path string) error
}

// Result describes a completed hand-over.
type Result struct {
	RemotePath string // final path on the drop
	Bytes      int64
	Check      string // "sha256" when the remote hash was compared, else "size"
	Attempts   int
}

// FromSource reads the SEFTBOT_SFTP_* settings (and SEFTBOT_PROJECT_ID). A
// missing setting is a user error naming every missing key.
func FromSource(src *config.Source) (Config, error) {
	useAgent, err := parseBool(src, "SEFTBOT_SFTP_USE_AGENT")
	if err != nil {
		return Config{}, err
	}
	keys := []string{"SEFTBOT_SFTP_HOST", "SEFTBOT_SFTP_USER", "SEFTBOT_SFTP_REMOTE_DIR", "SEFTBOT_SFTP_NAME_TEMPLATE"}
	if !useAgent {
		keys = append(keys, "SEFTBOT_SFTP_KEY_FILE")
	}
	if src.Get("SEFTBOT_SFTP_HOST_KEY_PIN") == "" {
		keys = append(keys, "SEFTBOT_SFTP_KNOWN_HOSTS")
	}
	if strings.Contains(src.Get("SEFTBOT_SFTP_NAME_TEMPLATE"), "{project}") {
		keys = append(keys, "SEFTBOT_PROJECT_ID")
	}
	if err := src.Require(keys...); err != nil {
		return Config{}, err
	}
	port, err := strconv.Atoi(src.Get("SEFTBOT_SFTP_PORT"))
	if err != nil || port < 1 || port > 65535 {
		return Config{}, usererr.Errorf("set SEFTBOT_SFTP_PORT to a TCP port number, e.g. 22",
			fmt.Sprintf("SEFTBOT_SFTP_PORT: %q is not a port", src.Get("SEFTBOT_SFTP_PORT")))
	}
	pass, err := src.Secret("SEFTBOT_SFTP_KEY_PASSPHRASE")
	if err != nil {
		return Config{}, err
	}
	pin := strings.TrimSpace(src.Get("SEFTBOT_SFTP_HOST_KEY_PIN"))
	if pin != "" && !strings.HasPrefix(pin, "SHA256:") {
		return Config{}, usererr.Errorf("use the SHA256:... form that ssh-keygen -lf prints",
			"SEFTBOT_SFTP_HOST_KEY_PIN must be a SHA256 fingerprint")
	}
	cfg := Config{
		Host:          src.Get("SEFTBOT_SFTP_HOST"),
		Port:          port,
		User:          src.Get("SEFTBOT_SFTP_USER"),
		KeyFile:       src.Get("SEFTBOT_SFTP_KEY_FILE"),
		KeyPassphrase: pass,
		UseAgent:      useAgent,
		KnownHosts:    src.Get("SEFTBOT_SFTP_KNOWN_HOSTS"),
		HostKeyPin:    pin,
		RemoteDir:     src.Get("SEFTBOT_SFTP_REMOTE_DIR"),
		NameTemplate:  src.Get("SEFTBOT_SFTP_NAME_TEMPLATE"),
		Project:       src.Get("SEFTBOT_PROJECT_ID"),
		Verify:        src.Get("SEFTBOT_SFTP_VERIFY"),
	}
	switch cfg.Verify {
	case VerifyAuto, VerifySHA256, VerifySize:
	default:
		return Config{}, usererr.Errorf("set SEFTBOT_SFTP_VERIFY to auto, sha256 or size",
			fmt.Sprintf("unknown SEFTBOT_SFTP_VERIFY %q", cfg.Verify))
	}
	// Fail on a bad template now, not after connecting.
	if _, err := FinalName(cfg.NameTemplate, cfg.Project, time.Now(), nil); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func parseBool(src *config.Source, key string) (bool, error) {
	v := src.Get(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, usererr.Errorf("use true or false", fmt.Sprintf("%s: %q is not a boolean", key, v))
	}
	return b, nil
}

func (c *Config) setDefaults() {
	if c.Port == 0 {
		c.Port = 22
	}
	if c.RemoteDir == "" {
		c.RemoteDir = "."
	}
	if c.NameTemplate == "" {
		c.NameTemplate = DefaultNameTemplate
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	switch {
	case c.Retries == 0:
		c.Retries = DefaultRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Verify == "" {
		c.Verify = VerifyAuto
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = func(int64) {}
	}
}

// Relay uploads localPath to the drop under the first free final name and
// returns where it went. Errors wrap ErrHostKey (key unknown or changed) or
// ErrRelay (anything else); user-fixable ones carry a usererr hint.
func Relay(ctx context.Context, cfg Config, localPath string) (*Result, error) {
	cfg.setDefaults()
	f, err := safeio.Open(localPath, "the archive") // a FIFO would block open(2)
	if err != nil {
		return nil, usererr.New(err, "check the archive path")
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRelay, err)
	}
	if !st.Mode().IsRegular() {
		return nil, usererr.Errorf("give the path of the archive file", fmt.Sprintf("%s: not a regular file", localPath))
	}
	switch cfg.Verify {
	case VerifyAuto, VerifySHA256, VerifySize:
	default:
		return nil, usererr.Errorf("use auto, sha256 or size", fmt.Sprintf("unknown verify mode %q", cfg.Verify))
	}
	name, err := FinalName(cfg.NameTemplate, cfg.Project, cfg.Now(), nil)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(name, "isaric-") {
		cfg.Log.Warn("the final name does not start with isaric-: the drop will not route it", "name", name)
	}
	auth, err := loadAuth(&cfg)
	if err != nil {
		return nil, err
	}
	defer auth.close()
	hk, err := newHostKeyCheck(&cfg)
	if err != nil {
		return nil, err
	}

	r := &relayer{cfg: &cfg, auth: auth, hk: hk, local: f, size: st.Size()}
	// Temporary names of dropped attempts and killed runs, removed on the
	// next connection.
	stale := slices.Clone(cfg.Stale)
	var res *Result
	var last error
	attempts := 0
	err = policy(&cfg).Do(ctx, func(attempt int) error {
		attempts = attempt
		got, tmp, err := r.attempt(ctx, attempt, stale)
		if err == nil {
			res = got
			return nil
		}
		if tmp != "" {
			stale = append(stale, tmp)
		}
		if r.sent != 0 {
			cfg.Progress(-r.sent) // the next attempt starts from zero
			r.sent = 0
		}
		last = err
		return err
	}, func(attempt int, err error, wait time.Duration) {
		cfg.Log.Warn("relay attempt failed; retrying on a fresh temporary name",
			"attempt", attempt, "retry_in", wait, "err", err)
	})
	switch {
	case err == nil:
		res.Attempts = attempts
		return res, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: %w", ErrRelay, errors.Join(ctx.Err(), last))
	}
	if len(stale) > 0 {
		cfg.Log.Warn("temporary files left on the drop; their names cannot match isaric-*, so nothing routes them",
			"paths", stale)
	}
	return nil, wrapFinal(err, attempts)
}

// policy is the relay's retry policy: cfg.Retries retries after the first
// attempt, 1s doubling to backoffMax with up to a quarter of each pause
// drawn at random (so that several clients do not retry in step), and
// only what retryable accepts (a dropped connection, not a host key).
func policy(cfg *Config) retry.Policy {
	return retry.Policy{Attempts: max(cfg.Retries+1, 1), First: backoffBase, Max: backoffMax, Jitter: 0.25, Retryable: retryable}
}

// wrapFinal gives the last error its sentinel: host-key errors already wrap
// ErrHostKey, everything else gets ErrRelay.
func wrapFinal(err error, attempts int) error {
	if errors.Is(err, ErrHostKey) || errors.Is(err, ErrRelay) {
		return err
	}
	if attempts > 1 {
		return fmt.Errorf("%w after %d attempts: %w", ErrRelay, attempts, err)
	}
	return fmt.Errorf("%w: %w", ErrRelay, err)
}

// progressReader counts bytes as pkg/sftp reads them. ReadFromWithConcurrency
// pipelines writes whatever the reader type (unlike ReadFrom, which wants
// Len/Size/Stat), and reads it from a single goroutine, so counting and
// hashing here cost no concurrency. Size is kept for ReadFrom all the same.
type progressReader struct {
	ctx   context.Context // a cancelled relay stops writing here
	r     io.Reader
	size  int64
	n     int64
	add   func(int64)
	touch func() // tells the stall watchdog we moved
	hash  io.Writer
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	if n > 0 {
		p.n += int64(n)
		if p.hash != nil {
			_, _ = p.hash.Write(b[:n])
		}
		p.add(int64(n))
		p.touch()
	}
	return n, err
}

func (p *progressReader) Size() int64 { return p.size }
