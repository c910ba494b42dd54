package mailsink

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Message is one stored mail, parsed for tests.
type Message struct {
	N            int // the n of n.eml
	Path         string
	EnvelopeFrom string   // MAIL FROM
	EnvelopeTo   []string // RCPT TO, in order
	Header       mail.Header
	Subject      string // decoded (RFC 2047)
	Body         []byte // as transmitted
	// Text is Body decoded per Content-Transfer-Encoding for a single-part
	// text message; "" for multipart ones.
	Text string
}

// ReadMessages parses every DIR/<n>.eml in order of n.
func ReadMessages(dir string) ([]Message, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Message
	for _, e := range ents {
		n, ok := messageNumber(e.Name())
		if !ok {
			continue
		}
		m, err := readMessage(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		m.N = n
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Message) int { return a.N - b.N })
	return out, nil
}

func readMessage(path string) (Message, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Message{}, err
	}
	pm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, fmt.Errorf("%s: %w", path, err)
	}
	body, err := io.ReadAll(pm.Body)
	if err != nil {
		return Message{}, fmt.Errorf("%s: %w", path, err)
	}
	m := Message{Path: path, Header: pm.Header, Body: body}
	m.EnvelopeFrom = strings.Trim(pm.Header.Get("Return-Path"), "<>")
	for _, a := range strings.Split(pm.Header.Get("X-Envelope-To"), ",") {
		if a = strings.TrimSpace(a); a != "" {
			m.EnvelopeTo = append(m.EnvelopeTo, a)
		}
	}
	if m.Subject, err = new(mime.WordDecoder).DecodeHeader(pm.Header.Get("Subject")); err != nil {
		return Message{}, fmt.Errorf("%s: subject: %w", path, err)
	}
	ct, _, _ := mime.ParseMediaType(pm.Header.Get("Content-Type"))
	if ct == "" || strings.HasPrefix(ct, "text/") {
		text, err := decodeBody(pm.Header.Get("Content-Transfer-Encoding"), body)
		if err != nil {
			return Message{}, fmt.Errorf("%s: body: %w", path, err)
		}
		m.Text = text
	}
	return m, nil
}

func decodeBody(cte string, body []byte) (string, error) {
	var r io.Reader = bytes.NewReader(body)
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
	}
	b, err := io.ReadAll(r)
	return strings.ReplaceAll(string(b), "\r\n", "\n"), err
}

// newlineStripper drops CR and LF, which base64 bodies wrap with.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
