package stripe

import (
	"sync"
	"testing"
)

func TestIndexInRangeAndSpread(t *testing.T) {
	const bits = 3
	seen := map[int]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := Index(bits)
			if i < 0 || i >= 1<<bits {
				t.Errorf("Index(%d) = %d", bits, i)
			}
			mu.Lock()
			seen[i] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seen) < 2 {
		t.Errorf("256 goroutines all used stripe %v: no spreading", seen)
	}
}

func TestIndexAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { Index(6) }); n != 0 {
		t.Errorf("Index allocates %.0f times", n)
	}
}
