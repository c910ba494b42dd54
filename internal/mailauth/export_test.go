package mailauth

import "time"

// WithCacheFault returns cfg whose every cache write fails with err.
func WithCacheFault(cfg Config, err error) Config {
	cfg.cacheFault = func() error { return err }
	return cfg
}

// SetCacheLockWait shortens the token cache lock's wait for a test.
func SetCacheLockWait(d time.Duration) (restore func()) {
	old := cacheLockWait
	cacheLockWait = d
	return func() { cacheLockWait = old }
}
