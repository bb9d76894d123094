package resolver_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/listener"
	"github.com/sfgate/sfgate/resolver"
)

// guard is how long a test waits on a channel before declaring a hang. It is a deadlock detector, not a
// timing assertion: every wait it guards ends in microseconds when the code is right.
const guard = 30 * time.Second

func setFault(t *testing.T, c *fakesf.Cluster, f fakesf.NamingFault) {
	t.Helper()
	if err := c.SetNamingFault(f); err != nil {
		t.Fatal(err)
	}
}

// ops lists the naming calls recorded since index from as "Op status" strings.
func ops(log *callLog, from int) string {
	var out []string
	for _, c := range log.all()[from:] {
		out = append(out, c.Op+" "+strconv.Itoa(c.Status))
	}
	return strings.Join(out, ", ")
}

// TestNamingDownColdPartitionStormMakesOneCallPerAttempt: naming answers 503 and 1000 requests arrive for a
// cold partition. All of them join one naming operation (the first attempt is held until every caller has
// joined), so the management endpoint sees MaxAttempts calls, not 1000 × MaxAttempts. A second wave costs
// one more operation.
func TestNamingDownColdPartitionStormMakesOneCallPerAttempt(t *testing.T) {
	c := fakesftest.Start(t)
	const n = 1000
	var (
		mu        sync.Mutex
		allJoined chan struct{} // closed when every caller of the current wave has joined
		hold      bool          // the next ResolvePartition attempt waits for allJoined
		joins     int
	)
	r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
		o.MaxAttempts = 3
		record := o.OnNamingCall
		o.OnNamingCall = func(call resolver.NamingCall) {
			record(call)
			mu.Lock()
			wait := call.Op == "ResolvePartition" && hold
			hold = false
			ch := allJoined
			mu.Unlock()
			if wait {
				<-ch // the operation's first attempt ends only when every caller waits on it
			}
		}
	})
	resolver.SetBackoff(r, func() backoff.BackOff { return &backoff.ZeroBackOff{} })
	resolver.OnFlightJoined(r, func(key string) {
		if !strings.HasPrefix(key, "P\x00") {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if joins++; joins == n {
			close(allJoined)
		}
	})
	if _, err := r.Scheme(t.Context(), orders); err != nil {
		t.Fatal(err)
	}
	setFault(t, c, fakesf.NamingFault{Status: 503, Code: "FABRIC_E_NOT_READY"})
	for wave := 1; wave <= 2; wave++ {
		mu.Lock()
		allJoined, hold, joins = make(chan struct{}), true, 0
		mu.Unlock()
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, err := r.Resolve(t.Context(), orders, []byte("1"))
				if !errors.Is(err, resolver.ErrUnavailable) || !errors.Is(err, resolver.ErrNotReady) {
					t.Errorf("Resolve = %v, want ErrUnavailable wrapping ErrNotReady", err)
				}
			})
		}
		wg.Wait()
		if got, want := c.ResolveCalls(), int64(3*wave); got != want {
			t.Errorf("after wave %d of %d requests for a cold partition: %d ResolvePartition calls, want %d (MaxAttempts per wave)", wave, n, got, want)
		}
	}
	if st := r.Stats(); st.Misses != 2*n {
		t.Errorf("misses = %d, want %d", st.Misses, 2*n)
	}
}

// TestCloseDuringBackoffAndInFlightCalls: one naming operation waits in a (one hour) failover backoff,
// another waits for a slow answer, and callers wait on both. Close returns promptly, every waiter gets
// ErrClosed, and later calls (hits included) fail with ErrClosed.
func TestCloseDuringBackoffAndInFlightCalls(t *testing.T) {
	c := fakesftest.Start(t)
	r, log := newResolver(t, []string{c.URL()}, func(o *resolver.Options) { o.CallTimeout, o.ResolveTimeout = time.Hour, time.Hour })
	resolver.SetBackoff(r, func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) })
	for _, svc := range []string{orders, carts} {
		if _, err := r.Scheme(t.Context(), svc); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Resolve(t.Context(), web, nil); err != nil { // a cached snapshot
		t.Fatal(err)
	}
	before := c.ResolveCalls()
	setFault(t, c, fakesf.NamingFault{Status: 503, Code: "FABRIC_E_SERVICE_OFFLINE", Count: 1})

	const waiters = 20
	errs := make(chan error, 2*waiters)
	var wg sync.WaitGroup
	for range waiters {
		wg.Go(func() { // flight A: 503, then the one-hour backoff
			_, err := r.Resolve(t.Context(), orders, []byte("1"))
			errs <- err
		})
	}
	<-waitCall(t, log, "ResolvePartition", 2) // web's, then A's failed attempt: A is in its backoff
	c.SetResolveDelay(time.Hour)
	for range waiters {
		wg.Go(func() { // flight B: waits for fakesf's answer
			_, err := r.Resolve(t.Context(), carts, []byte("eu"))
			errs <- err
		})
	}
	for deadline := time.Now().Add(guard); c.ResolveCalls() < before+2; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("flight B never reached fakesf")
		}
	}

	closed := make(chan error, 1)
	go func() { closed <- r.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(guard):
		t.Fatal("Close hangs while naming calls are in flight")
	}
	calls := len(log.all())
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatal("callers still wait after Close")
	}
	close(errs)
	for err := range errs {
		if !errors.Is(err, resolver.ErrClosed) {
			t.Errorf("a caller waiting during Close got %v, want ErrClosed", err)
		}
	}
	if _, err := r.Resolve(t.Context(), web, nil); !errors.Is(err, resolver.ErrClosed) {
		t.Errorf("Resolve of a cached partition after Close = %v, want ErrClosed", err)
	}
	if _, err := r.Invalidate(t.Context(), orders, []byte("1"), "v"); !errors.Is(err, resolver.ErrClosed) {
		t.Errorf("Invalidate after Close = %v, want ErrClosed", err)
	}
	if _, err := r.Scheme(t.Context(), orders); !errors.Is(err, resolver.ErrClosed) {
		t.Errorf("Scheme after Close = %v, want ErrClosed", err)
	}
	if st := r.Stats(); st.Services != 0 || st.Partitions != 0 {
		t.Errorf("after Close the caches hold %d services and %d partitions", st.Services, st.Partitions)
	}
	if got := len(log.all()); got != calls {
		t.Errorf("%d naming calls finished after Close returned; Close must wait for them", got-calls)
	}
	c.SetResolveDelay(0)
}

// TestCancelledContextDuringBackoffReturnsPromptly: the caller's context is cancelled while the naming call
// it waits on sits in a one-hour failover backoff; Resolve returns the context error, wrapped with the
// service and partition, without waiting for the backoff.
func TestCancelledContextDuringBackoffReturnsPromptly(t *testing.T) {
	c := fakesftest.Start(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
		record := o.OnNamingCall
		o.OnNamingCall = func(call resolver.NamingCall) {
			record(call)
			if call.Op == "ResolvePartition" && call.Status == 503 {
				cancel() // the failed attempt is over: the operation now enters its backoff
			}
		}
	})
	resolver.SetBackoff(r, func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) })
	if _, err := r.Scheme(t.Context(), orders); err != nil {
		t.Fatal(err)
	}
	setFault(t, c, fakesf.NamingFault{Status: 503, Code: "FABRIC_E_SERVICE_OFFLINE"})
	done := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, orders, []byte("1"))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || err == context.Canceled || !strings.Contains(err.Error(), orders) {
			t.Errorf("Resolve = %v; want context.Canceled wrapped with the service", err)
		}
	case <-time.After(guard):
		t.Fatal("Resolve waits out the backoff after its context was cancelled")
	}
}

// TestComplaintAboutSnapshotWithoutPrimaryReresolves (docs/servicefabric.md §3: an answer without a primary): while
// a partition has no primary, SF answers 200 with secondaries only; the snapshot is cached but has no
// primary to select. Each complaint about it re-resolves with PreviousRspVersion, and once a primary exists
// the complaint's answer leads to it.
func TestComplaintAboutSnapshotWithoutPrimaryReresolves(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, nil)
	key := []byte("300")
	s1, err := r.Resolve(t.Context(), orders, key)
	if err != nil {
		t.Fatal(err)
	}
	pid := s1.Partition.ID
	prim, ok := partitionsOf(t, c, orders)[1].Primary()
	if !ok {
		t.Fatal("partition 1 has no primary to begin with")
	}
	c.SetAutoFailover(false)
	if err := c.StopNode(prim.Node); err != nil {
		t.Fatal(err)
	}
	s2, err := r.Invalidate(t.Context(), orders, key, s1.Version)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s2.Replicas.Select(listener.ReplicaPrimary, ""); !errors.Is(err, listener.ErrNoPrimary) {
		t.Fatalf("during reconfiguration Select(primary) = %v, want ErrNoPrimary", err)
	}
	if s, err := r.Resolve(t.Context(), orders, key); err != nil || s != s2 {
		t.Fatalf("the primary-less answer is not what Resolve serves: %v, %v", s, err)
	}
	// The gateway complains about the primary-less snapshot: one call with PreviousRspVersion each time.
	_, prevBefore := c.PartitionResolveCalls(pid)
	s3, err := r.Invalidate(t.Context(), orders, key, s2.Version)
	if err != nil {
		t.Fatal(err)
	}
	if _, prev := c.PartitionResolveCalls(pid); prev != prevBefore+1 {
		t.Errorf("complaint about a snapshot without primary made %d PreviousRspVersion calls, want 1", prev-prevBefore)
	}
	if err := c.MovePrimary(pid, ""); err != nil {
		t.Fatal(err)
	}
	s4, err := r.Invalidate(t.Context(), orders, key, s3.Version)
	if err != nil {
		t.Fatal(err)
	}
	url, _, err := s4.Replicas.Select(listener.ReplicaPrimary, "")
	if err != nil {
		t.Fatalf("after the new primary: %v", err)
	}
	if rr := fakesftest.AskReplica(t, url); rr.Role != "primary" || rr.PartitionID != pid {
		t.Errorf("complaint led to %s of %s, want the new primary of %s", rr.Role, rr.PartitionID, pid)
	}
}

// TestMetadataMismatchRetriesWithoutPreviousVersion: a complaint answered 409
// FABRIC_E_SERVICE_METADATA_MISMATCH is asked again once, without PreviousRspVersion.
func TestMetadataMismatchRetriesWithoutPreviousVersion(t *testing.T) {
	c := fakesftest.Start(t)
	r, log := newResolver(t, []string{c.URL()}, nil)
	key := []byte("1")
	s1, err := r.Resolve(t.Context(), orders, key)
	if err != nil {
		t.Fatal(err)
	}
	setFault(t, c, fakesf.NamingFault{Status: 409, Code: "FABRIC_E_SERVICE_METADATA_MISMATCH", Count: 1})
	from := len(log.all())
	plainBefore, _ := c.PartitionResolveCalls(s1.Partition.ID)
	s2, err := r.Invalidate(t.Context(), orders, key, s1.Version)
	if err != nil {
		t.Fatalf("Invalidate = %v, want the retry without PreviousRspVersion to succeed", err)
	}
	if got := ops(log, from); got != "ResolvePartition 409, ResolvePartition 200" {
		t.Errorf("calls: %s; want the 409, then one retry", got)
	}
	if plain, _ := c.PartitionResolveCalls(s1.Partition.ID); plain != plainBefore+1 {
		t.Errorf("the retry was not a plain ResolvePartition (%d plain calls)", plain-plainBefore)
	}
	if s2.Partition.ID != s1.Partition.ID {
		t.Errorf("retry resolved partition %s, want %s", s2.Partition.ID, s1.Partition.ID)
	}
}

// TestPartitionNotFoundRereadsScheme: 404 FABRIC_E_PARTITION_NOT_FOUND means the cached scheme is out of
// date: it is dropped, read again, and the lookup retried once.
func TestPartitionNotFoundRereadsScheme(t *testing.T) {
	c := fakesftest.Start(t)
	r, log := newResolver(t, []string{c.URL()}, nil)
	if _, err := r.Scheme(t.Context(), orders); err != nil {
		t.Fatal(err)
	}
	setFault(t, c, fakesf.NamingFault{Status: 404, Code: "FABRIC_E_PARTITION_NOT_FOUND", Count: 1})
	from := len(log.all())
	s, err := r.Resolve(t.Context(), orders, []byte("600"))
	if err != nil || s.Partition.LowKey != 512 {
		t.Fatalf("Resolve = %v, %v; want partition [512..767] after re-reading the scheme", s, err)
	}
	if got := ops(log, from); got != "ResolvePartition 404, GetPartitions 200, ResolvePartition 200" {
		t.Errorf("calls: %s; want the 404, the scheme read again, the lookup again", got)
	}
	if err := resolver.CheckInvariants(r); err != nil {
		t.Error(err)
	}
	// It stays an error when it persists, with SF's code, after one retry.
	setFault(t, c, fakesf.NamingFault{Status: 404, Code: "FABRIC_E_PARTITION_NOT_FOUND"})
	from = len(log.all())
	_, err = r.Resolve(t.Context(), orders, []byte("300"))
	var fe *resolver.FabricError
	if !errors.As(err, &fe) || fe.Code != "FABRIC_E_PARTITION_NOT_FOUND" {
		t.Errorf("persistent 404: Resolve = %v, want the SF error", err)
	}
	if got := ops(log, from); got != "ResolvePartition 404, GetPartitions 200, ResolvePartition 404" {
		t.Errorf("persistent 404: calls %s; want one retry", got)
	}
}

// TestUnauthorizedIsNotRetried: 403 is ErrUnauthorized after one attempt, not retried on the other
// endpoints, and concurrent callers share that one attempt.
func TestUnauthorizedIsNotRetried(t *testing.T) {
	c := fakesftest.Start(t)
	r, log := newResolver(t, []string{c.URL(), c.URL()}, func(o *resolver.Options) { o.MaxAttempts = 4 })
	if _, err := r.Scheme(t.Context(), orders); err != nil {
		t.Fatal(err)
	}
	setFault(t, c, fakesf.NamingFault{Status: 403, Code: "E_ACCESSDENIED"})
	from := len(log.all())
	_, err := r.Resolve(t.Context(), orders, []byte("1"))
	if !errors.Is(err, resolver.ErrUnauthorized) || errors.Is(err, resolver.ErrUnavailable) {
		t.Errorf("Resolve = %v, want ErrUnauthorized (not ErrUnavailable)", err)
	}
	if got := ops(log, from); got != "ResolvePartition 403" {
		t.Errorf("calls: %s; want exactly one attempt", got)
	}
}
