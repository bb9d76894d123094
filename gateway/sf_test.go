package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

// sfConfig routes to fakesf's default topology: keys from the query, a header and a path parameter.
const sfConfig = `
namedValues:
  carts-replica: secondary
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster:
      managementEndpoints: [CLUSTER_URL]
      maxPartitionResolutionRetries: 5
  carts:
    url: fabric:/Shop/Carts
    serviceFabricCluster:
      managementEndpoints: [CLUSTER_URL]
  any:
    url: fabric:/fake/service
    serviceFabricCluster:
      managementEndpoints: [CLUSTER_URL]
apis:
  - name: orders-query
    path: q
    policies: |
      <policies>
        <inbound>
          <base />
          <set-backend-service backend-id="orders"
              sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("customer",""))"
              sf-resolve-condition="@(context.LastError?.Reason == "BackendConnectionFailure")" />
        </inbound>
        <backend><base /></backend>
        <outbound><base /></outbound>
      </policies>
  - name: orders-status
    path: s
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("customer",""))"
            sf-resolve-condition="@(context.Response.StatusCode == 503 || context.LastError?.Reason == "BackendConnectionFailure")" />
      </inbound>
      <outbound><base />
        <set-header name="X-Backend" exists-action="override"><value>@(context.Request.Url.Host + ":" + context.Request.Url.Port)</value></set-header>
      </outbound></policies>
  - name: orders-header
    path: h
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders" sf-partition-key="@(context.Request.Headers.GetValueOrDefault("X-Customer",""))" />
      </inbound></policies>
  - name: orders-path
    path: p
    operations:
      - {name: get-order, method: GET, urlTemplate: "/orders/{id}"}
      - {name: post-order, method: POST, urlTemplate: "/orders/{id}"}
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders" sf-partition-key="@(context.Request.MatchedParameters["id"])"
            sf-resolve-condition="@(context.LastError?.Reason == "BackendConnectionFailure")" />
      </inbound></policies>
  - name: orders-nocondition
    path: n
    operations:
      - {method: "*", urlTemplate: "/orders/{id}"}
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders" sf-partition-key="@(context.Request.MatchedParameters["id"])" />
      </inbound></policies>
  - name: carts
    path: carts
    operations:
      - {method: GET, urlTemplate: "/{region}/{*rest}"}
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="carts" sf-partition-key="@(context.Request.MatchedParameters["region"])"
            sf-replica-type="@(context.Request.Headers.GetValueOrDefault("X-Replica","{{carts-replica}}"))" />
      </inbound></policies>
  - name: dynamic
    path: svc
    operations:
      - {method: GET, urlTemplate: "/{app}/{service}/{*rest}"}
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="any"
            sf-service-instance-name="@("fabric:/" + context.Request.MatchedParameters["app"] + "/" + context.Request.MatchedParameters["service"])"
            sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("key",""))"
            sf-listener-name="@(context.Request.Headers.GetValueOrDefault("X-Listener",""))"
            sf-replica-type="@(context.Request.Url.Query.GetValueOrDefault("replica",""))" />
      </inbound></policies>
`

func partitionsOf(t *testing.T, c *fakesf.Cluster, service string) []fakesf.PartitionState {
	t.Helper()
	ps, err := c.Partitions(service)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// partitionFor returns the partition of service that holds an Int64Range key or a partition name.
func partitionFor(t *testing.T, c *fakesf.Cluster, service string, key string) fakesf.PartitionState {
	t.Helper()
	for _, p := range partitionsOf(t, c, service) {
		var k int64
		switch {
		case p.Kind == "Named" && p.Name == key, p.Kind == "Singleton":
			return p
		case p.Kind == "Int64Range":
			if _, err := fmt.Sscan(key, &k); err == nil && k >= p.LowKey && k <= p.HighKey {
				return p
			}
		}
	}
	t.Fatalf("no partition of %s holds %q", service, key)
	return fakesf.PartitionState{}
}

func TestPartitionRouting(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, sfConfig, c)
	cases := []struct {
		name, target string
		header       map[string]string
		service, key string
		role         string
		listener     string
		path, query  string
	}{
		{"int64 key from query", "/q/api/orders?customer=42", nil, "fabric:/Shop/Orders", "42", "primary", "", "/api/orders", "customer=42"},
		{"int64 key from query, last range", "/q/x?customer=1023", nil, "fabric:/Shop/Orders", "1023", "primary", "", "/x", "customer=1023"},
		{"int64 key from header", "/h/x", map[string]string{"X-Customer": "300"}, "fabric:/Shop/Orders", "300", "primary", "", "/x", ""},
		{"int64 key from path parameter", "/p/orders/700", nil, "fabric:/Shop/Orders", "700", "primary", "", "/orders/700", ""},
		{"named partition, secondary (named value default)", "/carts/eu/items", nil, "fabric:/Shop/Carts", "eu", "secondary", "", "/eu/items", ""},
		{"named partition, primary", "/carts/asia/items", map[string]string{"X-Replica": "primary"}, "fabric:/Shop/Carts", "asia", "primary", "", "/asia/items", ""},
		{"stateless singleton, default listener", "/svc/Shop/Web/hello", nil, "fabric:/Shop/Web", "", "stateless", "", "/Shop/Web/hello", ""},
		{"stateless singleton, named listener", "/svc/Shop/Web/hello", map[string]string{"X-Listener": "Admin"}, "fabric:/Shop/Web", "", "stateless", "Admin", "/Shop/Web/hello", ""},
		{"stateful singleton", "/svc/Catalog/Products/p?key=", nil, "fabric:/Catalog/Products", "", "primary", "", "/Catalog/Products/p", "key="},
		{"any replica", "/svc/Shop/Carts/c?key=us&replica=any", nil, "fabric:/Shop/Carts", "us", "", "", "/Shop/Carts/c", "key=us&replica=any"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rr := replicaAnswer(t, do(t, g.addr, "GET", tc.target, tc.header, ""))
			want := partitionFor(t, c, tc.service, tc.key)
			if rr.Service != tc.service || rr.PartitionID != want.ID {
				t.Errorf("served by %s partition %s, want %s partition %s", rr.Service, rr.PartitionID, tc.service, want.ID)
			}
			if tc.role != "" && rr.Role != tc.role {
				t.Errorf("role %s, want %s", rr.Role, tc.role)
			}
			if rr.Listener != tc.listener {
				t.Errorf("listener %q, want %q", rr.Listener, tc.listener)
			}
			// The replica's listener URL ends with /<partition>/<replica>; the path after the API suffix follows it.
			if !strings.HasSuffix(rr.Path, tc.path) || rr.Query != tc.query {
				t.Errorf("replica got path %q query %q, want suffix %q and %q", rr.Path, rr.Query, tc.path, tc.query)
			}
		})
	}
}

func TestPartitionKeyErrors(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, sfConfig, c)
	cases := []struct {
		target, value, code string
		status              int
	}{
		{"/q/x?customer=abc", "abc", CodeInvalidPartitionKey, 400},
		{"/q/x?customer=5000", "5000", CodeInvalidPartitionKey, 400},
		{"/q/x", "", CodeInvalidPartitionKey, 400},
		{"/carts/mars/items", "mars", CodeInvalidPartitionKey, 400},
	}
	for _, tc := range cases {
		r := do(t, g.addr, "GET", tc.target, nil, "")
		e := decodeError(t, r)
		if r.status != tc.status || e.Error.Code != tc.code || e.Error.Attribute != "sf-partition-key" || e.Error.Value != tc.value {
			t.Errorf("GET %s: %d %s, want %d %s naming sf-partition-key=%q", tc.target, r.status, r.body, tc.status, tc.code, tc.value)
		}
	}
	r := do(t, g.addr, "GET", "/carts/eu/items", map[string]string{"X-Replica": "tertiary"}, "")
	if e := decodeError(t, r); r.status != 400 || e.Error.Attribute != "sf-replica-type" || e.Error.Value != "tertiary" {
		t.Errorf("bad replica type: %d %s", r.status, r.body)
	}
	r = do(t, g.addr, "GET", "/svc/Nope/Nothing/x", nil, "")
	if e := decodeError(t, r); r.status != 404 || e.Error.Code != CodeServiceNotFound || e.Error.FabricCode == "" {
		t.Errorf("unknown service: %d %s", r.status, r.body)
	}
	r = do(t, g.addr, "GET", "/svc/Shop/Web/x", map[string]string{"X-Listener": "Nope"}, "")
	if e := decodeError(t, r); r.status != 503 || e.Error.Code != CodeNoEndpoint || e.Error.Attribute != "sf-listener-name" {
		t.Errorf("unknown listener: %d %s", r.status, r.body)
	}
}

func TestUnknownBackendIDIsALoadError(t *testing.T) {
	cfg := strings.ReplaceAll(strings.Replace(sfConfig, `backend-id="carts"`, `backend-id="kart"`, 1), "CLUSTER_URL", "http://127.0.0.1:19080")
	err := validateYAML(t, cfg)
	if err == nil || !strings.Contains(err.Error(), `backend-id "kart" names no backend`) || !strings.Contains(err.Error(), "test.yaml:") {
		t.Fatalf("validate: %v", err)
	}
}

// failoverLoad sends GETs from several goroutines until stop is closed and counts the outcomes.
type failoverLoad struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	failures   []string
	wg         sync.WaitGroup
}

func runLoad(t *testing.T, addr, target string, workers int, stop <-chan struct{}) *failoverLoad {
	l := &failoverLoad{}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := tryDo(addr, "GET", target, nil, "")
				if err == nil && r.status == 200 {
					l.ok.Add(1)
					continue
				}
				l.failed.Add(1)
				l.mu.Lock()
				if err != nil {
					l.failures = append(l.failures, err.Error())
				} else {
					l.failures = append(l.failures, fmt.Sprintf("%d %s", r.status, r.body))
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// waitFor polls cond (each poll is a real request, not a sleep) until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// TestFailover moves, restarts and stops primaries while requests flow, with fakesf's naming cache stale
// (answers stay old until a PreviousRspVersion complaint). Every idempotent request must succeed, the new
// primary must serve, and naming calls must stay bounded.
func TestFailover(t *testing.T) {
	faults := []struct {
		name  string
		fault func(t *testing.T, c *fakesf.Cluster, p fakesf.PartitionState) string // returns the node of the old primary
	}{
		{"MovePrimaryReplica", func(t *testing.T, c *fakesf.Cluster, p fakesf.PartitionState) string {
			old, _ := p.Primary()
			if err := c.MovePrimary(p.ID, ""); err != nil {
				t.Fatal(err)
			}
			return old.Node
		}},
		{"replica restart", func(t *testing.T, c *fakesf.Cluster, p fakesf.PartitionState) string {
			old, _ := p.Primary()
			if err := c.RestartReplica(old.Node, p.ID, old.ID); err != nil {
				t.Fatal(err)
			}
			return old.Node
		}},
		{"node stop", func(t *testing.T, c *fakesf.Cluster, p fakesf.PartitionState) string {
			old, _ := p.Primary()
			if err := c.StopNode(old.Node); err != nil {
				t.Fatal(err)
			}
			return old.Node
		}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			c := fakesftest.Start(t, fakesf.WithNamingCache(fakesf.NamingCache{Stale: true}))
			g := startGateway(t, sfConfig, c)
			target := "/q/api/orders?customer=42"
			before := replicaAnswer(t, do(t, g.addr, "GET", target, nil, ""))
			p := partitionFor(t, c, "fabric:/Shop/Orders", "42")
			if before.Role != "primary" {
				t.Fatalf("before the fault: served by %s", before.Role)
			}
			callsBefore := c.ResolveCalls()

			stop := make(chan struct{})
			load := runLoad(t, g.addr, target, 4, stop)
			waitFor(t, "load to start", func() bool { return load.ok.Load() > 20 })
			oldNode := f.fault(t, c, p)
			var after fakesf.ReplicaResponse
			waitFor(t, "the new primary to serve", func() bool {
				after = replicaAnswer(t, do(t, g.addr, "GET", target, nil, ""))
				return after.Node != oldNode
			})
			okAtSwitch := load.ok.Load()
			waitFor(t, "more requests after the switch", func() bool { return load.ok.Load() > okAtSwitch+20 })
			close(stop)
			load.wg.Wait()

			if n := load.failed.Load(); n > 0 {
				t.Errorf("%d of %d requests failed during %s, e.g. %v", n, n+load.ok.Load(), f.name, load.failures[0])
			}
			now := partitionFor(t, c, "fabric:/Shop/Orders", "42")
			prim, ok := now.Primary()
			if !ok || after.Role != "primary" || after.Node != prim.Node {
				t.Errorf("after %s served by %s on %s; the primary is on %s", f.name, after.Role, after.Node, prim.Node)
			}
			// One complaint per reconfiguration is enough; concurrent complaints collapse. Allow a little
			// slack for refreshes, never one call per request.
			be := g.metrics.backend("orders")
			t.Logf("%s: %d requests ok, %d naming calls, %d re-resolutions, %d retries", f.name, load.ok.Load(),
				c.ResolveCalls()-callsBefore, be.reresolutions.Load(), be.retries.Load())
			if be.reresolutions.Load() == 0 {
				t.Errorf("no re-resolution happened: the fault did not reach the gateway")
			}
			if calls := c.ResolveCalls() - callsBefore; calls > 10 {
				t.Errorf("%d naming calls for one failover (requests: %d)", calls, load.ok.Load())
			}
		})
	}
}

// A POST whose first attempt hits the old primary (its listener closed) arrives intact at the new one.
func TestPostBodyIntactAfterReresolution(t *testing.T) {
	c := fakesftest.Start(t, fakesf.WithNamingCache(fakesf.NamingCache{Stale: true}))
	g := startGateway(t, sfConfig, c)
	body := strings.Repeat("order line; ", 5000)
	sum := sha256.Sum256([]byte(body))
	first := replicaAnswer(t, do(t, g.addr, "POST", "/p/orders/42", nil, body))
	if first.BodySHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("first POST body changed")
	}
	p := partitionFor(t, c, "fabric:/Shop/Orders", "42")
	if err := c.MovePrimary(p.ID, ""); err != nil {
		t.Fatal(err)
	}
	rr := replicaAnswer(t, do(t, g.addr, "POST", "/p/orders/42", nil, body))
	if rr.Node == first.Node || rr.Role != "primary" {
		t.Errorf("POST after the move served by %s on %s (old primary on %s)", rr.Role, rr.Node, first.Node)
	}
	if rr.BodyLength != int64(len(body)) || rr.BodySHA256 != hex.EncodeToString(sum[:]) || rr.Method != "POST" {
		t.Errorf("body after re-resolution: %d bytes, sha %s; sent %d bytes", rr.BodyLength, rr.BodySHA256, len(body))
	}
}

// Without sf-resolve-condition a connection failure re-resolves for idempotent requests; a GET succeeds.
func TestDefaultConditionReresolvesOnConnectionFailure(t *testing.T) {
	c := fakesftest.Start(t, fakesf.WithNamingCache(fakesf.NamingCache{Stale: true}))
	g := startGateway(t, sfConfig, c)
	first := replicaAnswer(t, do(t, g.addr, "GET", "/n/orders/42", nil, ""))
	p := partitionFor(t, c, "fabric:/Shop/Orders", "42")
	if err := c.MovePrimary(p.ID, ""); err != nil {
		t.Fatal(err)
	}
	rr := replicaAnswer(t, do(t, g.addr, "GET", "/n/orders/42", nil, ""))
	if rr.Node == first.Node {
		t.Errorf("GET after the move still served by the old primary's node %s", rr.Node)
	}
}

func TestNamingDownWithWarmCacheKeepsServing(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, sfConfig, c)
	targets := []string{"/q/x?customer=1", "/q/x?customer=300", "/carts/eu/x", "/svc/Shop/Web/x"}
	for _, tg := range targets {
		replicaAnswer(t, do(t, g.addr, "GET", tg, nil, ""))
	}
	if err := c.SetNamingFault(fakesf.NamingFault{Drop: true, AllRoutes: true}); err != nil {
		t.Fatal(err)
	}
	calls := c.ResolveCalls()
	for range 5 {
		for _, tg := range targets {
			replicaAnswer(t, do(t, g.addr, "GET", tg, nil, ""))
		}
	}
	if n := c.ResolveCalls() - calls; n != 0 {
		t.Errorf("%d naming calls with a warm cache", n)
	}
}

func TestNamingUnreachableWithNothingCached(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, sfConfig, c)
	if err := c.SetNamingFault(fakesf.NamingFault{Status: 503, Code: "FABRIC_E_SERVICE_OFFLINE", AllRoutes: true}); err != nil {
		t.Fatal(err)
	}
	r := do(t, g.addr, "GET", "/q/x?customer=1", nil, "")
	if e := decodeError(t, r); r.status != 503 {
		t.Errorf("naming down, cold cache: %d %+v", r.status, e)
	}
}

// A status-based sf-resolve-condition (the SF Reverse Proxy recipe) resends on 503; when retries run out the
// last backend response is returned as it is (APIM behaviour), not a gateway error.
func TestStatusConditionAndLastResponse(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, sfConfig, c)
	p := partitionFor(t, c, "fabric:/Shop/Orders", "42")
	prim, _ := p.Primary()
	r := do(t, g.addr, "GET", "/s/x?customer=42", nil, "")
	if rr := replicaAnswer(t, r); r.header.Get("X-Backend") != rr.Host {
		t.Errorf("context.Request.Url in outbound = %q, want the replica %q", r.header.Get("X-Backend"), rr.Host)
	}

	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	hits := c.ReplicaHits(prim.ID)
	replicaAnswer(t, do(t, g.addr, "GET", "/s/x?customer=42", nil, ""))
	if n := c.ReplicaHits(prim.ID) - hits; n != 2 {
		t.Errorf("one 503 then 200: the replica saw %d requests, want 2", n)
	}

	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Status: 503}); err != nil {
		t.Fatal(err)
	}
	hits = c.ReplicaHits(prim.ID)
	r = do(t, g.addr, "GET", "/s/x?customer=42", nil, "")
	if r.status != 503 || !strings.Contains(string(r.body), `"partitionId"`) {
		t.Errorf("retries exhausted: %d %s, want the replica's own 503", r.status, r.body)
	}
	if n := c.ReplicaHits(prim.ID) - hits; n != 1+5 {
		t.Errorf("the replica saw %d GETs, want 1 + maxPartitionResolutionRetries (5)", n)
	}

	// A POST reached the replica: the condition re-resolves, but the POST is not sent again (docs/policies.md).
	hits = c.ReplicaHits(prim.ID)
	r = do(t, g.addr, "POST", "/s/x?customer=42", nil, "body")
	if r.status != 503 || !strings.Contains(string(r.body), `"partitionId"`) {
		t.Errorf("POST: %d %s, want the replica's own 503", r.status, r.body)
	}
	if n := c.ReplicaHits(prim.ID) - hits; n != 1 {
		t.Errorf("the replica saw the POST %d times, want once", n)
	}
}
