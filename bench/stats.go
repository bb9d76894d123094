package main

import (
	"fmt"
	"slices"
	"time"
)

// spread is the median and range of repeated measurements.
type spread struct {
	Med, Min, Max float64
	N             int
}

func spreadOf(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{Med: med, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// format prints "med (min–max)" with the given verb, or just the value for a single measurement.
func (s spread) format(verb string) string {
	if s.N == 0 {
		return "—"
	}
	if s.N == 1 || s.Min == s.Max {
		return fmt.Sprintf(verb, s.Med)
	}
	return fmt.Sprintf(verb+" ("+verb+"–"+verb+")", s.Med, s.Min, s.Max)
}

// percentile returns the q-quantile (0..1) of sorted durations by nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// micros formats a duration in µs with a precision that suits its size.
func micros(d time.Duration) string {
	us := float64(d) / float64(time.Microsecond)
	switch {
	case us < 10:
		return fmt.Sprintf("%.2f µs", us)
	case us < 1000:
		return fmt.Sprintf("%.0f µs", us)
	default:
		return fmt.Sprintf("%.2f ms", us/1000)
	}
}

// nanos formats a duration in ns.
func nanos(d time.Duration) string {
	if d >= 10*time.Microsecond {
		return micros(d)
	}
	return fmt.Sprintf("%d ns", d.Nanoseconds())
}

// thousands formats n with comma separators.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
