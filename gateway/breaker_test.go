package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

// manualClock is a circuit breaker's clock that moves only when a test says so.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func newManualClock() *manualClock { return &manualClock{now: time.Unix(1_700_000_000, 0)} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// setBreakerClock makes the circuit breaker of backend id read clock (before any request is served).
func setBreakerClock(t *testing.T, g *testGateway, id string, clock *manualClock) {
	t.Helper()
	b := g.rt.Load().backends[id]
	if b == nil || b.breaker == nil {
		t.Fatalf("backend %s has no circuit breaker", id)
	}
	b.breaker.now = clock.Now
}

// statusBackend is a plain HTTP backend that answers with the status (and Retry-After) the test sets, and
// counts the requests it receives.
type statusBackend struct {
	addr       string
	status     atomic.Int64
	retryAfter atomic.Value // string
	hits       atomic.Int64
	// hold, when set, is told of the next request as it arrives (and then unset); that request's answer
	// waits until the channel it was sent is closed.
	hold atomic.Pointer[chan chan struct{}]
}

func startStatusBackend(t *testing.T) *statusBackend {
	t.Helper()
	sb := &statusBackend{}
	sb.status.Store(200)
	sb.retryAfter.Store("")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sb.hits.Add(1)
		if h := sb.hold.Swap(nil); h != nil {
			release := make(chan struct{})
			*h <- release
			<-release
		}
		if ra := sb.retryAfter.Load().(string); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		w.WriteHeader(int(sb.status.Load()))
		fmt.Fprintf(w, "status %d", sb.status.Load())
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	sb.addr = ln.Addr().String()
	return sb
}

// breakerAPI is an API that sends everything to backend id.
func breakerAPI(id string) string {
	return fmt.Sprintf("  - {name: %[1]s, path: %[1]s, policies: '<policies><inbound><set-backend-service backend-id=\"%[1]s\" /></inbound></policies>'}\n", id)
}

// expectOpen checks that a request got the breaker's 503 with the Retry-After given (0: any).
func expectOpen(t *testing.T, r rawResponse, retryAfter string) {
	t.Helper()
	e := decodeError(t, r)
	if r.status != 503 || e.Error.Code != CodeCircuitOpen {
		t.Fatalf("want 503 %s, got %d %s", CodeCircuitOpen, r.status, r.body)
	}
	if got := r.header.Get("Retry-After"); got == "" || retryAfter != "" && got != retryAfter {
		t.Errorf("Retry-After %q, want %q", got, retryAfter)
	}
}

// A backend-scope breaker trips on the count of status-code failures within the interval; while open no
// request reaches the backend and clients get 503 with Retry-After; after tripDuration one probe goes
// through: a failed probe opens it again, a good one closes it. /metrics and /debug/breakers show it.
func TestCircuitBreakerTripsAndRecovers(t *testing.T) {
	sb := startStatusBackend(t)
	g := startGateway(t, fmt.Sprintf(`
backends:
  flaky:
    url: http://%s/
    circuitBreaker:
      rules:
        - name: flaky-breaker
          failureCondition: {count: 3, interval: PT1M, statusCodeRanges: [{min: 500, max: 599}]}
          tripDuration: PT30S
apis:
`, sb.addr)+breakerAPI("flaky"), nil)
	clock := newManualClock()
	setBreakerClock(t, g, "flaky", clock)

	sb.status.Store(500)
	for i := range 3 {
		if r := do(t, g.addr, "GET", "/flaky/x", nil, ""); r.status != 500 {
			t.Fatalf("failure %d: %d %s, want the backend's 500", i, r.status, r.body)
		}
	}
	sb.status.Store(200) // healthy again, but the breaker does not know yet
	expectOpen(t, do(t, g.addr, "GET", "/flaky/x", nil, ""), "30")
	clock.Advance(20 * time.Second)
	expectOpen(t, do(t, g.addr, "GET", "/flaky/x", nil, ""), "10")
	if n := sb.hits.Load(); n != 3 {
		t.Errorf("the backend got %d requests, want 3: an open breaker sends none", n)
	}
	_, metrics := adminGet(t, g, "/metrics")
	for _, want := range []string{
		`sfgate_circuit_breaker_trips_total{backend="flaky"} 1`,
		`sfgate_circuit_breaker_refused_total{backend="flaky"} 2`,
		`sfgate_circuit_breaker_state{backend="flaky",key=""} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	_, debug := adminGet(t, g, "/debug/breakers")
	var d struct {
		CircuitBreakers []debugBreaker `json:"circuitBreakers"`
	}
	if err := json.Unmarshal([]byte(debug), &d); err != nil || len(d.CircuitBreakers) != 1 {
		t.Fatalf("/debug/breakers: %v %s", err, debug)
	}
	if cb := d.CircuitBreakers[0]; cb.Backend != "flaky" || cb.Rule != "flaky-breaker" || cb.Scope != "backend" ||
		len(cb.Breakers) != 1 || cb.Breakers[0].State != "open" || cb.Breakers[0].Trips != 1 || cb.Breakers[0].RetryAfter != 10 {
		t.Errorf("/debug/breakers: %s", debug)
	}

	// The probe fails: open for another trip duration.
	clock.Advance(10 * time.Second)
	sb.status.Store(503)
	if r := do(t, g.addr, "GET", "/flaky/x", nil, ""); r.status != 503 || r.header.Get("Retry-After") != "" {
		t.Fatalf("failed probe: %d %s, want the backend's own 503", r.status, r.body)
	}
	expectOpen(t, do(t, g.addr, "GET", "/flaky/x", nil, ""), "30")
	// The next probe succeeds: closed, requests flow.
	clock.Advance(30 * time.Second)
	sb.status.Store(200)
	for i := range 3 {
		if r := do(t, g.addr, "GET", "/flaky/x", nil, ""); r.status != 200 {
			t.Fatalf("after a good probe, request %d: %d %s", i, r.status, r.body)
		}
	}
	if n := sb.hits.Load(); n != 3+1+3 {
		t.Errorf("the backend got %d requests, want 7 (3 failures, the failed probe, 3 after the good one)", n)
	}
	if _, metrics := adminGet(t, g, "/metrics"); !strings.Contains(metrics, `sfgate_circuit_breaker_state{backend="flaky",key=""} 0`) ||
		!strings.Contains(metrics, `sfgate_circuit_breaker_trips_total{backend="flaky"} 2`) {
		t.Errorf("/metrics after recovery:\n%s", metrics)
	}
}

// Failures outside the interval do not add up; statuses outside the ranges are successes.
func TestCircuitBreakerInterval(t *testing.T) {
	sb := startStatusBackend(t)
	g := startGateway(t, fmt.Sprintf(`
backends:
  b:
    url: http://%s/
    circuitBreaker:
      rules: [{failureCondition: {count: 2, interval: 1m, statusCodeRanges: [{min: 502, max: 504}]}, tripDuration: 1m}]
apis:
`, sb.addr)+breakerAPI("b"), nil)
	clock := newManualClock()
	setBreakerClock(t, g, "b", clock)
	sb.status.Store(500) // not in the range
	for range 3 {
		if r := do(t, g.addr, "GET", "/b/x", nil, ""); r.status != 500 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	sb.status.Store(503)
	do(t, g.addr, "GET", "/b/x", nil, "")
	clock.Advance(61 * time.Second)
	if r := do(t, g.addr, "GET", "/b/x", nil, ""); r.status != 503 || r.header.Get("Retry-After") != "" {
		t.Fatalf("second failure a minute after the first: %d %s, want the backend's 503 (no trip)", r.status, r.body)
	}
	clock.Advance(5 * time.Second)
	do(t, g.addr, "GET", "/b/x", nil, "")
	expectOpen(t, do(t, g.addr, "GET", "/b/x", nil, ""), "60")
}

// A percentage condition trips when failures reach that share of the interval's requests.
func TestCircuitBreakerPercentage(t *testing.T) {
	sb := startStatusBackend(t)
	g := startGateway(t, fmt.Sprintf(`
backends:
  b:
    url: http://%s/
    circuitBreaker:
      rules: [{failureCondition: {percentage: 50, count: 2, interval: PT1M, statusCodeRanges: [{min: 500, max: 599}]}, tripDuration: PT10S}]
apis:
`, sb.addr)+breakerAPI("b"), nil)
	setBreakerClock(t, g, "b", newManualClock())
	for range 4 {
		do(t, g.addr, "GET", "/b/x", nil, "") // 4 successes
	}
	sb.status.Store(500)
	for i := range 3 { // 3 of 7 failed: below 50%
		if r := do(t, g.addr, "GET", "/b/x", nil, ""); r.status != 500 {
			t.Fatalf("failure %d: %d %s", i, r.status, r.body)
		}
	}
	if r := do(t, g.addr, "GET", "/b/x", nil, ""); r.status != 500 { // 4 of 8: trips
		t.Fatalf("%d %s", r.status, r.body)
	}
	expectOpen(t, do(t, g.addr, "GET", "/b/x", nil, ""), "10")
}

// errorReasons: connection failures and timeouts trip the breaker; with acceptRetryAfter the backend's
// Retry-After sets the trip duration.
func TestCircuitBreakerErrorReasonsAndRetryAfter(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close() // connections to it are refused
	release := make(chan struct{})
	slow := startEcho(t, func(http.ResponseWriter) { <-release })
	t.Cleanup(func() { close(release) })
	sb := startStatusBackend(t)
	g := startGateway(t, fmt.Sprintf(`
backends:
  refused:
    url: http://%[1]s/
    circuitBreaker:
      rules: [{failureCondition: {count: 2, interval: 1m, errorReasons: [BackendConnectionFailure]}, tripDuration: 1m}]
  slow:
    url: http://%[2]s/
    timeout: 100ms
    circuitBreaker:
      rules: [{failureCondition: {count: 2, interval: 1m, errorReasons: [Timeout]}, tripDuration: 1m}]
  slow-other-reason:
    url: http://%[2]s/
    timeout: 100ms
    circuitBreaker:
      rules: [{failureCondition: {count: 1, interval: 1m, errorReasons: [BackendConnectionFailure]}, tripDuration: 1m}]
  busy:
    url: http://%[3]s/
    circuitBreaker:
      rules: [{failureCondition: {count: 1, interval: 1m, statusCodeRanges: [{min: 429, max: 429}]}, tripDuration: 1m, acceptRetryAfter: true}]
apis:
`, refused, slow, sb.addr)+breakerAPI("refused")+breakerAPI("slow")+breakerAPI("slow-other-reason")+breakerAPI("busy"), nil)
	clock := newManualClock()
	for _, id := range []string{"refused", "slow", "slow-other-reason", "busy"} {
		setBreakerClock(t, g, id, clock)
	}
	for _, tc := range []struct {
		api    string
		status int
	}{{"refused", 502}, {"slow", 504}} {
		for range 2 {
			if r := do(t, g.addr, "GET", "/"+tc.api+"/x", nil, ""); r.status != tc.status {
				t.Fatalf("%s: %d %s, want %d", tc.api, r.status, r.body, tc.status)
			}
		}
		expectOpen(t, do(t, g.addr, "GET", "/"+tc.api+"/x", nil, ""), "60")
	}
	for range 2 { // a timeout is not a connection failure
		if r := do(t, g.addr, "GET", "/slow-other-reason/x", nil, ""); r.status != 504 {
			t.Fatalf("slow-other-reason: %d %s, want 504 (breaker closed)", r.status, r.body)
		}
	}

	sb.status.Store(429)
	sb.retryAfter.Store("120")
	if r := do(t, g.addr, "GET", "/busy/x", nil, ""); r.status != 429 {
		t.Fatalf("busy: %d %s", r.status, r.body)
	}
	expectOpen(t, do(t, g.addr, "GET", "/busy/x", nil, ""), "120")
	clock.Advance(60 * time.Second) // tripDuration passed, the backend's Retry-After has not
	expectOpen(t, do(t, g.addr, "GET", "/busy/x", nil, ""), "60")
	clock.Advance(60 * time.Second)
	sb.status.Store(200)
	sb.retryAfter.Store("")
	if r := do(t, g.addr, "GET", "/busy/x", nil, ""); r.status != 200 {
		t.Fatalf("busy after its Retry-After: %d %s", r.status, r.body)
	}
}

// sfBreakerConfig puts breakers of partition and replica scope on the fake cluster's Orders service.
const sfBreakerConfig = `
backends:
  by-partition:
    url: fabric:/Shop/Orders
    serviceFabricCluster: {managementEndpoints: [CLUSTER_URL]}
    circuitBreaker:
      rules: [{failureCondition: {count: 2, interval: PT1M, statusCodeRanges: [{min: 500, max: 500}]}, tripDuration: PT1M}]
      scope: partition
  by-replica:
    url: fabric:/Shop/Orders
    serviceFabricCluster: {managementEndpoints: [CLUSTER_URL]}
    circuitBreaker:
      rules: [{failureCondition: {count: 2, interval: PT1M, statusCodeRanges: [{min: 500, max: 500}]}, tripDuration: PT1M}]
      scope: replica
apis:
  - name: partition
    path: p
    policies: |
      <policies><inbound><set-backend-service backend-id="by-partition" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("k",""))" /></inbound></policies>
  - name: replica
    path: r
    policies: |
      <policies><inbound><set-backend-service backend-id="by-replica" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("k",""))" /></inbound></policies>
`

// scope: partition keeps one breaker per partition: a sick partition is cut off, the others are served.
func TestCircuitBreakerPerPartition(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, sfBreakerConfig, c)
	setBreakerClock(t, g, "by-partition", newManualClock())
	sick := partitionFor(t, c, "fabric:/Shop/Orders", "42")
	healthy := partitionFor(t, c, "fabric:/Shop/Orders", "1000")
	if sick.ID == healthy.ID {
		t.Fatal("keys 42 and 1000 share a partition")
	}
	prim, _ := sick.Primary()
	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Status: 500}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if r := do(t, g.addr, "GET", "/p/orders?k=42", nil, ""); r.status != 500 {
			t.Fatalf("sick partition: %d %s", r.status, r.body)
		}
	}
	hits := c.ReplicaHits(prim.ID)
	expectOpen(t, do(t, g.addr, "GET", "/p/orders?k=42", nil, ""), "60")
	if n := c.ReplicaHits(prim.ID); n != hits {
		t.Errorf("the sick primary got %d requests while its partition's breaker was open", n-hits)
	}
	if rr := replicaAnswer(t, do(t, g.addr, "GET", "/p/orders?k=1000", nil, "")); rr.PartitionID != healthy.ID {
		t.Errorf("healthy partition answered from %s, want %s", rr.PartitionID, healthy.ID)
	}
	_, metrics := adminGet(t, g, "/metrics")
	for _, want := range []string{
		fmt.Sprintf(`sfgate_circuit_breaker_state{backend="by-partition",key=%q} 1`, sick.ID),
		fmt.Sprintf(`sfgate_circuit_breaker_state{backend="by-partition",key=%q} 0`, healthy.ID),
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// scope: replica keeps one breaker per replica endpoint. While the primary's breaker is open, a refused
// request asks naming at most once a second whether the partition has moved (not once per request); once the
// primary moved, that look finds the new one and the request goes there.
func TestCircuitBreakerPerReplicaFollowsAPrimaryMove(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, sfBreakerConfig, c)
	clock := newManualClock()
	setBreakerClock(t, g, "by-replica", clock)
	p, prim := primaryOf42(t, c)
	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Status: 500}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if r := do(t, g.addr, "GET", "/r/orders?k=42", nil, ""); r.status != 500 {
			t.Fatalf("sick primary: %d %s", r.status, r.body)
		}
	}
	_, complaints := c.PartitionResolveCalls(p.ID)
	expectOpen(t, do(t, g.addr, "GET", "/r/orders?k=42", nil, ""), "60") // looks once: the same primary
	for range 3 {
		expectOpen(t, do(t, g.addr, "GET", "/r/orders?k=42", nil, ""), "60")
	}
	if _, after := c.PartitionResolveCalls(p.ID); after-complaints != 1 {
		t.Errorf("%d naming complaints from 4 refused requests within a second, want 1", after-complaints)
	}
	var target string
	for _, r := range p.Replicas {
		if r.ID != prim.ID {
			target = r.Node
			break
		}
	}
	if err := c.MovePrimary(p.ID, target); err != nil {
		t.Fatal(err)
	}
	clock.Advance(breakerLookInterval)
	rr := replicaAnswer(t, do(t, g.addr, "GET", "/r/orders?k=42", nil, ""))
	if rr.ReplicaID == fmt.Sprint(prim.ID) || rr.Node != target || rr.Role != "primary" {
		t.Errorf("after the move: answered by replica %s on %s (%s), want the new primary on %s", rr.ReplicaID, rr.Node, rr.Role, target)
	}
}

// A replica-scope breaker of an HTTP backend whose URL carries credentials shows its key without them.
func TestCircuitBreakerKeyHidesCredentials(t *testing.T) {
	sb := startStatusBackend(t)
	g := startGateway(t, fmt.Sprintf(`
backends:
  b:
    url: http://user:s3cret@%s/
    circuitBreaker:
      rules: [{failureCondition: {count: 1, interval: 1m, statusCodeRanges: [{min: 500, max: 599}]}, tripDuration: 1m}]
      scope: replica
apis:
`, sb.addr)+breakerAPI("b"), nil)
	sb.status.Store(500)
	do(t, g.addr, "GET", "/b/x", nil, "")
	_, metrics := adminGet(t, g, "/metrics")
	_, debug := adminGet(t, g, "/debug/breakers")
	if strings.Contains(metrics+debug, "s3cret") {
		t.Errorf("credentials in /metrics or /debug/breakers:\n%s\n%s", debug, metrics)
	}
	if want := fmt.Sprintf(`sfgate_circuit_breaker_state{backend="b",key="http://%s"} 1`, sb.addr); !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

// An open breaker whose trip duration passed lets one probe through; while that probe is in flight, every
// other request is refused without reaching the backend.
func TestCircuitBreakerLetsOneProbeThroughAtATime(t *testing.T) {
	sb := startStatusBackend(t)
	g := startGateway(t, fmt.Sprintf(`
backends:
  flaky:
    url: http://%s/
    circuitBreaker:
      rules: [{failureCondition: {count: 1, interval: 1m, statusCodeRanges: [{min: 500, max: 599}]}, tripDuration: 30s}]
apis:
`, sb.addr)+breakerAPI("flaky"), nil)
	clock := newManualClock()
	setBreakerClock(t, g, "flaky", clock)
	sb.status.Store(500)
	do(t, g.addr, "GET", "/flaky/x", nil, "")
	expectOpen(t, do(t, g.addr, "GET", "/flaky/x", nil, ""), "30")

	clock.Advance(30 * time.Second)
	sb.status.Store(200)
	arrived := make(chan chan struct{})
	sb.hold.Store(&arrived)
	probe := make(chan rawResponse, 1)
	go func() { probe <- do(t, g.addr, "GET", "/flaky/x", nil, "") }()
	release := <-arrived // the probe is at the backend
	for range 3 {
		r := do(t, g.addr, "GET", "/flaky/x", nil, "")
		if r.status != 503 || !bytes.Contains(r.body, []byte(CodeCircuitOpen)) {
			t.Errorf("a request during the probe: %d %s, want 503 %s", r.status, r.body, CodeCircuitOpen)
		}
	}
	close(release)
	if r := <-probe; r.status != 200 {
		t.Fatalf("probe: %d %s", r.status, r.body)
	}
	if n := sb.hits.Load(); n != 2 {
		t.Errorf("the backend got %d requests, want 2 (the failure and the one probe)", n)
	}
	if r := do(t, g.addr, "GET", "/flaky/x", nil, ""); r.status != 200 {
		t.Errorf("after the good probe: %d %s", r.status, r.body)
	}
}

// A partition- or replica-scope breaker keeps at most maxBreakerKeys keys: past that, closed breakers are
// dropped when a new key comes, and tripped ones are kept (their state is what the breaker is for).
func TestCircuitBreakerKeysAreBounded(t *testing.T) {
	c := &circuitBreaker{scope: config.ScopePartition, count: 1, interval: time.Minute, tripDuration: time.Minute,
		now: newManualClock().Now, metrics: &backendMetrics{}, whole: &breaker{}}
	empty := map[string]*breaker{}
	c.keyed.Store(&empty)
	tripped := c.breakerFor("tripped", nil)
	c.trip(tripped, nil)
	for i := range maxBreakerKeys + 10 {
		c.breakerFor(fmt.Sprintf("p%d", i), nil)
	}
	m := *c.keyed.Load()
	if len(m) > maxBreakerKeys+1 {
		t.Errorf("%d breakers kept, want at most %d", len(m), maxBreakerKeys+1)
	}
	if m["tripped"] != tripped {
		t.Error("the tripped breaker was dropped with the closed ones")
	}
	if m[fmt.Sprintf("p%d", maxBreakerKeys+9)] == nil {
		t.Error("the newest key has no breaker")
	}
}
