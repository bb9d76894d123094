package main

import (
	"errors"
	"strings"
	"testing"
)

// TestParseGoBenchCaptured parses output captured from the resolver's benchmarks on this machine.
func TestParseGoBenchCaptured(t *testing.T) {
	lines, err := parseGoBench(readSample(t, "gobench_resolver.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 8 {
		t.Fatalf("got %d lines, want 8: %+v", len(lines), lines)
	}
	want := goBenchLine{Name: "ResolveMissFakesf", Procs: 2, N: 200, NsPerOp: 185337, BytesPerOp: 20603, AllocsPerOp: 213}
	if lines[4] != want {
		t.Fatalf("line 5: got %+v, want %+v", lines[4], want)
	}
	if l := lines[2]; l.Name != "ResolveHit/parallel" || l.NsPerOp != 112.3 || l.AllocsPerOp != 0 {
		t.Fatalf("sub-benchmark line: got %+v", l)
	}
}

func TestParseGoBenchShapes(t *testing.T) {
	lines, err := parseGoBench([]byte("BenchmarkA\nBenchmarkA/x 100 5 ns/op\nBenchmarkB --- FAIL: x\n" +
		"BenchmarkC-4 10 7.5 ns/op 3 MB/s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].Name != "A/x" || lines[0].Procs != 1 || lines[0].AllocsPerOp != -1 ||
		lines[1].Name != "C" || lines[1].Procs != 4 || lines[1].NsPerOp != 7.5 {
		t.Fatalf("got %+v", lines)
	}
	for _, bad := range []string{"BenchmarkX-2 10 5\n", "BenchmarkX-2 10 abc ns/op\n", "BenchmarkX-2 10 5 B/op\n",
		"BenchmarkX-2 99999999999999999999 5 ns/op\n"} {
		if _, err := parseGoBench([]byte(bad)); !errors.Is(err, ErrGoBenchOutput) || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: err = %v, want ErrGoBenchOutput naming line 1", bad, err)
		}
	}
}

func FuzzParseGoBench(f *testing.F) {
	f.Add(readSample(f, "gobench_resolver.txt"))
	f.Add([]byte("BenchmarkX-2 10 5 ns/op 0 B/op 0 allocs/op\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := parseGoBench(b)
		if err != nil {
			if !errors.Is(err, ErrGoBenchOutput) {
				t.Fatalf("error does not wrap ErrGoBenchOutput: %v", err)
			}
			return
		}
		for _, l := range lines {
			if l.N < 0 || l.NsPerOp < 0 || l.Procs < 1 {
				t.Fatalf("impossible line %+v from %q", l, b)
			}
		}
	})
}
