package policy

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/valyala/fasthttp"
)

// Rate and concurrency limits: rate-limit, rate-limit-by-key, quota-by-key (inbound) and limit-concurrency
// (any section), with APIM's attributes. Counters live in the compiled statement, so they are per gateway
// instance and start again when the configuration is reloaded (docs/policies.md, "Rate and concurrency
// limits").

// LimitError is a request a limit or an access-control policy (check-header, ip-filter, validate-jwt,
// validate-client-certificate) refused: the client gets Status with APIM's body ({"statusCode", "message"}) and,
// for a limit, Retry-After, unless on-error answers otherwise. It is also context.LastError (Source, Reason, Message).
type LimitError struct {
	Status     int
	Source     string // the policy: rate-limit, rate-limit-by-key, quota-by-key, limit-concurrency, check-header, ...
	Reason     string // APIM's: RateLimitExceeded, QuotaExceeded, ConcurrencyLimitExceeded, HeaderNotFound, ...
	Message    string
	RetryAfter int      // seconds
	Headers    []Header // retry-after-header-name with its value, when the policy names one
	Cause      error    // the detail for the gateway's log, never the client's (a CRL that could not be fetched)
}

func (e *LimitError) Error() string { return e.Source + ": " + e.Message }

// LastError is the context.LastError form of the error.
func (e *LimitError) LastError() expr.LastError {
	return expr.LastError{Source: e.Source, Reason: e.Reason, Message: e.Message}
}

type limitKind uint8

const (
	limitRate limitKind = iota
	limitRateByKey
	limitQuotaByKey
)

// limitKinds are the limit statements by element name.
var limitKinds = map[string]limitKind{"rate-limit": limitRate, "rate-limit-by-key": limitRateByKey, "quota-by-key": limitQuotaByKey}

// limitStmt is rate-limit, rate-limit-by-key or quota-by-key.
type limitStmt struct {
	kind             limitKind
	name             string // the element name (context.LastError.Source)
	calls            intValue
	period           intValue // renewal-period in seconds (quota-by-key: 0 never renews)
	firstPeriodStart time.Time
	key              value     // counter-key
	cond             boolValue // increment-condition: evaluated once the response is known
	count            intValue  // increment-count (default 1)
	retryAfterHeader []byte
	remainingHeader  []byte
	totalHeader      []byte
	retryAfterVar    string
	remainingVar     string
	store            *counterStore
}

// concurrencyStmt is limit-concurrency: at most max requests per key run its body at once.
type concurrencyStmt struct {
	key   value
	max   intValue
	body  []stmt
	mu    sync.Mutex
	inUse map[string]int64
}

// maxCounterKeys bounds the keys one limit statement keeps counters for; past it, expired ones are dropped
// first, then arbitrary ones (their callers start afresh).
const maxCounterKeys = 100_000

func (b *builder) limitStmt(el *element, kind limitKind) (*limitStmt, error) {
	allowed := []string{"calls", "renewal-period", "retry-after-header-name", "retry-after-variable-name",
		"remaining-calls-header-name", "remaining-calls-variable-name", "total-calls-header-name"}
	switch kind {
	case limitRateByKey:
		allowed = append(allowed, "counter-key", "increment-condition", "increment-count")
	case limitQuotaByKey:
		allowed = []string{"calls", "bandwidth", "renewal-period", "counter-key", "increment-condition", "increment-count", "first-period-start"}
	}
	if err := b.checkAttrs(el, allowed...); err != nil {
		return nil, err
	}
	if kind == limitRate && len(el.children) > 0 {
		return nil, b.errorf(el.children[0].off, "<rate-limit> with <"+el.children[0].name+"> limits per product API or operation, which sfgate has no products for; put a rate-limit in that API's or operation's policies instead")
	}
	if err := b.noChildren(el); err != nil {
		return nil, err
	}
	if a := attr(el, "bandwidth"); a != nil {
		return nil, b.errorf(a.off, "quota-by-key bandwidth is not supported by sfgate; limit calls")
	}
	required := []string{"calls", "renewal-period"}
	if kind != limitRate {
		required = append(required, "counter-key")
	}
	if err := b.require(el, required...); err != nil {
		return nil, err
	}
	s := &limitStmt{kind: kind, name: el.name, store: &counterStore{m: map[string]*counter{}}}
	var err error
	if s.calls, err = b.intAttr(el, "calls", 1, 1<<40); err != nil {
		return nil, err
	}
	minPeriod := int64(1)
	if kind == limitQuotaByKey {
		minPeriod = 0
	}
	if s.period, err = b.intAttr(el, "renewal-period", minPeriod, 1<<31); err != nil {
		return nil, err
	}
	if s.key, err = b.attrValue(el, "counter-key", expr.TypeAny); err != nil {
		return nil, err
	}
	if s.cond, err = b.boolAttr(el, "increment-condition"); err != nil {
		return nil, err
	}
	if s.count, err = b.intAttr(el, "increment-count", 0, 1<<31); err != nil {
		return nil, err
	}
	if a := attr(el, "first-period-start"); a != nil {
		t, perr := time.Parse(time.RFC3339, strings.TrimSpace(a.value))
		if perr != nil {
			return nil, b.errorf(a.valOff, "quota-by-key first-period-start: "+strconv.Quote(a.value)+" is not a date such as 2024-01-01T00:00:00Z")
		}
		s.firstPeriodStart = t
	}
	headers := []struct {
		attr string
		dst  *[]byte
	}{{"retry-after-header-name", &s.retryAfterHeader}, {"remaining-calls-header-name", &s.remainingHeader},
		{"total-calls-header-name", &s.totalHeader}}
	for _, h := range headers { // in order, so that the first bad name is the one reported
		n, dst := h.attr, h.dst
		if a := attr(el, n); a != nil {
			v := strings.TrimSpace(a.value)
			if v == "" || strings.ContainsAny(v, " \t:\r\n") {
				return nil, b.errorf(a.valOff, el.name+" "+n+": "+strconv.Quote(a.value)+" is not a header name")
			}
			*dst = []byte(v)
		}
	}
	for n, dst := range map[string]*string{"retry-after-variable-name": &s.retryAfterVar, "remaining-calls-variable-name": &s.remainingVar} {
		if a := attr(el, n); a != nil {
			*dst = strings.TrimSpace(a.value)
		}
	}
	return s, nil
}

func (b *builder) concurrencyStmt(el *element) (*concurrencyStmt, error) {
	if err := b.checkAttrs(el, "key", "max-count"); err != nil {
		return nil, err
	}
	if err := b.require(el, "key", "max-count"); err != nil {
		return nil, err
	}
	s := &concurrencyStmt{inUse: map[string]int64{}}
	var err error
	if s.key, err = b.attrValue(el, "key", expr.TypeAny); err != nil {
		return nil, err
	}
	if s.max, err = b.intAttr(el, "max-count", 1, 1<<31); err != nil {
		return nil, err
	}
	if s.body, err = b.stmts(el, false); err != nil {
		return nil, err
	}
	return s, nil
}

// counterStore holds a limit statement's counters by key.
type counterStore struct {
	mu sync.Mutex
	m  map[string]*counter
}

// counter counts calls in windows of the renewal period: cur in the window that began at start, prev in the
// one before (rate limits slide across both; quotas use cur alone).
type counter struct {
	start     int64 // Unix nanoseconds
	cur, prev int64
}

// limitUse is a counter a request passed: its response headers and, with an increment-condition, the
// increment to make once the response is known.
type limitUse struct {
	s         *limitStmt
	key       string
	deferred  bool
	remaining int64
	total     int64
}

// windowed rolls c to now and returns the calls it holds now and the nanoseconds until its window renews.
func (s *limitStmt) windowed(c *counter, now, period int64) (used, renewIn int64) {
	if s.kind == limitQuotaByKey {
		if period == 0 { // never renews
			return c.cur, 0
		}
		base := s.firstPeriodStart.UnixNano()
		start := base + (now-base)/period*period
		if now < base {
			start = base - period
		}
		if c.start != start {
			c.start, c.cur = start, 0
		}
		return c.cur, start + period - now
	}
	if c.start == 0 {
		c.start = now
	}
	if elapsed := now - c.start; elapsed >= period {
		if elapsed < 2*period {
			c.prev = c.cur
		} else {
			c.prev = 0
		}
		c.cur = 0
		c.start += elapsed / period * period
	}
	left := period - (now - c.start)
	return c.cur + c.prev*left/period, left
}

// lookup returns the counter of key, making room when the store is full.
func (st *counterStore) lookup(key string, now, period int64) *counter {
	c := st.m[key]
	if c != nil {
		return c
	}
	if len(st.m) >= maxCounterKeys {
		for k, old := range st.m {
			if period > 0 && now-old.start >= 2*period || len(st.m) >= maxCounterKeys*9/10 {
				delete(st.m, k)
			}
		}
	}
	c = &counter{}
	st.m[key] = c
	return c
}

// limit runs a rate or quota limit: it refuses the request when the key's counter is full, and otherwise
// counts it (at once, or with an increment-condition once the response is known).
func (rn *runner) limit(s *limitStmt) error {
	c := rn.c
	var key string
	if s.key.set {
		kb, err := s.key.bytes(c)
		if err != nil {
			return err
		}
		key = string(kb)
	}
	calls, err := s.calls.eval(c, 1)
	if err != nil {
		return err
	}
	periodSec, err := s.period.eval(c, 0)
	if err != nil {
		return err
	}
	n := int64(1)
	deferred := s.cond.set
	if !deferred {
		if n, err = s.count.eval(c, 1); err != nil {
			return err
		}
	}
	now, period := time.Now().UnixNano(), periodSec*int64(time.Second)
	st := s.store
	st.mu.Lock()
	ctr := st.lookup(key, now, period)
	used, renewIn := s.windowed(ctr, now, period)
	over := used+n > calls || deferred && used >= calls
	if !over && !deferred {
		ctr.cur += n
		used += n
	}
	st.mu.Unlock()
	if over {
		return s.refuse(c, renewIn)
	}
	remaining := max(calls-used, 0)
	if s.remainingVar != "" {
		c.SetVariable(s.remainingVar, expr.IntValue(remaining))
	}
	rn.r.limits = append(rn.r.limits, limitUse{s: s, key: key, deferred: deferred, remaining: remaining, total: calls})
	return nil
}

// refuse builds the error of a full counter: APIM's status, reason, message and Retry-After.
func (s *limitStmt) refuse(c *expr.Context, renewIn int64) error {
	wait := max(int((renewIn+int64(time.Second)-1)/int64(time.Second)), 1)
	if s.retryAfterVar != "" {
		c.SetVariable(s.retryAfterVar, expr.IntValue(int64(wait)))
	}
	e := &LimitError{Status: fasthttp.StatusTooManyRequests, Source: s.name, Reason: "RateLimitExceeded",
		Message: "Rate limit is exceeded. Try again in " + strconv.Itoa(wait) + " seconds.", RetryAfter: wait}
	if s.kind == limitQuotaByKey {
		e.Status, e.Reason = fasthttp.StatusForbidden, "QuotaExceeded"
		e.Message = "Out of call volume quota. Quota will be replenished in " + timeSpan(time.Duration(renewIn)) + "."
		if renewIn == 0 {
			e.Message, e.RetryAfter = "Out of call volume quota.", 0
		}
	}
	if s.retryAfterHeader != nil {
		e.Headers = []Header{{Name: s.retryAfterHeader, Value: []byte(strconv.Itoa(wait))}}
	}
	if s.remainingHeader != nil {
		e.Headers = append(e.Headers, Header{Name: s.remainingHeader, Value: []byte("0")})
	}
	return e
}

// timeSpan formats d as .NET's TimeSpan does: [d.]hh:mm:ss.
func timeSpan(d time.Duration) string {
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	s := fmt.Sprintf("%02d:%02d:%02d", d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second)
	if days > 0 {
		s = strconv.Itoa(int(days)) + "." + s
	}
	return s
}

// concurrency runs the body of limit-concurrency when fewer than max-count requests with the same key are
// inside it, and refuses the request (429) otherwise.
func (rn *runner) concurrency(s *concurrencyStmt) error {
	kb, err := s.key.bytes(rn.c)
	if err != nil {
		return err
	}
	limit, err := s.max.eval(rn.c, 1)
	if err != nil {
		return err
	}
	key := string(kb)
	s.mu.Lock()
	if s.inUse[key] >= limit {
		s.mu.Unlock()
		return &LimitError{Status: fasthttp.StatusTooManyRequests, Source: "limit-concurrency", Reason: "ConcurrencyLimitExceeded",
			Message: "Too many requests are being served with this key at once. Try again in 1 seconds.", RetryAfter: 1}
	}
	s.inUse[key]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.inUse[key]--; s.inUse[key] <= 0 {
			delete(s.inUse, key)
		}
		s.mu.Unlock()
	}()
	return rn.exec(s.body)
}

// FinishLimits runs, once the answer to the client is known (context.Response), the increments of the limits
// the request passed that have an increment-condition, and adds their remaining-calls and total-calls headers
// to h.
func (r *Result) FinishLimits(c *expr.Context, h *fasthttp.ResponseHeader) {
	for i := range r.limits {
		u := &r.limits[i]
		s := u.s
		if u.deferred {
			if ok, err := s.cond.eval(c, true); err == nil && ok {
				if n, err := s.count.eval(c, 1); err == nil {
					now := time.Now().UnixNano()
					periodSec, _ := s.period.eval(c, 0)
					s.store.mu.Lock()
					ctr := s.store.lookup(u.key, now, periodSec*int64(time.Second))
					s.windowed(ctr, now, periodSec*int64(time.Second))
					ctr.cur += n
					s.store.mu.Unlock()
					u.remaining = max(u.remaining-n, 0)
				}
			}
		}
		if s.remainingHeader != nil {
			h.SetBytesK(s.remainingHeader, strconv.FormatInt(u.remaining, 10))
		}
		if s.totalHeader != nil {
			h.SetBytesK(s.totalHeader, strconv.FormatInt(u.total, 10))
		}
	}
}
