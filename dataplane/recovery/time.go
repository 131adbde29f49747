package recovery

import "time"

// Time is a point on the process-wide monotonic clock, in nanoseconds since
// an arbitrary base taken when the package is initialised.
//
// A plain int64 (instead of time.Time, 24 bytes with a pointer) keeps the
// per-packet history compact, makes comparisons a single instruction and
// lets tests drive every timer with a fake clock: the package never reads
// the clock itself, every method takes "now" from the caller. The value 0
// means "no time / no deadline"; Now never returns it.
type Time int64

// clockBase is the origin of Now. time.Since on a value that carries a
// monotonic reading uses the monotonic clock, so wall-clock steps (NTP,
// manual changes) never move Time backwards.
var clockBase = time.Now()

// Now returns the current monotonic time. It is cheap (one vDSO clock read)
// and never returns 0, which is reserved for "unset".
func Now() Time {
	return Time(time.Since(clockBase)) + 1
}

// Add returns t+d.
func (t Time) Add(d time.Duration) Time { return t + Time(d) }

// Sub returns the duration t-u.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t - u) }
