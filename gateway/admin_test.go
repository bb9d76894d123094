package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

func adminGet(t *testing.T, g *testGateway, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + g.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminEndpoints(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, "adminPprof: true\n"+sfConfig, c)
	if code, body := adminGet(t, g, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if code, body := adminGet(t, g, "/readyz"); code != 200 || !strings.Contains(body, `"ready": true`) {
		t.Errorf("/readyz: %d %s", code, body)
	}

	replicaAnswer(t, do(t, g.addr, "GET", "/q/x?customer=42", nil, ""))
	do(t, g.addr, "GET", "/q/x?customer=abc", nil, "")
	do(t, g.addr, "GET", "/nowhere", nil, "")
	code, metrics := adminGet(t, g, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`sfgate_requests_total{api="orders-query",code="200"} 1`,
		`sfgate_requests_total{api="orders-query",code="400"} 1`,
		`sfgate_requests_total{api="",code="404"} 1`,
		`sfgate_upstream_duration_seconds_count{api="orders-query"} 1`,
		`sfgate_backend_attempts_total{backend="orders"} 1`,
		`sfgate_backend_failures_total{backend="orders"} 0`,
		`sfgate_reresolutions_total{backend="orders"} 0`,
		`sfgate_resolver_misses_total{cluster="` + c.URL() + `"}`,
		`sfgate_resolver_naming_calls_total{cluster="` + c.URL() + `",result="ok"}`,
		`sfgate_cluster_ready{cluster="` + c.URL() + `"} 1`,
		"# TYPE sfgate_request_duration_seconds histogram",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	code, body := adminGet(t, g, "/debug/resolve?service=fabric:/Shop/Orders&key=42")
	var res debugResolution
	if code != 200 || json.Unmarshal([]byte(body), &res) != nil {
		t.Fatalf("/debug/resolve: %d %s", code, body)
	}
	want := partitionFor(t, c, "fabric:/Shop/Orders", "42")
	if res.Partition["id"] != want.ID || len(res.Replicas) != 3 || res.Selected == "" || res.Version == "" {
		t.Errorf("/debug/resolve = %+v, want partition %s", res, want.ID)
	}
	if code, body := adminGet(t, g, "/debug/resolve?service=fabric:/Shop/Orders&key=x"); code != 400 || !strings.Contains(body, "InvalidPartitionKey") {
		t.Errorf("/debug/resolve bad key: %d %s", code, body)
	}
	code, body = adminGet(t, g, "/debug/cache")
	if code != 200 || !strings.Contains(body, `"Partitions": 1`) || !strings.Contains(body, c.URL()) {
		t.Errorf("/debug/cache: %d %s", code, body)
	}
	// The runtime profiles bench/ and operators read: the index and a short CPU profile (a gzipped protobuf).
	if code, body := adminGet(t, g, "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/: %d %.200s", code, body)
	}
	if code, body := adminGet(t, g, "/debug/pprof/profile?seconds=1"); code != 200 || !strings.HasPrefix(body, "\x1f\x8b") {
		t.Errorf("/debug/pprof/profile: %d, %d bytes, want a gzipped profile", code, len(body))
	}
}

func TestReadyzWaitsForTheCluster(t *testing.T) {
	c := fakesftest.Start(t)
	if err := c.SetNamingFault(fakesf.NamingFault{Drop: true, AllRoutes: true}); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, sfConfig, c)
	if code, _ := adminGet(t, g, "/readyz"); code != 503 {
		t.Errorf("/readyz with the cluster not answering: %d", code)
	}
	c.SetNamingFault(fakesf.NamingFault{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := g.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if code, _ := adminGet(t, g, "/readyz"); code != 200 {
		t.Errorf("/readyz after the cluster answered: %d", code)
	}
}

func TestReload(t *testing.T) {
	be := startEcho(t, nil)
	g := startGateway(t, fmt.Sprintf("apis:\n  - {name: a, path: a, serviceUrl: \"http://%s/one/\"}\n", be), nil)
	if e := decodeEcho(t, do(t, g.addr, "GET", "/a/x", nil, "")); e.RequestURI != "/one/x" {
		t.Fatalf("before reload: %s", e.RequestURI)
	}
	bad, err := config.Parse([]byte(fmt.Sprintf(`
apis:
  - name: a
    path: a
    serviceUrl: "http://%s/two/"
    policies: "<policies><inbound><set-backend-service backend-id=\"missing\" /></inbound></policies>"
`, be)), "bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(bad); err == nil || !strings.Contains(err.Error(), "bad.yaml:") {
		t.Fatalf("Reload(bad) = %v, want a positioned error", err)
	}
	if e := decodeEcho(t, do(t, g.addr, "GET", "/a/x", nil, "")); e.RequestURI != "/one/x" {
		t.Errorf("a rejected reload changed the routing: %s", e.RequestURI)
	}
	good, err := config.Parse([]byte(fmt.Sprintf("apis:\n  - {name: a, path: a, serviceUrl: \"http://%s/two/\"}\n", be)), "good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(good); err != nil {
		t.Fatal(err)
	}
	if e := decodeEcho(t, do(t, g.addr, "GET", "/a/x", nil, "")); e.RequestURI != "/two/x" {
		t.Errorf("after reload: %s", e.RequestURI)
	}
	if _, m := adminGet(t, g, "/metrics"); !strings.Contains(m, `sfgate_config_reloads_total{result="failed"} 1`) ||
		!strings.Contains(m, `sfgate_config_reloads_total{result="ok"} 1`) {
		t.Errorf("reload counters missing")
	}
}

// Reloading a configuration that keeps a cluster keeps its resolver and cache: no new naming calls.
func TestReloadKeepsResolverCache(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, sfConfig, c)
	replicaAnswer(t, do(t, g.addr, "GET", "/q/x?customer=42", nil, ""))
	calls := c.ResolveCalls()
	cfg, err := config.Parse([]byte(strings.ReplaceAll(sfConfig, "CLUSTER_URL", c.URL())), "again.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	replicaAnswer(t, do(t, g.addr, "GET", "/q/x?customer=42", nil, ""))
	if n := c.ResolveCalls() - calls; n != 0 {
		t.Errorf("%d naming calls after a reload of the same cluster", n)
	}
}

func TestExpressionFailure(t *testing.T) {
	be := startEcho(t, nil)
	g := startGateway(t, fmt.Sprintf(`
apis:
  - name: plain
    path: plain
    serviceUrl: http://%[1]s/
    policies: |
      <policies><inbound><base />
        <set-variable name="n" value="@(int.Parse(context.Request.Url.Query.GetValueOrDefault("n","x")))" />
      </inbound></policies>
  - name: handled
    path: handled
    serviceUrl: http://%[1]s/
    policies: |
      <policies>
        <inbound><base />
          <set-variable name="n" value="@(int.Parse(context.Request.Url.Query.GetValueOrDefault("n","x")))" />
        </inbound>
        <on-error>
          <return-response>
            <set-status code="418" reason="Teapot" />
            <set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header>
          </return-response>
        </on-error>
      </policies>
`, be), nil)
	r := do(t, g.addr, "GET", "/plain/x?n=abc", nil, "")
	if e := decodeError(t, r); r.status != 500 || e.Error.Code != "ExpressionValueEvaluationFailure" {
		t.Errorf("expression failure: %d %s", r.status, r.body)
	}
	if e := decodeEcho(t, do(t, g.addr, "GET", "/plain/x?n=12", nil, "")); e.RequestURI != "/x?n=12" {
		t.Errorf("valid expression: %s", e.RequestURI)
	}
	r = do(t, g.addr, "GET", "/handled/x?n=abc", nil, "")
	if r.status != 418 || r.header.Get("X-Reason") != "ExpressionValueEvaluationFailure" {
		t.Errorf("on-error section: %d %v %s", r.status, r.header, r.body)
	}
}

// A POST that reached the service and lost its connection is not resent without a condition asking for
// it; a GET is.
func TestNonIdempotentNotResent(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, sfConfig, c)
	p := partitionFor(t, c, "fabric:/Shop/Orders", "42")
	prim, _ := p.Primary()
	replicaAnswer(t, do(t, g.addr, "GET", "/n/orders/42", nil, ""))

	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Drop: true, Count: 1}); err != nil {
		t.Fatal(err)
	}
	hits := c.ReplicaHits(prim.ID)
	r := do(t, g.addr, "POST", "/n/orders/42", nil, "payload")
	if r.status != 502 {
		t.Errorf("POST after a dropped connection: %d %s", r.status, r.body)
	}
	if n := c.ReplicaHits(prim.ID) - hits; n != 1 {
		t.Errorf("the POST reached the replica %d times, want exactly 1", n)
	}

	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Drop: true, Count: 1}); err != nil {
		t.Fatal(err)
	}
	hits = c.ReplicaHits(prim.ID)
	replicaAnswer(t, do(t, g.addr, "GET", "/n/orders/42", nil, ""))
	if n := c.ReplicaHits(prim.ID) - hits; n != 2 {
		t.Errorf("the GET reached the replica %d times, want 2 (dropped, then resent)", n)
	}
}

// TestImportBoundaries holds docs/design.md's package boundaries over every package of the module and its
// tests (go list -deps -test):
//   - production code (a package's non-test build) never depends on fakesf, bench or the testing package, so
//     neither on the test helpers under internal/. Exceptions: cmd/sfgate may use fakesf (sfgate demo),
//     cmd/fakesf is fakesf's binary, and a test helper (a package under internal/ that imports testing) may
//     wrap fakesf;
//   - fakesf's own code imports nothing of this module, so it stays an independent check;
//   - no package's tests depend on bench: the harness drives the module from outside, and what it shares with
//     tests lives under internal/ (internal/bareproxy).
func TestImportBoundaries(t *testing.T) {
	const module = "github.com/sfgate/sfgate"
	out, err := exec.Command("go", "list", "-deps", "-test", "-f",
		`{{.ImportPath}}|{{.ForTest}}|{{join .Imports " "}}|{{join .Deps " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	under := func(pkg, dir string) bool {
		return pkg == module+"/"+dir || strings.HasPrefix(pkg, module+"/"+dir+"/")
	}
	var production, tests int
	reported := map[string]bool{} // "pkg dep": a test dependency shows in several test builds of one package
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 4 {
			t.Fatalf("go list line %q: want 4 fields", line)
		}
		path, forTest, imports, deps := f[0], f[1], strings.Fields(f[2]), strings.Fields(f[3])
		if path != module && !strings.HasPrefix(path, module+"/") {
			continue
		}
		if forTest != "" || strings.HasSuffix(path, ".test") { // a test build: "P [Q.test]", "P_test [P.test]", "P.test"
			pkg := strings.TrimSuffix(path, ".test")
			if forTest != "" {
				pkg = forTest
			}
			if under(pkg, "bench") {
				continue
			}
			tests++
			for _, d := range deps {
				if under(d, "bench") && !reported[pkg+" "+d] {
					reported[pkg+" "+d] = true
					t.Errorf("the tests of %s depend on %s: bench is a harness, not a library; share code through internal/", pkg, d)
				}
			}
			continue
		}
		forbidden := map[string]bool{"fakesf": true, "bench": true, "testing": true}
		switch {
		case under(path, "bench") || path == module+"/cmd/fakesf":
			continue
		case under(path, "fakesf"):
			for _, d := range deps {
				if strings.HasPrefix(d, module+"/") && !under(d, "fakesf") {
					t.Errorf("fakesf's package %s depends on %s of this module", path, d)
				}
			}
			continue
		case under(path, "internal") && slices.Contains(imports, "testing"): // a test helper
			forbidden = map[string]bool{"bench": true}
		case path == module+"/cmd/sfgate":
			delete(forbidden, "fakesf")
		}
		production++
		for _, d := range deps {
			if d == "testing" && forbidden["testing"] || under(d, "fakesf") && forbidden["fakesf"] || under(d, "bench") && forbidden["bench"] {
				t.Errorf("production package %s depends on %s", path, d)
			}
		}
	}
	if production < 8 || tests < 8 {
		t.Fatalf("only %d production packages and %d test builds checked:\n%s", production, tests, out)
	}
}
