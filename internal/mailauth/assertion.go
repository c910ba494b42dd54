package mailauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/safeio"
	"github.com/isaric/seftbot/internal/usererr"
)

// AssertionType is RFC 7523's client assertion type: the client proves
// itself with a JWT signed by its certificate's key instead of a secret.
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientCert is the app registration's certificate credential.
type clientCert struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

// loadClientCert reads the certificate (PEM) and its RSA private key (PEM,
// a private file, as every secret).
func loadClientCert(certFile, keyFile string) (*clientCert, error) {
	hint := "SEFTBOT_OAUTH_CLIENT_CERT_FILE must hold the app's certificate (PEM) and SEFTBOT_OAUTH_CLIENT_KEY_FILE its RSA private key (PEM, mode 0600)"
	cb, err := safeio.ReadFile(certFile, "SEFTBOT_OAUTH_CLIENT_CERT_FILE", 1<<20)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("SEFTBOT_OAUTH_CLIENT_CERT_FILE: %w", err), hint)
	}
	st, err := os.Stat(keyFile)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("SEFTBOT_OAUTH_CLIENT_KEY_FILE: %w", err), hint)
	}
	if err := config.CheckPrivate(keyFile, st); err != nil {
		return nil, err
	}
	kb, err := safeio.ReadFile(keyFile, "SEFTBOT_OAUTH_CLIENT_KEY_FILE", 1<<20)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("SEFTBOT_OAUTH_CLIENT_KEY_FILE: %w", err), hint)
	}
	cp, _ := pem.Decode(cb)
	kp, _ := pem.Decode(kb)
	if cp == nil || kp == nil {
		return nil, usererr.Errorf(hint, "the client certificate or key file holds no PEM block")
	}
	cert, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		return nil, usererr.New(fmt.Errorf("SEFTBOT_OAUTH_CLIENT_CERT_FILE: %w", err), hint)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(kp.Bytes); err != nil {
		key, err = x509.ParsePKCS1PrivateKey(kp.Bytes)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, usererr.Errorf(hint, "SEFTBOT_OAUTH_CLIENT_KEY_FILE is not an RSA private key")
	}
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&rk.PublicKey) {
		return nil, usererr.Errorf(hint, "the client key does not belong to the client certificate")
	}
	return &clientCert{cert: cert, key: rk}, nil
}

// assertion is a fresh JWT for one token request, as the Microsoft identity
// platform wants it: RS256, the certificate's thumbprints in the header,
// the token URL as audience, valid five minutes.
func (c *clientCert) assertion(clientID, tokenURL string, now time.Time) (string, error) {
	sha1sum := sha1.Sum(c.cert.Raw) // x5t is defined as the SHA-1 thumbprint; x5t#S256 is given too
	sha256sum := sha256.Sum256(c.cert.Raw)
	b64 := base64.RawURLEncoding.EncodeToString
	head, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "x5t": b64(sha1sum[:]), "x5t#S256": b64(sha256sum[:])})
	jti := strings.ToLower(rand.Text())
	claims, _ := json.Marshal(map[string]any{"aud": tokenURL, "iss": clientID, "sub": clientID, "jti": jti,
		"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
	signing := b64(head) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, c.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + b64(sig), nil
}
