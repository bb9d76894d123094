package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The circuit breaker loads as APIM writes it (ISO 8601 durations), with sfgate's scope.
func TestCircuitBreakerLoads(t *testing.T) {
	cfg, err := Parse([]byte(`
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster: {managementEndpoints: [http://127.0.0.1:19080]}
    circuitBreaker:
      rules:
        - name: orders-breaker
          failureCondition:
            count: 5
            interval: PT1M
            statusCodeRanges: [{min: 500, max: 599}]
            errorReasons: [BackendConnectionFailure, Timeout]
          tripDuration: PT30S
          acceptRetryAfter: true
      scope: partition
  plain:
    url: http://127.0.0.1:1/
    circuitBreaker:
      rules: [{failureCondition: {percentage: 50, interval: 1m, statusCodeRanges: [{min: 503, max: 503}]}, tripDuration: 10s}]
apis: [{name: a}]
`), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cb := cfg.Backends["orders"].CircuitBreaker
	r := cb.Rule()
	if cb.Scope != ScopePartition || r.Name != "orders-breaker" || r.TripDuration != 30*time.Second || !r.AcceptRetryAfter {
		t.Errorf("orders breaker: scope %q rule %+v", cb.Scope, r)
	}
	fc := r.FailureCondition
	if fc.Count != 5 || fc.Interval != time.Minute || len(fc.StatusCodeRanges) != 1 || fc.StatusCodeRanges[0].Max != 599 ||
		strings.Join(fc.ErrorReasons, ",") != "BackendConnectionFailure,Timeout" {
		t.Errorf("orders failure condition: %+v", fc)
	}
	plain := cfg.Backends["plain"].CircuitBreaker
	if plain.Scope != ScopeBackend || plain.Rule().FailureCondition.Percentage != 50 || plain.Rule().FailureCondition.Interval != time.Minute {
		t.Errorf("plain breaker: %+v %+v", plain, plain.Rule().FailureCondition)
	}
}

func TestCircuitBreakerErrors(t *testing.T) {
	const head = "apis: [{name: a}]\nbackends:\n  b:\n    url: http://h/\n    circuitBreaker:\n"
	for _, c := range []struct{ name, yaml, want string }{
		{"two rules", "      rules: [{tripDuration: 1s}, {tripDuration: 1s}]\n", "x.yaml:6:7: backends.b.circuitBreaker.rules: give exactly one rule (as APIM does), found 2"},
		{"no rules", "      scope: backend\n", "backends.b.circuitBreaker.rules: give exactly one rule"},
		{"scope", "      scope: node\n      rules: [{tripDuration: 1s, failureCondition: {count: 1, interval: 1s, errorReasons: [Timeout]}}]\n", `x.yaml:6:7: backends.b.circuitBreaker.scope: "node" is not one of backend, partition, replica`},
		{"trip", "      rules: [{failureCondition: {count: 1, interval: 1s, errorReasons: [Timeout]}}]\n", "rules[0].tripDuration: required"},
		{"condition", "      rules: [{tripDuration: 1s}]\n", "rules[0].failureCondition: required"},
		{"count or percentage", "      rules: [{tripDuration: 1s, failureCondition: {interval: 1s, errorReasons: [Timeout]}}]\n", "give count (failures within the interval) or percentage"},
		{"percentage", "      rules: [{tripDuration: 1s, failureCondition: {percentage: 101, interval: 1s, errorReasons: [Timeout]}}]\n", "percentage: 101 is outside 1..100"},
		{"interval", "      rules: [{tripDuration: 1s, failureCondition: {count: 1, errorReasons: [Timeout]}}]\n", "failureCondition.interval: required"},
		{"what fails", "      rules: [{tripDuration: 1s, failureCondition: {count: 1, interval: 1s}}]\n", "give statusCodeRanges or errorReasons"},
		{"range", "      rules: [{tripDuration: 1s, failureCondition: {count: 1, interval: 1s, statusCodeRanges: [{min: 599, max: 500}]}}]\n", "statusCodeRanges[0]: {min: 599, max: 500} is not a range"},
		{"reason", "      rules: [{tripDuration: 1s, failureCondition: {count: 1, interval: 1s, errorReasons: [Boom]}}]\n", `errorReasons[0]: "Boom" is not BackendConnectionFailure or Timeout`},
		{"iso months", "      rules: [{tripDuration: P1M, failureCondition: {count: 1, interval: 1s, errorReasons: [Timeout]}}]\n", `tripDuration: "P1M" is not a duration`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(head+c.yaml), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// Durations are Go's form or ISO 8601's (as APIM writes them), anywhere in the file.
func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT1M": time.Minute, "PT30S": 30 * time.Second, "pt0.5s": 500 * time.Millisecond, "P1DT2H": 26 * time.Hour,
		"PT1H30M": 90 * time.Minute, "P1W": 7 * 24 * time.Hour, "PT0,25S": 250 * time.Millisecond,
		"1m": time.Minute, "1m30s": 90 * time.Second, "0": 0,
	} {
		if got, ok := parseDuration(in); !ok || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "P", "PT", "P1M", "P1Y", "PT1D", "P1H", "PTS", "PT1", "P1DT", "PT1MT1S", "-1s", "PT1.2.3S", "30"} {
		if got, ok := parseDuration(in); ok {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT1M", "P1DT2H", "PT0.5S", "1m30s", "P", "PT9999999999999999999H"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := parseDuration(s); ok && d < 0 {
			t.Fatalf("parseDuration(%q) = %v, a negative duration", s, d)
		}
	})
}

func TestRetryBudget(t *testing.T) {
	cfg, err := Parse([]byte("apis: [{name: a}]\nbackends: {b: {url: 'http://h/', retryBudget: {ratio: 0.2, minPerSecond: 10}}}\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if rb := cfg.Backends["b"].RetryBudget; rb.Ratio != 0.2 || rb.MinPerSecond != 10 {
		t.Errorf("retry budget %+v", rb)
	}
	for _, c := range []struct{ budget, want string }{
		{"{ratio: -1}", "x.yaml:2:48: backends.b.retryBudget.ratio: -1 is outside 0..10"},
		{"{ratio: lots}", `backends.b.retryBudget.ratio: "lots" is not a number`},
		{"{ratio: .nan}", `backends.b.retryBudget.ratio: ".nan" is not a number`},
		{"{minPerSecond: -2}", "retryBudget.minPerSecond: must be 0 or more"},
		{"{ratio: 0}", "retryBudget: ratio and minPerSecond are both 0"},
	} {
		_, err := Parse([]byte("apis: [{name: a}]\nbackends: {b: {url: 'http://h/', retryBudget: "+c.budget+"}}\n"), "x.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("retryBudget %s: %v, want %q", c.budget, err, c.want)
		}
	}
}

// A pool loads as the APIM documentation writes it: member ids in both forms, priorities and weights.
func TestPoolLoads(t *testing.T) {
	cfg, err := Parse([]byte(`
backends:
  orders-west: {url: http://10.0.0.4:8080/}
  orders-east: {url: http://10.0.1.4:8080/}
  orders-dr:   {url: http://10.1.0.4:8080/}
  orders-pool:
    type: Pool
    pool:
      services:
        - {id: orders-west, priority: 1, weight: 3}
        - {id: /backends/orders-east, priority: 1, weight: 1}
        - {id: orders-dr, priority: 2}
apis: [{name: a}]
`), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Backends["orders-pool"]
	if !p.IsPool() || len(p.Pool.Services) != 3 {
		t.Fatalf("pool: %+v", p)
	}
	got := ""
	for _, m := range p.Pool.Services {
		got += fmt.Sprintf("%s/%d/%d ", m.BackendID(), m.Priority, m.MemberWeight())
	}
	if got != "orders-west/1/3 orders-east/1/1 orders-dr/2/1 " {
		t.Errorf("members: %s", got)
	}
	if cfg.Backends["orders-west"].IsPool() {
		t.Error("a backend without type is a pool")
	}
}

func TestPoolErrors(t *testing.T) {
	const singles = "apis: [{name: a}]\nbackends:\n  one: {url: 'http://h/'}\n  two: {url: 'http://h/'}\n"
	for _, c := range []struct{ name, yaml, want string }{
		{"pool of pools", "  inner: {type: Pool, pool: {services: [{id: one}]}}\n  outer: {type: Pool, pool: {services: [{id: /backends/inner}]}}\n",
			`x.yaml:6:42: backends.outer.pool.services[0].id: "inner" is a pool: a pool's members are single backends (pools of pools are not allowed, as in APIM)`},
		{"unknown member", "  p: {type: Pool, pool: {services: [{id: three}]}}\n", `backends.p.pool.services[0].id: no backend "three" is configured`},
		{"twice", "  p: {type: Pool, pool: {services: [{id: one}, {id: /backends/one}]}}\n", `services[1].id: backend "one" is already a member`},
		{"no members", "  p: {type: Pool, pool: {services: []}}\n", "backends.p.pool.services: required"},
		{"type", "  p: {type: Round, pool: {services: [{id: one}]}}\n", `backends.p.type: "Round" is not Single or Pool`},
		{"url", "  p: {type: Pool, url: 'http://h/', pool: {services: [{id: one}]}}\n", "backends.p.url: a pool has no url of its own"},
		{"weight", "  p: {type: Pool, pool: {services: [{id: one, weight: 0}]}}\n", "services[0].weight: 0 is outside 1..100"},
		{"priority", "  p: {type: Pool, pool: {services: [{id: one, priority: 101}]}}\n", "services[0].priority: 101 is outside 0..100"},
		{"pool on single", "  p: {url: 'http://h/', pool: {services: [{id: one}]}}\n", "backends.p.pool: only a backend with type: Pool"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(singles+c.yaml), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}
