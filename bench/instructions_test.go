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

// TestValgrindFailure picks the line that says why valgrind stopped, from output captured on this machine.
func TestValgrindFailure(t *testing.T) {
	for _, c := range []struct{ out, want string }{
		{"==1== Callgrind\nvex amd64->IR: unhandled instruction bytes: 0xF 0x1 0xF9 0x48\nvex amd64->IR:   REX=0\n==1== Process terminating with default action of signal 4 (SIGILL)\n",
			"vex amd64->IR: unhandled instruction bytes: 0xF 0x1 0xF9 0x48"},
		{"==1== For interactive control\nCallgrind: threads.c:247 (vgCallgrind_post_signal): Assertion 'sigNum == vgCallgrind_current_state.sig' failed.\n",
			"Callgrind: threads.c:247 (vgCallgrind_post_signal): Assertion 'sigNum == vgCallgrind_current_state.sig' failed."},
		{"==1== Callgrind\n==1== Process terminating with default action of signal 11 (SIGSEGV)\n==1==  at 0x0\n",
			"==1== Process terminating with default action of signal 11 (SIGSEGV)"},
		{"valgrind: ./probe: No such file or directory\n\n", "valgrind: ./probe: No such file or directory"},
		{"", "no output"},
	} {
		if got := valgrindFailure([]byte(c.out)); got != c.want {
			t.Errorf("valgrindFailure(%q) = %q, want %q", c.out, got, c.want)
		}
	}
}
