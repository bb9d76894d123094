package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

// resendConfig has the conditions the examples recommend: connection failures (/p), and connection failures or
// timeouts with a short backend timeout (/t); /b goes to a backend with one pooled connection per endpoint.
const resendConfig = `
limits: {maxAttemptsPerRequest: 7}
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster: {managementEndpoints: [CLUSTER_URL], maxPartitionResolutionRetries: 5}
  orders-short:
    url: fabric:/Shop/Orders
    timeout: 300ms
    serviceFabricCluster: {managementEndpoints: [CLUSTER_URL], maxPartitionResolutionRetries: 5}
  orders-one-conn:
    url: fabric:/Shop/Orders
    maxConnectionsPerEndpoint: 1
    connectionWaitTimeout: 50ms
    serviceFabricCluster: {managementEndpoints: [CLUSTER_URL], maxPartitionResolutionRetries: 5}
apis:
  - name: conn
    path: p
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("k",""))"
            sf-resolve-condition="@(context.LastError?.Reason == &quot;BackendConnectionFailure&quot;)" />
      </inbound></policies>
  - name: timeout
    path: t
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders-short" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("k",""))"
            sf-resolve-condition="@(context.LastError?.Reason == &quot;BackendConnectionFailure&quot; || context.LastError?.Reason == &quot;Timeout&quot;)" />
      </inbound></policies>
  - name: busy
    path: b
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders-one-conn" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("k",""))" />
      </inbound></policies>
  - name: nested
    path: n
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("k",""))" />
      </inbound>
      <backend>
        <retry condition="@(context.Response.StatusCode == 503)" count="50" interval="0">
          <retry condition="@(context.Response.StatusCode == 503)" count="50" interval="0">
            <forward-request />
          </retry>
        </retry>
      </backend></policies>
`

// primaryOf42 returns the primary replica of the partition holding key 42.
func primaryOf42(t *testing.T, c *fakesf.Cluster) (fakesf.PartitionState, fakesf.ReplicaState) {
	t.Helper()
	p := partitionFor(t, c, "fabric:/Shop/Orders", "42")
	prim, ok := p.Primary()
	if !ok {
		t.Fatal("no primary")
	}
	return p, prim
}

// A replica that drops the connection after receiving the request: a GET is sent again, a POST is not (it may
// have run), whatever sf-resolve-condition says.
func TestDroppedPostIsNotSentTwice(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, resendConfig, c)
	_, prim := primaryOf42(t, c)
	for _, tc := range []struct {
		method string
		status int
		hits   int64
	}{{"POST", 502, 1}, {"GET", 200, 2}} {
		if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Drop: true, Count: 1}); err != nil {
			t.Fatal(err)
		}
		before := c.ReplicaHits(prim.ID)
		r := do(t, g.addr, tc.method, "/p/orders?k=42", nil, "order")
		if r.status != tc.status {
			t.Errorf("%s after a drop: %d %s, want %d", tc.method, r.status, r.body, tc.status)
		}
		if n := c.ReplicaHits(prim.ID) - before; n != tc.hits {
			t.Errorf("%s: the replica received it %d times, want %d", tc.method, n, tc.hits)
		}
	}
}

// With a condition that also re-resolves on timeouts, a POST the replica is slow to answer runs once: the
// timeout is reported (504), never turned into a second send.
func TestTimedOutPostIsNotSentAgain(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, resendConfig, c)
	_, prim := primaryOf42(t, c)
	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Delay: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	before := c.ReplicaHits(prim.ID)
	r := do(t, g.addr, "POST", "/t/orders?k=42", nil, "order")
	if e := decodeError(t, r); r.status != 504 || e.Error.Code != CodeBackendTimeout {
		t.Errorf("slow POST: %d %s, want 504 %s", r.status, r.body, CodeBackendTimeout)
	}
	if n := c.ReplicaHits(prim.ID) - before; n != 1 {
		t.Errorf("the slow replica received the POST %d times, want once", n)
	}
}

// A full connection pool is a slow replica, not a moved one: the request waits connectionWaitTimeout, then gets
// 503 BackendBusy, and naming hears no complaint.
func TestFullPoolAnswers503WithoutAComplaint(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, resendConfig, c)
	p, prim := primaryOf42(t, c)
	replicaAnswer(t, do(t, g.addr, "GET", "/b/orders?k=42", nil, "")) // warm the cache
	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Delay: 5 * time.Second, Count: 1}); err != nil {
		t.Fatal(err)
	}
	hits := c.ReplicaHits(prim.ID)
	slow := make(chan rawResponse, 1)
	go func() {
		r, _ := tryDo(g.addr, "GET", "/b/orders?k=42", nil, "")
		slow <- r
	}()
	waitFor(t, "the slow request to hold the only connection", func() bool { return c.ReplicaHits(prim.ID) > hits })
	_, complaints := c.PartitionResolveCalls(p.ID)
	r := do(t, g.addr, "GET", "/b/orders?k=42", nil, "")
	if e := decodeError(t, r); r.status != 503 || e.Error.Code != CodeBackendBusy {
		t.Errorf("second request with the pool full: %d %s, want 503 %s", r.status, r.body, CodeBackendBusy)
	}
	if _, after := c.PartitionResolveCalls(p.ID); after != complaints {
		t.Errorf("a full pool caused %d PreviousRspVersion complaints", after-complaints)
	}
	c.Close() // ends the delayed answer at once
	<-slow
}

// Retries nested in retries stop at limits.maxAttemptsPerRequest; the client gets the last answer.
func TestNestedRetriesStopAtTheAttemptLimit(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, resendConfig, c)
	_, prim := primaryOf42(t, c)
	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Status: 503}); err != nil {
		t.Fatal(err)
	}
	before := c.ReplicaHits(prim.ID)
	r := do(t, g.addr, "GET", "/n/orders?k=42", nil, "")
	if r.status != 503 || !strings.Contains(string(r.body), `"partitionId"`) {
		t.Errorf("nested retries: %d %s, want the replica's own 503", r.status, r.body)
	}
	if n := c.ReplicaHits(prim.ID) - before; n != 7 {
		t.Errorf("%d sends for one request, want limits.maxAttemptsPerRequest (7)", n)
	}
}

func TestNegativeLimitsAreLoadErrors(t *testing.T) {
	if err := validateYAML(t, `
limits: {maxAttemptsPerRequest: -1, maxBufferedBodyBytes: -5}
backends: {b: {url: "http://127.0.0.1:1/", connectionWaitTimeout: -1s, writeConnections: sometimes}}
apis: [{name: a, path: a, serviceUrl: "http://127.0.0.1:1/"}]
`); err == nil {
		t.Fatal("negative limits loaded")
	} else {
		for _, field := range []string{"limits.maxAttemptsPerRequest", "limits.maxBufferedBodyBytes", "backends.b.connectionWaitTimeout", "backends.b.writeConnections"} {
			if !strings.Contains(err.Error(), field) {
				t.Errorf("error does not name %s: %v", field, err)
			}
		}
	}
}
