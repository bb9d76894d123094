package gateway

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/valyala/fasthttp"
)

// circuitBreaker is a backend's compiled circuitBreaker (docs/configuration.md, "Circuit breakers"): its one
// rule and one breaker per scope key (the backend, a partition ID, or a replica endpoint). attempt asks it
// before every send and tells it the outcome after; a closed breaker costs an atomic load and, with a
// percentage condition, one count in its window, and allocates nothing.
type circuitBreaker struct {
	backendID        string
	rule             string
	scope            string // config.ScopeBackend, ScopePartition or ScopeReplica
	count            int    // failures within interval that trip it (0: percentage alone)
	percentage       int    // failures as a percentage of the interval's requests that trip it (0: count alone)
	interval         time.Duration
	tripDuration     time.Duration
	acceptRetryAfter bool
	statusRanges     [][2]int
	onConnFailure    bool
	onTimeout        bool
	metrics          *backendMetrics
	now              func() time.Time // time.Now; tests set a manual clock before serving

	whole *breaker                            // scope backend, and partition scope for an HTTP backend
	keyed atomic.Pointer[map[string]*breaker] // partition or replica scope: copied on write, read without a lock
	mu    sync.Mutex                          // serialises writers of keyed
}

// maxBreakerKeys bounds the partitions or replicas one backend keeps breakers for; past it, closed ones go.
const maxBreakerKeys = 4096

// Breaker states (breaker.state).
const (
	breakerClosed  int32 = iota // requests flow; failures are counted
	breakerOpen                 // tripped: requests are refused until openUntil
	breakerProbing              // one probe request is in flight; the others are refused
)

// breakerWindowBuckets splits the failure condition's interval into this many buckets (a sliding window).
const breakerWindowBuckets = 10

// breaker is the state of one scope key.
type breaker struct {
	state     atomic.Int32
	openUntil atomic.Int64 // Unix nanoseconds (breaker clock) when an open breaker lets a probe through
	lastLook  atomic.Int64 // Unix nanoseconds (breaker clock) a refused request last asked naming (mayLook)
	trips     atomic.Uint64

	mu      sync.Mutex
	buckets [breakerWindowBuckets]windowBucket
}

type windowBucket struct {
	slot               int64 // time slot the counts belong to
	requests, failures int
}

// outcome is what an attempt means to a breaker.
type outcome int8

const (
	outcomeNeutral outcome = iota // says nothing about the backend's health (not sent, stale connection, ...)
	outcomeSuccess
	outcomeFailure
)

// errCircuitOpen is the cause of an attempt a tripped breaker refused.
var errCircuitOpen = errors.New("circuit breaker open: the request was not sent")

func compileCircuitBreaker(id string, cb *config.CircuitBreaker, m *backendMetrics) *circuitBreaker {
	if cb == nil {
		return nil
	}
	r := cb.Rule()
	fc := r.FailureCondition
	c := &circuitBreaker{
		backendID: id, rule: r.Name, scope: cb.Scope,
		count: fc.Count, percentage: fc.Percentage, interval: fc.Interval,
		tripDuration: r.TripDuration, acceptRetryAfter: r.AcceptRetryAfter,
		metrics: m, now: time.Now, whole: &breaker{},
	}
	for _, sr := range fc.StatusCodeRanges {
		c.statusRanges = append(c.statusRanges, [2]int{sr.Min, sr.Max})
	}
	c.onConnFailure = slices.Contains(fc.ErrorReasons, config.ReasonBackendConnectionFailure)
	c.onTimeout = slices.Contains(fc.ErrorReasons, config.ReasonTimeout)
	empty := map[string]*breaker{}
	c.keyed.Store(&empty)
	return c
}

// breakerFor returns the breaker of an attempt to endpoint (scheme://authority) of partition ("" for an
// HTTP backend). It allocates only the first time a partition or replica is seen.
func (c *circuitBreaker) breakerFor(partitionID string, endpoint []byte) *breaker {
	var key []byte
	switch c.scope {
	case config.ScopeReplica:
		key = endpoint
	case config.ScopePartition:
		if partitionID == "" {
			return c.whole
		}
		if b := (*c.keyed.Load())[partitionID]; b != nil {
			return b
		}
		return c.add(partitionID)
	default:
		return c.whole
	}
	if b := (*c.keyed.Load())[string(key)]; b != nil {
		return b
	}
	return c.add(string(key))
}

func (c *circuitBreaker) add(key string) *breaker {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.keyed.Load()
	if b := old[key]; b != nil {
		return b
	}
	m := make(map[string]*breaker, len(old)+1)
	for k, b := range old {
		if len(old) < maxBreakerKeys || b.state.Load() != breakerClosed {
			m[k] = b
		}
	}
	b := &breaker{}
	m[key] = b
	c.keyed.Store(&m)
	return b
}

// allow reports whether an attempt may be sent through b, and whether it is the probe of an open breaker
// whose trip duration passed. When it may not, wait is how long until the next probe may go.
func (c *circuitBreaker) allow(b *breaker) (ok, probe bool, wait time.Duration) {
	switch b.state.Load() {
	case breakerClosed:
		return true, false, 0
	case breakerOpen:
		now := c.now().UnixNano()
		if until := b.openUntil.Load(); now < until {
			return false, false, time.Duration(until - now)
		}
		if b.state.CompareAndSwap(breakerOpen, breakerProbing) {
			return true, true, 0
		}
	}
	return false, false, time.Second // another request is the probe: its answer comes soon
}

// breakerLookInterval is how often, at most, a request refused by an open replica breaker asks naming whether
// the partition now has another replica to send to.
const breakerLookInterval = time.Second

// mayLook reports whether a request refused by b may re-resolve its partition: only with scope replica (a
// partition's breaker is the same after any re-resolution), and once per breakerLookInterval per breaker, so
// that an open breaker does not turn every request into a naming call.
func (c *circuitBreaker) mayLook(b *breaker) bool {
	if c.scope != config.ScopeReplica {
		return false
	}
	now := c.now().UnixNano()
	last := b.lastLook.Load()
	return now-last >= int64(breakerLookInterval) && b.lastLook.CompareAndSwap(last, now)
}

// classify turns an attempt's result into an outcome for the rule: a response whose status is in the ranges,
// or an error with one of the reasons, is a failure. Errors that say nothing about the backend (a stale
// pooled connection, the gateway's own connection limit, a response over the size limit) are neutral.
func (c *circuitBreaker) classify(status int, fe *forwardError) outcome {
	if fe != nil {
		switch {
		case fe.stale || fe.poolFull || fe.tooLarge || fe.overLimit || fe.tripped:
			return outcomeNeutral
		case fe.reason == config.ReasonTimeout && c.onTimeout,
			fe.reason == config.ReasonBackendConnectionFailure && c.onConnFailure:
			return outcomeFailure
		}
		return outcomeNeutral
	}
	for _, r := range c.statusRanges {
		if status >= r[0] && status <= r[1] {
			return outcomeFailure
		}
	}
	return outcomeSuccess
}

// maxRetryAfter bounds a trip a backend's Retry-After asks for (acceptRetryAfter).
const maxRetryAfter = time.Hour

// record tells b the outcome of an attempt allow let through; resp is the response when there was one (for
// its Retry-After).
func (c *circuitBreaker) record(b *breaker, probe bool, o outcome, resp *fasthttp.Response) {
	if probe {
		switch o {
		case outcomeSuccess:
			b.mu.Lock()
			b.buckets = [breakerWindowBuckets]windowBucket{}
			b.mu.Unlock()
			b.state.Store(breakerClosed)
		case outcomeFailure:
			c.trip(b, resp)
		default:
			b.state.Store(breakerOpen) // openUntil has passed: the next request is the probe
		}
		return
	}
	if o == outcomeNeutral || o == outcomeSuccess && c.percentage == 0 {
		return // a count condition needs only the failures
	}
	now := c.now().UnixNano()
	width := max(int64(c.interval)/breakerWindowBuckets, 1)
	slot := now / width
	b.mu.Lock()
	bk := &b.buckets[slot%breakerWindowBuckets]
	if bk.slot != slot {
		*bk = windowBucket{slot: slot}
	}
	bk.requests++
	if o == outcomeFailure {
		bk.failures++
	}
	trip := false
	if o == outcomeFailure {
		requests, failures := 0, 0
		for i := range b.buckets {
			if w := &b.buckets[i]; w.slot > slot-breakerWindowBuckets {
				requests += w.requests
				failures += w.failures
			}
		}
		trip = (c.count == 0 || failures >= c.count) &&
			(c.percentage == 0 || failures*100 >= c.percentage*requests)
		if trip {
			b.buckets = [breakerWindowBuckets]windowBucket{}
		}
	}
	b.mu.Unlock()
	if trip && b.state.Load() == breakerClosed {
		c.trip(b, resp)
	}
}

// trip opens b for the trip duration, or for the response's Retry-After when the rule accepts it.
func (c *circuitBreaker) trip(b *breaker, resp *fasthttp.Response) {
	now, d := c.now(), c.tripDuration
	if c.acceptRetryAfter && resp != nil {
		if ra, ok := retryAfter(resp.Header.Peek(fasthttp.HeaderRetryAfter), now); ok {
			d = min(ra, maxRetryAfter)
		}
	}
	b.openUntil.Store(now.Add(d).UnixNano())
	b.trips.Add(1)
	c.metrics.breakerTrips.Add(1)
	b.state.Store(breakerOpen)
}

// retryAfter parses a Retry-After value: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
func retryAfter(v []byte, now time.Time) (time.Duration, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0, false
	}
	if n, err := strconv.ParseUint(string(v), 10, 32); err == nil {
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(string(v))
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// breakerView is one breaker as /metrics and /debug/breakers show it.
type breakerView struct {
	Key        string  `json:"key"` // "" for the whole backend
	State      string  `json:"state"`
	Trips      uint64  `json:"trips"`
	RetryAfter float64 `json:"retryAfterSeconds,omitempty"` // for an open breaker: seconds until the next probe
}

// views lists the breaker's states, the whole backend's first, then by key.
func (c *circuitBreaker) views() []breakerView {
	now := c.now().UnixNano()
	view := func(key string, b *breaker) breakerView {
		// A replica key is scheme://authority: credentials written in an HTTP backend's URL stay out of sight.
		v := breakerView{Key: string(withoutUserinfo([]byte(key))), Trips: b.trips.Load()}
		switch b.state.Load() {
		case breakerClosed:
			v.State = "closed"
		case breakerOpen:
			v.State = "open"
			v.RetryAfter = max(time.Duration(b.openUntil.Load()-now), 0).Seconds()
		default:
			v.State = "half-open"
		}
		return v
	}
	var out []breakerView
	if c.scope == config.ScopeBackend || c.scope == config.ScopePartition && c.whole.trips.Load() > 0 {
		out = append(out, view("", c.whole))
	}
	m := *c.keyed.Load()
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, view(k, m[k]))
	}
	return out
}

// retryAfterSeconds is the Retry-After a client refused by a breaker gets: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(int((d+time.Second-1)/time.Second), 1)
}
