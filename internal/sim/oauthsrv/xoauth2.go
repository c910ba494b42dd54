package oauthsrv

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"
)

// XOAUTH2 is the SASL mechanism Exchange Online takes OAuth 2.0 tokens by.
const XOAUTH2 = "XOAUTH2"

// ErrBadToken is what a refused token ends in; servers map it to their own
// "authentication failed" answer.
var ErrBadToken = errors.New("XOAUTH2: token refused")

// NewXOAUTH2Server reads "user=U\x01auth=Bearer T\x01\x01" and asks check.
// A refused token gets the JSON challenge of Google's and Microsoft's
// servers; the client answers it with an empty line and then fails, as
// against the real service.
func NewXOAUTH2Server(check func(user, token string) bool, onSuccess func(user string)) sasl.Server {
	return &xoauth2Server{check: check, ok: onSuccess}
}

type xoauth2Server struct {
	check  func(user, token string) bool
	ok     func(user string)
	failed bool
}

func (x *xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	if x.failed {
		return nil, true, ErrBadToken
	}
	if response == nil {
		return []byte{}, false, nil // ask for the initial response
	}
	var user, token string
	for _, f := range strings.Split(string(response), "\x01") {
		switch {
		case strings.HasPrefix(f, "user="):
			user = f[len("user="):]
		case strings.HasPrefix(f, "auth="):
			a := f[len("auth="):]
			if len(a) > 7 && strings.EqualFold(a[:7], "Bearer ") {
				token = a[7:]
			}
		}
	}
	if user != "" && token != "" && x.check(user, token) {
		if x.ok != nil {
			x.ok(user)
		}
		return nil, true, nil
	}
	x.failed = true
	b, _ := json.Marshal(map[string]string{"status": "401", "schemes": "bearer", "scope": "https://outlook.office365.com/.default"})
	return b, false, nil
}
