package oauthsrv

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// clientAssertionType is RFC 7523's: a JWT signed with the client's
// certificate key stands in for the secret.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// checkAssertion verifies a client assertion as the Microsoft identity
// platform does: RS256 by the registered certificate's key, its SHA-256
// thumbprint in the header, issuer and subject the client, audience the
// token URL, not expired, not from the future.
func (s *Server) checkAssertion(jwt string) error {
	if s.o.ClientCert == nil {
		return errors.New("AADSTS700027: no certificate is registered for this client")
	}
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return errors.New("AADSTS50027: invalid JWT")
	}
	dec := base64.RawURLEncoding.DecodeString
	hb, err1 := dec(parts[0])
	cb, err2 := dec(parts[1])
	sig, err3 := dec(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return errors.New("AADSTS50027: invalid JWT encoding")
	}
	var head struct {
		Alg  string `json:"alg"`
		X5t2 string `json:"x5t#S256"`
	}
	var claims struct {
		Aud, Iss, Sub string
		Exp, Nbf      int64
	}
	if json.Unmarshal(hb, &head) != nil || json.Unmarshal(cb, &claims) != nil || head.Alg != "RS256" {
		return errors.New("AADSTS50027: invalid JWT header or claims")
	}
	thumb := sha256.Sum256(s.o.ClientCert.Raw)
	if subtle.ConstantTimeCompare([]byte(head.X5t2), []byte(base64.RawURLEncoding.EncodeToString(thumb[:]))) != 1 {
		return errors.New("AADSTS700027: the certificate thumbprint does not match the registered certificate")
	}
	pub, ok := s.o.ClientCert.PublicKey.(*rsa.PublicKey)
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ok || rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return errors.New("AADSTS700027: client assertion failed signature validation")
	}
	now := s.o.Now().Unix()
	switch {
	case claims.Iss != s.o.ClientID || claims.Sub != s.o.ClientID:
		return errors.New("AADSTS700016: issuer or subject is not this client")
	case claims.Aud != s.TokenURL():
		return errors.New("AADSTS700017: the audience is not this token endpoint")
	case claims.Exp <= now:
		return errors.New("AADSTS700024: the client assertion has expired")
	case claims.Nbf > now+int64(time.Minute/time.Second):
		return errors.New("AADSTS700024: the client assertion is not yet valid")
	}
	return nil
}
