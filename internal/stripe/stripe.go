// Package stripe spreads counters that every request updates over several cache lines, so that requests served
// on different cores do not fight over one word. The gateway's per-API counters and the resolver's hit counter
// use it; readers add the stripes up.
package stripe

import "unsafe"

// Index picks a stripe in [0, 2^bits) for the calling goroutine by hashing the address of a stack variable:
// it is stable for a goroutine (which keeps writing the same line) and differs between goroutines, the per-core
// affinity Go does not expose. A random stripe per call would make lines bounce between cores instead. The
// address is only hashed, never turned back into a pointer.
func Index(bits uint) int {
	var marker byte
	h := uint64(uintptr(unsafe.Pointer(&marker))) * 0x9E3779B97F4A7C15
	return int(h >> (64 - bits))
}
