package gateway

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

// poolConfig is the pool of the configuration reference: west and east share priority 1 at weights 3 and 1,
// dr is priority 2. west and east trip on one 5xx; their clock is the test's.
func poolConfig(west, east, dr string) string {
	return fmt.Sprintf(`
backends:
  orders-west:
    url: http://%s/
    circuitBreaker: {rules: [{failureCondition: {count: 1, interval: 1m, statusCodeRanges: [{min: 500, max: 599}]}, tripDuration: 1m}]}
  orders-east:
    url: http://%s/
    circuitBreaker: {rules: [{failureCondition: {count: 1, interval: 1m, statusCodeRanges: [{min: 500, max: 599}]}, tripDuration: 1m}]}
  orders-dr: {url: http://%s/}
  orders-pool:
    type: Pool
    pool:
      services:
        - {id: orders-west, priority: 1, weight: 3}
        - {id: /backends/orders-east, priority: 1, weight: 1}
        - {id: orders-dr, priority: 2}
  west-only:
    type: Pool
    pool: {services: [{id: orders-west}]}
apis:
`, west, east, dr) + breakerAPI("orders-pool") + breakerAPI("west-only")
}

// getMany sends n GETs to target from 8 clients at once over keep-alive connections and returns the statuses seen.
func getMany(t *testing.T, addr, target string, n int) map[int]int {
	t.Helper()
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 30 * time.Second}
	defer httpc.CloseIdleConnections()
	var mu sync.Mutex
	statuses := map[int]int{}
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				resp, err := httpc.Get("http://" + addr + target)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return statuses
}

// Over 1,000 requests the members of the best priority get their weights' shares (within 10%), and the lower
// priority gets none while a member of the higher one is up.
func TestPoolWeightedDistribution(t *testing.T) {
	west, east, dr := startStatusBackend(t), startStatusBackend(t), startStatusBackend(t)
	g := startGateway(t, poolConfig(west.addr, east.addr, dr.addr), nil)
	if st := getMany(t, g.addr, "/orders-pool/x", 1000); st[200] != 1000 {
		t.Fatalf("statuses %v", st)
	}
	w, e, d := west.hits.Load(), east.hits.Load(), dr.hits.Load()
	t.Logf("west %d, east %d, dr %d", w, e, d)
	if w < 675 || w > 825 || e < 225 || e > 275 || d != 0 {
		t.Errorf("west %d (want 750 ± 10%%), east %d (want 250 ± 10%%), dr %d (want 0)", w, e, d)
	}
}

// The lower priority takes over only when every member of the higher one is tripped, and gives the traffic back
// once their probes succeed; a pool whose every member is tripped answers 503 with Retry-After.
func TestPoolPriorityFailover(t *testing.T) {
	west, east, dr := startStatusBackend(t), startStatusBackend(t), startStatusBackend(t)
	g := startGateway(t, poolConfig(west.addr, east.addr, dr.addr), nil)
	clock := newManualClock()
	setBreakerClock(t, g, "orders-west", clock)
	setBreakerClock(t, g, "orders-east", clock)

	west.status.Store(500)
	if r := do(t, g.addr, "GET", "/orders-pool/x", nil, ""); r.status != 500 || west.hits.Load() != 1 {
		t.Fatalf("first request: %d %s (west hits %d), want west's 500", r.status, r.body, west.hits.Load())
	}
	// west is tripped: east alone serves priority 1; dr still gets nothing.
	if st := getMany(t, g.addr, "/orders-pool/x", 40); st[200] != 40 || east.hits.Load() != 40 || dr.hits.Load() != 0 || west.hits.Load() != 1 {
		t.Fatalf("west tripped: statuses %v, hits west %d east %d dr %d; want all 40 on east", st, west.hits.Load(), east.hits.Load(), dr.hits.Load())
	}
	expectOpen(t, do(t, g.addr, "GET", "/west-only/x", nil, ""), "60")

	east.status.Store(503)
	if r := do(t, g.addr, "GET", "/orders-pool/x", nil, ""); r.status != 503 || east.hits.Load() != 41 {
		t.Fatalf("east's failure: %d %s", r.status, r.body)
	}
	// Both of priority 1 tripped: dr takes over.
	if st := getMany(t, g.addr, "/orders-pool/x", 40); st[200] != 40 || dr.hits.Load() != 40 {
		t.Fatalf("priority 1 tripped: statuses %v, dr hits %d; want all 40 on dr", st, dr.hits.Load())
	}
	// Trip time over, both healthy: one probe each (four requests in a row reach both at weights 3:1) closes
	// them, and priority 1 serves again; dr gets nothing more.
	clock.Advance(time.Minute)
	west.status.Store(200)
	east.status.Store(200)
	for i := range 4 {
		if r := do(t, g.addr, "GET", "/orders-pool/x", nil, ""); r.status != 200 {
			t.Fatalf("probe %d: %d %s", i, r.status, r.body)
		}
	}
	if dr.hits.Load() != 40 {
		t.Errorf("the probes went to dr (%d hits)", dr.hits.Load()-40)
	}
	w0, e0 := west.hits.Load(), east.hits.Load()
	if st := getMany(t, g.addr, "/orders-pool/x", 100); st[200] != 100 {
		t.Fatalf("after recovery: statuses %v", st)
	}
	if w, e, d := west.hits.Load()-w0, east.hits.Load()-e0, dr.hits.Load()-40; w != 75 || e != 25 || d != 0 {
		t.Errorf("after recovery: west %d, east %d, dr %d; want 75, 25, 0", w, e, d)
	}
}

// Members may be Service Fabric backends; a member whose breaker refuses the request for its partition is left
// for the next choice, so one sick partition moves to the lower priority while the others stay.
func TestPoolWithServiceFabricMember(t *testing.T) {
	c := fakesftest.Start(t)
	fallback := startStatusBackend(t)
	g := startGateway(t, fmt.Sprintf(`
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster: {managementEndpoints: [CLUSTER_URL]}
    circuitBreaker:
      rules: [{failureCondition: {count: 1, interval: 1m, statusCodeRanges: [{min: 500, max: 500}]}, tripDuration: 1m}]
      scope: partition
  fallback: {url: http://%s/}
  orders-pool:
    type: Pool
    pool: {services: [{id: orders, priority: 0}, {id: fallback, priority: 1}]}
apis:
  - name: p
    path: p
    policies: |
      <policies><inbound><set-backend-service backend-id="orders-pool" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("k",""))" /></inbound></policies>
`, fallback.addr), c)
	setBreakerClock(t, g, "orders", newManualClock())
	if rr := replicaAnswer(t, do(t, g.addr, "GET", "/p/orders?k=42", nil, "")); rr.Service != "fabric:/Shop/Orders" {
		t.Fatalf("answered by %+v", rr)
	}
	_, prim := primaryOf42(t, c)
	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Status: 500}); err != nil {
		t.Fatal(err)
	}
	if r := do(t, g.addr, "GET", "/p/orders?k=42", nil, ""); r.status != 500 {
		t.Fatalf("sick partition: %d %s", r.status, r.body)
	}
	if r := do(t, g.addr, "GET", "/p/orders?k=42", nil, ""); r.status != 200 || string(r.body) != "status 200" || fallback.hits.Load() != 1 {
		t.Fatalf("sick partition after its breaker tripped: %d %s, want the fallback's answer", r.status, r.body)
	}
	if rr := replicaAnswer(t, do(t, g.addr, "GET", "/p/orders?k=1000", nil, "")); rr.Service != "fabric:/Shop/Orders" {
		t.Errorf("healthy partition answered by %+v", rr)
	}
}
