// Package metrics writes what seftbot knows after a run as a Prometheus
// text-format file, for node_exporter's textfile collector: an ops team can
// alert on "no successful fetch in 36 h" without parsing prose. The file is
// replaced atomically, so the collector never reads half of it.
package metrics

import (
	"bytes"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/isaric/seftbot/internal/atomicfile"
	"github.com/isaric/seftbot/internal/job"
)

// Snapshot is the state the metrics are made from.
type Snapshot struct {
	Records       []job.Record // every recorded run, oldest first
	CohortKnown   bool         // a cohort ledger exists
	CohortPending int          // steps planned and not yet uploaded
	CohortSteps   map[string]int
	Latched       map[string]bool // site → login latch set; sites absent are unknown
	StagingFiles  int
	StagingBytes  int64
	Unfinished    *job.Batch // nil when none
	// FetchStale: no successful fetch for longer than SEFTBOT_STALE_AFTER.
	FetchStale bool
	// CohortRejected counts cohort steps NHS England rejected that the
	// operator has not acknowledged.
	CohortRejected int
}

// Write renders s and replaces path with it (mode 0644: metrics hold no
// secret, and the collector runs as another user).
func Write(path string, s Snapshot) error {
	reg := prometheus.NewPedanticRegistry()
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	lastRun := g("seftbot_last_run_timestamp_seconds", "When the last run of a verb finished.", "verb")
	lastCode := g("seftbot_last_run_exit_code", "Exit code of the last run of a verb (see the README's table).", "verb")
	lastOK := g("seftbot_last_success_timestamp_seconds", "When the last successful run of a verb (exit 0, or 3: nothing new) finished.", "verb")
	dur := g("seftbot_run_duration_seconds", "Duration of the last run of a verb: stage total, and each stage of fetch.", "verb", "stage")
	files := g("seftbot_files_delivered", "Files the last fetch delivered to the drop.")
	bytes_ := g("seftbot_bytes_delivered", "Clear-text bytes of the files the last fetch delivered.")
	stagingBytes := g("seftbot_staging_cleartext_bytes", "Clear-text bytes left in the staging area.")
	stagingFiles := g("seftbot_staging_cleartext_files", "Clear-text files left in the staging area.")
	latched := g("seftbot_login_latched", "1 when a refused or unknown sign-in latched the site: no password is sent until a person looks.", "site")

	last := map[string]job.Record{}
	var lastFetch *job.Record
	for i, r := range s.Records {
		if r.Outcome == "skipped" { // another run held the lock: this one did nothing
			continue
		}
		last[r.Verb] = r
		if r.Succeeded() {
			lastOK.WithLabelValues(r.Verb).Set(unix(r))
		}
		if r.Verb == job.VerbFetch {
			lastFetch = &s.Records[i]
		}
	}
	for verb, r := range last {
		lastRun.WithLabelValues(verb).Set(unix(r))
		lastCode.WithLabelValues(verb).Set(float64(r.ExitCode))
		dur.WithLabelValues(verb, "total").Set(r.Finished.Sub(r.Started).Seconds())
		for _, st := range r.Stages {
			dur.WithLabelValues(verb, st.Name).Set(st.Duration.Seconds())
		}
	}
	files.WithLabelValues().Set(0)
	bytes_.WithLabelValues().Set(0)
	if lastFetch != nil && lastFetch.RemotePath != "" {
		files.WithLabelValues().Set(float64(lastFetch.Files))
		bytes_.WithLabelValues().Set(float64(lastFetch.Bytes))
	}
	g("seftbot_fetch_stale", "1 when no fetch has succeeded for longer than SEFTBOT_STALE_AFTER (portal files expire after about 3 days).").
		WithLabelValues().Set(b2f(s.FetchStale))
	g("seftbot_cohort_rejected_unacknowledged", "Cohort steps NHS England's error notice rejected that no one has acknowledged yet (seftbot cohort ack).").
		WithLabelValues().Set(float64(s.CohortRejected))
	unavailable := g("seftbot_files_unavailable", "Files the last fetch found listed but marked unavailable on the portal (files.unavailable).")
	unavailable.WithLabelValues().Set(0)
	if lastFetch != nil {
		unavailable.WithLabelValues().Set(float64(len(lastFetch.Unavailable)))
	}
	stagingBytes.WithLabelValues().Set(float64(s.StagingBytes))
	stagingFiles.WithLabelValues().Set(float64(s.StagingFiles))
	for site, on := range s.Latched {
		latched.WithLabelValues(site).Set(b2f(on))
	}
	if s.CohortKnown {
		g("seftbot_cohort_pending_steps", "Cohort steps planned and not yet uploaded.").WithLabelValues().Set(float64(s.CohortPending))
		steps := g("seftbot_cohort_steps", "Open cohort steps by state.", "state")
		for state, n := range s.CohortSteps {
			steps.WithLabelValues(state).Set(float64(n))
		}
	}
	if s.Unfinished != nil {
		g("seftbot_unfinished_run_start_timestamp_seconds", "When the unfinished fetch began; absent when there is none.").
			WithLabelValues().Set(float64(s.Unfinished.Started.Unix()))
	}

	mfs, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	if err := atomicfile.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("metrics file: %w", err)
	}
	return nil
}

// Read parses a metrics file into "name{labels}" → value, labels sorted by
// name, for tests and for anyone checking the file.
func Read(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			k := name
			if len(m.GetLabel()) > 0 {
				k += "{"
				for i, l := range m.GetLabel() {
					if i > 0 {
						k += ","
					}
					k += fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
				}
				k += "}"
			}
			out[k] = m.GetGauge().GetValue()
		}
	}
	return out, nil
}

func unix(r job.Record) float64 { return float64(r.Finished.Unix()) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
