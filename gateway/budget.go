package gateway

import (
	"sync/atomic"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
)

// retryBudget is a backend's compiled retryBudget (docs/configuration.md): the retries (re-resolutions and
// resends) of all requests to the backend within the last config.RetryBudgetWindow stay at most
// ratio × the window's requests + minPerSecond × the window's seconds. Forward counts each forward-request
// as a request (deposit); the resend loop asks before each retry (withdraw). Both are atomic adds on a
// one-second bucket and allocate nothing. Concurrent withdrawals may overshoot by at most the requests
// deciding at that instant.
type retryBudget struct {
	ratio        float64
	minPerWindow float64 // minPerSecond × the window's seconds
	metrics      *backendMetrics
	now          func() time.Time // time.Now; tests may set another clock before serving
	buckets      [budgetBuckets]budgetBucket
}

const budgetBuckets = int64(config.RetryBudgetWindow / time.Second)

type budgetBucket struct {
	second   atomic.Int64 // Unix second the counts belong to
	requests atomic.Int64
	retries  atomic.Int64
	_        [40]byte // keeps neighbouring buckets off one cache line
}

func compileRetryBudget(rb *config.RetryBudget, m *backendMetrics) *retryBudget {
	if rb == nil {
		return nil
	}
	return &retryBudget{ratio: rb.Ratio, minPerWindow: float64(rb.MinPerSecond) * config.RetryBudgetWindow.Seconds(),
		metrics: m, now: time.Now}
}

// bucket returns the bucket of second sec, emptied first when it last held an older second.
func (b *retryBudget) bucket(sec int64) *budgetBucket {
	bk := &b.buckets[sec%budgetBuckets]
	if old := bk.second.Load(); old != sec && bk.second.CompareAndSwap(old, sec) {
		bk.requests.Store(0)
		bk.retries.Store(0)
	}
	return bk
}

// deposit counts one request to the backend.
func (b *retryBudget) deposit() {
	b.bucket(b.now().Unix()).requests.Add(1)
}

// window sums the requests and retries of the last window up to second sec.
func (b *retryBudget) window(sec int64) (requests, retries int64) {
	for i := range b.buckets {
		bk := &b.buckets[i]
		if s := bk.second.Load(); s > sec-budgetBuckets && s <= sec {
			requests += bk.requests.Load()
			retries += bk.retries.Load()
		}
	}
	return requests, retries
}

// allowance is how many retries the window allows for that many requests.
func (b *retryBudget) allowance(requests int64) float64 {
	return b.minPerWindow + b.ratio*float64(requests)
}

// withdraw reports whether one more retry fits the budget, and counts it when it does.
func (b *retryBudget) withdraw() bool {
	sec := b.now().Unix()
	requests, retries := b.window(sec)
	if float64(retries+1) > b.allowance(requests) {
		b.metrics.budgetRefused.Add(1)
		return false
	}
	b.bucket(sec).retries.Add(1)
	b.metrics.budgetRetries.Add(1)
	return true
}

// available is the retries the budget allows now (for /metrics).
func (b *retryBudget) available() float64 {
	requests, retries := b.window(b.now().Unix())
	return max(b.allowance(requests)-float64(retries), 0)
}
