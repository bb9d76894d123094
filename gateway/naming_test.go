package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/resolver"
)

// namingBoundsConfig has one cluster whose only management endpoint never answers (SILENT_URL), with a
// short resolveTimeout, and one where that endpoint is listed before fakesf (CLUSTER_URL).
const namingBoundsConfig = `
backends:
  hung:
    url: fabric:/Shop/Orders
    serviceFabricCluster:
      managementEndpoints: [SILENT_URL]
      resolveTimeout: 300ms
      callTimeout: 100ms
      maxCallAttempts: 100
  failover:
    url: fabric:/Shop/Orders
    serviceFabricCluster:
      managementEndpoints: [SILENT_URL, CLUSTER_URL]
      resolveTimeout: 1h
      callTimeout: 1s
apis:
  - name: hung
    path: hung
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="hung" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("customer",""))" />
      </inbound></policies>
  - name: failover
    path: failover
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="failover" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("customer",""))" />
      </inbound></policies>
`

// TestSilentNamingEndpointGets503AtResolveTimeout: a request whose partition is not cached and whose only
// management endpoint accepts TCP and never answers gets 503 NamingUnavailable (the endpoint and the bound are
// for the operator: /debug/resolve and the log name them); it came back at resolveTimeout (300ms), not at requestTimeout (120s, which would be 504
// RequestTimeout). /debug/resolve answers the same way. With the silent endpoint listed before a working
// one, requests succeed through the second.
func TestSilentNamingEndpointGets503AtResolveTimeout(t *testing.T) {
	c := fakesftest.Start(t)
	silent := fakesftest.StartSilent(t)
	g := startGateway(t, strings.ReplaceAll(namingBoundsConfig, "SILENT_URL", silent.URL()), c)

	r := do(t, g.addr, "GET", "/hung/orders/1?customer=42", nil, "")
	e := decodeError(t, r)
	if r.status != 503 || e.Error.Code != CodeNamingUnavailable {
		t.Fatalf("uncached partition, silent naming: %d %s; want 503 %s", r.status, r.body, CodeNamingUnavailable)
	}
	if strings.Contains(e.Error.Message, silent.URL()) || !strings.Contains(e.Error.Message, "not answering") {
		t.Errorf("client message %q: want that naming is not answering, without the management endpoint (the log and /debug/resolve name it)", e.Error.Message)
	}
	if e.Error.RequestID == "" {
		t.Error("the error has no request ID")
	}

	code, body := adminGet(t, g, "/debug/resolve?backend=hung&key=42")
	var dbg struct{ Error, Code string }
	if err := json.Unmarshal([]byte(body), &dbg); err != nil {
		t.Fatalf("/debug/resolve: %v: %s", err, body)
	}
	if code != 503 || dbg.Code != CodeNamingUnavailable || !strings.Contains(dbg.Error, "resolveTimeout 300ms") {
		t.Errorf("/debug/resolve with silent naming: %d %s; want 503 %s at resolveTimeout", code, body, CodeNamingUnavailable)
	}

	_, metrics := adminGet(t, g, "/metrics")
	timedOut := false // the two clusters share the label (their first endpoint); the hung one counts
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, "sfgate_resolver_resolve_timeouts_total{cluster=\""+silent.URL()+"\"} "); ok && v != "0" {
			timedOut = true
		}
	}
	if !timedOut {
		t.Errorf("/metrics counts no resolve timeout for the silent cluster:\n%s", metrics)
	}

	if rr := replicaAnswer(t, do(t, g.addr, "GET", "/failover/orders/1?customer=42", nil, "")); rr.Service != "fabric:/Shop/Orders" {
		t.Errorf("silent endpoint first, fakesf second: answered by %+v", rr)
	}
}

// The serviceFabricCluster naming bounds reach resolver.Options; clusters with other bounds get their own
// resolver; the configuration's defaults are the resolver's.
func TestNamingBoundsMapping(t *testing.T) {
	if config.DefaultResolveTimeout != resolver.DefaultResolveTimeout || config.DefaultNamingCallTimeout != resolver.DefaultCallTimeout {
		t.Errorf("config defaults %v/%v differ from the resolver's %v/%v", config.DefaultResolveTimeout,
			config.DefaultNamingCallTimeout, resolver.DefaultResolveTimeout, resolver.DefaultCallTimeout)
	}
	parse := func(bounds string) (resolver.Options, string) {
		t.Helper()
		cfg, err := config.Parse([]byte("apis: [{name: a}]\nbackends:\n  b:\n    url: 'fabric:/A/B'\n    serviceFabricCluster:\n"+
			"      managementEndpoints: [http://h:19080]\n"+bounds), "x.yaml")
		if err != nil {
			t.Fatal(err)
		}
		opts, key, err := resolverOptions(cfg, cfg.Backends["b"].ServiceFabricCluster)
		if err != nil {
			t.Fatal(err)
		}
		return opts, key
	}
	def, defKey := parse("")
	if def.ResolveTimeout != resolver.DefaultResolveTimeout || def.CallTimeout != resolver.DefaultCallTimeout || def.MaxAttempts != 0 {
		t.Errorf("defaults map to %v %v %d; want %v %v 0 (the resolver's per-endpoint default)",
			def.ResolveTimeout, def.CallTimeout, def.MaxAttempts, resolver.DefaultResolveTimeout, resolver.DefaultCallTimeout)
	}
	set, setKey := parse("      resolveTimeout: 3s\n      callTimeout: 500ms\n      maxCallAttempts: 7\n")
	if set.ResolveTimeout != 3*time.Second || set.CallTimeout != 500*time.Millisecond || set.MaxAttempts != 7 {
		t.Errorf("set bounds map to %v %v %d", set.ResolveTimeout, set.CallTimeout, set.MaxAttempts)
	}
	if setKey == defKey {
		t.Errorf("clusters with other naming bounds share the key %q (and so one resolver)", setKey)
	}
}
