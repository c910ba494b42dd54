package cohort

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"unsafe"
)

// Action is the last column of every row; one file carries one action only.
type Action string

const (
	Add    Action = "ADD"
	Delete Action = "DELETE"
)

// write emits the exact upload file: the template header, one row per
// identifier with empty fields where there is no value, the action last,
// CRLF after every row including the last. It returns the file's sha256.
func (t *Template) write(w io.Writer, rs rowSet, act Action) (string, error) {
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 256<<10)
	bw.WriteString(HeaderLine(t.Cols))
	pre := strings.Repeat(",", t.nhs)
	post := strings.Repeat(",", len(t.Cols)-2-t.nhs) + "," + string(act) + "\r\n"
	tail := "," + string(act) + "\r\n"
	var num [10]byte
	var line []byte // one row, reused
	for _, r := range rs.rows {
		v := r.nhs
		for i := 9; i >= 0; i-- {
			num[i] = byte('0' + v%10)
			v /= 10
		}
		if len(rs.extras) == 0 {
			bw.WriteString(pre)
			bw.Write(num[:])
			bw.WriteString(post)
			continue
		}
		rest, k := r.fields, 0
		line = line[:0]
		for ci := 0; ci < t.action(); ci++ {
			if ci > 0 {
				line = append(line, ',')
			}
			switch {
			case ci == t.nhs:
				line = append(line, num[:]...)
			case k < len(rs.extras) && rs.extras[k] == ci:
				var v string
				v, rest, _ = strings.Cut(rest, ",")
				line = append(line, v...)
				k++
			}
		}
		bw.Write(append(line, tail...))
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkFile is the last gate before an upload: it re-reads the exact bytes
// and applies every rule seftsim (and so, we believe, NHS England) applies,
// plus the content rules, whatever happened to the file since it was built.
// It returns the NHS numbers in the file, sorted, and every problem.
func (t *Template) checkFile(b []byte, act Action, today int) ([]uint64, *problems) {
	ps := &problems{}
	// A view of b, not a copy: a step file may be 200 MB, and nothing
	// writes b while this runs, nor keeps a substring of s after it
	// (problems name lines and columns, never values).
	s := unsafe.String(unsafe.SliceData(b), len(b))
	if !strings.HasPrefix(s, HeaderLine(t.Cols)) {
		ps.add(Problem{Line: 1, Msg: "header row is not exactly the template's"})
	}
	if !strings.HasSuffix(s, "\r\n") {
		ps.add(Problem{Msg: "file does not end with CRLF"})
	}
	keys := make([]uint64, 0, strings.Count(s, "\n"))
	line := 0
	for len(s) > 0 {
		line++
		var l string
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			l, s = s, ""
		} else {
			l, s = s[:i], s[i+1:]
		}
		if i >= 0 && !strings.HasSuffix(l, "\r") {
			ps.add(Problem{Line: line, Msg: "line ends with LF, not CRLF"})
		}
		l = strings.TrimSuffix(l, "\r")
		if line == 1 {
			continue
		}
		if n := strings.Count(l, ",") + 1; n != len(t.Cols) {
			ps.add(Problem{Line: line, Msg: fmt.Sprintf("has %d fields, want %d", n, len(t.Cols))})
			continue
		}
		for ci := range t.Cols {
			v := l
			if j := strings.IndexByte(l, ','); j >= 0 {
				v, l = l[:j], l[j+1:]
			}
			if ci == t.action() {
				if v != string(act) {
					ps.add(Problem{Line: line, Column: t.Cols[ci], Msg: fmt.Sprintf("action is not %s (one file, one action)", act)})
				}
				break
			}
			n := ps.count()
			fieldProblems(ps, line, t.Cols[ci], v)
			switch {
			case ps.count() > n:
			case ci == t.nhs:
				val, why := nhsValue(v)
				if why != "" {
					ps.add(Problem{Line: line, Column: t.Cols[ci], Msg: why})
				}
				keys = append(keys, val<<30|uint64(min(line, maxLine)))
			case t.date[ci] && v != "":
				if why := dateProblem(v, today); why != "" {
					ps.add(Problem{Line: line, Column: t.Cols[ci], Msg: why})
				}
			}
		}
	}
	if line < 2 {
		ps.add(Problem{Msg: "file has no rows"})
	}
	t.duplicates(keys, ps) // sorts keys
	for i := range keys {
		keys[i] >>= 30
	}
	return slices.Compact(keys), ps
}
