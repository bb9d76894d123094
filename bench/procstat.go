package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procStat is the part of /proc/<pid>/stat the harness reads (proc(5)).
type procStat struct {
	UTime, STime int64 // fields 14 and 15: CPU time in user and kernel mode, in clock ticks, all threads
	RSSPages     int64 // field 24: resident set size in pages
}

// clockTick is USER_HZ, 100 on every Linux build this harness targets.
const clockTick = 10 * time.Millisecond

// CPU is utime+stime.
func (s procStat) CPU() time.Duration { return time.Duration(s.UTime+s.STime) * clockTick }

// RSS is the resident set size in bytes.
func (s procStat) RSS() int64 { return s.RSSPages * int64(os.Getpagesize()) }

// ErrProcStat is wrapped by every parseProcStat error.
var ErrProcStat = errors.New("unexpected /proc/<pid>/stat content")

// parseProcStat reads one /proc/<pid>/stat line: "pid (comm) state ppid ...". The command name may contain
// spaces and parentheses, so the fields after it start behind the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	var s procStat
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || bytes.IndexByte(b, '(') < 0 {
		return s, fmt.Errorf("%w: no \"(comm)\" field in %.80q", ErrProcStat, b)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 22 {
		return s, fmt.Errorf("%w: %d fields after the command name, want at least 22 (up to rss, field 24)", ErrProcStat, len(f))
	}
	for _, x := range []struct {
		dst   *int64
		field int
		name  string
	}{{&s.UTime, 14, "utime"}, {&s.STime, 15, "stime"}, {&s.RSSPages, 24, "rss"}} {
		v, err := strconv.ParseInt(f[x.field-3], 10, 64)
		if err != nil || v < 0 {
			return procStat{}, fmt.Errorf("%w: field %d (%s) %q is not a non-negative integer", ErrProcStat, x.field, x.name, f[x.field-3])
		}
		*x.dst = v
	}
	return s, nil
}

// readProcStat reads /proc/<pid>/stat.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

// parseChildren reads /proc/<pid>/task/<tid>/children: PIDs separated by spaces.
func parseChildren(b []byte) ([]int, error) {
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("%w: child PID %q is not a positive integer", ErrProcStat, f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}
