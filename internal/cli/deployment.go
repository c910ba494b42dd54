package cli

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/isaric/seftbot/internal/config"
	"github.com/isaric/seftbot/internal/layout"
	"github.com/isaric/seftbot/internal/staging"
	"github.com/isaric/seftbot/internal/usererr"
)

// The packaged service's layout: its units run as serviceUser, read
// serviceEtc/seftbot.env, and may write only the state dir and /dev/shm.
const (
	serviceUser = "seftbot"
	serviceEtc  = "/etc/seftbot"
)

// deployment is what checkDeployment looks at; tests replace the lookups.
type deployment struct {
	etc        string
	lookupUser func(name string) (*user.User, error)
	euid       int
}

var realDeployment = deployment{etc: serviceEtc, lookupUser: user.Lookup, euid: os.Geteuid()}

// checkDeployment checks what the packaged service needs, when the env file
// is the service's (in /etc/seftbot) or seftbot runs as the service's user:
// the user exists and is the one running, the env file, state and key files
// are its own, and state is where the units may write and a reboot keeps it.
// Each failure names the line of the env file to change.
func (d deployment) check(src *config.Source) (string, error) {
	env := ""
	if src.FileName != "" {
		env, _ = filepath.Abs(src.FileName)
	}
	me, _ := user.LookupId(strconv.Itoa(d.euid))
	if filepath.Dir(env) != d.etc && (me == nil || me.Username != serviceUser) {
		return "not the packaged service's layout (no env file in " + d.etc + "): service checks skipped", nil
	}
	u, err := d.lookupUser(serviceUser)
	if err != nil {
		return "", usererr.New(fmt.Errorf("no %q user: the service's units run as it", serviceUser),
			"install the seftbot package, or: useradd --system --home-dir "+config.ServiceStateDir+" --shell /usr/sbin/nologin "+serviceUser)
	}
	uid, _ := strconv.Atoi(u.Uid)
	if d.euid != uid {
		return "", usererr.New(fmt.Errorf("doctor runs as uid %d, the service as %s (uid %d): ownership cannot be checked", d.euid, serviceUser, uid),
			"run it as the service does: sudo -u "+serviceUser+" seftbot --env-file "+env+" doctor")
	}
	var bad []string
	where := func(key string) string {
		if w := src.Where(key); w != "" {
			return w
		}
		return "add " + key + "= to " + env
	}
	if env != "" {
		if err := ownedBy(env, uid); err != nil {
			bad = append(bad, err.Error()+": run chown "+serviceUser+": "+env)
		}
	}
	stateDir, stagingDir := staging.Dirs(src.Get("SEFTBOT_STATE_DIR"), src.Get("SEFTBOT_STAGING_DIR"))
	switch {
	case underTmp(stateDir):
		bad = append(bad, fmt.Sprintf("SEFTBOT_STATE_DIR %s is under a temporary directory, which a reboot or PrivateTmp= empties: set it to %s (%s)",
			stateDir, config.ServiceStateDir, where("SEFTBOT_STATE_DIR")))
	case !within(stateDir, config.ServiceStateDir):
		bad = append(bad, fmt.Sprintf("SEFTBOT_STATE_DIR %s is not under %s, the only place the units may write: set it to %s (%s)",
			stateDir, config.ServiceStateDir, config.ServiceStateDir, where("SEFTBOT_STATE_DIR")))
	default:
		if err := ownedBy(stateDir, uid); err != nil && !os.IsNotExist(err) {
			bad = append(bad, err.Error()+": run chown -R "+serviceUser+": "+stateDir)
		}
	}
	if underTmp(stagingDir) || !within(stagingDir, config.ServiceStateDir) && !within(stagingDir, "/dev/shm") {
		bad = append(bad, fmt.Sprintf("SEFTBOT_STAGING_DIR %s: the units may write only %s and /dev/shm, and clear text must not sit in /tmp: empty it for the default (%s)",
			stagingDir, config.ServiceStateDir, where("SEFTBOT_STAGING_DIR")))
	}
	// Files the service must read: a root-owned 0600 key passes doctor run
	// as root, and fails at night.
	for _, key := range serviceFiles() {
		p := src.Get(key)
		if p == "" {
			continue
		}
		if err := ownedBy(p, uid); err != nil && !os.IsNotExist(err) {
			bad = append(bad, fmt.Sprintf("%s: %v: run chown %s: %s (%s)", key, err, serviceUser, p, where(key)))
		}
	}
	if len(bad) > 0 {
		return "", usererr.New(fmt.Errorf("not ready for the service: %s", strings.Join(bad, "; ")),
			"change the lines named above, then run seftbot doctor again")
	}
	return fmt.Sprintf("service layout: runs as %s, env file, state and key files are its own, state in %s", serviceUser, stateDir), nil
}

// serviceFiles are the settings that name a private file the service reads.
func serviceFiles() []string {
	keys := []string{"SEFTBOT_SFTP_KEY_FILE", "SEFTBOT_OAUTH_CLIENT_KEY_FILE"}
	for _, s := range config.Settings {
		if s.Secret {
			keys = append(keys, s.Key+"_FILE")
		}
	}
	return keys
}

func ownedBy(path string, uid int) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if got, ok := layout.Owner(st); ok && got != uid {
		name := strconv.Itoa(got)
		if u, err := user.LookupId(name); err == nil {
			name = u.Username
		}
		return fmt.Errorf("%s belongs to %s, not to %s", path, name, serviceUser)
	}
	return nil
}

func underTmp(p string) bool { return within(p, "/tmp") || within(p, "/var/tmp") }

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	p = filepath.Clean(p)
	return p == dir || strings.HasPrefix(p, dir+"/")
}
