package job

// SetTestHookPassphraseRemoved sets the hook run after the kept passphrase
// is removed and before the stage is recorded; it returns a restore func.
func SetTestHookPassphraseRemoved(f func()) func() {
	old := testHookPassphraseRemoved
	testHookPassphraseRemoved = f
	return func() { testHookPassphraseRemoved = old }
}
