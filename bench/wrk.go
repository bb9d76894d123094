package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what one `wrk --latency` run printed.
type WrkResult struct {
	Requests    int64         // "N requests in D, X read"
	Duration    time.Duration // D of that line
	ReadBytes   float64       // X of that line (wrk's binary units: 1KB = 1024 B), headers included
	RequestsSec float64       // "Requests/sec:"
	P50, P75    time.Duration // "Latency Distribution" lines
	P90, P99    time.Duration
	Non2xx      int64 // "Non-2xx or 3xx responses:"
	SocketErrs  int64 // sum of "Socket errors: connect A, read B, write C, timeout D"
}

// Errors is every request that did not end in a 2xx/3xx response.
func (r WrkResult) Errors() int64 { return r.Non2xx + r.SocketErrs }

// ErrWrkOutput is wrapped by every ParseWrk error.
var ErrWrkOutput = errors.New("unexpected wrk output")

// ParseWrk reads the text wrk 4.x prints with --latency. Requests/sec, the request count and the four
// latency percentiles are required; the error and non-2xx lines are optional (wrk prints them only when
// non-zero).
func ParseWrk(out []byte) (WrkResult, error) {
	var r WrkResult
	var haveRPS, haveCount bool
	have := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		fail := func(what string, err error) error {
			return fmt.Errorf("%w: line %d %q: %s: %v", ErrWrkOutput, line, text, what, err)
		}
		switch {
		case strings.HasPrefix(text, "Requests/sec:"):
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(text, "Requests/sec:")), 64)
			if err == nil && !(v >= 0 && v < 1e12) {
				err = errors.New("not a non-negative finite number")
			}
			if err != nil {
				return r, fail("Requests/sec", err)
			}
			r.RequestsSec, haveRPS = v, true
		case strings.HasPrefix(text, "Non-2xx or 3xx responses:"):
			v, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(text, "Non-2xx or 3xx responses:")), 10, 63)
			if err != nil {
				return r, fail("non-2xx count", err)
			}
			r.Non2xx = int64(v)
		case strings.HasPrefix(text, "Socket errors:"):
			n, err := parseSocketErrors(strings.TrimPrefix(text, "Socket errors:"))
			if err != nil {
				return r, fail("socket errors", err)
			}
			r.SocketErrs = n
		case strings.Contains(text, " requests in "):
			// "138294 requests in 1.00s, 20.05MB read"
			count, rest, _ := strings.Cut(text, " requests in ")
			v, err := strconv.ParseUint(count, 10, 63)
			if err != nil {
				return r, fail("request count", err)
			}
			dur, read, _ := strings.Cut(rest, ",")
			d, err := parseWrkDuration(dur)
			if err != nil {
				return r, fail("run duration", err)
			}
			size, err := parseWrkSize(strings.TrimSuffix(strings.TrimSpace(read), " read"))
			if err != nil {
				return r, fail("bytes read", err)
			}
			r.Requests, r.Duration, r.ReadBytes, haveCount = int64(v), d, size, true
		default:
			pct, val, ok := strings.Cut(text, "%")
			if !ok {
				continue
			}
			var dst *time.Duration
			switch pct {
			case "50":
				dst = &r.P50
			case "75":
				dst = &r.P75
			case "90":
				dst = &r.P90
			case "99":
				dst = &r.P99
			default:
				continue
			}
			d, err := parseWrkDuration(strings.TrimSpace(val))
			if err != nil {
				return r, fail("latency percentile", err)
			}
			*dst = d
			have[pct] = true
		}
	}
	if err := sc.Err(); err != nil {
		return r, fmt.Errorf("%w: %v", ErrWrkOutput, err)
	}
	var missing []string
	if !haveRPS {
		missing = append(missing, `"Requests/sec:"`)
	}
	if !haveCount {
		missing = append(missing, `"N requests in D"`)
	}
	for _, p := range []string{"50", "75", "90", "99"} {
		if !have[p] {
			missing = append(missing, p+"% latency (was --latency given?)")
		}
	}
	if len(missing) > 0 {
		return r, fmt.Errorf("%w: missing %s", ErrWrkOutput, strings.Join(missing, ", "))
	}
	return r, nil
}

// parseSocketErrors sums " connect 0, read 1, write 0, timeout 2".
func parseSocketErrors(s string) (int64, error) {
	var sum int64
	for _, part := range strings.Split(s, ",") {
		fields := strings.Fields(part)
		if len(fields) != 2 {
			return 0, fmt.Errorf("want \"<kind> <count>\", got %q", strings.TrimSpace(part))
		}
		n, err := strconv.ParseInt(fields[1], 10, 32)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("count %q of %s is not a non-negative integer", fields[1], fields[0])
		}
		sum += n
	}
	return sum, nil
}

// parseWrkDuration reads wrk's time format: a decimal number followed by us, ms, s, m or h.
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || v > 1e6 {
			return 0, fmt.Errorf("%q is not a wrk duration (number + us/ms/s/m/h)", s)
		}
		return time.Duration(v * float64(u.unit)), nil
	}
	return 0, fmt.Errorf("%q has no wrk time unit (us, ms, s, m, h)", s)
}

// parseWrkSize reads wrk's byte counts: a decimal number followed by B, KB, MB, GB, TB or PB (powers of 1024).
func parseWrkSize(s string) (float64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40}, {"PB", 1 << 50}, {"B", 1}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || !(v >= 0 && v < 1e6) {
			return 0, fmt.Errorf("%q is not a wrk size (number + B/KB/MB/GB)", s)
		}
		return v * u.mult, nil
	}
	return 0, fmt.Errorf("%q has no wrk size unit (B, KB, MB, GB)", s)
}

// BytesPerResponse is the mean size of a response (status line, headers and body) as wrk read it.
func (r WrkResult) BytesPerResponse() float64 {
	if r.Requests == 0 {
		return 0
	}
	return r.ReadBytes / float64(r.Requests)
}

// wrkRun is one load run: wrk with `threads` threads and `conns` connections for `d`, optionally pinned.
type wrkRun struct {
	URL      string
	Threads  int
	Conns    int
	Duration time.Duration
	CPUs     string // taskset CPU list; "" = unpinned
}

// command is the exact command line, as the report prints it.
func (w wrkRun) command() []string {
	args := []string{"wrk", "-t" + strconv.Itoa(w.Threads), "-c" + strconv.Itoa(w.Conns),
		"-d" + strconv.Itoa(max(1, int(w.Duration/time.Second))) + "s", "--timeout", "5s", "--latency", w.URL}
	if w.CPUs != "" {
		args = append([]string{"taskset", "-c", w.CPUs}, args...)
	}
	return args
}

// run executes wrk under a hard timeout and parses its output.
func (w wrkRun) run(ctx context.Context) (WrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, w.Duration+15*time.Second)
	defer cancel()
	args := w.command()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return WrkResult{}, fmt.Errorf("%s: %w: %s%s", shellJoin(args), err, stderr.String(), out)
	}
	r, err := ParseWrk(out)
	if err != nil {
		return r, fmt.Errorf("%s: %w\n%s", shellJoin(args), err, out)
	}
	return r, nil
}
