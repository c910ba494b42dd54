package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/isaric/seftbot/internal/metrics"
	"github.com/isaric/seftbot/internal/sim"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"seftbot": func() {
			// SEFTBOT_TEST_NOW fixes the cohort clock of the scripts; the
			// real binary has no such switch.
			if v := os.Getenv("SEFTBOT_TEST_NOW"); v != "" {
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					fmt.Fprintln(os.Stderr, "SEFTBOT_TEST_NOW:", err)
					os.Exit(1)
				}
				clock = func() time.Time { return t }
			}
			os.Exit(Main())
		},
	})
}

// TestScript runs every testdata/script/*.txtar against the real seftbot
// command, in a fresh directory with a clean SEFTBOT_* environment.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			for _, kv := range os.Environ() {
				if len(kv) > 8 && kv[:8] == "SEFTBOT_" {
					k := kv[:indexByte(kv, '=')]
					e.Setenv(k, "")
				}
			}
			e.Setenv("HOME", e.WorkDir)
			// Scripts read errors and hints as people do; logs_json.txtar
			// unsets this to check the JSON lines a scheduler gets.
			e.Setenv("SEFTBOT_LOG_FORMAT", "text")
			// The portal's worked profiles, used as an operator would.
			profiles, err := filepath.Abs(filepath.Join("..", "portal", "testdata"))
			if err != nil {
				return err
			}
			e.Setenv("PROFILES", profiles)
			return nil
		},
		RequireExplicitExec: true,
		// [tool:NAME] holds when NAME is installed, and always in CI: there
		// a missing tool fails the script instead of skipping it
		// ('[!tool:chromium] skip' then never skips).
		Condition: func(cond string) (bool, error) {
			name, ok := strings.CutPrefix(cond, "tool:")
			if !ok {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			if os.Getenv("CI") != "" {
				return true, nil
			}
			_, err := exec.LookPath(name)
			return err == nil, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":      cmdExits,
			"simstart":   cmdSimStart,
			"simnow":     cmdSimNow,
			"simmorning": cmdSimMorning,
			"simpublish": cmdSimPublish,
			"simfault":   cmdSimFault,
			"simsent":    cmdSimSent,
			"simmail":    cmdSimMail,
			"simfirst":   cmdSimFirst,
			"simposts":   cmdSimPosts,
			"metric":     cmdMetric,
			"jsonpath":   cmdJSONPath,
		},
	})
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return len(s)
}

// cmdExits runs a program and checks its exact exit code:
// "exits 5 seftbot download" passes only if seftbot exits with 5.
// Its output is kept for the stdout/stderr commands that follow.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d", got, want)
	}
}

// cmdSimStart starts seftsim in-process for the rest of the script, in
// $WORK/sim, and sets $SIM to that directory:
// "simstart -files 5 -smtp-down". It stops when the script ends.
func cmdSimStart(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("usage: simstart [-files N] [-file-size B] [-smtp-down] [-smtp-auth xoauth2] [-oauth-token-ttl D] [-oauth-auto-approve] [-dir NAME]")
	}
	fs := flag.NewFlagSet("simstart", flag.ContinueOnError)
	files := fs.Int("files", 5, "files in the first batch")
	size := fs.Int64("file-size", 8<<10, "mean file size")
	smtpDown := fs.Bool("smtp-down", false, "SMTP sink refuses connections")
	smtpAuth := fs.String("smtp-auth", "password", "password or xoauth2")
	oauthTTL := fs.Duration("oauth-token-ttl", 0, "token lifetime")
	autoApprove := fs.Bool("oauth-auto-approve", false, "approve device sign-ins at once")
	name := fs.String("dir", "sim", "directory under $WORK, for a second seftsim in one script")
	markup := fs.String("markup", "", "v1 (default), v2 or v3")
	ts.Check(fs.Parse(args))
	if _, err := exec.LookPath("chromium"); err != nil {
		ts.Fatalf("chromium not installed (apt-get install chromium)")
	}
	dir := ts.MkAbs(*name)
	s, err := sim.Start(context.Background(), sim.Options{
		Dir: dir, Files: *files, FileSize: *size, Seed: 3, Faults: sim.Faults{SMTPDown: *smtpDown}, Markup: *markup,
		SMTPAuth: *smtpAuth, OAuthTTL: *oauthTTL, OAuthAutoApprove: *autoApprove,
	})
	ts.Check(err)
	ts.Defer(func() { s.Close() })
	sims.Store(ts, s)
	ts.Defer(func() { sims.Delete(ts) })
	ts.Setenv("SIM", dir)
	ts.Setenv("SIMSTAGING", filepath.Join(dir, "staging"))
}

// cmdMetric parses a metrics file with the Prometheus text parser and checks
// one sample: "metric FILE 'seftbot_last_run_exit_code{verb=\"fetch\"}' 5";
// VALUE ">0" accepts any positive value, "absent" wants no such sample.
func cmdMetric(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: metric FILE NAME{LABELS} VALUE|>0|absent")
	}
	got, err := metrics.Read(ts.MkAbs(args[0]))
	ts.Check(err)
	v, ok := got[args[1]]
	switch {
	case args[2] == "absent":
		if ok {
			ts.Fatalf("%s = %v, want absent", args[1], v)
		}
	case !ok:
		ts.Fatalf("%s absent from %s", args[1], args[0])
	case args[2] == ">0":
		if v <= 0 {
			ts.Fatalf("%s = %v, want > 0", args[1], v)
		}
	default:
		want, err := strconv.ParseFloat(args[2], 64)
		ts.Check(err)
		if v != want {
			ts.Fatalf("%s = %v, want %v", args[1], v, want)
		}
	}
}

// cmdJSONPath parses a JSON file and compares the value at a dotted path
// (numbers index arrays, "len" is an array's length) with VALUE written as
// JSON: "jsonpath status.json last.fetch.exit_code 14".
func cmdJSONPath(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: jsonpath FILE PATH JSON-VALUE")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v); err != nil {
		ts.Fatalf("%s does not parse as JSON: %v", args[0], err)
	}
	for _, k := range strings.Split(args[1], ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			if k == "len" {
				v = float64(len(x))
				continue
			}
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				ts.Fatalf("%s: no element %s", args[1], k)
			}
			v = x[i]
		default:
			ts.Fatalf("%s: cannot index %T with %s", args[1], v, k)
		}
	}
	var want any
	ts.Check(json.Unmarshal([]byte(args[2]), &want))
	got, _ := json.Marshal(v)
	wantb, _ := json.Marshal(want)
	if (string(got) == string(wantb)) == neg {
		ts.Fatalf("%s = %s, want %s%s", args[1], got, map[bool]string{true: "not "}[neg], wantb)
	}
}

// sims is each script's latest seftsim, for simnow and simmorning.
var sims sync.Map // *testscript.TestScript -> *sim.Sim

func scriptSim(ts *testscript.TestScript) *sim.Sim {
	s, ok := sims.Load(ts)
	if !ok {
		ts.Fatalf("no seftsim started (simstart)")
	}
	return s.(*sim.Sim)
}

// cmdSimNow sets the cohort clock (SEFTBOT_TEST_NOW) to seftsim's, so
// both sides agree on which day an upload was made.
func cmdSimNow(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: simnow")
	}
	ts.Setenv("SEFTBOT_TEST_NOW", scriptSim(ts).Now().UTC().Format(time.RFC3339))
}

// cmdSimMorning moves seftsim's clock to HH:MM Europe/London on the next
// day (mailing the notices due by then) and the cohort clock with it:
// "simmorning 10:00".
func cmdSimMorning(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: simmorning HH:MM")
	}
	hm, err := time.Parse("15:04", args[0])
	ts.Check(err)
	s := scriptSim(ts)
	london, err := time.LoadLocation("Europe/London")
	ts.Check(err)
	y, m, d := s.Now().In(london).Date()
	to := time.Date(y, m, d+1, hm.Hour(), hm.Minute(), 0, 0, london)
	_, err = s.AdvanceClock(to.Sub(s.Now()))
	ts.Check(err)
	ts.Setenv("SEFTBOT_TEST_NOW", s.Now().UTC().Format(time.RFC3339))
}

// cmdSimPublish publishes N new files on seftsim ("there is new data"):
// "simpublish 3".
func cmdSimPublish(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: simpublish N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	_, err = scriptSim(ts).Publish(n, 8<<10)
	ts.Check(err)
}

// cmdSimFault turns a seftsim fault on or off at run time:
// "simfault maintenance on", "simfault smtp-down off".
func cmdSimFault(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 || (args[1] != "on" && args[1] != "off") {
		ts.Fatalf("usage: simfault maintenance|api-maintenance|smtp-down on|off")
	}
	s := scriptSim(ts)
	f := s.Faults()
	switch args[0] {
	case "maintenance":
		f.Maintenance = args[1] == "on"
	case "smtp-down":
		f.SMTPDown = args[1] == "on"
	case "api-maintenance":
		f.APIMaintenance = args[1] == "on"
	default:
		ts.Fatalf("unknown fault %q", args[0])
	}
	ts.Check(s.SetFaults(f))
}

// cmdSimMail delivers FILE (LF line ends become CRLF) to the operator's
// mailbox as mail from outside, envelope sender FROM:
// "simmail seft-noreply@evil.example spoof.eml".
func cmdSimMail(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: simmail FROM FILE")
	}
	msg := strings.ReplaceAll(ts.ReadFile(args[1]), "\n", "\r\n")
	ts.Check(scriptSim(ts).DeliverMail(args[0], []byte(msg)))
}

// cmdSimSent checks how many file bodies seftsim has sent whole:
// "simsent 1".
func cmdSimSent(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: simsent N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	if got := scriptSim(ts).State().Downloads; got != want {
		ts.Fatalf("seftsim sent %d files, want %d", got, want)
	}
}

// cmdSimFirst sets FIRST_NAME, FIRST_SIZE and FIRST_SHA256 to those of
// the first file seftsim lists.
func cmdSimFirst(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: simfirst")
	}
	files := scriptSim(ts).Files()
	if len(files) == 0 {
		ts.Fatalf("seftsim lists no files")
	}
	ts.Setenv("FIRST_NAME", files[0].Name)
	ts.Setenv("FIRST_SIZE", strconv.FormatInt(files[0].Size, 10))
	ts.Setenv("FIRST_SHA256", files[0].SHA256)
}
