package resolver

import (
	"errors"
	"github.com/sfgate/sfgate/internal/stripe"
	"net/http"
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds of the naming latency histogram buckets (Stats.NamingLatency).
var LatencyBounds = [...]time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// Histogram is a snapshot of a latency histogram. Counts[i] holds the observations ≤ LatencyBounds[i] and
// > LatencyBounds[i-1] (not cumulative); the last element counts those above every bound.
type Histogram struct {
	Counts [len(LatencyBounds) + 1]uint64
	Count  uint64        // number of observations
	Sum    time.Duration // sum of the observations
}

// Stats is a point-in-time copy of a Resolver's counters. All counters only grow.
type Stats struct {
	Hits      uint64 // lookups answered from the cache without waiting (fresh or stale)
	StaleHits uint64 // of Hits, those served past RefreshAfter (a refresh was due)
	Misses    uint64 // lookups that waited for a naming call (cold, evicted, or past the stale grace)

	NegativeHits uint64 // lookups answered "service does not exist" from the negative cache

	ResolveTimeouts uint64 // lookups (Resolve, Invalidate, Scheme, background refreshes) that reached ResolveTimeout

	Invalidations      uint64 // Invalidate calls
	InvalidationsNewer uint64 // of those, answered with an already cached newer version, without a call
	Reresolves         uint64 // ResolvePartition calls sent with PreviousRspVersion (after collapsing)
	Refreshes          uint64 // background refreshes started (RefreshAfter reached)

	// Naming HTTP attempts by result.
	NamingOK       uint64 // 2xx
	NamingNotFound uint64 // 404 (service, partition or name does not exist)
	NamingRejected uint64 // other 4xx (bad key, bad request, 403)
	NamingFailed   uint64 // 5xx
	NamingNoAnswer uint64 // connection failures and timeouts
	NamingLatency  Histogram

	SchemeEvictions   uint64 // services dropped to respect MaxServices
	SnapshotEvictions uint64 // partitions dropped to respect MaxPartitions

	Services   int // services currently cached
	Partitions int // partition snapshots currently cached
}

// The hit counter is striped over cache lines so that hits on different cores do not fight over one word.
const (
	hitStripeBits = 6
	hitStripes    = 1 << hitStripeBits
)

type paddedCounter struct {
	n atomic.Uint64
	_ [56]byte
}

// counters are the live, atomically updated counterparts of Stats.
type counters struct {
	hitStripe                                                   [hitStripes]paddedCounter
	staleHits, misses, negativeHits, resolveTimeouts            atomic.Uint64
	invalidations, invalidationsNewer, reresolves, refreshes    atomic.Uint64
	namingOK, namingNotFound, namingRejected, namingFailed      atomic.Uint64
	namingNoAnswer                                              atomic.Uint64
	latency                                                     [len(LatencyBounds) + 1]atomic.Uint64
	latencyCount, latencySum, schemeEvictions, snapshotEviction atomic.Uint64
}

// hit counts one cache hit on the calling goroutine's stripe (stripe.Index).
func (c *counters) hit() {
	c.hitStripe[stripe.Index(hitStripeBits)].n.Add(1)
}

func (c *counters) observeNaming(status int, err error, d time.Duration) {
	switch {
	case status >= 200 && status <= 299 && err == nil:
		c.namingOK.Add(1)
	case status == http.StatusNotFound:
		c.namingNotFound.Add(1)
	case status >= 400 && status <= 499:
		c.namingRejected.Add(1)
	case status >= 500:
		c.namingFailed.Add(1)
	default:
		var fe *FabricError
		if !errors.As(err, &fe) {
			c.namingNoAnswer.Add(1)
		}
	}
	i := 0
	for i < len(LatencyBounds) && d > LatencyBounds[i] {
		i++
	}
	c.latency[i].Add(1)
	c.latencyCount.Add(1)
	c.latencySum.Add(uint64(d))
}

func (c *counters) snapshot() Stats {
	s := Stats{
		StaleHits: c.staleHits.Load(), Misses: c.misses.Load(),
		NegativeHits: c.negativeHits.Load(), ResolveTimeouts: c.resolveTimeouts.Load(),
		Invalidations: c.invalidations.Load(), InvalidationsNewer: c.invalidationsNewer.Load(),
		Reresolves: c.reresolves.Load(), Refreshes: c.refreshes.Load(),
		NamingOK: c.namingOK.Load(), NamingNotFound: c.namingNotFound.Load(), NamingRejected: c.namingRejected.Load(),
		NamingFailed: c.namingFailed.Load(), NamingNoAnswer: c.namingNoAnswer.Load(),
		SchemeEvictions: c.schemeEvictions.Load(), SnapshotEvictions: c.snapshotEviction.Load(),
	}
	for i := range c.hitStripe {
		s.Hits += c.hitStripe[i].n.Load()
	}
	for i := range c.latency {
		s.NamingLatency.Counts[i] = c.latency[i].Load()
	}
	s.NamingLatency.Count = c.latencyCount.Load()
	s.NamingLatency.Sum = time.Duration(c.latencySum.Load())
	return s
}
