package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/listener"
	"github.com/sfgate/sfgate/partition"
	"github.com/sfgate/sfgate/resolver"
)

const (
	orders   = "fabric:/Shop/Orders" // Stateful Int64Range 0..1023, 4 partitions
	carts    = "fabric:/Shop/Carts"  // Stateful Named eu, us, asia
	web      = "fabric:/Shop/Web"    // Stateless Singleton, listeners "" and Admin
	products = "fabric:/Catalog/Products"
)

// callLog records the resolver's naming attempts (Options.OnNamingCall).
type callLog struct {
	mu    sync.Mutex
	calls []resolver.NamingCall
	ch    chan resolver.NamingCall
}

func newCallLog() *callLog { return &callLog{ch: make(chan resolver.NamingCall, 4096)} }

func (l *callLog) record(c resolver.NamingCall) {
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
	select {
	case l.ch <- c:
	default:
	}
}

func (l *callLog) count(op string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.calls {
		if c.Op == op {
			n++
		}
	}
	return n
}

func (l *callLog) all() []resolver.NamingCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]resolver.NamingCall(nil), l.calls...)
}

// newResolver returns a Resolver of endpoints that records its naming calls. Its naming bounds are generous
// (CallTimeout 10s, ResolveTimeout guard) so that a loaded machine never turns a slow answer into a
// failover or a timeout; tests of those bounds set their own in edit.
func newResolver(t testing.TB, endpoints []string, edit func(*resolver.Options)) (*resolver.Resolver, *callLog) {
	t.Helper()
	log := newCallLog()
	o := resolver.Options{ManagementEndpoints: endpoints, OnNamingCall: log.record, CallTimeout: 10 * time.Second, ResolveTimeout: guard}
	if edit != nil {
		edit(&o)
	}
	r, err := resolver.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, log
}

func partitionsOf(t *testing.T, c *fakesf.Cluster, service string) []fakesf.PartitionState {
	t.Helper()
	ps, err := c.Partitions(service)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestResolveInt64RangeReachesThePrimary(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, nil)
	parts := partitionsOf(t, c, orders)
	for _, key := range []int64{0, 255, 256, 700, 1023} {
		s, err := r.Resolve(t.Context(), orders, []byte(strconv.FormatInt(key, 10)))
		if err != nil {
			t.Fatalf("Resolve(%d): %v", key, err)
		}
		if key < s.Partition.LowKey || key > s.Partition.HighKey || s.Partition.Kind != partition.Int64Range {
			t.Errorf("Resolve(%d) = partition %+v, which does not hold the key", key, s.Partition)
		}
		want := parts[key/256]
		if s.Partition.ID != want.ID || s.Version != want.Version || s.Service != orders {
			t.Errorf("Resolve(%d) = %s version %s, want %s version %s", key, s.Partition.ID, s.Version, want.ID, want.Version)
		}
		url, _, err := s.Replicas.Select(listener.ReplicaPrimary, "")
		if err != nil {
			t.Fatal(err)
		}
		rr := fakesftest.AskReplica(t, url)
		if rr.PartitionID != want.ID || rr.Role != "primary" {
			t.Errorf("key %d reached partition %s role %s, want %s primary", key, rr.PartitionID, rr.Role, want.ID)
		}
	}
}

func TestResolveNamedAndSingleton(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, nil)
	for _, name := range []string{"eu", "us", "asia"} {
		s, err := r.Resolve(t.Context(), carts, []byte(name))
		if err != nil {
			t.Fatal(err)
		}
		if s.Partition.Name != name {
			t.Errorf("Resolve(carts, %q) = partition %q", name, s.Partition.Name)
		}
		url, _, err := s.Replicas.Select(listener.ReplicaSecondary, "")
		if err != nil {
			t.Fatalf("carts listen on secondaries: %v", err)
		}
		if rr := fakesftest.AskReplica(t, url); rr.Role != "secondary" || rr.PartitionID != s.Partition.ID {
			t.Errorf("secondary of %q answered as %s of %s", name, rr.Role, rr.PartitionID)
		}
	}
	s, err := r.Resolve(t.Context(), web, []byte("ignored for singleton"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Replicas.Replicas()); n != 3 || s.Replicas.Stateful() {
		t.Errorf("web: %d replicas, stateful %v; want 3 stateless instances", n, s.Replicas.Stateful())
	}
	url, _, err := s.Replicas.Select(listener.Default, "Admin")
	if err != nil {
		t.Fatal(err)
	}
	if rr := fakesftest.AskReplica(t, url); rr.Listener != "Admin" || rr.Role != "stateless" {
		t.Errorf("Admin listener answered as %+v", rr)
	}
}

func TestManyKeysOneNamingCallPerPartition(t *testing.T) {
	c := fakesftest.Start(t)
	r, log := newResolver(t, []string{c.URL()}, nil)
	for k := range 1024 {
		if _, err := r.Resolve(t.Context(), orders, []byte(strconv.Itoa(k))); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.ResolveCalls(); got != 4 {
		t.Errorf("1024 keys over 4 partitions: fakesf saw %d ResolvePartition calls, want 4", got)
	}
	if got := log.count("GetPartitions"); got != 1 {
		t.Errorf("%d GetPartitions calls, want 1", got)
	}
	st := r.Stats()
	if st.Misses != 4 || st.Hits != 1020 || st.Partitions != 4 || st.Services != 1 {
		t.Errorf("stats: misses %d hits %d partitions %d services %d; want 4, 1020, 4, 1", st.Misses, st.Hits, st.Partitions, st.Services)
	}
}

func TestConcurrentFirstLookupsShareOneCall(t *testing.T) {
	c := fakesftest.Start(t)
	c.SetResolveDelay(20 * time.Millisecond) // keep the first call in flight while the others arrive
	r, log := newResolver(t, []string{c.URL()}, nil)
	const n = 1000
	start := make(chan struct{})
	var wg sync.WaitGroup
	versions := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			s, err := r.Resolve(t.Context(), orders, []byte(strconv.Itoa(i%256))) // all in partition 0
			errs[i] = err
			if s != nil {
				versions[i] = s.Version
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("lookup %d: %v", i, err)
		}
		if versions[i] != versions[0] {
			t.Fatalf("lookup %d got version %s, lookup 0 got %s", i, versions[i], versions[0])
		}
	}
	if got := c.ResolveCalls(); got != 1 {
		t.Errorf("%d concurrent first lookups of one partition: %d ResolvePartition calls, want 1", n, got)
	}
	if got := log.count("GetPartitions"); got != 1 {
		t.Errorf("%d GetPartitions calls, want 1", got)
	}
}

func TestInvalidateAfterMovePrimaryReturnsNewPrimary(t *testing.T) {
	c := fakesftest.Start(t, fakesf.WithNamingCache(fakesf.NamingCache{Stale: true}))
	r, _ := newResolver(t, []string{c.URL()}, nil)
	key := []byte("300") // partition 1
	s1, err := r.Resolve(t.Context(), orders, key)
	if err != nil {
		t.Fatal(err)
	}
	oldURL, _, _ := s1.Replicas.Select(listener.ReplicaPrimary, "")
	oldPrimary := fakesftest.AskReplica(t, oldURL).ReplicaID

	if err := c.MovePrimary(s1.Partition.ID, ""); err != nil {
		t.Fatal(err)
	}
	// The old primary no longer serves the primary listener: the request fails, as in production.
	if resp, err := http.Get(oldURL); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("old primary still answers 200 after MovePrimary")
		}
	}

	plainBefore, prevBefore := c.PartitionResolveCalls(s1.Partition.ID)
	s2, err := r.Invalidate(t.Context(), orders, key, s1.Version)
	if err != nil {
		t.Fatal(err)
	}
	plain, prev := c.PartitionResolveCalls(s1.Partition.ID)
	if prev-prevBefore != 1 || plain != plainBefore {
		t.Errorf("complaint made %d plain and %d PreviousRspVersion calls, want 0 and 1", plain-plainBefore, prev-prevBefore)
	}
	if s2.Version == s1.Version {
		t.Fatalf("Invalidate returned the complained-about version %s", s1.Version)
	}
	newURL, _, err := s2.Replicas.Select(listener.ReplicaPrimary, "")
	if err != nil {
		t.Fatal(err)
	}
	rr := fakesftest.AskReplica(t, newURL)
	if rr.Role != "primary" || rr.ReplicaID == oldPrimary {
		t.Errorf("after the complaint the request reached replica %s (%s); old primary was %s", rr.ReplicaID, rr.Role, oldPrimary)
	}
	if st := r.Stats(); st.Reresolves != 1 || st.Invalidations != 1 {
		t.Errorf("stats: reresolves %d invalidations %d, want 1 and 1", st.Reresolves, st.Invalidations)
	}
	// The complaint's answer is now what Resolve serves.
	if s3, err := r.Resolve(t.Context(), orders, key); err != nil || s3.Version != s2.Version {
		t.Errorf("Resolve after Invalidate = %v, %v; want version %s", s3, err, s2.Version)
	}
}

func TestInvalidateOlderVersionReturnsCachedWithoutCall(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, nil)
	key := []byte("7")
	s1, err := r.Resolve(t.Context(), orders, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MovePrimary(s1.Partition.ID, ""); err != nil {
		t.Fatal(err)
	}
	s2, err := r.Invalidate(t.Context(), orders, key, s1.Version)
	if err != nil {
		t.Fatal(err)
	}
	calls := c.ResolveCalls()
	// A late complaint about s1 (the cache holds s2 now) must not reach naming.
	s3, err := r.Invalidate(t.Context(), orders, key, s1.Version)
	if err != nil {
		t.Fatal(err)
	}
	if s3 != s2 {
		t.Errorf("late complaint returned version %s, want the cached %s", s3.Version, s2.Version)
	}
	if got := c.ResolveCalls(); got != calls {
		t.Errorf("late complaint made %d naming calls, want 0", got-calls)
	}
	if st := r.Stats(); st.InvalidationsNewer != 1 {
		t.Errorf("InvalidationsNewer = %d, want 1", st.InvalidationsNewer)
	}
}

func TestConcurrentComplaintsCollapse(t *testing.T) {
	c := fakesftest.Start(t, fakesf.WithNamingCache(fakesf.NamingCache{Stale: true}))
	r, _ := newResolver(t, []string{c.URL()}, nil)
	key := []byte("us")
	s1, err := r.Resolve(t.Context(), carts, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MovePrimary(s1.Partition.ID, ""); err != nil {
		t.Fatal(err)
	}
	c.SetResolveDelay(20 * time.Millisecond)
	_, prevBefore := c.PartitionResolveCalls(s1.Partition.ID)
	const n = 200
	var wg sync.WaitGroup
	var distinct sync.Map
	var failures atomic.Int64
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			s, err := r.Invalidate(t.Context(), carts, key, s1.Version)
			if err != nil {
				failures.Add(1)
				return
			}
			distinct.Store(s.Version, true)
		})
	}
	close(start)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d complaints failed", failures.Load())
	}
	_, prev := c.PartitionResolveCalls(s1.Partition.ID)
	if prev-prevBefore != 1 {
		t.Errorf("%d concurrent complaints about one version made %d calls, want 1", n, prev-prevBefore)
	}
	count := 0
	distinct.Range(func(k, _ any) bool {
		count++
		if k == s1.Version {
			t.Errorf("a complaint got the old version back")
		}
		return true
	})
	if count != 1 {
		t.Errorf("complaints saw %d different versions, want 1", count)
	}
}

func TestInvalidPartitionKeyIsLocal(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, nil)
	for _, tc := range []struct {
		service, key string
		sentinel     error
	}{
		{orders, "abc", partition.ErrNotInteger},
		{orders, "1024", partition.ErrOutOfRange},
		{carts, "mars", partition.ErrUnknownName},
	} {
		_, err := r.Resolve(t.Context(), tc.service, []byte(tc.key))
		var ke *partition.KeyError
		if !errors.Is(err, resolver.ErrInvalidPartitionKey) || !errors.Is(err, tc.sentinel) || !errors.As(err, &ke) {
			t.Errorf("Resolve(%s, %q) = %v; want ErrInvalidPartitionKey wrapping a *partition.KeyError (%v)", tc.service, tc.key, err, tc.sentinel)
		}
	}
	if got := c.ResolveCalls(); got != 0 {
		t.Errorf("bad keys made %d ResolvePartition calls, want 0", got)
	}
}

func TestServiceNotFoundIsNegativelyCached(t *testing.T) {
	c := fakesftest.Start(t)
	clock := newFakeClock()
	r, log := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
		o.NegativeTTL = time.Minute
		o.Clock = clock
	})
	for range 3 {
		_, err := r.Resolve(t.Context(), "fabric:/Shop/Nope", []byte("1"))
		var fe *resolver.FabricError
		if !errors.Is(err, resolver.ErrServiceNotFound) || !errors.As(err, &fe) || fe.Code != "FABRIC_E_SERVICE_DOES_NOT_EXIST" {
			t.Fatalf("Resolve(unknown service) = %v, want ErrServiceNotFound with the SF code", err)
		}
	}
	if got := log.count("GetPartitions"); got != 1 {
		t.Errorf("3 lookups of a missing service made %d GetPartitions calls, want 1 (negative cache)", got)
	}
	clock.Advance(2 * time.Minute)
	if _, err := r.Resolve(t.Context(), "fabric:/Shop/Nope", []byte("1")); !errors.Is(err, resolver.ErrServiceNotFound) {
		t.Fatal(err)
	}
	if got := log.count("GetPartitions"); got != 2 {
		t.Errorf("after NegativeTTL: %d GetPartitions calls, want 2", got)
	}
	if st := r.Stats(); st.NegativeHits != 2 {
		t.Errorf("NegativeHits = %d, want 2", st.NegativeHits)
	}
}

func TestBadServiceName(t *testing.T) {
	c := fakesftest.Start(t)
	r, log := newResolver(t, []string{c.URL()}, nil)
	_, err := r.Resolve(t.Context(), "Shop/Orders", nil)
	if err == nil || len(log.all()) != 0 {
		t.Errorf("Resolve(no fabric:/ prefix) = %v with %d calls; want a local error", err, len(log.all()))
	}
}

// deadEndpoint returns a URL on which nothing listens (connection refused).
func deadEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestFailoverRemembersTheEndpointThatAnswered(t *testing.T) {
	c := fakesftest.Start(t)
	dead := deadEndpoint(t)
	r, log := newResolver(t, []string{dead, c.URL()}, nil)
	if _, err := r.Resolve(t.Context(), orders, []byte("1")); err != nil {
		t.Fatal(err)
	}
	calls := log.all()
	if len(calls) < 2 || calls[0].Endpoint != dead || calls[0].Status != 0 || calls[0].Err == nil || calls[1].Endpoint != c.URL() {
		t.Fatalf("first calls = %+v; want a failed attempt on the dead endpoint, then the live one", calls)
	}
	n := len(calls)
	if _, err := r.Resolve(t.Context(), orders, []byte("500")); err != nil {
		t.Fatal(err)
	}
	for _, call := range log.all()[n:] {
		if call.Endpoint != c.URL() {
			t.Errorf("after failover a call went to %s; want the endpoint that answered (%s)", call.Endpoint, c.URL())
		}
	}
	for _, call := range log.all() {
		if len(call.RequestID) != 36 {
			t.Errorf("request id %q is not a UUID", call.RequestID)
		}
	}
}

func TestAllEndpointsDownIsUnavailable(t *testing.T) {
	r, log := newResolver(t, []string{deadEndpoint(t), deadEndpoint(t)}, func(o *resolver.Options) { o.MaxAttempts = 3 })
	_, err := r.Resolve(t.Context(), orders, []byte("1"))
	if !errors.Is(err, resolver.ErrUnavailable) {
		t.Fatalf("Resolve = %v, want ErrUnavailable", err)
	}
	if got := len(log.all()); got != 3 {
		t.Errorf("%d attempts, want MaxAttempts = 3", got)
	}
	if st := r.Stats(); st.NamingNoAnswer != 3 {
		t.Errorf("NamingNoAnswer = %d, want 3", st.NamingNoAnswer)
	}
}

func TestFailoverOn5xxThenTypedErrors(t *testing.T) {
	c := fakesftest.Start(t)
	r, log := newResolver(t, []string{c.URL()}, func(o *resolver.Options) { o.MaxAttempts = 2 })
	if _, err := r.Scheme(t.Context(), orders); err != nil {
		t.Fatal(err)
	}
	// One 503 then success: retried transparently.
	if err := c.SetNamingFault(fakesf.NamingFault{Status: 503, Code: "FABRIC_E_SERVICE_OFFLINE", Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(t.Context(), orders, []byte("1")); err != nil {
		t.Fatalf("one 503 then success: %v", err)
	}
	if st := r.Stats(); st.NamingFailed != 1 {
		t.Errorf("NamingFailed = %d, want 1; calls %+v", st.NamingFailed, log.all())
	}
	for _, tc := range []struct {
		key   string // a partition not resolved yet
		fault fakesf.NamingFault
		want  error
	}{
		{"300", fakesf.NamingFault{Status: 503, Code: "FABRIC_E_NOT_READY"}, resolver.ErrNotReady},
		{"600", fakesf.NamingFault{Status: 504, Code: "FABRIC_E_TIMEOUT"}, resolver.ErrTimeout},
	} {
		if err := c.SetNamingFault(tc.fault); err != nil {
			t.Fatal(err)
		}
		before := len(log.all())
		_, err := r.Resolve(t.Context(), orders, []byte(tc.key))
		var fe *resolver.FabricError
		if !errors.Is(err, tc.want) || !errors.Is(err, resolver.ErrUnavailable) || !errors.As(err, &fe) || fe.Code != tc.fault.Code {
			t.Errorf("fault %s: Resolve = %v; want %v, ErrUnavailable and the SF code", tc.fault.Code, err, tc.want)
		}
		if got := len(log.all()) - before; got != 2 {
			t.Errorf("fault %s: %d attempts, want 2", tc.fault.Code, got)
		}
		if err := c.SetNamingFault(fakesf.NamingFault{}); err != nil {
			t.Fatal(err)
		}
	}
	// A 4xx is not retried on another endpoint. FABRIC_E_INVALID_PARTITION_KEY for a key the cached scheme
	// holds means the scheme is out of date: it is read again once (GetPartitions), then the error stands.
	if err := c.SetNamingFault(fakesf.NamingFault{Status: 400, Code: "FABRIC_E_INVALID_PARTITION_KEY"}); err != nil {
		t.Fatal(err)
	}
	before := len(log.all())
	_, err := r.Resolve(t.Context(), orders, []byte("900"))
	var ops []string
	for _, call := range log.all()[before:] {
		ops = append(ops, call.Op)
	}
	if !errors.Is(err, resolver.ErrInvalidPartitionKey) || strings.Join(ops, ",") != "ResolvePartition,GetPartitions,ResolvePartition" {
		t.Errorf("400: Resolve = %v after calls %v; want ErrInvalidPartitionKey after ResolvePartition, GetPartitions, ResolvePartition", err, ops)
	}
}

func TestStaleSnapshotServedWithinGraceThenFails(t *testing.T) {
	c := fakesftest.Start(t)
	clock := newFakeClock()
	r, log := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
		o.RefreshAfter = time.Minute
		o.StaleGrace = time.Minute
		o.MaxAttempts = 1
		o.Clock = clock
	})
	key := []byte("42")
	s1, err := r.Resolve(t.Context(), orders, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetNamingFault(fakesf.NamingFault{Status: 503, Code: "FABRIC_E_SERVICE_OFFLINE"}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(90 * time.Second) // past RefreshAfter, within StaleGrace
	for range 10 {
		s, err := r.Resolve(t.Context(), orders, key)
		if err != nil || s != s1 {
			t.Fatalf("within grace: Resolve = %v, %v; want the last good snapshot", s, err)
		}
	}
	// Exactly one background refresh was started; it fails against the fault.
	call := <-waitCall(t, log, "ResolvePartition", 2)
	if call.Status != 503 {
		t.Errorf("background refresh got %d, want the injected 503", call.Status)
	}
	if st := r.Stats(); st.Refreshes != 1 || st.StaleHits != 10 {
		t.Errorf("stats: refreshes %d stale hits %d, want 1 and 10", st.Refreshes, st.StaleHits)
	}
	clock.Advance(90 * time.Second) // past RefreshAfter + StaleGrace
	_, err = r.Resolve(t.Context(), orders, key)
	if !errors.Is(err, resolver.ErrUnavailable) || !errors.Is(err, resolver.ErrNotReady) {
		t.Fatalf("past grace: Resolve = %v, want ErrUnavailable (and the SF cause)", err)
	}
	t.Logf("past grace: %v", err)
	// Naming recovers: the next lookup resolves again.
	if err := c.SetNamingFault(fakesf.NamingFault{}); err != nil {
		t.Fatal(err)
	}
	s, err := r.Resolve(t.Context(), orders, key)
	if err != nil || s == s1 || !s.Resolved.Equal(clock.Now()) {
		t.Fatalf("after recovery: Resolve = %+v, %v; want a new snapshot", s, err)
	}
}

// waitCall returns a channel that yields the nth (1-based) naming call of op recorded by log.
func waitCall(t *testing.T, log *callLog, op string, nth int) <-chan resolver.NamingCall {
	t.Helper()
	out := make(chan resolver.NamingCall, 1)
	seen := 0
	for _, c := range log.all() {
		if c.Op == op {
			seen++
			if seen == nth {
				out <- c
				return out
			}
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	drained := 0
	for {
		select {
		case c := <-log.ch:
			drained++
			_ = c
			seen = 0
			for _, c := range log.all() {
				if c.Op == op {
					seen++
					if seen == nth {
						out <- c
						return out
					}
				}
			}
		case <-ctx.Done():
			t.Fatalf("no %s call #%d within 10s (saw %d)", op, nth, seen)
		}
	}
}

func TestRefreshAfterRefreshesInBackground(t *testing.T) {
	c := fakesftest.Start(t)
	clock := newFakeClock()
	r, log := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
		o.RefreshAfter = time.Minute
		o.Clock = clock
	})
	key := []byte("eu")
	s1, err := r.Resolve(t.Context(), carts, key)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	s, err := r.Resolve(t.Context(), carts, key)
	if err != nil || s != s1 {
		t.Fatalf("stale hit = %v, %v; want the old snapshot while the refresh runs", s, err)
	}
	call := <-waitCall(t, log, "ResolvePartition", 2)
	if call.Err != nil {
		t.Fatal(call.Err)
	}
	// The refresh publishes after its HTTP attempt is logged; wait for the new snapshot.
	deadline := time.After(10 * time.Second)
	for {
		s, err = r.Resolve(t.Context(), carts, key)
		if err != nil {
			t.Fatal(err)
		}
		if s != s1 {
			break
		}
		select {
		case <-deadline:
			t.Fatal("the background refresh never published")
		default:
			runtime.Gosched()
		}
	}
	if !s.Resolved.Equal(clock.Now()) {
		t.Errorf("refreshed snapshot Resolved = %v, want %v", s.Resolved, clock.Now())
	}
}

func TestEvictionBoundsTheSnapshotCache(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) { o.MaxPartitions = 2 })
	for _, k := range []string{"0", "300", "600", "900"} {
		if _, err := r.Resolve(t.Context(), orders, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	st := r.Stats()
	if st.Partitions != 2 || st.SnapshotEvictions != 2 {
		t.Errorf("partitions %d evictions %d, want 2 and 2", st.Partitions, st.SnapshotEvictions)
	}
	calls := c.ResolveCalls()
	if _, err := r.Resolve(t.Context(), orders, []byte("0")); err != nil { // evicted: resolved again
		t.Fatal(err)
	}
	if got := c.ResolveCalls() - calls; got != 1 {
		t.Errorf("evicted partition: %d calls, want 1", got)
	}
}

func TestEvictionGivesHotEntriesASecondChance(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) { o.MaxPartitions = 2 })
	for _, k := range []string{"0", "300"} {
		if _, err := r.Resolve(t.Context(), orders, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Resolve(t.Context(), orders, []byte("1")); err != nil { // hit: partition 0 is hot
		t.Fatal(err)
	}
	if _, err := r.Resolve(t.Context(), orders, []byte("600")); err != nil { // evicts partition 1, not 0
		t.Fatal(err)
	}
	calls := c.ResolveCalls()
	if _, err := r.Resolve(t.Context(), orders, []byte("2")); err != nil {
		t.Fatal(err)
	}
	if got := c.ResolveCalls() - calls; got != 0 {
		t.Errorf("the recently used partition was evicted (%d new calls)", got)
	}
}

func TestSchemeEvictionBoundsServices(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) { o.MaxServices = 2 })
	for _, svc := range []string{orders, carts, web, products} {
		if _, err := r.Scheme(t.Context(), svc); err != nil {
			t.Fatal(err)
		}
	}
	if st := r.Stats(); st.Services != 2 || st.SchemeEvictions != 2 {
		t.Errorf("services %d evictions %d, want 2 and 2", st.Services, st.SchemeEvictions)
	}
	// Still correct after eviction.
	if s, err := r.Resolve(t.Context(), orders, []byte("5")); err != nil || s.Partition.LowKey != 0 {
		t.Errorf("Resolve after scheme eviction = %v, %v", s, err)
	}
}

func TestSchemeAndGetPartitionsPaging(t *testing.T) {
	c := fakesftest.Start(t)
	pager := newPagingProxy(t, c.URL(), 1)
	r, log := newResolver(t, []string{pager}, nil)
	s, err := r.Scheme(t.Context(), carts)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 3 || s.Kind() != partition.Named {
		t.Errorf("scheme: %d partitions of kind %v, want 3 Named", s.Len(), s.Kind())
	}
	if got := log.count("GetPartitions"); got != 3 {
		t.Errorf("%d GetPartitions pages fetched, want 3 (one partition per page)", got)
	}
}

func TestCloseStopsResolving(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, nil)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(t.Context(), orders, []byte("1")); !errors.Is(err, resolver.ErrClosed) {
		t.Errorf("Resolve after Close = %v, want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestResolveHonoursContext(t *testing.T) {
	c := fakesftest.Start(t)
	c.SetResolveDelay(time.Minute)
	r, _ := newResolver(t, []string{c.URL()}, nil)
	if _, err := r.Scheme(t.Context(), orders); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, orders, []byte("1"))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Resolve with a cancelled context = %v, want context.Canceled", err)
	}
	c.SetResolveDelay(0)
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []resolver.Options{
		{},
		{ManagementEndpoints: []string{"localhost:19080"}},
		{ManagementEndpoints: []string{"ftp://x:1"}},
		{ManagementEndpoints: []string{"http://x:1"}, Auth: resolver.Auth{ClusterAppID: "app"}},
		{ManagementEndpoints: []string{"http://x:1"}, Auth: resolver.Auth{ClientCertFile: "/nonexistent.pem"}},
		{ManagementEndpoints: []string{"http://x:1"}, CallTimeout: 10 * time.Second, ResolveTimeout: 5 * time.Second},
		{ManagementEndpoints: []string{"http://x:1"}, CallTimeout: 10 * time.Second}, // above the default ResolveTimeout
		{ManagementEndpoints: []string{"http://x:1"}, ResolveTimeout: -time.Second},
		{ManagementEndpoints: []string{"http://x:1"}, MaxAttempts: -1},
	} {
		if _, err := resolver.New(o); err == nil {
			t.Errorf("New(%+v) = nil error", o)
		} else {
			t.Logf("%v", err)
		}
	}
}

func ExampleResolver_Resolve() {
	c, err := fakesf.Start(context.Background(), fakesf.DefaultTopology())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	r, err := resolver.New(resolver.Options{ManagementEndpoints: []string{c.URL()}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	s, err := r.Resolve(context.Background(), "fabric:/Shop/Orders", []byte("300"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Partition.LowKey, s.Partition.HighKey)
	// Output: 256 511
}

// newPagingProxy is a reverse proxy in front of a cluster that adds MaxResults=n to GetPartitions requests, so
// fakesf answers in pages with a ContinuationToken.
func newPagingProxy(t *testing.T, target string, n int) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		if strings.HasSuffix(r.Out.URL.Path, "/$/GetPartitions") {
			r.Out.URL.RawQuery += "&MaxResults=" + strconv.Itoa(n)
		}
	}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

// fakeClock is a manual Clock: Advance moves time and runs the timers that became due.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at   time.Time
	f    func()
	done bool // fired or stopped
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.done
		t.done = true
		return was
	}
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	kept := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.done:
		case !t.at.After(c.now):
			t.done = true
			due = append(due, t.f)
		default:
			kept = append(kept, t)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}
