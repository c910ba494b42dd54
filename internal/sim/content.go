package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"
)

// File is one matched-data file on the download site. Its bytes are never
// stored: they are regenerated from Seed on every download, so 160 large
// files cost no memory.
type File struct {
	ID        int       `json:"id"` // unique for the life of the Sim, never reused
	Name      string    `json:"name"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	Published time.Time `json:"published"`

	seed [32]byte
}

// contentHeader is the first line of every synthetic file.
const contentHeader = "NHS_NO,EPISODE_ID,ADMISSION_DATE,DISCHARGE_DATE,DIAG_4_01,OPERTN_4_01,PROCODE3,NOTE\r\n"

// rowLen is the width of every synthetic row: all fields are fixed width, so
// the size of a file is exact without generating it.
const rowLen = 10 + 1 + 12 + 1 + 10 + 1 + 10 + 1 + 5 + 1 + 5 + 1 + 5 + 1 + 2

// minFileSize leaves room for the header and one padded row.
const minFileSize = 1024

var datasets = []string{"HES_APC", "HES_OP", "HES_AE", "CIVREG_MORT", "SGSS", "GDPPR", "ECDS", "CHESS"}

// fileSeed derives a file's content seed from the run seed and its ID, so a
// file's bytes depend on nothing else.
func fileSeed(seed int64, id int, salt string) [32]byte {
	h := sha256.New()
	fmt.Fprintf(h, "seftsim/v1/%s/%d/%d", salt, seed, id)
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// variedSize spreads sizes over 75%..125% of base, deterministically.
func variedSize(seed [32]byte, base int64) int64 {
	u := float64(binary.LittleEndian.Uint64(seed[:8])>>11) / (1 << 53)
	n := int64(float64(base) * (0.75 + 0.5*u))
	return max(n, minFileSize)
}

// writeContent writes the first limit bytes of f's content to w (all of it
// when limit >= f.Size).
func (f *File) writeContent(w io.Writer, limit int64) error {
	limit = min(limit, f.Size)
	rng := rand.New(rand.NewChaCha8(f.seed))
	buf := make([]byte, 0, 64<<10)
	written := int64(0)
	flush := func() error {
		n := min(int64(len(buf)), limit-written)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		written += n
		buf = buf[:0]
		return nil
	}
	buf = append(buf, contentHeader...)
	rows := (f.Size - int64(len(contentHeader))) / rowLen
	pad := (f.Size - int64(len(contentHeader))) % rowLen
	for i := int64(0); i < rows && written < limit; i++ {
		extra := 0
		if i == rows-1 {
			extra = int(pad)
		}
		buf = appendRow(buf, rng, extra)
		if len(buf) >= 60<<10 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// appendRow appends one fixed-width synthetic record. NHS numbers are in the
// 999 range, which the NHS reserves for testing, with a valid check digit.
// It draws few random numbers and formats nothing with time: generating
// 160 MB must stay well inside the 10 s start-up budget.
func appendRow(b []byte, rng *rand.Rand, padNote int) []byte {
	b = appendNHSNumber(b, rng)
	b = append(b, ',')
	b = appendDigits(b, rng.Uint64N(1_000_000_000_000), 12)
	b = append(b, ',')
	x := rng.Uint64()
	admit := int(x % admitDays)
	b = append(b, dateTable()[admit][:]...)
	b = append(b, ',')
	b = append(b, dateTable()[admit+int(x>>32%maxStay)][:]...)
	b = append(b, ',')
	x = rng.Uint64()
	b = appendCode(b, x, "ABCDEFGIJKLMNORSZ") // ICD-10-like
	b = append(b, ',')
	b = appendCode(b, x>>32, "ABCDEFGHJKLMNPQRSTUVWXYZ") // OPCS-4-like
	b = append(b, ',', 'R')
	x = rng.Uint64()
	b = append(b, byte('A'+x%26), byte('A'+x/26%26), byte('0'+x/676%10), byte('0'+x/6760%10))
	b = append(b, ',')
	for range padNote {
		b = append(b, 'Z')
	}
	return append(b, '\r', '\n')
}

const (
	admitDays = 2500 // admissions from 2019-01-01 on
	maxStay   = 30
)

// dateTable holds every date a row can carry, formatted once.
var dateTable = sync.OnceValue(func() [][10]byte {
	t := make([][10]byte, admitDays+maxStay)
	d := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range t {
		copy(t[i][:], d.AddDate(0, 0, i).Format(time.DateOnly))
	}
	return t
})

func appendNHSNumber(b []byte, rng *rand.Rand) []byte {
	for {
		x := rng.Uint64N(1_000_000)
		d := [10]byte{9, 9, 9}
		for i := 8; i >= 3; i-- {
			d[i] = byte(x % 10)
			x /= 10
		}
		sum := 0
		for i := 0; i < 9; i++ {
			sum += int(d[i]) * (10 - i)
		}
		check := 11 - sum%11
		if check == 10 {
			continue // no valid check digit: draw again
		}
		if check == 11 {
			check = 0
		}
		d[9] = byte(check)
		for _, v := range d {
			b = append(b, '0'+v)
		}
		return b
	}
}

func appendDigits(b []byte, v uint64, width int) []byte {
	var tmp [20]byte
	for i := width - 1; i >= 0; i-- {
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, tmp[:width]...)
}

// appendCode appends a code such as J12.8 drawn from x.
func appendCode(b []byte, x uint64, letters string) []byte {
	l := x % uint64(len(letters))
	x /= uint64(len(letters))
	return append(b, letters[l], byte('0'+x%10), byte('0'+x/10%10), '.', byte('0'+x/100%10))
}

// hashFiles fills in SHA256 for every file, using all cores: publishing 160
// files must stay well inside the 10 s start-up budget.
func hashFiles(files []*File) {
	var wg sync.WaitGroup
	next := make(chan *File)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for f := range next {
				h := sha256.New()
				_ = f.writeContent(h, f.Size) // a hash never fails
				f.SHA256 = hex.EncodeToString(h.Sum(nil))
			}
		})
	}
	for _, f := range files {
		next <- f
	}
	close(next)
	wg.Wait()
}

// regularName is the name of the file with the given ID in a normal batch.
func regularName(project string, id int) string {
	return fmt.Sprintf("%s_%s_%03d.csv", project, datasets[(id-1)%len(datasets)], id)
}

// hostileNames are the names --hostile-names adds, each one a way a naive
// bot could write outside its directory, fail, or overwrite a file.
func hostileNames(project string) []string {
	long := project + "_" + strings.Repeat("L", 300-len(project)-len("_.csv")) + ".csv"
	return []string{
		"../x.csv",
		"a/b.csv",
		long,
		"ctrl\x07bell\ttab\x1bname.csv",
		"données_é.csv",
		"duplicate.csv",
		"duplicate.csv",
	}
}
