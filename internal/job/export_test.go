package job

// SetPassphraseRemoved sets o's seam run after the kept passphrase is
// removed and before the stage is recorded.
func SetPassphraseRemoved(o *Options, f func()) { o.passphraseRemoved = f }

// SetRetried sets o's seam run before each wait between download attempts.
func SetRetried(o *Options, f func(attempt int)) { o.retried = f }
