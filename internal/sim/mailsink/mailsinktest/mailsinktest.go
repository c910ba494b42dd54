// Package mailsinktest starts a mail sink behind a throwaway CA, so the
// sink's own tests and its clients' tests (internal/notify) share one setup.
package mailsinktest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/isaric/seftbot/internal/sim/mailsink"
)

// Sink is a running sink and what a client needs to reach it.
type Sink struct {
	*mailsink.Server
	Dir            string // the message directory
	CAFile         string // PEM of the CA that signed the sink's certificate
	Host           string
	Port           int
	User, Password string
}

// Start starts a sink on 127.0.0.1, with STARTTLS unless plain is true.
// It is closed when the test ends.
func Start(t testing.TB, plain bool) *Sink {
	t.Helper()
	dir := t.TempDir()
	ca := NewCA(t)
	s := &Sink{Dir: filepath.Join(dir, "mail"), CAFile: ca.WritePEM(t, dir), Host: "127.0.0.1",
		User: "seftbot@nhs.test", Password: "sink-" + rand.Text()}
	var cfg *tls.Config
	if !plain {
		cfg = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "127.0.0.1")}, MinVersion: tls.VersionTLS12}
	}
	srv, err := mailsink.Start(mailsink.Options{Dir: s.Dir, TLS: cfg, User: s.User, Password: s.Password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	s.Server = srv
	_, port, _ := net.SplitHostPort(srv.Addr())
	s.Port, _ = strconv.Atoi(port)
	return s
}

// CA is a throwaway certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a CA valid for an hour.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailsinktest CA"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{cert: cert, key: key}
}

// WritePEM writes the CA certificate to dir/ca.pem and returns the path.
func (ca *CA) WritePEM(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Leaf issues a server certificate for one IP address.
func (ca *CA) Leaf(t testing.TB, ip string) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: ip},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
