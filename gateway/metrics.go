package gateway

import (
	"bytes"
	"fmt"
	"github.com/sfgate/sfgate/internal/stripe"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfgate/sfgate/resolver"
)

// latencyBounds are the histogram buckets (seconds) of request and upstream latency.
var latencyBounds = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// histogram is a lock-free Prometheus-style histogram (per-bucket counts, not cumulative).
type histogram struct {
	counts [len(latencyBounds) + 1]atomic.Uint64
	sumNs  atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	sec := d.Seconds()
	i := 0
	for i < len(latencyBounds) && sec > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(d))
}

// add adds o's counts to h (summing shards for /metrics).
func (h *histogram) add(o *histogram) {
	for i := range h.counts {
		h.counts[i].Add(o.counts[i].Load())
	}
	h.sumNs.Add(o.sumNs.Load())
}

// apiMetrics are the counters of one API (by name, kept across reloads so counters do not reset). Every request
// updates them, so they are striped (package stripe): a request counts on its goroutine's shard, /metrics adds
// the shards up.
type apiMetrics struct {
	name   string
	shards [1 << apiShardBits]apiShard
}

const apiShardBits = 3

type apiShard struct {
	status   [600]atomic.Uint64 // requests by status code
	duration histogram          // whole request, as the client sees it
	upstream histogram          // time spent waiting on backends (all attempts)
	_        [64]byte           // keeps the next shard's first counters off this shard's last cache line
}

func (m *apiMetrics) count(status int, total, upstream time.Duration, attempted bool) {
	sh := &m.shards[stripe.Index(apiShardBits)]
	if status < 0 || status >= len(sh.status) {
		status = 0
	}
	sh.status[status].Add(1)
	sh.duration.observe(total)
	if attempted {
		sh.upstream.observe(upstream)
	}
}

// requests is the number of requests answered with status code, over all shards.
func (m *apiMetrics) requests(code int) uint64 {
	var n uint64
	for i := range m.shards {
		n += m.shards[i].status[code].Load()
	}
	return n
}

// histograms returns the duration and upstream histograms summed over the shards.
func (m *apiMetrics) histograms() (duration, upstream *histogram) {
	duration, upstream = &histogram{}, &histogram{}
	for i := range m.shards {
		duration.add(&m.shards[i].duration)
		upstream.add(&m.shards[i].upstream)
	}
	return duration, upstream
}

// backendMetrics are the counters of one backend.
type backendMetrics struct {
	id             string
	attempts       atomic.Uint64 // requests sent to an endpoint
	failures       atomic.Uint64 // attempts that got no response (connection failure or timeout)
	reresolutions  atomic.Uint64 // Invalidate calls made because the resolve condition held
	retries        atomic.Uint64 // resends after a re-resolution
	breakerTrips   atomic.Uint64 // circuit breaker trips (any scope key)
	breakerRefused atomic.Uint64 // attempts a tripped circuit breaker did not send
	budgetRetries  atomic.Uint64 // retries the retry budget allowed
	budgetRefused  atomic.Uint64 // retries the retry budget refused
}

// metrics is the gateway's registry; the admin listener renders it in Prometheus text format.
type metrics struct {
	mu       sync.Mutex
	apis     map[string]*apiMetrics
	backends map[string]*backendMetrics
	unrouted *apiMetrics // requests that matched no API

	inflight      atomic.Int64
	tunnels       atomic.Int64 // upgraded (WebSocket) connections open
	reloadsOK     atomic.Uint64
	reloadsFailed atomic.Uint64
}

func newMetrics() *metrics {
	return &metrics{apis: map[string]*apiMetrics{}, backends: map[string]*backendMetrics{}, unrouted: &apiMetrics{}}
}

func (m *metrics) api(name string) *apiMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.apis[name]
	if a == nil {
		a = &apiMetrics{name: name}
		m.apis[name] = a
	}
	return a
}

func (m *metrics) backend(id string) *backendMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.backends[id]
	if b == nil {
		b = &backendMetrics{id: id}
		m.backends[id] = b
	}
	return b
}

// write renders every metric in the Prometheus text exposition format (version 0.0.4).
func (m *metrics) write(w *bytes.Buffer, clusters []*cluster, current []*backend) {
	m.mu.Lock()
	apis := make([]*apiMetrics, 0, len(m.apis)+1)
	for _, a := range m.apis {
		apis = append(apis, a)
	}
	backends := make([]*backendMetrics, 0, len(m.backends))
	for _, b := range m.backends {
		backends = append(backends, b)
	}
	m.mu.Unlock()
	sort.Slice(apis, func(i, j int) bool { return apis[i].name < apis[j].name })
	sort.Slice(backends, func(i, j int) bool { return backends[i].id < backends[j].id })
	apis = append(apis, m.unrouted)

	header(w, "sfgate_requests_total", "counter", "Client requests by API and response status (api=\"\" for requests that matched no API).")
	durations, upstreams := make([]*histogram, len(apis)), make([]*histogram, len(apis))
	for i, a := range apis {
		durations[i], upstreams[i] = a.histograms()
		for code := range len(a.shards[0].status) {
			if n := a.requests(code); n > 0 {
				fmt.Fprintf(w, "sfgate_requests_total{api=%s,code=\"%d\"} %d\n", quote(a.name), code, n)
			}
		}
	}
	header(w, "sfgate_request_duration_seconds", "histogram", "Time from request read to response written, by API.")
	for i, a := range apis {
		writeHistogram(w, "sfgate_request_duration_seconds", "api="+quote(a.name), durations[i])
	}
	header(w, "sfgate_upstream_duration_seconds", "histogram", "Time spent waiting on backends per request (all attempts), by API.")
	for i, a := range apis {
		writeHistogram(w, "sfgate_upstream_duration_seconds", "api="+quote(a.name), upstreams[i])
	}
	backendCounter := func(name, help string, get func(*backendMetrics) uint64) {
		header(w, name, "counter", help)
		for _, b := range backends {
			fmt.Fprintf(w, "%s{backend=%s} %d\n", name, quote(b.id), get(b))
		}
	}
	backendCounter("sfgate_backend_attempts_total", "Requests sent to a backend endpoint.",
		func(b *backendMetrics) uint64 { return b.attempts.Load() })
	backendCounter("sfgate_backend_failures_total", "Attempts that got no response (connection failure or timeout).",
		func(b *backendMetrics) uint64 { return b.failures.Load() })
	backendCounter("sfgate_reresolutions_total", "Partition re-resolutions triggered by sf-resolve-condition (or a connection failure).",
		func(b *backendMetrics) uint64 { return b.reresolutions.Load() })
	backendCounter("sfgate_retries_total", "Requests resent after a re-resolution.",
		func(b *backendMetrics) uint64 { return b.retries.Load() })
	backendCounter("sfgate_circuit_breaker_trips_total", "Circuit breaker trips (any partition or replica of the backend).",
		func(b *backendMetrics) uint64 { return b.breakerTrips.Load() })
	backendCounter("sfgate_circuit_breaker_refused_total", "Attempts not sent because a circuit breaker was open.",
		func(b *backendMetrics) uint64 { return b.breakerRefused.Load() })
	backendCounter("sfgate_retry_budget_retries_total", "Retries (re-resolutions, resends) the backend's retry budget allowed.",
		func(b *backendMetrics) uint64 { return b.budgetRetries.Load() })
	backendCounter("sfgate_retry_budget_refused_total", "Retries the backend's retry budget refused (the request got its last answer or error).",
		func(b *backendMetrics) uint64 { return b.budgetRefused.Load() })
	header(w, "sfgate_retry_budget_available", "gauge", "Retries the backend's retry budget allows now.")
	for _, b := range current {
		if b.budget != nil {
			fmt.Fprintf(w, "sfgate_retry_budget_available{backend=%s} %s\n", quote(b.id), formatFloat(b.budget.available()))
		}
	}
	header(w, "sfgate_circuit_breaker_state", "gauge", "Circuit breaker state: 0 closed, 1 open, 2 half-open (probing); key is the partition or replica (\"\" for the backend).")
	for _, b := range current {
		cb := b.breaker
		if cb == nil {
			continue
		}
		for _, v := range cb.views() {
			state := 0
			switch v.State {
			case "open":
				state = 1
			case "half-open":
				state = 2
			}
			fmt.Fprintf(w, "sfgate_circuit_breaker_state{backend=%s,key=%s} %d\n", quote(cb.backendID), quote(v.Key), state)
		}
	}
	header(w, "sfgate_inflight_requests", "gauge", "Requests being served.")
	fmt.Fprintf(w, "sfgate_inflight_requests %d\n", m.inflight.Load())
	header(w, "sfgate_open_tunnels", "gauge", "Upgraded (WebSocket) connections being tunnelled.")
	fmt.Fprintf(w, "sfgate_open_tunnels %d\n", m.tunnels.Load())
	header(w, "sfgate_config_reloads_total", "counter", "Configuration reloads by result.")
	fmt.Fprintf(w, "sfgate_config_reloads_total{result=\"ok\"} %d\nsfgate_config_reloads_total{result=\"failed\"} %d\n",
		m.reloadsOK.Load(), m.reloadsFailed.Load())
	writeResolverMetrics(w, clusters)
}

func writeResolverMetrics(w *bytes.Buffer, clusters []*cluster) {
	stats := make([]resolver.Stats, len(clusters))
	for i, c := range clusters {
		stats[i] = c.resolver.Stats()
	}
	counter := func(name, help string, get func(*resolver.Stats) uint64) {
		header(w, name, "counter", help)
		for i, c := range clusters {
			fmt.Fprintf(w, "%s{cluster=%s} %d\n", name, quote(c.label), get(&stats[i]))
		}
	}
	counter("sfgate_resolver_hits_total", "Resolutions answered from the cache.", func(s *resolver.Stats) uint64 { return s.Hits })
	counter("sfgate_resolver_stale_hits_total", "Cache hits served past the refresh age.", func(s *resolver.Stats) uint64 { return s.StaleHits })
	counter("sfgate_resolver_misses_total", "Resolutions that waited for a naming call.", func(s *resolver.Stats) uint64 { return s.Misses })
	counter("sfgate_resolver_negative_hits_total", "Resolutions answered 'service does not exist' from the negative cache.", func(s *resolver.Stats) uint64 { return s.NegativeHits })
	counter("sfgate_resolver_resolve_timeouts_total", "Resolutions that reached the cluster's resolveTimeout without a naming answer.", func(s *resolver.Stats) uint64 { return s.ResolveTimeouts })
	counter("sfgate_resolver_invalidations_total", "Complaints (Invalidate) about a snapshot.", func(s *resolver.Stats) uint64 { return s.Invalidations })
	counter("sfgate_resolver_reresolves_total", "ResolvePartition calls sent with PreviousRspVersion.", func(s *resolver.Stats) uint64 { return s.Reresolves })
	counter("sfgate_resolver_refreshes_total", "Background refreshes of aging snapshots.", func(s *resolver.Stats) uint64 { return s.Refreshes })
	header(w, "sfgate_resolver_naming_calls_total", "counter", "Naming HTTP attempts by result.")
	for i, c := range clusters {
		s := &stats[i]
		for _, r := range []struct {
			name string
			n    uint64
		}{{"ok", s.NamingOK}, {"not_found", s.NamingNotFound}, {"rejected", s.NamingRejected}, {"failed", s.NamingFailed}, {"no_answer", s.NamingNoAnswer}} {
			fmt.Fprintf(w, "sfgate_resolver_naming_calls_total{cluster=%s,result=%q} %d\n", quote(c.label), r.name, r.n)
		}
	}
	header(w, "sfgate_resolver_naming_duration_seconds", "histogram", "Naming call latency.")
	for i, c := range clusters {
		h := &stats[i].NamingLatency
		var cum uint64
		for b, bound := range resolver.LatencyBounds {
			cum += h.Counts[b]
			fmt.Fprintf(w, "sfgate_resolver_naming_duration_seconds_bucket{cluster=%s,le=\"%s\"} %d\n", quote(c.label), formatFloat(bound.Seconds()), cum)
		}
		cum += h.Counts[len(resolver.LatencyBounds)]
		fmt.Fprintf(w, "sfgate_resolver_naming_duration_seconds_bucket{cluster=%s,le=\"+Inf\"} %d\n", quote(c.label), cum)
		fmt.Fprintf(w, "sfgate_resolver_naming_duration_seconds_sum{cluster=%s} %s\n", quote(c.label), formatFloat(h.Sum.Seconds()))
		fmt.Fprintf(w, "sfgate_resolver_naming_duration_seconds_count{cluster=%s} %d\n", quote(c.label), h.Count)
	}
	header(w, "sfgate_resolver_cached_partitions", "gauge", "Partition snapshots in the cache.")
	for i, c := range clusters {
		fmt.Fprintf(w, "sfgate_resolver_cached_partitions{cluster=%s} %d\n", quote(c.label), stats[i].Partitions)
	}
	header(w, "sfgate_cluster_ready", "gauge", "1 once the cluster's naming service has answered.")
	for _, c := range clusters {
		v := 0
		if c.ready.Load() {
			v = 1
		}
		fmt.Fprintf(w, "sfgate_cluster_ready{cluster=%s} %d\n", quote(c.label), v)
	}
}

func header(w *bytes.Buffer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func writeHistogram(w *bytes.Buffer, name, labels string, h *histogram) {
	var cum uint64
	for i, b := range latencyBounds {
		cum += h.counts[i].Load()
		fmt.Fprintf(w, "%s_bucket{%s,le=\"%s\"} %d\n", name, labels, formatFloat(b), cum)
	}
	cum += h.counts[len(latencyBounds)].Load()
	fmt.Fprintf(w, "%s_bucket{%s,le=\"+Inf\"} %d\n", name, labels, cum)
	fmt.Fprintf(w, "%s_sum{%s} %s\n", name, labels, formatFloat(time.Duration(h.sumNs.Load()).Seconds()))
	fmt.Fprintf(w, "%s_count{%s} %d\n", name, labels, cum)
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// quote renders a Prometheus label value (backslash, quote and newline escaped).
func quote(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, c := range []byte(s) {
		switch c {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
