package job

// SetTestHookPassphraseRemoved sets the hook run after the kept passphrase
// is removed and before the stage is recorded; it returns a restore func.
func SetTestHookPassphraseRemoved(f func()) func() {
	old := testHookPassphraseRemoved
	testHookPassphraseRemoved = f
	return func() { testHookPassphraseRemoved = old }
}

// SetTestHookRetry sets the hook run before each wait between download
// attempts; it returns a restore func.
func SetTestHookRetry(f func(attempt int)) func() {
	old := testHookRetry
	testHookRetry = f
	return func() { testHookRetry = old }
}
