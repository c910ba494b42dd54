package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Faults are the ways seftsim misbehaves on demand. The zero value is a
// well-behaved portal.
type Faults struct {
	Latency      time.Duration // added to every portal response
	ErrorRate    float64       // share of portal requests answered 500
	TruncateRate float64       // share of downloads cut mid-body
	ExpireAfter  int           // sessions expire after this many more portal requests (once)
	Maintenance  bool          // every portal page is a 503
	// APIMaintenance (v3): only the API answers 503 maintenance; the app's
	// pages are served, so the notice is drawn by script after they load.
	APIMaintenance  bool
	SlowLogin       time.Duration // delay on every login POST
	SFTPDropAfter   int64         // the next SFTP upload is cut after this many bytes (once)
	SFTPNoOverwrite bool          // renames onto an existing name fail
	// SFTPLoseRenameReply: the next rename onto an isaric-* name is done and
	// routed, but its reply never comes (once).
	SFTPLoseRenameReply bool
	SMTPDown            bool // the SMTP server refuses connections
}

const maxDelay = time.Minute

func (f Faults) validate() error {
	var errs []error
	if f.Latency < 0 || f.Latency > maxDelay {
		errs = append(errs, fmt.Errorf("latency must be between 0 and %s, not %s", maxDelay, f.Latency))
	}
	if f.SlowLogin < 0 || f.SlowLogin > maxDelay {
		errs = append(errs, fmt.Errorf("slow_login must be between 0 and %s, not %s", maxDelay, f.SlowLogin))
	}
	if !(f.ErrorRate >= 0 && f.ErrorRate <= 1) { // also refuses NaN
		errs = append(errs, fmt.Errorf("error_rate must be between 0 and 1, not %v", f.ErrorRate))
	}
	if !(f.TruncateRate >= 0 && f.TruncateRate <= 1) {
		errs = append(errs, fmt.Errorf("truncate_rate must be between 0 and 1, not %v", f.TruncateRate))
	}
	if f.ExpireAfter < 0 {
		errs = append(errs, fmt.Errorf("expire_after must not be negative, not %d", f.ExpireAfter))
	}
	if f.SFTPDropAfter < 0 {
		errs = append(errs, fmt.Errorf("sftp_drop_after must not be negative, not %d", f.SFTPDropAfter))
	}
	return errors.Join(errs...)
}

// duration is a time.Duration written in JSON as Go's "200ms" text.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New(`durations are strings such as "200ms" or "2s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: use a form such as \"200ms\" or \"2s\"", s)
	}
	*d = duration(v)
	return nil
}

// faultsJSON is the admin API's view of Faults; in a request every field is
// optional and only the fields given change.
type faultsJSON struct {
	Latency         *duration `json:"latency"`
	ErrorRate       *float64  `json:"error_rate"`
	TruncateRate    *float64  `json:"truncate_rate"`
	ExpireAfter     *int      `json:"expire_after"`
	Maintenance     *bool     `json:"maintenance"`
	APIMaintenance  *bool     `json:"api_maintenance"`
	SlowLogin       *duration `json:"slow_login"`
	SFTPDropAfter   *int64    `json:"sftp_drop_after"`
	SFTPNoOverwrite *bool     `json:"sftp_no_overwrite"`
	SFTPLoseReply   *bool     `json:"sftp_lose_rename_reply"`
	SMTPDown        *bool     `json:"smtp_down"`
}

// MarshalJSON writes every field, durations as text.
func (f Faults) MarshalJSON() ([]byte, error) {
	lat, slow := duration(f.Latency), duration(f.SlowLogin)
	return json.Marshal(faultsJSON{&lat, &f.ErrorRate, &f.TruncateRate, &f.ExpireAfter, &f.Maintenance, &f.APIMaintenance,
		&slow, &f.SFTPDropAfter, &f.SFTPNoOverwrite, &f.SFTPLoseRenameReply, &f.SMTPDown})
}

// apply returns f with the fields present in p changed.
func (p faultsJSON) apply(f Faults) Faults {
	if p.Latency != nil {
		f.Latency = time.Duration(*p.Latency)
	}
	if p.ErrorRate != nil {
		f.ErrorRate = *p.ErrorRate
	}
	if p.TruncateRate != nil {
		f.TruncateRate = *p.TruncateRate
	}
	if p.ExpireAfter != nil {
		f.ExpireAfter = *p.ExpireAfter
	}
	if p.Maintenance != nil {
		f.Maintenance = *p.Maintenance
	}
	if p.APIMaintenance != nil {
		f.APIMaintenance = *p.APIMaintenance
	}
	if p.SlowLogin != nil {
		f.SlowLogin = time.Duration(*p.SlowLogin)
	}
	if p.SFTPDropAfter != nil {
		f.SFTPDropAfter = *p.SFTPDropAfter
	}
	if p.SFTPNoOverwrite != nil {
		f.SFTPNoOverwrite = *p.SFTPNoOverwrite
	}
	if p.SFTPLoseReply != nil {
		f.SFTPLoseRenameReply = *p.SFTPLoseReply
	}
	if p.SMTPDown != nil {
		f.SMTPDown = *p.SMTPDown
	}
	return f
}

// SetFaults replaces every fault at once.
func (s *Sim) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
	s.applyExternalFaults(f)
	s.log.Info("faults set", "faults", f)
	return nil
}

// Faults returns the faults in force; the one-shot ones show what is left.
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	s.ext.readFaults(&f)
	return f
}

// faultRNG is the one source of randomness for faults, seeded from --seed
// so a run is repeatable.
type faultRNG struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func newFaultRNG(seed int64) *faultRNG {
	return &faultRNG{rng: rand.New(rand.NewPCG(uint64(seed), 0x5eF75117))}
}

// hit reports true with probability p.
func (r *faultRNG) hit(p float64) bool {
	if p <= 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rng.Float64() < p
}

// withFaults wraps the portal: latency, maintenance, 500s and the
// expire-after-K counter apply to every portal request.
func (s *Sim) withFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		f := s.faults
		rng := s.rng
		expireNow := false
		if s.faults.ExpireAfter > 0 {
			s.faults.ExpireAfter--
			expireNow = s.faults.ExpireAfter == 0
		}
		s.mu.Unlock()
		if f.Latency > 0 && !s.sleep(r, f.Latency) {
			return
		}
		if expireNow {
			defer s.expireAllSessions()
		}
		api := s.opts.Markup == "v3" && strings.Contains(r.URL.Path, "/api/")
		switch {
		case api && (f.Maintenance || f.APIMaintenance):
			apiError(w, http.StatusServiceUnavailable, "maintenance", "The service is down for planned maintenance. Please try again later.")
		case api && rng.hit(f.ErrorRate):
			apiError(w, http.StatusInternalServerError, "unavailable", v3Unavailable)
		case f.Maintenance:
			s.renderStatus(w, http.StatusServiceUnavailable, "Service unavailable",
				"The service is down for planned maintenance. Please try again later.")
		case rng.hit(f.ErrorRate):
			s.renderStatus(w, http.StatusInternalServerError, "Something went wrong",
				"Sorry, there is a problem with the service. Please try again later.")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// sleep waits d, or less if the client goes away or seftsim stops; it
// reports whether the full delay passed.
func (s *Sim) sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.stop:
		return false
	}
}
