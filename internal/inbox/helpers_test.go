package inbox_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/user"
	"strconv"
	"testing"
)

func pemOf(t *testing.T, c tls.Certificate) (cert, key string) {
	t.Helper()
	kb, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
}

func poolOf(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(b)
	return p
}

// gidOf is the primary group of a uid.
func gidOf(t *testing.T, uid string) int {
	t.Helper()
	u, err := user.LookupId(uid)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := strconv.Atoi(u.Gid)
	return g
}
