package mailauth

import "time"

// SetWriteCacheFault makes every cache write fail with err until restored.
func SetWriteCacheFault(err error) (restore func()) {
	testHookWriteCache = func() error { return err }
	return func() { testHookWriteCache = nil }
}

// SetCacheLockWait shortens the token cache lock's wait for a test.
func SetCacheLockWait(d time.Duration) (restore func()) {
	old := cacheLockWait
	cacheLockWait = d
	return func() { cacheLockWait = old }
}
