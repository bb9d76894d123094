package config

import (
	"strings"
	"testing"
	"time"
)

func TestReverseProxyLoads(t *testing.T) {
	cfg, err := Parse([]byte("reverseProxy:\n  cluster: {managementEndpoints: [http://127.0.0.1:19080]}\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rp := cfg.ReverseProxy
	if rp.Path != "/" || rp.Expose != ExposeAll || rp.Refresh != 30*time.Second || *rp.Cluster.MaxPartitionResolutionRetries != DefaultMaxPartitionResolutionRetries {
		t.Errorf("defaults: %+v", rp)
	}
	cfg, err = Parse([]byte("reverseProxy:\n  cluster: {managementEndpoints: [http://127.0.0.1:19080]}\n  expose: labels\n"), "x.yaml")
	if err != nil || cfg.ReverseProxy.Expose != ExposeLabels {
		t.Errorf("expose: labels: %v %+v", err, cfg.ReverseProxy)
	}
}

// The issue's block loads as written: allow narrows expose: labels, the limits stream without a cap.
func TestReverseProxyIssueBlockLoads(t *testing.T) {
	cfg, err := Parse([]byte(`reverseProxy:
  path: /
  cluster:
    managementEndpoints: [http://127.0.0.1:19080]
  expose: labels
  allow: ["fabric:/Shop/*"]
  refresh: 30s
limits:
  bufferBodyBytes: 1048576
  maxBodyBytes: 0
`), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rp := cfg.ReverseProxy
	if rp.Expose != ExposeLabels || len(rp.Allow) != 1 || rp.Allow[0] != "fabric:/Shop/*" || rp.Refresh != 30*time.Second {
		t.Errorf("reverseProxy: %+v", rp)
	}
}

func TestReverseProxyErrors(t *testing.T) {
	const cluster = "  cluster: {managementEndpoints: [http://127.0.0.1:19080]}\n"
	for _, c := range []struct{ name, yaml, want string }{
		{"expose", "reverseProxy:\n" + cluster + "  expose: label\n", `x.yaml:3:3: reverseProxy.expose: "label" is not all, allowlist or labels`},
		{"no cluster", "reverseProxy:\n  path: /\n", "reverseProxy.cluster: required"},
		{"allowlist without allow", "reverseProxy:\n" + cluster + "  expose: allowlist\n", "reverseProxy.allow: expose: allowlist needs at least one"},
		{"pattern", "reverseProxy:\n" + cluster + "  expose: allowlist\n  allow: ['fabric:/A[', 'Shop/*']\n", `reverseProxy.allow[0]: "fabric:/A[": syntax error in pattern`},
		{"pattern name", "reverseProxy:\n" + cluster + "  expose: allowlist\n  allow: ['Shop/*']\n", `reverseProxy.allow[0]: "Shop/*" is not a service-name pattern`},
		{"path", "reverseProxy:\n" + cluster + "  path: sf\n", `reverseProxy.path: "sf" is not a mount path`},
		{"refresh", "reverseProxy:\n" + cluster + "  refresh: 10ms\n", "reverseProxy.refresh: 10ms is too often"},
		{"cluster field", "reverseProxy:\n  cluster: {managementEndpoints: [ftp://x]}\n", "reverseProxy.cluster.managementEndpoints[0]"},
		{"unknown field", "reverseProxy:\n" + cluster + "  labels: x\n", `reverseProxy: unknown field "labels"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}
