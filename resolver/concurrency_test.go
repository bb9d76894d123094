package resolver_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/resolver"
)

// testVersion is an SF Version decoded by the test itself (independently of the resolver).
type testVersion struct {
	partitionID    string
	generation, fm int64
}

func decodeTestVersion(t testing.TB, raw string) testVersion {
	t.Helper()
	s, err := url.PathUnescape(raw)
	if err != nil {
		t.Fatalf("version %q: %v", raw, err)
	}
	var w struct {
		PartitionID      string `json:"PartitionId"`
		FMVersion        string
		GenerationNumber struct{ Generation string }
	}
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		t.Fatalf("version %q: %v", s, err)
	}
	gen, err1 := strconv.ParseInt(w.GenerationNumber.Generation, 10, 64)
	fm, err2 := strconv.ParseInt(w.FMVersion, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("version %q: bad numbers", s)
	}
	return testVersion{partitionID: w.PartitionID, generation: gen, fm: fm}
}

func (a testVersion) older(b testVersion) bool {
	if a.generation != b.generation {
		return a.generation < b.generation
	}
	return a.fm < b.fm
}

// gatewayNodes is a management endpoint behind a load balancer that spreads ResolvePartition calls
// round-robin over n SF gateway nodes, each with its own naming cache (docs/servicefabric.md §3: the HTTP
// gateway is itself a FabricClient with a resolution cache). Without PreviousRspVersion a node answers from
// its cache (filled on first use); with it, the node returns its cached entry if that is newer than the
// complaint, else asks the cluster and caches the answer. Everything else is passed through to fakesf.
type gatewayNodes struct {
	t      testing.TB
	target string
	mu     sync.Mutex
	next   int
	caches []map[string][]byte // per node: path + key → answer body
}

func newGatewayNodes(t testing.TB, target string, n int) string {
	g := &gatewayNodes{t: t, target: target, caches: make([]map[string][]byte, n)}
	for i := range g.caches {
		g.caches[i] = map[string][]byte{}
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv.URL
}

func (g *gatewayNodes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/$/ResolvePartition") {
		g.forward(w, r.URL.EscapedPath(), r.URL.RawQuery)
		return
	}
	q := r.URL.Query()
	key := r.URL.EscapedPath() + "|" + q.Get("PartitionKeyType") + "|" + q.Get("PartitionKeyValue")
	g.mu.Lock()
	node := g.caches[g.next%len(g.caches)]
	g.next++
	cached, ok := node[key]
	g.mu.Unlock()
	prev := ""
	for _, kv := range strings.Split(r.URL.RawQuery, "&") { // raw, as SF reads it
		if v, found := strings.CutPrefix(kv, "PreviousRspVersion="); found {
			prev = v
		}
	}
	if ok && (prev == "" || decodeTestVersion(g.t, prev).older(decodeTestVersion(g.t, versionOf(g.t, cached)))) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(cached)
		return
	}
	status, body := g.get(r.URL.EscapedPath(), r.URL.RawQuery)
	if status == http.StatusOK {
		g.mu.Lock()
		node[key] = body
		g.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

func (g *gatewayNodes) forward(w http.ResponseWriter, path, query string) {
	status, body := g.get(path, query)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

func (g *gatewayNodes) get(path, query string) (int, []byte) {
	resp, err := http.Get(g.target + path + "?" + query)
	if err != nil {
		return http.StatusBadGateway, []byte(fmt.Sprintf(`{"Error":{"Code":"FABRIC_E_GATEWAY_NOT_REACHABLE","Message":%q}}`, err.Error()))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func versionOf(t testing.TB, body []byte) string {
	var w struct{ Version string }
	if err := json.Unmarshal(body, &w); err != nil {
		t.Errorf("answer %s: %v", body, err)
	}
	return w.Version
}

// TestOlderAnswerFromAnotherGatewayNodeNeverReplacesNewer: node 0 caches v1; a complaint, answered by node 1,
// installs v2; a later plain call lands on node 0 and gets v1 back. The cache must keep v2 (versions never go
// backwards), or the gateway would be sent to the old primary again.
func TestOlderAnswerFromAnotherGatewayNodeNeverReplacesNewer(t *testing.T) {
	c := fakesftest.Start(t)
	lb := newGatewayNodes(t, c.URL(), 2)
	clock := newFakeClock()
	r, log := newResolver(t, []string{lb}, func(o *resolver.Options) {
		o.RefreshAfter = time.Minute
		o.StaleGrace = time.Minute
		o.Clock = clock
	})
	key := []byte("1")
	s1, err := r.Resolve(t.Context(), orders, key) // node 0 caches v1
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MovePrimary(s1.Partition.ID, ""); err != nil {
		t.Fatal(err)
	}
	s2, err := r.Invalidate(t.Context(), orders, key, s1.Version) // node 1: v2
	if err != nil {
		t.Fatal(err)
	}
	if !decodeTestVersion(t, s1.Version).older(decodeTestVersion(t, s2.Version)) {
		t.Fatalf("complaint answered %s, want newer than %s", s2.Version, s1.Version)
	}
	clock.Advance(3 * time.Minute) // past RefreshAfter + StaleGrace: the next lookup asks naming again
	s3, err := r.Resolve(t.Context(), orders, key)
	if err != nil {
		t.Fatal(err)
	}
	if got := log.count("ResolvePartition"); got != 3 {
		t.Fatalf("%d ResolvePartition calls, want 3 (the last one answered by node 0 with v1)", got)
	}
	if s3.Version != s2.Version {
		t.Errorf("after node 0 answered the older %s, Resolve returns %s; want the newer %s kept", s1.Version, s3.Version, s2.Version)
	}
	if s4, err := r.Resolve(t.Context(), orders, key); err != nil || s4.Version != s2.Version {
		t.Errorf("cached snapshot after the older answer = %v, %v; want version %s", s4, err, s2.Version)
	}
	if err := resolver.CheckInvariants(r); err != nil {
		t.Error(err)
	}
}

// heldCall is one naming HTTP exchange held by gateTransport until release is closed.
type heldCall struct {
	query   string
	release chan struct{}
}

// gateTransport is an Options.Transport that performs each request for real and then, when hold matches,
// reports the call on held and delays handing the answer to the resolver until the test releases it: the
// answer was computed by fakesf at send time, and arrives late.
type gateTransport struct {
	inner *http.Client
	hold  func(*http.Request) bool
	held  chan heldCall
}

func (g *gateTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := g.inner.Do(req)
	if g.hold(req) {
		h := heldCall{query: req.URL.RawQuery, release: make(chan struct{})}
		g.held <- h
		<-h.release
	}
	return resp, err
}

// TestComplaintAnsweredLateBeatsOlderColdMiss: with the partition's slot empty (evicted), a plain lookup is
// answered v1 and a complaint, sent after the primary moved, is answered v2; the v1 answer arrives first.
// The complaint's v2 must win, and the complainer must get v2 (not the version it complained about).
func TestComplaintAnsweredLateBeatsOlderColdMiss(t *testing.T) {
	c := fakesftest.Start(t)
	gate := &gateTransport{inner: &http.Client{}, held: make(chan heldCall, 2), hold: func(*http.Request) bool { return false }}
	var holding sync.Mutex
	holdP0 := false
	gate.hold = func(req *http.Request) bool {
		holding.Lock()
		defer holding.Unlock()
		return holdP0 && strings.HasSuffix(req.URL.Path, "/$/ResolvePartition") && strings.Contains(req.URL.RawQuery, "PartitionKeyValue=0&")
	}
	r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
		o.MaxPartitions = 1
		o.Transport = gate
	})
	key := []byte("1") // partition 0 (representative key 0)
	s1, err := r.Resolve(t.Context(), orders, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Resolve(t.Context(), orders, []byte("300")); err != nil { // evicts partition 0
		t.Fatal(err)
	}
	holding.Lock()
	holdP0 = true
	holding.Unlock()

	type result struct {
		s   *resolver.Snapshot
		err error
	}
	cold, complaint := make(chan result, 1), make(chan result, 1)
	go func() {
		s, err := r.Resolve(t.Context(), orders, key)
		cold <- result{s, err}
	}()
	plain := <-gate.held // fakesf answered v1
	if strings.Contains(plain.query, "PreviousRspVersion") {
		t.Fatalf("first held call %q is not the plain lookup", plain.query)
	}
	if err := c.MovePrimary(s1.Partition.ID, ""); err != nil {
		t.Fatal(err)
	}
	go func() {
		s, err := r.Invalidate(t.Context(), orders, key, s1.Version)
		complaint <- result{s, err}
	}()
	complained := <-gate.held // fakesf answered v2
	if !strings.Contains(complained.query, "PreviousRspVersion="+s1.Version) {
		t.Fatalf("second held call %q is not the complaint", complained.query)
	}
	close(plain.release)
	got := <-cold
	if got.err != nil || got.s.Version != s1.Version {
		t.Fatalf("cold lookup = %v, %v; want v1 %s", got.s, got.err, s1.Version)
	}
	close(complained.release)
	got = <-complaint
	if got.err != nil {
		t.Fatal(got.err)
	}
	if got.s.Version == s1.Version {
		t.Errorf("the complaint returned the version it complained about (%s): the newer answer was lost", s1.Version)
	}
	if s, err := r.Resolve(t.Context(), orders, key); err != nil || s.Version != got.s.Version {
		t.Errorf("Resolve after both answers = %v, %v; want the complaint's %s", s, err, got.s.Version)
	}
}

// TestStressVersionsNeverGoBackwards: complaints, background refreshes (the clock keeps passing RefreshAfter)
// and primary moves race on one partition behind two gateway nodes with their own caches. Every goroutine's
// sequence of observed versions must be non-decreasing.
func TestStressVersionsNeverGoBackwards(t *testing.T) {
	c := fakesftest.Start(t)
	lb := newGatewayNodes(t, c.URL(), 2)
	clock := newFakeClock()
	r, _ := newResolver(t, []string{lb}, func(o *resolver.Options) {
		o.RefreshAfter = time.Minute
		o.StaleGrace = time.Hour
		o.Clock = clock
	})
	key := []byte("700")
	s0, err := r.Resolve(t.Context(), orders, key)
	if err != nil {
		t.Fatal(err)
	}
	pid := s0.Partition.ID
	const workers, rounds, moves = 6, 60, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers+2)
	for w := range workers {
		wg.Go(func() {
			last := decodeTestVersion(t, s0.Version)
			observe := func(s *resolver.Snapshot) bool {
				v := decodeTestVersion(t, s.Version)
				if v.older(last) {
					errs <- fmt.Errorf("worker %d saw version FM %d after FM %d", w, v.fm, last.fm)
					return false
				}
				last = v
				return true
			}
			for i := range rounds {
				s, err := r.Resolve(t.Context(), orders, key)
				if err != nil {
					errs <- err
					return
				}
				if !observe(s) {
					return
				}
				if (i+w)%3 == 0 {
					s, err = r.Invalidate(t.Context(), orders, key, s.Version)
					if err != nil {
						errs <- err
						return
					}
					if !observe(s) {
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		for range moves {
			if err := c.MovePrimary(pid, ""); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() {
		for range moves {
			clock.Advance(2 * time.Minute)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := resolver.CheckInvariants(r); err != nil {
		t.Error(err)
	}
}

// TestStressEvictionDuringResolution: lookups and complaints over four services race with scheme and
// snapshot evictions (MaxServices 2, MaxPartitions 3), primary moves and refreshes. Every answer must hold
// its key, and afterwards the caches must be consistent: no slot of an evicted service is tracked, every
// tracked slot holds a snapshot, every snapshot is tracked.
func TestStressEvictionDuringResolution(t *testing.T) {
	c := fakesftest.Start(t, fakesf.WithNamingCache(fakesf.NamingCache{Stale: true}))
	clock := newFakeClock()
	r, _ := newResolver(t, []string{c.URL()}, func(o *resolver.Options) {
		o.MaxServices = 2
		o.MaxPartitions = 3
		o.RefreshAfter = time.Minute
		o.StaleGrace = time.Hour
		o.Clock = clock
	})
	lookups := []struct{ service, key string }{
		{orders, "5"}, {orders, "300"}, {orders, "600"}, {orders, "1000"},
		{carts, "eu"}, {carts, "us"}, {carts, "asia"}, {web, ""}, {products, ""},
	}
	ordersParts := partitionsOf(t, c, orders)
	const workers, rounds = 8, 80
	var wg sync.WaitGroup
	errs := make(chan error, workers+2)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				l := lookups[(i*7+w)%len(lookups)]
				s, err := r.Resolve(t.Context(), l.service, []byte(l.key))
				if err != nil {
					errs <- fmt.Errorf("Resolve(%s, %q): %w", l.service, l.key, err)
					return
				}
				if err := holds(s, l.service, l.key); err != nil {
					errs <- err
					return
				}
				if err := resolver.CheckInvariants(r); err != nil { // consistent at every moment, not only at rest
					errs <- err
					return
				}
				if i%4 == w%4 {
					s2, err := r.Invalidate(t.Context(), l.service, []byte(l.key), s.Version)
					if err != nil {
						errs <- fmt.Errorf("Invalidate(%s, %q): %w", l.service, l.key, err)
						return
					}
					if err := holds(s2, l.service, l.key); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			if err := c.MovePrimary(ordersParts[i%len(ordersParts)].ID, ""); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Go(func() {
		for range 20 {
			clock.Advance(2 * time.Minute)
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := resolver.CheckInvariants(r); err != nil {
		t.Error(err)
	}
	if st := r.Stats(); st.Services > 2 || st.Partitions > 3 {
		t.Errorf("caches hold %d services and %d partitions, bounds 2 and 3", st.Services, st.Partitions)
	}
}

// holds checks that snapshot s is a partition of service that holds key.
func holds(s *resolver.Snapshot, service, key string) error {
	p := s.Partition
	ok := s.Service == service
	switch {
	case service == orders:
		k, _ := strconv.ParseInt(key, 10, 64)
		ok = ok && k >= p.LowKey && k <= p.HighKey
	case service == carts:
		ok = ok && p.Name == key
	}
	if !ok || s.Replicas == nil {
		return fmt.Errorf("key %q of %s resolved to %s partition %+v", key, service, s.Service, p)
	}
	return nil
}

// TestComplaintAboutNewerVersionThanCachedCallsNaming: the gateway complains about a version newer than the
// cached one (it got it from another resolver or before an eviction). The cached, older snapshot is not an
// answer to that complaint: one PreviousRspVersion call is made.
func TestComplaintAboutNewerVersionThanCachedCallsNaming(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, nil)
	key := []byte("900")
	s1, err := r.Resolve(t.Context(), orders, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MovePrimary(s1.Partition.ID, ""); err != nil {
		t.Fatal(err)
	}
	v2 := partitionsOf(t, c, orders)[3].Version
	_, prevBefore := c.PartitionResolveCalls(s1.Partition.ID)
	s2, err := r.Invalidate(t.Context(), orders, key, v2)
	if err != nil {
		t.Fatal(err)
	}
	if _, prev := c.PartitionResolveCalls(s1.Partition.ID); prev != prevBefore+1 {
		t.Errorf("complaint about %s with %s cached made %d calls, want 1", v2, s1.Version, prev-prevBefore)
	}
	if s2.Version != v2 {
		t.Errorf("complaint returned %s, want the current %s (not the older cached one)", s2.Version, v2)
	}
}
