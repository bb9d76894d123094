package resolver_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/resolver"
)

// Naming deadlines: CallTimeout bounds one attempt, ResolveTimeout a whole lookup, and callers of one
// partition share one naming operation. The tests assert what happened (attempts, endpoints, errors, which
// context ended), never how long it took.

// TestSilentEndpointFailsOverAfterCallTimeout: the first management endpoint accepts TCP and never answers.
// With a ResolveTimeout far larger than CallTimeout, an uncached lookup succeeds through the second endpoint:
// the silent one got exactly one attempt, which ended as a call timeout, and no lookup reached
// ResolveTimeout. The next lookups start at the endpoint that answered.
func TestSilentEndpointFailsOverAfterCallTimeout(t *testing.T) {
	c := fakesftest.Start(t)
	silent := fakesftest.StartSilent(t)
	r, log := newResolver(t, []string{silent.URL(), c.URL()}, func(o *resolver.Options) {
		o.CallTimeout, o.ResolveTimeout = time.Second, time.Hour
	})
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	s, err := r.Resolve(ctx, orders, []byte("1"))
	if err != nil {
		t.Fatalf("Resolve with a silent first endpoint: %v", err)
	}
	if err := holds(s, orders, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(ctx, carts, []byte("eu")); err != nil {
		t.Fatal(err)
	}
	if got := silent.Accepted(); got != 1 {
		t.Errorf("the silent endpoint got %d connections, want 1 (one attempt, then the endpoint that answered)", got)
	}
	calls := log.all()
	if len(calls) < 2 || calls[0].Endpoint != silent.URL() || calls[0].Status != 0 || !errors.Is(calls[0].Err, resolver.ErrTimeout) {
		t.Fatalf("calls = %+v; want a timed-out attempt on the silent endpoint first", calls)
	}
	for _, call := range calls[1:] {
		if call.Endpoint != c.URL() || call.Err != nil {
			t.Errorf("after failover: %s on %s err %v; want every call answered by %s", call.Op, call.Endpoint, call.Err, c.URL())
		}
	}
	if st := r.Stats(); st.ResolveTimeouts != 0 || st.NamingNoAnswer != 1 {
		t.Errorf("ResolveTimeouts %d, NamingNoAnswer %d; want 0 and 1", st.ResolveTimeouts, st.NamingNoAnswer)
	}
}

// TestOnlySilentEndpointTimesOutAtResolveTimeout: with the silent endpoint alone and attempts to spare, the
// lookup ends at ResolveTimeout, not at the caller's (much later) deadline: the caller's context is still
// alive when Resolve returns, and the error is a timeout that names the endpoint and the bound.
func TestOnlySilentEndpointTimesOutAtResolveTimeout(t *testing.T) {
	silent := fakesftest.StartSilent(t)
	r, log := newResolver(t, []string{silent.URL()}, func(o *resolver.Options) {
		o.CallTimeout, o.ResolveTimeout, o.MaxAttempts = 100*time.Millisecond, 300*time.Millisecond, 1000
	})
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	_, err := r.Resolve(ctx, orders, []byte("1"))
	if ctx.Err() != nil {
		t.Fatalf("Resolve returned after the caller's own deadline (%v), not at ResolveTimeout", err)
	}
	if !errors.Is(err, resolver.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Resolve = %v; want ErrTimeout and context.DeadlineExceeded", err)
	}
	for _, want := range []string{silent.URL(), "resolveTimeout 300ms", orders} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	t.Logf("Resolve = %v", err)
	if st := r.Stats(); st.ResolveTimeouts != 1 {
		t.Errorf("ResolveTimeouts = %d, want 1", st.ResolveTimeouts)
	}
	if silent.Accepted() < 1 {
		t.Error("the silent endpoint was never tried")
	}
	for _, call := range log.all() { // recorded once the flight ended; Close (cleanup) waits for it
		if call.Endpoint != silent.URL() || !errors.Is(call.Err, resolver.ErrTimeout) {
			t.Errorf("call %s on %s: %v; want a timeout on the silent endpoint", call.Op, call.Endpoint, call.Err)
		}
	}
}

// joinCounter closes all once n callers joined flights whose key starts with prefix.
type joinCounter struct {
	mu     sync.Mutex
	prefix string
	n      int
	all    chan struct{}
}

func newJoinCounter(r *resolver.Resolver, prefix string, n int) *joinCounter {
	j := &joinCounter{prefix: prefix, n: n, all: make(chan struct{})}
	resolver.OnFlightJoined(r, func(key string) {
		if !strings.HasPrefix(key, j.prefix) {
			return
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.n--; j.n == 0 {
			close(j.all)
		}
	})
	return j
}

// TestConcurrentMissesBehindSilentEndpointShareOneCall: 20 lookups of one uncached partition arrive while
// the first management endpoint is silent. They share one naming operation: the silent endpoint gets one
// connection, fakesf one GetPartitions and one ResolvePartition, and every caller gets the same snapshot.
func TestConcurrentMissesBehindSilentEndpointShareOneCall(t *testing.T) {
	c := fakesftest.Start(t)
	silent := fakesftest.StartSilent(t)
	const n = 20
	var joined *joinCounter
	r, log := newResolver(t, []string{silent.URL(), c.URL()}, func(o *resolver.Options) {
		o.CallTimeout, o.ResolveTimeout = time.Second, time.Hour
		record := o.OnNamingCall
		o.OnNamingCall = func(call resolver.NamingCall) {
			record(call)
			if call.Endpoint != c.URL() {
				<-joined.all // the silent attempt ends only when every caller waits on the operation
			}
		}
	})
	joined = newJoinCounter(r, "S\x00", n)
	snaps := make([]*resolver.Snapshot, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := r.Resolve(t.Context(), orders, []byte("7"))
			if err != nil {
				t.Errorf("lookup %d: %v", i, err)
			}
			snaps[i] = s
		})
	}
	wg.Wait()
	for i, s := range snaps {
		if s == nil || s != snaps[0] {
			t.Fatalf("lookup %d got snapshot %p, lookup 0 %p; want one shared result", i, s, snaps[0])
		}
	}
	if got := silent.Accepted(); got != 1 {
		t.Errorf("silent endpoint: %d connections, want 1", got)
	}
	if gp, rp := log.count("GetPartitions"), c.ResolveCalls(); gp != 2 || rp != 1 {
		t.Errorf("%d GetPartitions attempts (want 2: silent, then fakesf), %d ResolvePartition calls (want 1)", gp, rp)
	}
}

// TestConcurrentMissesOnSilentEndpointShareOneTimeout: 20 lookups of one uncached partition, the silent
// endpoint alone. One attempt is made, and all 20 callers get its timeout, which names the endpoint.
func TestConcurrentMissesOnSilentEndpointShareOneTimeout(t *testing.T) {
	silent := fakesftest.StartSilent(t)
	const n = 20
	var joined *joinCounter
	r, _ := newResolver(t, []string{silent.URL()}, func(o *resolver.Options) {
		o.CallTimeout, o.ResolveTimeout, o.MaxAttempts = 100*time.Millisecond, time.Hour, 1
		record := o.OnNamingCall
		o.OnNamingCall = func(call resolver.NamingCall) {
			record(call)
			<-joined.all
		}
	})
	joined = newJoinCounter(r, "S\x00", n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = r.Resolve(t.Context(), orders, []byte("7"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, resolver.ErrTimeout) || !strings.Contains(err.Error(), silent.URL()) {
			t.Errorf("lookup %d: %v; want a timeout naming %s", i, err, silent.URL())
		}
	}
	if got := silent.Accepted(); got != 1 {
		t.Errorf("silent endpoint: %d connections for %d concurrent lookups, want 1", got, n)
	}
}

// TestCancelledFirstWaiterDoesNotCancelSharedCall: the caller that started a naming operation gives up (its
// context is cancelled) while the operation is under way. It returns at once with its context's error; the
// operation goes on, and a second caller waiting on it gets the snapshot from that one call.
func TestCancelledFirstWaiterDoesNotCancelSharedCall(t *testing.T) {
	c := fakesftest.Start(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
		record := o.OnNamingCall
		o.OnNamingCall = func(call resolver.NamingCall) {
			record(call)
			if call.Op == "ResolvePartition" {
				once.Do(func() { close(entered) })
				<-release
			}
		}
	})
	if _, err := r.Scheme(t.Context(), orders); err != nil {
		t.Fatal(err)
	}
	joined := newJoinCounter(r, "P\x00", 2)
	first, cancelFirst := context.WithCancel(t.Context())
	firstErr := make(chan error, 1)
	go func() {
		_, err := r.Resolve(first, orders, []byte("1"))
		firstErr <- err
	}()
	<-entered // the operation has its answer and is held
	second := make(chan *resolver.Snapshot, 1)
	go func() {
		s, err := r.Resolve(t.Context(), orders, []byte("2"))
		if err != nil {
			t.Errorf("second caller: %v", err)
		}
		second <- s
	}()
	<-joined.all
	cancelFirst()
	select {
	case err := <-firstErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled first caller got %v, want context.Canceled", err)
		}
	case <-time.After(guard):
		t.Fatal("the cancelled first caller still waits for the shared call")
	}
	close(release)
	if s := <-second; s == nil {
		t.Fatal("second caller got no snapshot")
	} else if err := holds(s, orders, "2"); err != nil {
		t.Error(err)
	}
	if got := c.ResolveCalls(); got != 1 {
		t.Errorf("%d ResolvePartition calls, want 1 shared by both callers", got)
	}
}

// TestResolveTimeoutBoundsComplaintsAndScheme: a complaint (Invalidate) and a Scheme listing are bounded by
// ResolveTimeout too, while one endpoint answers 503 and the other never answers.
func TestResolveTimeoutBoundsComplaintsAndScheme(t *testing.T) {
	c := fakesftest.Start(t)
	silent := fakesftest.StartSilent(t)
	r, _ := newResolver(t, []string{c.URL(), silent.URL()}, func(o *resolver.Options) {
		o.CallTimeout, o.ResolveTimeout, o.MaxAttempts = 100*time.Millisecond, 300*time.Millisecond, 1000
	})
	resolver.SetBackoff(r, func() backoff.BackOff { return &backoff.ZeroBackOff{} })
	s, err := r.Resolve(t.Context(), orders, []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	// fakesf now fails every call with 503, so the operation alternates between it and the silent endpoint
	// until ResolveTimeout.
	setFault(t, c, fakesf.NamingFault{Status: 503, Code: "FABRIC_E_SERVICE_OFFLINE", AllRoutes: true})
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	if _, err := r.Invalidate(ctx, orders, []byte("1"), s.Version); ctx.Err() != nil || !errors.Is(err, resolver.ErrTimeout) {
		t.Errorf("Invalidate = %v (caller's context: %v); want ErrTimeout at ResolveTimeout", err, ctx.Err())
	}
	if _, err := r.Scheme(ctx, carts); ctx.Err() != nil || !errors.Is(err, resolver.ErrTimeout) {
		t.Errorf("Scheme = %v (caller's context: %v); want ErrTimeout at ResolveTimeout", err, ctx.Err())
	}
	if st := r.Stats(); st.ResolveTimeouts != 2 {
		t.Errorf("ResolveTimeouts = %d, want 2", st.ResolveTimeouts)
	}
}
