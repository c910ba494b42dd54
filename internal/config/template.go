package config

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// ServiceStateDir is where the package's units keep state
// (StateDirectory=seftbot), and so what the template sets.
const ServiceStateDir = "/var/lib/seftbot"

// serviceValues are the values the template sets for a service run by the
// package's units: state where the units may write, and the drop's host key
// next to the env file. Nothing under /tmp, nothing owned by root alone.
var serviceValues = map[string]string{
	"SEFTBOT_STATE_DIR":        ServiceStateDir,
	"SEFTBOT_SFTP_KNOWN_HOSTS": "/etc/seftbot/known_hosts",
}

// examples are paths offered in a comment for settings the operator fills.
var examples = map[string]string{
	"SEFTBOT_SFTP_KEY_FILE": "/etc/seftbot/sftp_key (0600, owned by seftbot)",
}

// WriteTemplate writes the commented env file `seftbot init` creates, made
// from Settings so it cannot drift from what seftbot reads: every setting
// with its meaning and default; settings without a default as empty lines
// to fill; settings with one commented out; secrets as KEY_FILE paths.
func WriteTemplate(w io.Writer, version string) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `# seftbot settings, written by "seftbot init" (seftbot %s).
#
# Keep this file mode 0600 and owned by the user seftbot runs as (the
# package's units run as "seftbot"). One KEY=value a line; an empty value
# means "not set", so the default applies; a line starting with # is a
# comment. The environment beats this file.
#
# Secrets are not written here: put each in a file of its own (one line,
# mode 0600, owned by seftbot) and name that file in KEY_FILE.
#
# Then run: seftbot --env-file FILE doctor --offline
# It lists the settings still to fill, and names the line of this file to
# change when a value does not suit the packaged service.
`, version)
	for _, s := range Settings {
		bw.WriteString("\n")
		help := s.Help
		if s.Secret {
			help += " (a secret: the path of a file holding it, e.g. /etc/seftbot/" +
				strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(s.Key, Prefix), "_", "-")) + ")"
		}
		if ex, ok := examples[s.Key]; ok {
			help += " (e.g. " + ex + ")"
		}
		for _, l := range wrap(help, 76) {
			bw.WriteString("# " + l + "\n")
		}
		key := s.Key
		if s.Secret {
			key += "_FILE"
		}
		switch v, ok := serviceValues[s.Key]; {
		case ok:
			if s.Default != "" {
				fmt.Fprintf(bw, "# default: %s; for the service:\n", s.Default)
			}
			fmt.Fprintf(bw, "%s=%s\n", key, quote(v))
		case s.Default != "":
			fmt.Fprintf(bw, "#%s=%s\n", key, quote(s.Default))
		default:
			fmt.Fprintf(bw, "%s=\n", key)
		}
	}
	return bw.Flush()
}

// quote single-quotes a value with characters an env file would otherwise
// read differently (#, spaces, quotes, backslashes, $); single quotes keep
// it literal.
func quote(v string) string {
	if strings.ContainsAny(v, "# '\"\\$") {
		return "'" + v + "'"
	}
	return v
}

// wrap breaks s into lines of at most width runes at spaces.
func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = w
			continue
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}

// Where says where the value of key comes from, for a message that tells
// the operator what to change: "the environment", "FILE line N", or "" when
// neither sets it.
func (s *Source) Where(key string) string {
	if _, ok := s.flags[key]; ok {
		return "a command-line flag"
	}
	if s.getenv(key) != "" {
		return "the environment (" + key + ")"
	}
	if s.FileName == "" {
		return ""
	}
	if n := lineOf(s.FileName, key); n > 0 {
		return fmt.Sprintf("%s line %d", s.FileName, n)
	}
	return ""
}

// lineOf returns the last line of an env file that assigns key (the one
// that wins), or 0.
func lineOf(path, key string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	re := regexp.MustCompile(`^\s*(export\s+)?` + regexp.QuoteMeta(key) + `\s*[=:]`)
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	found := 0
	for n := 1; sc.Scan(); n++ {
		if re.MatchString(sc.Text()) {
			found = n
		}
	}
	return found
}
