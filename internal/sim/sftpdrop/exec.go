package sftpdrop

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/ssh"
)

// exec runs the one command the drop allows, `sha256sum PATH`, confined to
// the root, so a relay can check the remote copy the way it would against
// OpenSSH. Its output is sha256sum's: "<hex>  PATH\n".
func (s *Server) exec(ch ssh.Channel, cmd string) {
	status := s.sha256sum(ch, cmd)
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
}

func (s *Server) sha256sum(ch ssh.Channel, cmd string) uint32 {
	arg, ok := strings.CutPrefix(cmd, "sha256sum ")
	if !ok {
		fmt.Fprintln(ch.Stderr(), "sftpdrop: only \"sha256sum PATH\" may be run")
		return 127
	}
	p, ok := shellWord(strings.TrimSpace(arg))
	if !ok {
		fmt.Fprintln(ch.Stderr(), "sha256sum: give one path, bare or in single quotes")
		return 2
	}
	f, err := s.root.Open(rel(p))
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "sha256sum: %s: No such file or directory\n", p)
		return 1
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		fmt.Fprintf(ch.Stderr(), "sha256sum: %s: read error\n", p)
		return 1
	}
	fmt.Fprintf(ch, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), p)
	return 0
}

// shellWord decodes one POSIX shell word made of bare characters,
// single-quoted runs and backslash escapes, which covers what a quoting
// client sends, quotes inside names included. Anything that would need a
// real shell (spaces outside quotes, $, globs, ;, |, ...) is refused.
func shellWord(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return "", false
			}
			b.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case strings.IndexByte(" \t\n\"\\$`;&|<>*?()[]{}~!#", c) >= 0:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), b.Len() > 0
}
