package gateway

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

// rpConfig serves fakesf's default topology the way SFRP would, next to one API that takes precedence.
const rpConfig = `
reverseProxy:
  path: /
  cluster:
    managementEndpoints: [CLUSTER_URL]
apis:
  - name: web
    path: api
    serviceUrl: http://127.0.0.1:1/
`

func TestReverseProxyURLContract(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, rpConfig, c)

	t.Run("Int64Range key, query kept byte for byte", func(t *testing.T) {
		rr := replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Orders/api/items?a=1&PartitionKey=700&b=%2F%41&PartitionKind=Int64Range&&c", nil, ""))
		want := partitionFor(t, c, "fabric:/Shop/Orders", "700")
		if rr.Service != "fabric:/Shop/Orders" || rr.PartitionID != want.ID || rr.Role != "primary" {
			t.Errorf("reached %s partition %s (%s), want the primary of %s", rr.Service, rr.PartitionID, rr.Role, want.ID)
		}
		if !strings.HasSuffix(rr.Path, "/"+rr.ReplicaID+"/api/items") || rr.Query != "a=1&b=%2F%41&&c" {
			t.Errorf("forwarded path %q query %q, want the listener's path + /api/items and a=1&b=%%2F%%41&&c", rr.Path, rr.Query)
		}
	})
	t.Run("Named key and every replica selector", func(t *testing.T) {
		want := partitionFor(t, c, "fabric:/Shop/Carts", "eu")
		for sel, roles := range map[string]string{"": "primary", "PrimaryReplica": "primary",
			"RandomSecondaryReplica": "secondary", "RandomReplica": "primary secondary"} {
			for range 6 {
				rr := replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Carts/x?PartitionKind=Named&PartitionKey=eu&TargetReplicaSelector="+sel, nil, ""))
				if rr.PartitionID != want.ID || !strings.Contains(roles, rr.Role) {
					t.Fatalf("%s: reached partition %s as %s, want %s as %s", sel, rr.PartitionID, rr.Role, want.ID, roles)
				}
				if rr.Query != "" {
					t.Errorf("%s: SFRP's parameters were forwarded: %q", sel, rr.Query)
				}
			}
		}
	})
	t.Run("stateless service, listener and Timeout", func(t *testing.T) {
		for _, sel := range []string{"", "RandomInstance", "RandomReplica", "PrimaryReplica"} {
			rr := replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Web/?TargetReplicaSelector="+sel+"&Timeout=30", nil, ""))
			if rr.Service != "fabric:/Shop/Web" || rr.Role != "stateless" || rr.Listener != "" {
				t.Errorf("%s: reached %s as %s on listener %q", sel, rr.Service, rr.Role, rr.Listener)
			}
			if rr.Query != "Timeout=30" {
				t.Errorf("%s: query %q, want Timeout=30 (SFRP passes it on)", sel, rr.Query)
			}
		}
		rr := replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Web/admin?ListenerName=Admin", nil, ""))
		if rr.Listener != "Admin" || !strings.HasSuffix(rr.Path, "/"+rr.ReplicaID+"/admin") {
			t.Errorf("ListenerName=Admin reached listener %q path %q", rr.Listener, rr.Path)
		}
	})
	t.Run("an API matches first", func(t *testing.T) {
		r := do(t, g.addr, "GET", "/api/x", nil, "")
		if r.status != http.StatusBadGateway {
			t.Errorf("/api/x: %d %s, want the API's 502 (its service URL is closed)", r.status, r.body)
		}
	})
	t.Run("bad parameters and keys", func(t *testing.T) {
		for _, tc := range []struct{ target, code, attr string }{
			{"/Shop/Orders/?PartitionKind=Int64Range&PartitionKey=abc", CodeInvalidPartitionKey, "PartitionKey"},
			{"/Shop/Orders/?PartitionKind=Int64Range&PartitionKey=5000", CodeInvalidPartitionKey, "PartitionKey"},
			{"/Shop/Orders/", CodeInvalidPartitionKey, "PartitionKey"},
			{"/Shop/Orders/?PartitionKind=Named&PartitionKey=eu", CodeInvalidPartitionKey, "PartitionKind"},
			{"/Shop/Carts/?PartitionKind=Named&PartitionKey=mars", CodeInvalidPartitionKey, "PartitionKey"},
			{"/Shop/Orders/?PartitionKind=int64range&PartitionKey=1", CodeInvalidAttribute, "PartitionKind"},
			{"/Shop/Carts/?PartitionKind=Named&PartitionKey=eu&TargetReplicaSelector=Primary", CodeInvalidAttribute, "TargetReplicaSelector"},
			{"/Shop/Carts/?PartitionKind=Named&PartitionKey=eu&TargetReplicaSelector=RandomInstance", CodeInvalidAttribute, "TargetReplicaSelector"},
			{"/Shop/Web/?Timeout=soon", CodeInvalidAttribute, "Timeout"},
		} {
			r := do(t, g.addr, "GET", tc.target, nil, "")
			e := decodeError(t, r)
			if r.status != http.StatusBadRequest || e.Error.Code != tc.code || e.Error.Attribute != tc.attr || e.Error.RequestID == "" {
				t.Errorf("%s: %d %s, want 400 %s naming %s", tc.target, r.status, r.body, tc.code, tc.attr)
			}
			if r.header.Get("X-ServiceFabric") != "" {
				t.Errorf("%s: X-ServiceFabric %q on a 400", tc.target, r.header.Get("X-ServiceFabric"))
			}
		}
	})
	t.Run("unknown application and service", func(t *testing.T) {
		for _, target := range []string{"/Nope/Svc/x", "/Shop/Nope", "/Shop", "/shop/orders/?PartitionKind=Int64Range&PartitionKey=1", "/"} {
			r := do(t, g.addr, "GET", target, nil, "")
			e := decodeError(t, r)
			if r.status != http.StatusNotFound || e.Error.Code != CodeServiceNotFound || r.header.Get("X-ServiceFabric") != "ResourceNotFound" {
				t.Errorf("%s: %d %q %s, want 404 ServiceNotFound with X-ServiceFabric: ResourceNotFound", target, r.status, r.header.Get("X-ServiceFabric"), r.body)
			}
		}
	})
}

// TestReverseProxyDiscovery: a service created after the gateway started is reachable at once, one with a
// name of several segments by the longest name; a deleted one answers SFRP's 404.
func TestReverseProxyDiscovery(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, rpConfig, c)
	replicaAnswer(t, do(t, g.addr, "GET", "/Catalog/Products/", nil, "")) // the first listing
	for _, name := range []string{"fabric:/Shop/Deep", "fabric:/Shop/Deep/Svc"} {
		if err := c.CreateService("fabric:/Shop", fakesf.Service{Name: name, TypeName: "WebType", Kind: fakesf.Stateless, Scheme: fakesf.Singleton, Replicas: 1}); err != nil {
			t.Fatal(err)
		}
	}
	g.rt.Load().rp.missRefresh.Store(0) // a miss lists again (at most once per minMissRefresh otherwise)
	rr := replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Deep/Svc/x/y", nil, ""))
	if rr.Service != "fabric:/Shop/Deep/Svc" || !strings.HasSuffix(rr.Path, rr.ReplicaID+"/x/y") {
		t.Errorf("reached %s path %s, want fabric:/Shop/Deep/Svc /x/y", rr.Service, rr.Path)
	}
	rr = replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Deep/Other", nil, ""))
	if rr.Service != "fabric:/Shop/Deep" || !strings.HasSuffix(rr.Path, rr.ReplicaID+"/Other") {
		t.Errorf("reached %s path %s, want fabric:/Shop/Deep /Other", rr.Service, rr.Path)
	}
	if err := c.DeleteService("fabric:/Shop/Deep/Svc"); err != nil {
		t.Fatal(err)
	}
	rp := g.rt.Load().rp
	rp.list(context.Background(), time.Now()) // the next refresh
	if rp.set.Load().exposed["fabric:/Shop/Deep/Svc"] != nil {
		t.Error("the deleted service is still listed after a refresh")
	}
	r := do(t, g.addr, "GET", "/Shop/Deep/Svc/x", nil, "")
	if r.status == http.StatusOK {
		rr := replicaAnswer(t, r)
		if rr.Service != "fabric:/Shop/Deep" {
			t.Errorf("deleted service still reached: %s", rr.Service)
		}
	} else if r.status != http.StatusNotFound || r.header.Get("X-ServiceFabric") != "ResourceNotFound" {
		t.Errorf("deleted service: %d %s", r.status, r.body)
	}
}

// TestReverseProxyAllowlist: only the allowed services are reachable; the others answer as if they did not
// exist, and /debug/routes says which is which and why.
func TestReverseProxyAllowlist(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, `
reverseProxy:
  path: /sf/
  cluster: {managementEndpoints: [CLUSTER_URL]}
  expose: allowlist
  allow: ["fabric:/Shop/W*", "fabric:/Catalog/Products"]
`, c)
	if rr := replicaAnswer(t, do(t, g.addr, "GET", "/sf/Shop/Web/", nil, "")); rr.Service != "fabric:/Shop/Web" {
		t.Errorf("reached %s", rr.Service)
	}
	for _, target := range []string{"/sf/Shop/Orders/?PartitionKind=Int64Range&PartitionKey=1", "/Shop/Web/"} {
		r := do(t, g.addr, "GET", target, nil, "")
		if r.status != http.StatusNotFound {
			t.Errorf("%s: %d %s, want 404", target, r.status, r.body)
		}
	}
	got := map[string]string{}
	for _, s := range debugRouteServices(t, g) {
		got[s.Name] = s.URL + " " + s.Why
	}
	want := map[string]string{
		"fabric:/Shop/Web":         "/sf/Shop/Web/ allow: fabric:/Shop/W*",
		"fabric:/Catalog/Products": "/sf/Catalog/Products/ allow: fabric:/Catalog/Products",
		"fabric:/Shop/Orders":      " expose: allowlist, and no allow pattern matches",
		"fabric:/Shop/Carts":       " expose: allowlist, and no allow pattern matches",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("/debug/routes %s: %q, want %q", name, got[name], w)
		}
	}
}

// TestReverseProxyRetryRules: SFRP's rules through resendRule. A 404 without X-ServiceFabric is a moved
// replica (re-resolved and sent again), with it the service's own 404; a 503 is re-resolved; a POST that
// reached a replica is not sent again.
func TestReverseProxyRetryRules(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, rpConfig, c)
	target := "/Shop/Orders/o/42?PartitionKind=Int64Range&PartitionKey=42"
	p, prim := primaryOf42(t, c)
	for _, tc := range []struct {
		name       string
		method     string
		fault      fakesf.ReplicaFault
		status     int
		hits       int64
		complaints int64 // re-resolutions: ResolvePartition calls with the version the gateway used
	}{
		{"404 moved", "GET", fakesf.ReplicaFault{Status: 404, Count: 1}, 200, 2, 1},
		{"404 ResourceNotFound", "GET", fakesf.ReplicaFault{Status: 404, Count: 1, Header: map[string]string{"X-ServiceFabric": "ResourceNotFound"}}, 404, 1, 0},
		{"503 GET", "GET", fakesf.ReplicaFault{Status: 503, Count: 1}, 200, 2, 1},
		{"410 GET", "GET", fakesf.ReplicaFault{Status: 410, Count: 1}, 200, 2, 1},
		{"503 POST", "POST", fakesf.ReplicaFault{Status: 503, Count: 1}, 503, 1, 1}, // re-resolved, not resent
		{"500 GET", "GET", fakesf.ReplicaFault{Status: 500, Count: 1}, 500, 1, 0},
	} {
		c.ResetCounters()
		if err := c.SetReplicaFault(prim.ID, tc.fault); err != nil {
			t.Fatal(err)
		}
		r := do(t, g.addr, tc.method, target, nil, "")
		if r.status != tc.status || c.ReplicaHits(prim.ID) != tc.hits {
			t.Errorf("%s: %d after %d replica hits, want %d after %d (%s)", tc.name, r.status, c.ReplicaHits(prim.ID), tc.status, tc.hits, r.body)
		}
		if _, complaints := c.PartitionResolveCalls(p.ID); complaints != tc.complaints {
			t.Errorf("%s: %d re-resolutions, want %d", tc.name, complaints, tc.complaints)
		}
		if tc.status == 404 && r.header.Get("X-ServiceFabric") != "ResourceNotFound" {
			t.Errorf("%s: the service's X-ServiceFabric header did not reach the client", tc.name)
		}
		c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{})
	}
}

// TestReverseProxyPrimaryMove: GETs keep succeeding while the primary moves between nodes.
func TestReverseProxyPrimaryMove(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, rpConfig, c)
	target := "/Shop/Orders/o?PartitionKind=Int64Range&PartitionKey=42"
	p, _ := primaryOf42(t, c)
	var failed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := tryDo(g.addr, "GET", target, nil, "")
				if err != nil || r.status != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	for i := range 3 {
		cur, _ := primaryOf42(t, c)
		var to string
		for _, r := range cur.Replicas {
			if r.Role == "secondary" {
				to = r.Node
				break
			}
		}
		if err := c.MovePrimary(p.ID, to); err != nil {
			t.Fatalf("move %d: %v", i, err)
		}
		if rr := replicaAnswer(t, do(t, g.addr, "GET", target, nil, "")); rr.Node != to || rr.Role != "primary" {
			t.Errorf("after move %d: reached %s on %s, want the primary on %s", i, rr.Role, rr.Node, to)
		}
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Errorf("%d GETs failed while the primary moved", n)
	}
}

// TestReverseProxyTimeoutBoundsTheRequest: Timeout=1 ends a request to a replica that answers after 5 s.
func TestReverseProxyTimeoutBoundsTheRequest(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, rpConfig, c)
	_, prim := primaryOf42(t, c)
	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Delay: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := do(t, g.addr, "GET", "/Shop/Orders/?PartitionKind=Int64Range&PartitionKey=42&Timeout=1", nil, "")
	if r.status != http.StatusGatewayTimeout {
		t.Errorf("%d %s, want 504", r.status, r.body)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("answered after %s: Timeout=1 did not bound the request", d)
	}
}

// TestReverseProxyEmptySegments: SFRP's name ends at an empty segment (a Service Fabric name has none), so a
// path is read as SFRP reads it: the suffix after the service name reaches the replica byte for byte, empty
// segments and a trailing '/' included ("/Shop/Web" as "/Shop/Web/"); an empty segment before a name is a
// name no service has (404 with X-ServiceFabric), and one at the very start, where SF would read an
// authority, is a 400.
func TestReverseProxyEmptySegments(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, rpConfig, c)

	for target, wantPath := range map[string]string{
		"/Shop/Web//x//y/":    "//x//y/",
		"/Shop/Web/":          "/",
		"/Shop/Web":           "/",
		"/Shop/Web?Timeout=5": "/",
		"/Shop/Web//":         "//",
		"/Shop/Web/a%2F%2Fb":  "/a%2F%2Fb",
	} {
		rr := replicaAnswer(t, do(t, g.addr, "GET", target, nil, ""))
		listener := "/" + rr.PartitionID + "/" + rr.ReplicaID // the path of the address the replica publishes
		if rr.Service != "fabric:/Shop/Web" || rr.Path != listener+wantPath {
			t.Errorf("%s: reached %s path %q, want fabric:/Shop/Web path %q", target, rr.Service, rr.Path, listener+wantPath)
		}
	}
	for _, target := range []string{"/Shop//Web/x", "/Shop//Web", "/Shop/", "/Shop//", "/Catalog//Products/"} {
		r := do(t, g.addr, "GET", target, nil, "")
		e := decodeError(t, r)
		if r.status != http.StatusNotFound || e.Error.Code != CodeServiceNotFound || r.header.Get("X-ServiceFabric") != "ResourceNotFound" {
			t.Errorf("%s: %d %q %s, want 404 ServiceNotFound with X-ServiceFabric: ResourceNotFound", target, r.status, r.header.Get("X-ServiceFabric"), r.body)
		}
		if strings.Contains(target, "//") && !strings.Contains(e.Error.Message, "empty segment") {
			t.Errorf("%s: the message %q does not say that an empty segment ends a name", target, e.Error.Message)
		}
	}
	for _, target := range []string{"//Shop/Web/x", "//Shop/Web", "//", "///Shop/Web/"} {
		r := do(t, g.addr, "GET", target, nil, "")
		e := decodeError(t, r)
		if r.status != http.StatusBadRequest || e.Error.Code != CodeBadRequest || !strings.Contains(e.Error.Message, "empty segment") {
			t.Errorf("%s: %d %s, want 400 BadRequest saying the path starts with an empty segment", target, r.status, r.body)
		}
		if r.header.Get("X-ServiceFabric") != "" {
			t.Errorf("%s: X-ServiceFabric %q on a 400", target, r.header.Get("X-ServiceFabric"))
		}
	}
}
