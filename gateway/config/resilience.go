package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CircuitBreaker is APIM's BackendCircuitBreaker: a rule that stops sending requests to a failing backend for
// a while, plus Scope, which keeps one breaker per Service Fabric partition or replica endpoint instead of
// one for the whole backend.
type CircuitBreaker struct {
	Pos Pos
	// Rules holds exactly one rule, as in APIM.
	Rules []*CircuitBreakerRule `yaml:"rules"`
	// Scope is what one breaker covers: backend (the default, APIM's), partition (one per Service Fabric
	// partition) or replica (one per replica endpoint). For an HTTP backend partition is the backend and
	// replica its base URL's host.
	Scope string `yaml:"scope"`
}

// Circuit breaker scopes.
const (
	ScopeBackend   = "backend"
	ScopePartition = "partition"
	ScopeReplica   = "replica"
)

// CircuitBreakerRule is APIM's CircuitBreakerRule.
type CircuitBreakerRule struct {
	Pos  Pos
	Name string `yaml:"name"`
	// FailureCondition says when the breaker trips.
	FailureCondition *FailureCondition `yaml:"failureCondition"`
	// TripDuration is how long a tripped breaker refuses requests before it lets one probe through.
	TripDuration time.Duration `yaml:"tripDuration"`
	// AcceptRetryAfter makes a failing response's Retry-After header (seconds or an HTTP date) the trip
	// duration instead of TripDuration.
	AcceptRetryAfter bool `yaml:"acceptRetryAfter"`
}

// FailureCondition is APIM's CircuitBreakerFailureCondition. A response whose status is in StatusCodeRanges,
// or an attempt that failed for one of ErrorReasons, is a failure. The breaker trips when, within Interval,
// there were Count failures, or when failures were Percentage of the requests (with both, both must hold).
type FailureCondition struct {
	Pos              Pos
	Count            int               `yaml:"count"`
	Percentage       int               `yaml:"percentage"`
	Interval         time.Duration     `yaml:"interval"`
	StatusCodeRanges []StatusCodeRange `yaml:"statusCodeRanges"`
	// ErrorReasons are context.LastError reasons: BackendConnectionFailure (the connection could not be made
	// or broke) and Timeout.
	ErrorReasons []string `yaml:"errorReasons"`
}

// StatusCodeRange is an inclusive range of HTTP status codes.
type StatusCodeRange struct {
	Pos Pos
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

// Error reasons a failure condition may name (context.LastError.Reason).
const (
	ReasonBackendConnectionFailure = "BackendConnectionFailure"
	ReasonTimeout                  = "Timeout"
)

// Rule returns the breaker's one rule.
func (cb *CircuitBreaker) Rule() *CircuitBreakerRule { return cb.Rules[0] }

func applyCircuitBreakerDefaults(cb *CircuitBreaker) {
	if cb != nil {
		setStr(&cb.Scope, ScopeBackend)
	}
}

func checkCircuitBreaker(l *errorList, field string, cb *CircuitBreaker) {
	if cb == nil {
		return
	}
	switch cb.Scope {
	case ScopeBackend, ScopePartition, ScopeReplica:
	default:
		l.bad(field+".scope", "%q is not one of backend, partition, replica", cb.Scope)
	}
	if len(cb.Rules) != 1 {
		l.bad(field+".rules", "give exactly one rule (as APIM does), found %d", len(cb.Rules))
		return
	}
	rf := field + ".rules[0]"
	r := cb.Rules[0]
	if r == nil {
		l.bad(rf, "empty rule")
		return
	}
	if r.TripDuration <= 0 {
		l.bad(rf+".tripDuration", "required: how long a tripped breaker refuses requests, such as PT30S or 30s")
	}
	fc := r.FailureCondition
	if fc == nil {
		l.bad(rf+".failureCondition", "required: count or percentage, interval, and statusCodeRanges or errorReasons")
		return
	}
	ff := rf + ".failureCondition"
	if fc.Count < 0 {
		l.bad(ff+".count", "must be positive")
	}
	if fc.Percentage < 0 || fc.Percentage > 100 {
		l.bad(ff+".percentage", "%d is outside 1..100", fc.Percentage)
	}
	if fc.Count == 0 && fc.Percentage == 0 {
		l.bad(ff, "give count (failures within the interval) or percentage (of the interval's requests)")
	}
	if fc.Interval <= 0 {
		l.bad(ff+".interval", "required: the window failures are counted in, such as PT1M or 1m")
	}
	if len(fc.StatusCodeRanges) == 0 && len(fc.ErrorReasons) == 0 {
		l.bad(ff, "give statusCodeRanges or errorReasons: what counts as a failure")
	}
	for i, sr := range fc.StatusCodeRanges {
		if sr.Min < 100 || sr.Max > 599 || sr.Min > sr.Max {
			l.bad(fmt.Sprintf("%s.statusCodeRanges[%d]", ff, i), "{min: %d, max: %d} is not a range of HTTP status codes within 100..599", sr.Min, sr.Max)
		}
	}
	for i, reason := range fc.ErrorReasons {
		if reason != ReasonBackendConnectionFailure && reason != ReasonTimeout {
			l.bad(fmt.Sprintf("%s.errorReasons[%d]", ff, i), "%q is not BackendConnectionFailure or Timeout", reason)
		}
	}
}

// RetryBudget bounds the retries (re-resolutions and resends) of all requests to one backend: within the last
// RetryBudgetWindow, at most Ratio × the requests plus MinPerSecond × the window's seconds. Past it a request
// gets its last answer or error instead of another try.
type RetryBudget struct {
	Pos Pos
	// Ratio is the retries allowed per request (0.2: one retry for five requests).
	Ratio float64 `yaml:"ratio"`
	// MinPerSecond are retries allowed per second whatever the traffic, so that a quiet backend can still
	// retry.
	MinPerSecond int `yaml:"minPerSecond"`
}

// RetryBudgetWindow is the sliding window a retry budget counts requests and retries in.
const RetryBudgetWindow = 10 * time.Second

// MaxRetryBudgetRatio bounds retryBudget.ratio: more retries than ten per request is no budget.
const MaxRetryBudgetRatio = 10

func checkRetryBudget(l *errorList, field string, rb *RetryBudget) {
	if rb == nil {
		return
	}
	if rb.Ratio < 0 || rb.Ratio > MaxRetryBudgetRatio {
		l.bad(field+".ratio", "%g is outside 0..%d (retries allowed per request, such as 0.2)", rb.Ratio, MaxRetryBudgetRatio)
	}
	if rb.MinPerSecond < 0 {
		l.bad(field+".minPerSecond", "must be 0 or more (retries allowed per second whatever the traffic)")
	}
	if rb.Ratio == 0 && rb.MinPerSecond == 0 {
		l.bad(field, "ratio and minPerSecond are both 0: no request could be retried; give ratio (such as 0.2), minPerSecond, or both")
	}
}

// parseDuration reads a duration in Go's form ("1m30s", "500ms") or in ISO 8601's ("PT1M30S", "P1DT2H",
// "PT0.5S"), which APIM writes. ISO years and months are refused: their length varies.
func parseDuration(s string) (time.Duration, bool) {
	if len(s) == 0 || s[0] != 'P' && s[0] != 'p' {
		d, err := time.ParseDuration(s)
		return d, err == nil && d >= 0
	}
	rest := strings.ToUpper(s[1:])
	var total float64
	inTime, seen := false, false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, false
			}
			inTime, rest = true, rest[1:]
			if rest == "" {
				return 0, false
			}
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.' || rest[i] == ',') {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, false
		}
		n, err := strconv.ParseFloat(strings.ReplaceAll(rest[:i], ",", "."), 64)
		if err != nil {
			return 0, false
		}
		var unit time.Duration
		switch u := rest[i]; {
		case !inTime && u == 'W':
			unit = 7 * 24 * time.Hour
		case !inTime && u == 'D':
			unit = 24 * time.Hour
		case inTime && u == 'H':
			unit = time.Hour
		case inTime && u == 'M':
			unit = time.Minute
		case inTime && u == 'S':
			unit = time.Second
		default:
			return 0, false // years, months, or a unit on the wrong side of T
		}
		total += n * float64(unit)
		seen = true
		rest = rest[i+1:]
	}
	if !seen || total > float64(1<<62) {
		return 0, false
	}
	return time.Duration(total), true
}
