package sftpdrop

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"
)

// Event is one line of the event log. Name is the path as SFTP clients see
// it ("/isaric-x.7z"); Size is the file's size after the operation (for
// remove, its size when removed). From is set on renames only.
//
// Op is one of create (opened for writing, did not exist), open (opened for
// writing, existed), write, truncate, close (of a write handle), rename,
// remove, mkdir, rmdir.
type Event struct {
	Time time.Time `json:"time"`
	Op   string    `json:"op"`
	Name string    `json:"name"`
	Size int64     `json:"size"`
	From string    `json:"from,omitempty"`
}

// Routed is one line of the routed log: a file the analysts' routing took.
type Routed struct {
	Time   time.Time `json:"time"`
	Name   string    `json:"name"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
}

// logs appends to the two JSONL files; one line per write call, so a reader
// never sees half a record from a live server.
type logs struct {
	mu             sync.Mutex
	events, routed *os.File
}

func openLogs(eventPath, routedPath string) (*logs, error) {
	open := func(p string) (*os.File, error) {
		return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	}
	ev, err := open(eventPath)
	if err != nil {
		return nil, fmt.Errorf("sftpdrop: event log: %w", err)
	}
	ro, err := open(routedPath)
	if err != nil {
		ev.Close()
		return nil, fmt.Errorf("sftpdrop: routed log: %w", err)
	}
	return &logs{events: ev, routed: ro}, nil
}

func (l *logs) close() error {
	return errors.Join(l.events.Close(), l.routed.Close())
}

func (l *logs) append(f *os.File, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own plain structs always marshal
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f.Write(append(b, '\n'))
}

func (l *logs) event(op, name, from string, size int64) {
	l.append(l.events, Event{Time: time.Now().UTC(), Op: op, Name: name, Size: size, From: from})
}

// route records name as picked up by the analysts' routing, with the size
// and hash of what is there now. The caller holds nsMu.
func (s *Server) route(name string) {
	f, err := s.root.Open(rel(name))
	if err != nil {
		s.log.Error("routing: cannot open", "name", name, "err", err)
		return
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		s.log.Error("routing: cannot read", "name", name, "err", err)
		return
	}
	sum := hex.EncodeToString(h.Sum(nil))
	s.logs.append(s.logs.routed, Routed{Time: time.Now().UTC(), Name: name, Size: n, SHA256: sum})
	s.log.Info("routed", "name", name, "size", n)
}

// ReadEvents reads an event log.
func ReadEvents(path string) ([]Event, error) { return readJSONL[Event](path) }

// ReadRouted reads a routed log.
func ReadRouted(path string) ([]Routed, error) { return readJSONL[Routed](path) }

func readJSONL[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}

// PartialRouted returns, sorted, every isaric-* name that was ever visible
// in a state the analysts must not see: while a write handle was open on it
// (create, open, write, truncate or close events under that name), or after
// a rename with a size other than the last size routed under that name.
// An atomic relay (upload under another name, close, rename) yields none.
func PartialRouted(events []Event, routed []Routed) []string {
	final := map[string]int64{}
	for _, r := range routed {
		final[r.Name] = r.Size
	}
	bad := map[string]bool{}
	for _, e := range events {
		if !routes(e.Name) {
			continue
		}
		switch e.Op {
		case "create", "open", "write", "truncate", "close":
			bad[e.Name] = true
		case "rename":
			if size, ok := final[e.Name]; !ok || size != e.Size {
				bad[e.Name] = true
			}
		}
	}
	out := make([]string, 0, len(bad))
	for n := range bad {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
