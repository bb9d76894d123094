package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/bareproxy"
	"github.com/sfgate/sfgate/listener"
	"github.com/sfgate/sfgate/partition"
	"github.com/sfgate/sfgate/resolver"
	"github.com/valyala/fasthttp"
)

// startFastBackend serves a fixed answer with fasthttp (which does not allocate per request), so that an
// allocation count around a proxied request measures the gateway.
func startFastBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain")
		ctx.SetBodyString("hello from the backend")
	}}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

// staticNamer answers every resolution with one fixed snapshot: the resolver's own cache hit is tested
// (and allocation-free) in package resolver; this isolates the gateway's part.
type staticNamer struct {
	snap   *resolver.Snapshot
	scheme *partition.Scheme
}

func (n *staticNamer) Resolve(_ context.Context, _ string, key []byte) (*resolver.Snapshot, error) {
	if _, err := n.scheme.Find(key); err != nil {
		return nil, err
	}
	return n.snap, nil
}
func (n *staticNamer) Invalidate(ctx context.Context, s string, key []byte, _ string) (*resolver.Snapshot, error) {
	return n.Resolve(ctx, s, key)
}
func (n *staticNamer) Scheme(context.Context, string) (*partition.Scheme, error) {
	return n.scheme, nil
}
func (n *staticNamer) Stats() resolver.Stats { return resolver.Stats{} }
func (n *staticNamer) ReloadTLSFiles() error { return nil }
func (n *staticNamer) Close() error          { return nil }

// allocGateway builds a gateway whose SF backend resolves, through staticNamer, to a fasthttp backend.
func allocGateway(tb testing.TB) (*Gateway, string) {
	tb.Helper()
	return allocGatewayLogging(tb, nil)
}

// allocGatewayLogging is allocGateway logging to logger (nil: discarded).
func allocGatewayLogging(tb testing.TB, logger *slog.Logger) (*Gateway, string) {
	tb.Helper()
	be := startFastBackend(tb)
	cfg, err := config.Parse([]byte(ordersBackendYAML(5)+fmt.Sprintf(`
apis:
  - name: partners
    path: api
    serviceUrl: http://%[1]s/api/10.4/
    policies: |
      <policies>
        <inbound>
          <choose>
            <when condition="@(context.Request.Url.Query.GetValueOrDefault("version") == "2013-05")">
              <set-backend-service base-url="http://%[1]s/api/8.2/" />
            </when>
          </choose>
          <base />
        </inbound>
      </policies>
  - name: shop
    path: shop
    policies: |
      <policies>
        <inbound>
          <base />
          <set-backend-service backend-id="orders"
              sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("customer",""))"
              sf-replica-type="primary"
              sf-resolve-condition="@(context.LastError?.Reason == "BackendConnectionFailure")" />
        </inbound>
      </policies>
`, be)), "alloc.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	return staticSFGatewayLogging(tb, cfg, be, logger), be
}

// ordersBackendYAML is the backends: section staticSFGateway serves: backend "orders", a Service Fabric
// service on a cluster that is never called.
func ordersBackendYAML(retries int) string {
	return fmt.Sprintf(`
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster:
      managementEndpoints: [http://127.0.0.1:1]
      maxPartitionResolutionRetries: %d
`, retries)
}

// staticSFGateway builds a gateway from cfg whose Service Fabric backends resolve, through staticNamer, to
// one primary at the address be (partition p0 of a two-partition Int64Range scheme, keys 0-511).
func staticSFGateway(tb testing.TB, cfg *config.Config, be string) *Gateway {
	tb.Helper()
	return staticSFGatewayLogging(tb, cfg, be, nil)
}

// staticSFGatewayLogging is staticSFGateway logging to logger (nil: discarded).
func staticSFGatewayLogging(tb testing.TB, cfg *config.Config, be string, logger *slog.Logger) *Gateway {
	tb.Helper()
	scheme, err := partition.NewScheme(partition.Int64Range, []partition.Info{
		{ID: "p0", Kind: partition.Int64Range, LowKey: 0, HighKey: 511},
		{ID: "p1", Kind: partition.Int64Range, LowKey: 512, HighKey: 1023},
	})
	if err != nil {
		tb.Fatal(err)
	}
	rep, err := listener.ParseReplica("StatefulPrimary", `{"Endpoints":{"":"http:\/\/`+be+`\/p0\/1"}}`)
	if err != nil {
		tb.Fatal(err)
	}
	snap := &resolver.Snapshot{Service: "fabric:/Shop/Orders", Partition: *scheme.Partition(0), Version: "v1",
		Replicas: listener.NewSet([]listener.Replica{rep})}
	g, err := New(cfg, Options{Logger: logger, newNamer: func(resolver.Options) (namer, error) {
		return &staticNamer{snap: snap, scheme: scheme}, nil
	}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { g.Shutdown(context.Background()) })
	return g
}

func newTestCtx(target string) *fasthttp.RequestCtx {
	var ctx fasthttp.RequestCtx
	var req fasthttp.Request
	req.SetRequestURI(target)
	req.Header.SetHost("gateway.example")
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 5000}, nil)
	return &ctx
}

func serveOnce(g *Gateway, ctx *fasthttp.RequestCtx, target string) {
	ctx.Request.SetRequestURI(target)
	ctx.Request.Header.Del("X-Request-Id")
	ctx.Response.Reset()
	g.serveHTTP(ctx)
}

// A GET through policies like the APIM documentation's examples allocates nothing once pools are warm: the
// base-url example and the Service Fabric target with a key from the query and a resolve condition.
func TestSteadyStateAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; run without -race")
	}
	g, _ := allocGateway(t)
	for _, target := range []string{
		"/api/partners/15?version=2013-05&subscription-key=abcdef",
		"/shop/orders/7?customer=42",
	} {
		ctx := newTestCtx(target)
		for range 100 {
			serveOnce(g, ctx, target)
		}
		if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != "hello from the backend" {
			t.Fatalf("%s: %d %s", target, ctx.Response.StatusCode(), ctx.Response.Body())
		}
		n := testing.AllocsPerRun(500, func() { serveOnce(g, ctx, target) })
		if n != 0 {
			t.Errorf("GET %s: %.1f allocations per request, want 0", target, n)
		}
	}
}

func BenchmarkProxyBaseURL(b *testing.B) { benchmarkProxy(b, "/api/partners/15?version=2013-05&x=1") }

func BenchmarkProxyServiceFabric(b *testing.B) { benchmarkProxy(b, "/shop/orders/7?customer=42") }

// BenchmarkProxyServiceFabricAccessLog is BenchmarkProxyServiceFabric with the access log on (log.access, the
// default, at level info) in the text layout, the sfgate command's default format, into io.Discard, through a
// handler that takes ready-made lines as the sfgate command's does (LineWriter): what the request's log line costs.
func BenchmarkProxyServiceFabricAccessLog(b *testing.B) {
	g, _ := allocGatewayLogging(b, slog.New(newLineHandler(io.Discard, false, slog.LevelInfo)))
	benchmarkGateway(b, g, "/shop/orders/7?customer=42")
}

// BenchmarkProxyServiceFabricAccessLogSlog is the same through slog's text handler (a logger that is no
// LineWriter): the line built from slog attributes.
func BenchmarkProxyServiceFabricAccessLogSlog(b *testing.B) {
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	g, _ := allocGatewayLogging(b, logger)
	benchmarkGateway(b, g, "/shop/orders/7?customer=42")
}

func benchmarkProxy(b *testing.B, target string) {
	g, _ := allocGateway(b)
	benchmarkGateway(b, g, target)
}

func benchmarkGateway(b *testing.B, g *Gateway, target string) {
	ctx := newTestCtx(target)
	serveOnce(g, ctx, target)
	if ctx.Response.StatusCode() != 200 {
		b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(g, ctx, target)
	}
}

// BenchmarkProxyBareFasthttp is the floor the benchmarks above are measured against (bench's instructions
// section): the bare fasthttp proxy's handler (package internal/bareproxy) on BenchmarkProxyServiceFabric's
// request and the same backend, with no routing, policy or resolution.
func BenchmarkProxyBareFasthttp(b *testing.B) {
	const target = "/shop/orders/7?customer=42"
	handler := bareproxy.New(startFastBackend(b)).Handler
	ctx := newTestCtx(target)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.SetRequestURI(target)
		ctx.Response.Reset()
		handler(ctx)
	}
	if ctx.Response.StatusCode() != 200 {
		b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

// BenchmarkBackendDirect is one HostClient.Do to the same backend with no proxy: what the benchmarks above
// spend outside the proxy's own work (the client call and the backend's side).
func BenchmarkBackendDirect(b *testing.B) {
	hc := &fasthttp.HostClient{Addr: startFastBackend(b), NoDefaultUserAgentHeader: true, DisablePathNormalizing: true}
	var req fasthttp.Request
	var resp fasthttp.Response
	b.ReportAllocs()
	for b.Loop() {
		req.SetRequestURI("http://gateway.example/p0/1/orders/7?customer=42")
		if err := hc.Do(&req, &resp); err != nil || resp.StatusCode() != 200 {
			b.Fatalf("%v %d", err, resp.StatusCode())
		}
	}
}

// BenchmarkProxyServiceFabricParallel: the same through every core, to expose contention in the pools.
func BenchmarkProxyServiceFabricParallel(b *testing.B) {
	g, _ := allocGateway(b)
	const target = "/shop/orders/7?customer=42"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := newTestCtx(target)
		for pb.Next() {
			serveOnce(g, ctx, target)
		}
	})
}

// Finding the pool of an endpoint allocates nothing, with or without a port in its URL (a portless serviceUrl or
// base-url dials the scheme's default port, which is computed only when the endpoint is new).
func TestPoolLookupAllocatesNothing(t *testing.T) {
	p := newPool(poolSettings{})
	for _, u := range []string{"http://backend.example/api/x", "https://backend.example/api/x?q=1", "http://127.0.0.1:8080/x", "https://u:p@[::1]/x"} {
		if _, _, err := p.client([]byte(u)); err != nil { // adds the endpoint (no dial)
			t.Fatal(err)
		}
		url := []byte(u)
		if n := testing.AllocsPerRun(200, func() { p.client(url) }); n != 0 {
			t.Errorf("pool lookup of %s: %.1f allocations, want 0", u, n)
		}
	}
}

// Closed circuit breakers, retry budgets and pools allocate nothing per request: a percentage rule (which counts
// every request) per replica and a retry budget on a Service Fabric backend, a count rule on an HTTP backend,
// and a pool of both.
func TestSteadyStateAllocationsWithBreakersBudgetsAndPools(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; run without -race")
	}
	be := startFastBackend(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster: {managementEndpoints: [http://127.0.0.1:1]}
    circuitBreaker:
      rules: [{failureCondition: {percentage: 50, interval: PT1M, statusCodeRanges: [{min: 500, max: 599}], errorReasons: [Timeout]}, tripDuration: PT30S}]
      scope: replica
    retryBudget: {ratio: 0.2, minPerSecond: 10}
  web:
    url: http://%s/
    circuitBreaker:
      rules: [{failureCondition: {count: 5, interval: 1m, statusCodeRanges: [{min: 500, max: 599}]}, tripDuration: 30s}]
  both:
    type: Pool
    pool: {services: [{id: orders, weight: 2}, {id: web}]}
apis:
  - name: shop
    path: shop
    policies: |
      <policies><inbound><set-backend-service backend-id="orders"
          sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("customer",""))" /></inbound></policies>
  - name: web
    path: web
    policies: '<policies><inbound><set-backend-service backend-id="web" /></inbound></policies>'
  - name: pool
    path: pool
    policies: |
      <policies><inbound><set-backend-service backend-id="both"
          sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("customer",""))" /></inbound></policies>
`, be)), "alloc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := staticSFGateway(t, cfg, be)
	for _, target := range []string{"/shop/orders/7?customer=42", "/web/x", "/pool/orders/7?customer=42"} {
		ctx := newTestCtx(target)
		for range 100 {
			serveOnce(g, ctx, target)
		}
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("%s: %d %s", target, ctx.Response.StatusCode(), ctx.Response.Body())
		}
		if n := testing.AllocsPerRun(500, func() { serveOnce(g, ctx, target) }); n != 0 {
			t.Errorf("GET %s: %.1f allocations per request, want 0", target, n)
		}
	}
}

// Behind a trusted proxy, finding the client in X-Forwarded-For and appending the proxy allocates nothing either.
func TestTrustedProxyAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; run without -race")
	}
	be := startFastBackend(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
trustedProxies: [192.0.2.0/24]
apis:
  - name: partners
    path: api
    serviceUrl: http://%s/
    policies: |
      <policies><inbound><base />
        <set-header name="X-Client" exists-action="override"><value>@(context.Request.IpAddress)</value></set-header>
      </inbound></policies>
`, be)), "alloc.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := staticSFGateway(t, cfg, be)
	const target = "/api/partners/15"
	ctx := newTestCtx(target) // from 192.0.2.1
	ctx.Request.Header.Set("X-Forwarded-For", "203.0.113.7, 192.0.2.9")
	for range 100 {
		serveOnce(g, ctx, target)
	}
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if got := string(ctx.Request.Header.Peek("X-Client")); got != "203.0.113.7" { // set-header edits the request in place
		t.Errorf("context.Request.IpAddress = %q, want 203.0.113.7", got)
	}
	if n := testing.AllocsPerRun(500, func() { serveOnce(g, ctx, target) }); n != 0 {
		t.Errorf("GET behind a trusted proxy: %.1f allocations per request, want 0", n)
	}
}
