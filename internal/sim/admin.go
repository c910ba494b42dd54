package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// adminHandler is the loopback JSON API of docs/seftsim.md. Each endpoint
// calls the same *Sim method a Go test would.
func (s *Sim) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.State())
	})
	mux.HandleFunc("POST /admin/reset", func(w http.ResponseWriter, r *http.Request) {
		if !decodeEmpty(w, r) {
			return
		}
		if err := s.Reset(); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, s.State())
	})
	mux.HandleFunc("POST /admin/unlock", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Account *string `json:"account"`
		}
		if !decode(w, r, &req) {
			return
		}
		if req.Account == nil {
			writeError(w, http.StatusBadRequest, errors.New(`"account" is required: "upload" or "download"`))
			return
		}
		if err := s.Unlock(*req.Account); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, s.State().Accounts[*req.Account])
	})
	mux.HandleFunc("POST /admin/password-expired", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Account *string `json:"account"`
			Expired *bool   `json:"expired"`
		}
		if !decode(w, r, &req) {
			return
		}
		if req.Account == nil || req.Expired == nil {
			writeError(w, http.StatusBadRequest, errors.New(`"account" ("upload" or "download") and "expired" (true or false) are required`))
			return
		}
		if err := s.SetPasswordExpired(*req.Account, *req.Expired); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, s.State().Accounts[*req.Account])
	})
	mux.HandleFunc("POST /admin/publish", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Files    *int  `json:"files"`
			FileSize int64 `json:"file_size"`
		}
		if !decode(w, r, &req) {
			return
		}
		if req.Files == nil {
			writeError(w, http.StatusBadRequest, errors.New(`"files" is required`))
			return
		}
		files, err := s.Publish(*req.Files, req.FileSize)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"published": files, "files_listed": len(s.Files())})
	})
	mux.HandleFunc("POST /admin/faults", func(w http.ResponseWriter, r *http.Request) {
		var req faultsJSON
		if !decode(w, r, &req) {
			return
		}
		if err := s.SetFaults(req.apply(s.Faults())); err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("POST /admin/advance-clock", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			By *duration `json:"by"`
		}
		if !decode(w, r, &req) {
			return
		}
		if req.By == nil {
			writeError(w, http.StatusBadRequest, errors.New(`"by" is required, e.g. "24h"`))
			return
		}
		now, err := s.AdvanceClock(time.Duration(*req.By))
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"clock": now})
	})
	mux.HandleFunc("GET /admin/held-set", func(w http.ResponseWriter, r *http.Request) {
		ids := s.HeldSet()
		writeJSON(w, http.StatusOK, map[string]any{"count": len(ids), "ids": ids})
	})
	mux.HandleFunc("GET /admin/uploads", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"uploads": s.Uploads()})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Reached by unknown paths, and by known paths with the wrong method.
		r2 := r.Clone(r.Context())
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			r2.Method = m
			if _, pattern := mux.Handler(r2); pattern != "/" {
				w.Header().Set("Allow", m)
				writeError(w, http.StatusMethodNotAllowed, fmt.Errorf("use %s for %s", m, r.URL.Path))
				return
			}
		}
		writeError(w, http.StatusNotFound, fmt.Errorf("no admin endpoint %s (see docs/seftsim.md)", r.URL.Path))
	})
	return mux
}

const maxAdminBody = 1 << 20

// decode reads exactly one JSON object with known fields into v, or answers
// 400 and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("a JSON object is required")
		}
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, errors.New("bad request body: one JSON object only"))
		return false
	}
	return true
}

// decodeEmpty accepts an empty body or {}.
func decodeEmpty(w http.ResponseWriter, r *http.Request) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAdminBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return false
	}
	if len(b) == 0 {
		return true
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return decode(w, r, &struct{}{})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
