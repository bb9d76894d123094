package gateway

import "sync"

// liveSet holds what outlives its request's handler: upgraded connections (tunnels) and streamed response bodies.
// The HTTP server's shutdown does not wait for a hijacked connection, and waits for a stream only until its
// deadline, so Shutdown ends what is left here (abortAll).
type liveSet[T interface {
	comparable
	abort()
}] struct {
	mu     sync.Mutex
	open   map[T]struct{}
	closed bool
}

// add records v; when abortAll ran already, v is aborted at once and add returns false.
func (ls *liveSet[T]) add(v T) bool {
	ls.mu.Lock()
	if ls.closed {
		ls.mu.Unlock()
		v.abort()
		return false
	}
	if ls.open == nil {
		ls.open = map[T]struct{}{}
	}
	ls.open[v] = struct{}{}
	ls.mu.Unlock()
	return true
}

func (ls *liveSet[T]) remove(v T) {
	ls.mu.Lock()
	delete(ls.open, v)
	ls.mu.Unlock()
}

// abortAll aborts everything open, and everything added from now on.
func (ls *liveSet[T]) abortAll() {
	ls.mu.Lock()
	ls.closed = true
	open := ls.open
	ls.open = nil
	ls.mu.Unlock()
	for v := range open {
		v.abort()
	}
}
