package main

import (
	"errors"
	"testing"
)

// TestCallgrindTotal reads the totals of a callgrind output file captured on this machine (callgrind
// 3.19, trimmed to its header and last line), falls back to summary:, and refuses what is not an
// instruction count.
func TestCallgrindTotal(t *testing.T) {
	n, err := callgrindTotal(readSample(t, "callgrind_out.txt"))
	if err != nil || n != 14025118 {
		t.Fatalf("captured file: %d, %v; want 14025118", n, err)
	}
	if n, err := callgrindTotal([]byte("events: Ir\nsummary: 42\n")); err != nil || n != 42 {
		t.Fatalf("summary only: %d, %v; want 42", n, err)
	}
	if n, err := callgrindTotal([]byte("events: Ir Dr\nsummary: 5 3\ntotals: 7 3\n")); err != nil || n != 7 {
		t.Fatalf("two events: %d, %v; want 7", n, err)
	}
	for _, bad := range []string{"", "events: Ir\n", "events: Dr Ir\ntotals: 5 9\n", "events: Ir\ntotals: -3\n",
		"events: Ir\ntotals: x\n", "totals: 9\n"} {
		if n, err := callgrindTotal([]byte(bad)); !errors.Is(err, ErrCallgrindOutput) {
			t.Errorf("%q: %d, %v; want ErrCallgrindOutput", bad, n, err)
		}
	}
}

// FuzzCallgrindTotal feeds arbitrary bytes: never a panic, and an error exactly when there is no positive
// total.
func FuzzCallgrindTotal(f *testing.F) {
	f.Add(readSample(f, "callgrind_out.txt"))
	f.Add([]byte("events: Ir\nsummary: 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := callgrindTotal(b)
		if (err == nil) != (n > 0) {
			t.Fatalf("callgrindTotal(%q) = %d, %v", b, n, err)
		}
	})
}
