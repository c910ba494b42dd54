package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/isaric/seftbot/internal/inbox"
	"github.com/isaric/seftbot/internal/job"
	"github.com/isaric/seftbot/internal/notify"
)

// TestStatusJSONSchema holds `status --json` to docs/status.schema.json:
// real output, from an empty state and from one with every part filled in,
// validates against it, and every field the code can print is documented
// (the schema forbids fields it does not name).
func TestStatusJSONSchema(t *testing.T) {
	raw, err := os.ReadFile("../../docs/status.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("status.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("status.schema.json")
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	t.Setenv("SEFTBOT_LOG_FORMAT", "json")
	t.Setenv("SEFTBOT_STATE_DIR", state)
	t.Setenv("SEFTBOT_STAGING_DIR", filepath.Join(dir, "staging"))
	t.Setenv("SEFTBOT_PROJECT_ID", "NIC-402963-P0Y5D")
	t.Chdir(dir)
	status := func(wantCode int, args ...string) any {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"status", "--json"}, args...), strings.NewReader(""), &stdout, &stderr); code != wantCode {
			t.Fatalf("status exit %d, want %d\n%s", code, wantCode, stderr.String())
		}
		v, err := jsonschema.UnmarshalJSON(&stdout)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := schema.Validate(status(0)); err != nil {
		t.Errorf("empty state: %v", err)
	}

	// Every part filled in: runs of each outcome, a cohort ledger, an
	// unfinished run, clear text in staging, a rejection not acknowledged.
	var out bytes.Buffer
	os.WriteFile("held.txt", []byte("9990000018\n9990000077\n"), 0o600)
	os.WriteFile("new.txt", []byte("9990000077\n9990000158\n"), 0o600)
	for _, args := range [][]string{{"cohort", "import-held", "held.txt"}, {"cohort", "replace", "new.txt"}} {
		if code := run(context.Background(), args, strings.NewReader(""), &out, &out); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, out.String())
		}
	}
	st := job.State{Dir: state}
	now := time.Now().UTC()
	for _, r := range []job.Record{
		{Verb: "fetch", ExitCode: 6, RunID: "r1", Started: now.Add(-2 * time.Hour), Finished: now.Add(-time.Hour), Outcome: "failed",
			Stage: job.StageDownload, Error: "download: portal down", DebugDir: filepath.Join(state, "debug", "r1-001-download")},
		{Verb: "fetch", ExitCode: 4, RunID: "r2", Started: now, Finished: now, Outcome: OutcomeSkipped},
		{Verb: "fetch", ExitCode: 0, RunID: "r1", Started: now.Add(-2 * time.Hour), Finished: now, Outcome: "ok", Files: 1, Bytes: 3,
			FileNames: []string{"a.csv"}, Archive: "isaric-NIC-402963-P0Y5D-20261206.7z", RemotePath: "/isaric-NIC-402963-P0Y5D-20261206.7z",
			Stages: []notify.StageTime{{Name: job.StageDownload, Duration: time.Second}}},
	} {
		if err := st.AppendRecord(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SaveBatch(&job.Batch{RunID: "r3", Started: now.Add(-48 * time.Hour), Done: []string{job.StageDownload, job.StageCollect},
		Files: []job.File{{Name: "b.csv", LocalName: "b.csv", Size: 3}}, RemotePath: "/x.7z"}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "staging"), 0o700)
	os.WriteFile(filepath.Join(dir, "staging", "b.csv"), []byte("abc"), 0o600)
	ist := &inbox.State{Rejections: []inbox.Rejection{{Step: "S1", Notice: now, Subject: "SEFT file processing", Recorded: now}}}
	if err := ist.Save(state); err != nil {
		t.Fatal(err)
	}
	full := status(ExitHealth, "--files")
	if err := schema.Validate(full); err != nil {
		t.Errorf("full state: %v", err)
	}
	b, _ := json.Marshal(full)
	for _, want := range []string{`"outcome":"skipped"`, `"debug_dir":`, `"file_names":["a.csv"]`, `"open_steps":[{`, `"subject":"SEFT file processing"`, `"run_id":"r3"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the full state's output lacks %s, so the schema was not tried on it:\n%s", want, b)
		}
	}

	// Fields that only appear sometimes (omitempty) must be documented too.
	var sch map[string]any
	json.Unmarshal(raw, &sch)
	props := func(path ...string) map[string]any {
		var v any = sch
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		return v.(map[string]any)["properties"].(map[string]any)
	}
	check := func(typ reflect.Type, p map[string]any) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			if _, ok := p[name]; !ok {
				t.Errorf("%s.%s (%q) is not in docs/status.schema.json", typ.Name(), f.Name, name)
			}
		}
	}
	top := props()
	check(reflect.TypeOf(statusJSON{}), top)
	check(reflect.TypeOf(job.Record{}), props("$defs", "run"))
	check(reflect.TypeOf(stagingJSON{}), props("properties", "staging"))
	check(reflect.TypeOf(latchState{}), top["login_latches"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any))
	check(reflect.TypeOf(inbox.Rejection{}), top["cohort_rejections"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any))
	second := func(name string) map[string]any {
		return top[name].(map[string]any)["oneOf"].([]any)[1].(map[string]any)["properties"].(map[string]any)
	}
	check(reflect.TypeOf(unfinishedJSON{}), second("unfinished"))
	cohortProps := second("cohort")
	check(reflect.TypeOf(cohortJSON{}), cohortProps)
	check(reflect.TypeOf(stepJSON{}), cohortProps["open_steps"].(map[string]any)["items"].(map[string]any)["properties"].(map[string]any))
	check(reflect.TypeOf(submitJSON{}), cohortProps["last_submission"].(map[string]any)["properties"].(map[string]any))
}
