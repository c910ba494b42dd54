// Package mailsinktest starts a mail sink behind a throwaway CA, so the
// sink's own tests and its clients' tests (internal/notify) share one setup.
package mailsinktest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
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
	"github.com/isaric/seftbot/internal/sim/oauthsrv"
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
	return start(t, plain, nil)
}

// OAuth is a token endpoint and what a client needs to use it.
type OAuth struct {
	*oauthsrv.Server
	ClientID, ClientSecret string
	// CertFile and KeyFile are the client's certificate credential (PEM;
	// the key 0600), registered with the endpoint.
	CertFile, KeyFile string
}

// StartOAuth starts a sink that, like Exchange Online once Basic
// authentication is retired, takes only XOAUTH2 tokens from a token endpoint
// started beside it (HTTPS from the same CA), and answers passwords with
// 550 5.7.30. now, if not nil, is the endpoint's clock.
func StartOAuth(t testing.TB, ttl time.Duration, now func() time.Time) (*Sink, *OAuth) {
	t.Helper()
	var o *OAuth
	s := start(t, false, func(ca *CA) func(user, token string) bool {
		cert, certFile, keyFile := clientCert(t)
		srv, err := oauthsrv.Start(oauthsrv.Options{
			TLS:      &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "127.0.0.1")}, MinVersion: tls.VersionTLS12},
			ClientID: "client-" + rand.Text()[:8], ClientSecret: "secret-" + rand.Text(), ClientCert: cert,
			User: "seftbot@nhs.test", TTL: ttl, Now: now,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		o = &OAuth{Server: srv, CertFile: certFile, KeyFile: keyFile}
		return srv.Check
	})
	o.ClientID, o.ClientSecret = o.Server.ClientID(), o.Server.ClientSecret()
	return s, o
}

func start(t testing.TB, plain bool, oauth func(*CA) func(user, token string) bool) *Sink {
	dir := t.TempDir()
	ca := NewCA(t)
	s := &Sink{Dir: filepath.Join(dir, "mail"), CAFile: ca.WritePEM(t, dir), Host: "127.0.0.1",
		User: "seftbot@nhs.test", Password: "sink-" + rand.Text()}
	var cfg *tls.Config
	if !plain {
		cfg = &tls.Config{Certificates: []tls.Certificate{ca.Leaf(t, "127.0.0.1")}, MinVersion: tls.VersionTLS12}
	}
	opts := mailsink.Options{Dir: s.Dir, TLS: cfg, User: s.User, Password: s.Password}
	if oauth != nil {
		opts.XOAUTH2 = oauth(ca)
	}
	srv, err := mailsink.Start(opts)
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

// clientCert makes a self-signed RSA certificate, as an app registration's
// certificate credential, and writes it and its key (0600).
func clientCert(t testing.TB) (*x509.Certificate, string, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "seftbot app"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "app.pem"), filepath.Join(dir, "app.key")
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, certFile, keyFile
}
