package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// goBenchLine is one result line of `go test -bench -benchmem`.
type goBenchLine struct {
	Name        string // without the "Benchmark" prefix and the "-GOMAXPROCS" suffix, e.g. "ResolveHit/single"
	Procs       int    // the -N suffix (1 when absent)
	N           int64
	NsPerOp     float64
	BytesPerOp  float64 // -1 when not reported
	AllocsPerOp float64 // -1 when not reported
}

// ErrGoBenchOutput is wrapped by every parseGoBench error.
var ErrGoBenchOutput = errors.New("unexpected go test -bench output")

// parseGoBench reads every "BenchmarkX-P  N  v ns/op [v B/op] [v allocs/op] [v unit]..." line of out. Other
// lines (goos:, PASS, ok, logs) are ignored; a Benchmark line that does not have that shape is an error.
func parseGoBench(out []byte) ([]goBenchLine, error) {
	var lines []goBenchLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if len(f) == 0 || !strings.HasPrefix(f[0], "Benchmark") || len(f) == 1 {
			continue // a name alone on its line: a sub-benchmark's parent, or output interleaved with logs
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%w: line %d %q: %s", ErrGoBenchOutput, n, sc.Text(), fmt.Sprintf(format, args...))
		}
		l := goBenchLine{Name: strings.TrimPrefix(f[0], "Benchmark"), Procs: 1, BytesPerOp: -1, AllocsPerOp: -1}
		if i := strings.LastIndexByte(l.Name, '-'); i >= 0 {
			if p, err := strconv.Atoi(l.Name[i+1:]); err == nil && p > 0 {
				l.Name, l.Procs = l.Name[:i], p
			}
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil || iters < 0 {
			if strings.HasPrefix(f[1], "---") || !isDigits(f[1]) {
				continue // "BenchmarkX --- FAIL" and log lines starting with a benchmark name
			}
			return nil, fail("iteration count %q", f[1])
		}
		l.N = iters
		if (len(f)-2)%2 != 0 {
			return nil, fail("values and units do not pair up")
		}
		haveNs := false
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil || v < 0 {
				return nil, fail("value %q of %s", f[i], f[i+1])
			}
			switch f[i+1] {
			case "ns/op":
				l.NsPerOp, haveNs = v, true
			case "B/op":
				l.BytesPerOp = v
			case "allocs/op":
				l.AllocsPerOp = v
			}
		}
		if !haveNs {
			return nil, fail("no ns/op")
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrGoBenchOutput, err)
	}
	return lines, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
