package main

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
)

// A /proc/<pid>/stat line of an nginx worker on Linux 6.18 (52 fields), and the same with a command name
// that holds spaces and parentheses, which a process may choose (prctl PR_SET_NAME).
const (
	statNginxWorker = "41873 (nginx) S 41872 41872 41866 0 -1 4194624 1520 0 0 0 812 1377 0 0 20 0 1 0 987654 " +
		"11276288 1602 18446744073709551615 1 1 0 0 0 0 0 1073745920 402745863 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	statOddName = "7 (a) b (c d)) R 1 7 7 0 -1 4194560 0 0 0 0 3 4 0 0 20 0 1 0 5 1000 9 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
)

func TestParseProcStat(t *testing.T) {
	for _, c := range []struct {
		name, line string
		want       procStat
	}{
		{"nginx worker", statNginxWorker, procStat{UTime: 812, STime: 1377, RSSPages: 1602}},
		{"command name with spaces and parentheses", statOddName, procStat{UTime: 3, STime: 4, RSSPages: 9}},
	} {
		got, err := parseProcStat([]byte(c.line))
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	if got := (procStat{UTime: 812, STime: 1377}).CPU().Milliseconds(); got != 21890 {
		t.Errorf("CPU() = %d ms, want 21890 (2189 ticks of 10 ms)", got)
	}
	if got := (procStat{RSSPages: 3}).RSS(); got != 3*int64(os.Getpagesize()) {
		t.Errorf("RSS() = %d, want 3 pages", got)
	}
}

func TestParseProcStatRejects(t *testing.T) {
	for name, line := range map[string]string{
		"empty":              "",
		"no command name":    "41873 nginx S 41872",
		"truncated":          "41873 (nginx) S 41872 41872 41866 0 -1 4194624 1520 0 0 0 812 1377",
		"negative utime":     "1 (x) S 0 0 0 0 -1 0 0 0 0 0 -5 1 0 0 20 0 1 0 1 1 1 0",
		"rss not a number":   "1 (x) S 0 0 0 0 -1 0 0 0 0 0 5 1 0 0 20 0 1 0 1 1 lots 0",
		"closing paren only": "1 x) S 0 0 0 0 -1 0 0 0 0 0 5 1 0 0 20 0 1 0 1 1 1 0",
	} {
		if _, err := parseProcStat([]byte(line)); !errors.Is(err, ErrProcStat) {
			t.Errorf("%s: err = %v, want ErrProcStat", name, err)
		}
	}
}

// TestReadProcStatSelf reads this test process's own stat: the live file parses, and the RSS is not zero.
func TestReadProcStatSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("skipped, because there is no /proc on this system: %v", err)
	}
	s, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSPages <= 0 {
		t.Fatalf("RSS of a running process is %d pages", s.RSSPages)
	}
}

func TestParseChildren(t *testing.T) {
	got, err := parseChildren([]byte("41873 41874 \n"))
	if err != nil || !slices.Equal(got, []int{41873, 41874}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, err := parseChildren(nil); err != nil || len(got) != 0 {
		t.Fatalf("empty: got %v, %v", got, err)
	}
	if _, err := parseChildren([]byte("12 x")); !errors.Is(err, ErrProcStat) {
		t.Fatalf("non-numeric PID: err = %v", err)
	}
}

// FuzzParseProcStat feeds arbitrary bytes: never a panic, either an error or non-negative figures.
func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte(statNginxWorker))
	f.Add([]byte(statOddName))
	f.Add([]byte("1 (x) S"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseProcStat(b)
		if err != nil {
			if !errors.Is(err, ErrProcStat) {
				t.Fatalf("error %v does not wrap ErrProcStat", err)
			}
			return
		}
		if s.UTime < 0 || s.STime < 0 || s.RSSPages < 0 {
			t.Fatalf("negative figures %+v from %q", s, b)
		}
	})
}

func FuzzParseChildren(f *testing.F) {
	f.Add([]byte("41873 41874 \n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pids, err := parseChildren(b)
		for _, p := range pids {
			if p <= 0 {
				t.Fatalf("PID %d from %q", p, b)
			}
		}
		if err != nil && !errors.Is(err, ErrProcStat) {
			t.Fatalf("error %v does not wrap ErrProcStat", err)
		}
	})
}

func TestParseHaproxyVersion(t *testing.T) {
	for line, want := range map[string]string{
		"HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/": "HAProxy 2.6.12-1+deb12u4",
		"HAProxy version 3.0.5": "HAProxy 3.0.5",
		"haproxy not installed (install: apt-get install haproxy)": "haproxy not installed (install: apt-get install haproxy)",
		"": "",
	} {
		if got := parseHaproxyVersion(line); got != want {
			t.Errorf("parseHaproxyVersion(%q) = %q, want %q", line, got, want)
		}
	}
}

// FuzzParseHaproxyVersion: never a panic, and the answer is never longer than the line.
func FuzzParseHaproxyVersion(f *testing.F) {
	f.Add("HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/")
	f.Fuzz(func(t *testing.T, line string) {
		if got := parseHaproxyVersion(line); len(got) > len(line) {
			t.Fatalf("%q → %q", line, got)
		}
	})
}

func TestParseLoadavg(t *testing.T) {
	for in, want := range map[string]string{
		"9.52 8.21 7.75 5/812 33012\n": "9.52 8.21 7.75",
		"0.00 0.01 0.05 1/1 1":         "0.00 0.01 0.05",
		"9.52 8.21":                    "unknown",
		"x 1 2 3/4 5":                  "unknown",
		"-1 1 1 1/1 1":                 "unknown",
		"NaN 1 1 1/1 1":                "unknown",
	} {
		if got := parseLoadavg([]byte(in)); got != want {
			t.Errorf("parseLoadavg(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseLoadavg: never a panic, and the answer is "unknown" or three fields of the input.
func FuzzParseLoadavg(f *testing.F) {
	f.Add([]byte("9.52 8.21 7.75 5/812 33012\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := parseLoadavg(b)
		if got != "unknown" && len(strings.Fields(got)) != 3 {
			t.Fatalf("%q → %q", b, got)
		}
	})
}
