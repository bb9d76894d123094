package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/resolver"
)

// fakesfMaxScale is the largest partition count the scale section asks fakesf for: each partition's replica
// is a real listener, and with its connections it must stay well inside the 20,000 file descriptors this
// machine allows.
const fakesfMaxScale = 5000

// scale measures the resolver's memory and hit latency with many partitions cached, and how many naming calls
// a million distinct keys cost.
func (h *harness) scale(ctx context.Context) ([]*table, []string) {
	mem := &table{Title: "Scale: resolver memory and hit latency by partitions cached",
		Header: []string{"partitions cached", "naming server", "resolve all (wall)", "heap in use Δ (resolver + snapshots)", "per partition",
			"hit mean", "hit p50", "hit p99", "hit allocs/op"}}
	for _, n := range h.opts.scaleSizes {
		if err := h.scaleRow(ctx, n, mem); err != nil {
			mem.note("%d partitions: %v", n, err)
		}
	}
	mem.note("Heap in use: runtime.MemStats.HeapInuse after two runtime.GC() calls, before and after resolving one key per partition "+
		"(one Int64Range service, one replica per partition, 8 goroutines resolving). Hits: %d calls in batches of %d over all n keys in random order. "+
		"Up to %d partitions the naming server is fakesf in this process (its own memory is in the baseline); beyond, fakesf cannot run (one real "+
		"listener per replica against a 20,000-descriptor limit; its ResolvePartition also scans partitions linearly), so bench's synthetic "+
		"naming endpoint answers GetPartitions/ResolvePartition in SF's wire format (bench/naming.go). MaxPartitions is raised to n+16 "+
		"(the default bound is %d). Per partition is shown from 1,000 partitions up (below, the resolver's fixed cost dominates).", h.opts.hitOps/2, hitBatch, fakesfMaxScale, resolver.DefaultMaxPartitions)

	calls := &table{Title: "Scale: naming calls for distinct keys on a 4-partition service",
		Header: []string{"requests (Resolve calls)", "distinct keys", "ResolvePartition calls (fakesf counter)", "all naming calls (resolver Stats)",
			"background refreshes", "wall", "per request"}}
	if err := h.namingCallsRow(ctx, calls); err != nil {
		calls.note("failed: %v", err)
	}
	var sum []string
	for _, r := range mem.Rows {
		sum = append(sum, fmt.Sprintf("resolver with %s partitions cached: heap Δ %s (%s per partition), hit mean %s",
			r[0], r[3], r[4], r[5]))
	}
	for _, r := range calls.Rows {
		sum = append(sum, fmt.Sprintf("%s requests over %s distinct keys (4 partitions): **%s ResolvePartition calls** (target 4 + refreshes)",
			r[0], r[1], r[2]))
	}
	return []*table{mem, calls}, sum
}

func (h *harness) scaleRow(ctx context.Context, n int, t *table) error {
	svc := scaleService(n)
	var base, server string
	var closer func() error
	if n <= fakesfMaxScale {
		c, err := fakesf.Start(ctx, benchTopology(svc))
		if err != nil {
			return err
		}
		base, server, closer = c.URL(), "fakesf", c.Close
	} else {
		s, err := startSyntheticNaming(svc.Name, n)
		if err != nil {
			return err
		}
		base, server, closer = s.url, "synthetic (bench/naming.go)", s.Close
	}
	defer closer()

	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte(strconv.Itoa(i))
	}
	heap0 := heapInUse()
	r, err := resolver.New(resolver.Options{ManagementEndpoints: []string{base}, MaxPartitions: max(resolver.DefaultMaxPartitions, n+16)})
	if err != nil {
		return err
	}
	defer r.Close()
	start := time.Now()
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if _, err := r.Resolve(ctx, svc.Name, keys[i]); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("resolve key %d: %w", i, err) })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	wall := time.Since(start)
	heap1 := heapInUse()
	if st := r.Stats(); st.Partitions != n {
		return fmt.Errorf("resolver holds %d partitions after resolving %d", st.Partitions, n)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	hit := hitLatency(ctx, r, svc.Name, keys, h.opts.hitOps/2, 1)
	if hit.err != nil {
		return hit.err
	}
	delta := int64(heap1) - int64(heap0)
	per := "—"
	if n >= 1000 {
		per = thousands(delta/int64(n)) + " B"
	}
	t.add(thousands(int64(n)), server, wall.Round(time.Millisecond).String(), mib(delta), per,
		nanos(hit.mean), nanos(hit.p50), nanos(hit.p99), fmt.Sprintf("%.2f", hit.allocs))
	runtime.KeepAlive(r)
	return nil
}

// namingCallsRow resolves scaleKeys distinct keys, spread over benchService's whole range in random order,
// through a fresh resolver and counts the naming calls fakesf saw.
func (h *harness) namingCallsRow(ctx context.Context, t *table) error {
	c, err := fakesf.Start(ctx, benchTopology())
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := resolver.New(resolver.Options{ManagementEndpoints: []string{c.URL()}})
	if err != nil {
		return err
	}
	defer r.Close()
	c.ResetCounters()
	n := h.opts.scaleKeys
	step := max(1, (benchHighKey+1)/n)
	order := rand.New(rand.NewPCG(3, 4)).Perm(n)
	buf := make([]byte, 0, 24)
	start := time.Now()
	for _, i := range order {
		buf = strconv.AppendInt(buf[:0], int64(i*step%(benchHighKey+1)), 10)
		if _, err := r.Resolve(ctx, benchService, buf); err != nil {
			return fmt.Errorf("resolve key %s: %w", buf, err)
		}
	}
	wall := time.Since(start)
	st := r.Stats()
	distinct := min(n, benchHighKey+1)
	t.add(thousands(int64(n)), thousands(int64(distinct)), strconv.FormatInt(c.ResolveCalls(), 10),
		strconv.FormatUint(namingCalls(st), 10), strconv.FormatUint(st.Refreshes, 10), wall.Round(time.Millisecond).String(),
		nanos(wall/time.Duration(n)))
	t.note("Service %s: Int64Range [0, %d] in %d partitions. Target: %d ResolvePartition calls (one per partition) plus refreshes; "+
		"all naming calls also count the GetPartitions page(s) of the scheme. One goroutine calls resolver.Resolve directly (no HTTP in front).",
		benchService, benchHighKey, benchPartitions, benchPartitions)
	return nil
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func mib(b int64) string {
	return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20))
}
