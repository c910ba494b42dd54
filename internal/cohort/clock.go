package cohort

import (
	"fmt"
	"time"
	_ "time/tzdata" // Europe/London must resolve even on a minimal host
)

// london is where "one upload per day" and "the morning after" are measured.
var london = func() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic(err) // cannot happen: tzdata is embedded
	}
	return loc
}()

// londonDay is the Europe/London calendar day of t, as YYYY-MM-DD.
func londonDay(t time.Time) string { return t.In(london).Format(time.DateOnly) }

// londonDate is the Europe/London calendar day of t as the integer YYYYMMDD,
// the form dates in cohort files are compared in.
func londonDate(t time.Time) int {
	y, m, d := t.In(london).Date()
	return y*10000 + int(m)*100 + d
}

// nextLondonMidnight is the start of the Europe/London day after t's.
func nextLondonMidnight(t time.Time) time.Time {
	y, m, d := t.In(london).Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, london)
}

// quietEnd is when an upload made at t counts as confirmed if no error notice
// has been recorded: hh:mm Europe/London on the next day, whatever the
// clocks did overnight.
func quietEnd(t time.Time, hh, mm int) time.Time {
	y, m, d := t.In(london).Date()
	return time.Date(y, m, d+1, hh, mm, 0, 0, london)
}

// parseClock reads "HH:MM".
func parseClock(s string) (int, int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, 0, fmt.Errorf("confirmation time %q: want HH:MM (24-hour, Europe/London)", s)
	}
	return t.Hour(), t.Minute(), nil
}

// FormatTime shows a time to the operator in Europe/London, zone named.
func FormatTime(t time.Time) string { return t.In(london).Format("2006-01-02 15:04 MST") }
