package main

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseWrkCaptured parses output captured from wrk 4.1.0 (Debian) against nginx on this machine.
func TestParseWrkCaptured(t *testing.T) {
	r, err := ParseWrk(readSample(t, "wrk_nginx_c8.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := WrkResult{Requests: 138294, Duration: time.Second, ReadBytes: 20.05 * (1 << 20), RequestsSec: 137988.08,
		P50: 37 * time.Microsecond, P75: 41 * time.Microsecond, P90: 73 * time.Microsecond, P99: 1460 * time.Microsecond}
	if r != want {
		t.Fatalf("got  %+v\nwant %+v", r, want)
	}
	if r.Errors() != 0 {
		t.Fatalf("Errors() = %d, want 0", r.Errors())
	}
	if b := r.BytesPerResponse(); b < 151 || b > 153 { // nginx: 5-byte body plus its headers
		t.Fatalf("BytesPerResponse() = %.1f, want about 152", b)
	}
}

func TestParseWrkNon2xx(t *testing.T) {
	r, err := ParseWrk(readSample(t, "wrk_non2xx.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Non2xx != 146008 || r.Requests != 146008 || r.Duration != 1100*time.Millisecond || r.Errors() != 146008 {
		t.Fatalf("got %+v", r)
	}
}

// TestParseWrkSocketErrors uses wrk's "Socket errors" line format (wrk.c: "connect %d, read %d, write %d,
// timeout %d") together with milliseconds latencies.
func TestParseWrkSocketErrors(t *testing.T) {
	r, err := ParseWrk(readSample(t, "wrk_socket_errors.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if r.SocketErrs != 16 || r.Non2xx != 40 || r.Errors() != 56 {
		t.Fatalf("errors: got %+v", r)
	}
	if r.P50 != 1250*time.Microsecond || r.P99 != 31800*time.Microsecond || r.RequestsSec != 35662.18 {
		t.Fatalf("figures: got %+v", r)
	}
}

func TestParseWrkErrors(t *testing.T) {
	full := string(readSample(t, "wrk_nginx_c8.txt"))
	cases := map[string]struct {
		in   string
		want string
	}{
		"connection refused": {"unable to connect to 127.0.0.1:18998 Connection refused\n", "missing"},
		"no --latency":       {strings.Replace(full, "     50%   37.00us\n", "", 1), "50% latency"},
		"bad unit":           {strings.Replace(full, "37.00us", "37.00zz", 1), "no wrk time unit"},
		"bad rps":            {strings.Replace(full, "137988.08", "lots", 1), "Requests/sec"},
		"bad count":          {strings.Replace(full, "138294 requests", "x requests", 1), "request count"},
		"bad socket":         {full + "  Socket errors: connect 0, read\n", "socket errors"},
		"negative":           {strings.Replace(full, "37.00us", "-37.00us", 1), "not a wrk duration"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseWrk([]byte(c.in))
			if !errors.Is(err, ErrWrkOutput) {
				t.Fatalf("err = %v, want ErrWrkOutput", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %q, want it to mention %q", err, c.want)
			}
		})
	}
}

func FuzzParseWrk(f *testing.F) {
	for _, name := range []string{"wrk_nginx_c8.txt", "wrk_non2xx.txt", "wrk_socket_errors.txt"} {
		f.Add(readSample(f, name))
	}
	f.Add([]byte("  99%  1e400ms\nRequests/sec: NaN\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseWrk(b)
		if err != nil {
			if !errors.Is(err, ErrWrkOutput) {
				t.Fatalf("error does not wrap ErrWrkOutput: %v", err)
			}
			return
		}
		if r.P50 < 0 || r.P75 < 0 || r.P90 < 0 || r.P99 < 0 || r.Requests < 0 || r.Errors() < 0 || !(r.RequestsSec >= 0) || !(r.ReadBytes >= 0) {
			t.Fatalf("negative figure from %q: %+v", b, r)
		}
	})
}
