package config

import (
	"crypto/x509"
	"fmt"

	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// CertPool is the system roots plus the PEM certificates of the CA file set
// by key (e.g. SEFTBOT_SMTP_CA_FILE); path "" adds nothing. Verification is
// never switched off: a CA file only adds trust.
func CertPool(key, path string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if path == "" {
		return pool, nil
	}
	pem, err := safeio.ReadFile(path, key, 4<<20)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("%s: %w", key, err), "point "+key+" at a readable PEM file, or unset it")
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usererr.Errorf(key+" must hold PEM \"CERTIFICATE\" blocks", key+" "+path+" holds no certificate")
	}
	return pool, nil
}
