package main

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/resolver"
)

// resolveSection measures resolution latency: the resolver's benchmarks and bench's own timing loop.
func (h *harness) resolveSection(ctx context.Context) ([]*table, []string) {
	h.logf("resolver benchmarks")
	bench := h.resolverBenchmarks(ctx)
	h.logf("resolver timing loop")
	t, sum, err := h.resolverTiming(ctx)
	if err != nil {
		t = &table{Title: "Resolution latency: percentiles"}
		t.note("failed: %v", err)
	}
	return []*table{bench, t}, sum
}

// resolverBenchmarks runs the resolver package's own benchmarks and reports the median of -count runs.
func (h *harness) resolverBenchmarks(ctx context.Context) *table {
	t := &table{Title: "Resolution latency: resolver benchmarks (go test)",
		Header: []string{"benchmark", "ns/op median (min–max)", "B/op", "allocs/op", "runs"}}
	args := []string{"test", "-run", "^$", "-bench", "Resolve|Reresolve", "-benchmem",
		"-count", strconv.Itoa(h.opts.benchCount), "-benchtime", h.opts.benchtime, "./resolver/"}
	t.Commands = append(t.Commands, shellJoin(append([]string{"go"}, args...)))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = h.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.note("go test failed: %v: %.2000s", err, out)
		return t
	}
	lines, err := parseGoBench(out)
	if err != nil {
		t.note("%v", err)
		return t
	}
	var order []string
	byName := map[string][]goBenchLine{}
	for _, l := range lines {
		name := fmt.Sprintf("%s-%d", l.Name, l.Procs)
		if byName[name] == nil {
			order = append(order, name)
		}
		byName[name] = append(byName[name], l)
	}
	for _, name := range order {
		var ns, bytes, allocs []float64
		for _, l := range byName[name] {
			ns = append(ns, l.NsPerOp)
			bytes = append(bytes, l.BytesPerOp)
			allocs = append(allocs, l.AllocsPerOp)
		}
		t.add(name, spreadOf(ns).format("%.1f"), spreadOf(bytes).format("%.0f"), spreadOf(allocs).format("%.0f"),
			strconv.Itoa(len(ns)))
	}
	t.note("ns/op is a mean per operation; `parallel` is RunParallel on all CPUs, so its ns/op is wall time / total operations (aggregate throughput). " +
		"The fakesf benchmarks run fakesf in the test process: their B/op and allocs/op include fakesf's server side of each naming call.")
	return t
}

// resolverTiming measures percentiles with its own loop over the resolver API against an in-process fakesf.
func (h *harness) resolverTiming(ctx context.Context) (*table, []string, error) {
	t := &table{Title: "Resolution latency: percentiles (own timing loop over the resolver API, fakesf in-process)",
		Header: []string{"case", "operations", "mean", "p50", "p99", "allocs/op", "naming calls/op"}}
	c, err := fakesf.Start(ctx, benchTopology())
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	opts := resolver.Options{ManagementEndpoints: []string{c.URL()}}
	r, err := resolver.New(opts)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	keys := benchKeys(1024)
	for _, k := range keys {
		if _, err := r.Resolve(ctx, benchService, k); err != nil {
			return nil, nil, fmt.Errorf("warm the cache: %w", err)
		}
	}

	var summary []string
	hits := h.opts.hitOps
	single := hitLatency(ctx, r, benchService, keys, hits, 1)
	if single.err != nil {
		return nil, nil, single.err
	}
	t.add("cache hit, 1 goroutine", thousands(int64(single.ops)), nanos(single.mean), nanos(single.p50), nanos(single.p99),
		fmt.Sprintf("%.2f", single.allocs), "0")
	summary = append(summary, fmt.Sprintf("resolver cache hit: %s mean, p99 %s (batches of %d), %.2f allocs/op",
		nanos(single.mean), nanos(single.p99), hitBatch, single.allocs))
	par := hitLatency(ctx, r, benchService, keys, hits, runtime.GOMAXPROCS(0))
	if par.err != nil {
		return nil, nil, par.err
	}
	t.add(fmt.Sprintf("cache hit, %d goroutines", runtime.GOMAXPROCS(0)), thousands(int64(par.ops)),
		nanos(par.mean)+" (aggregate "+nanos(par.aggregate)+")", nanos(par.p50), nanos(par.p99), fmt.Sprintf("%.2f", par.allocs), "0")
	t.note("Hits are timed in batches of %d calls (a single hit is shorter than the clock's overhead); p50/p99 are over batch means, "+
		"so they understate single-call outliers. Keys: %d distinct int64 keys over the %d partitions of %s.", hitBatch, len(keys), benchPartitions, benchService)

	miss := func(name string, n int, prepare func(*resolver.Resolver) error, op func(*resolver.Resolver) error, fresh bool) error {
		var ds []time.Duration
		var naming int64
		rr := r
		for range n {
			if fresh {
				var err error
				if rr, err = resolver.New(opts); err != nil {
					return err
				}
				if prepare != nil {
					if err := prepare(rr); err != nil {
						return err
					}
				}
			}
			before := rr.Stats()
			start := time.Now()
			err := op(rr)
			ds = append(ds, time.Since(start))
			after := rr.Stats()
			naming += int64(namingCalls(after) - namingCalls(before))
			if fresh {
				rr.Close()
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		slices.Sort(ds)
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		t.add(name, thousands(int64(n)), micros(sum/time.Duration(n)), micros(percentile(ds, 0.5)), micros(percentile(ds, 0.99)),
			"—", fmt.Sprintf("%.2f", float64(naming)/float64(n)))
		summary = append(summary, fmt.Sprintf("resolver %s: p50 %s, p99 %s", name, micros(percentile(ds, 0.5)), micros(percentile(ds, 0.99))))
		return nil
	}
	key := []byte(benchKey)
	if err := miss("cold miss: new resolver (GetPartitions + ResolvePartition)", h.opts.missOps, nil,
		func(rr *resolver.Resolver) error { _, err := rr.Resolve(ctx, benchService, key); return err }, true); err != nil {
		return nil, nil, err
	}
	if err := miss("partition miss, scheme cached (ResolvePartition)", h.opts.missOps,
		func(rr *resolver.Resolver) error { _, err := rr.Scheme(ctx, benchService); return err },
		func(rr *resolver.Resolver) error { _, err := rr.Resolve(ctx, benchService, key); return err }, true); err != nil {
		return nil, nil, err
	}
	snap, err := r.Resolve(ctx, benchService, key)
	if err != nil {
		return nil, nil, err
	}
	if err := miss("complaint re-resolution (Invalidate, PreviousRspVersion)", h.opts.missOps, nil,
		func(rr *resolver.Resolver) error {
			s, err := rr.Invalidate(ctx, benchService, key, snap.Version)
			if err == nil {
				snap = s
			}
			return err
		}, false); err != nil {
		return nil, nil, err
	}
	t.note("Misses and complaints are timed one call at a time on loopback against fakesf's net/http management server " +
		"in the same process (its CPU competes with the resolver's); a cold miss includes the new resolver's TCP connect. Naming calls per operation come from the resolver's Stats " +
		"(NamingOK+NotFound+Rejected+Failed+NoAnswer).")
	return t, summary, nil
}

// namingCalls is every naming HTTP attempt a Stats counted.
func namingCalls(s resolver.Stats) uint64 {
	return s.NamingOK + s.NamingNotFound + s.NamingRejected + s.NamingFailed + s.NamingNoAnswer
}

// benchKeys are n distinct keys spread over benchService's whole range.
func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	step := (benchHighKey + 1) / n
	for i := range keys {
		keys[i] = strconv.AppendInt(nil, int64(i*step+i%7), 10)
	}
	return keys
}

// hitBatch is how many hits one clock reading covers.
const hitBatch = 100

type hitResult struct {
	ops                       int
	mean, p50, p99, aggregate time.Duration
	allocs                    float64
	err                       error
}

// hitLatency runs ops cache hits split over `workers` goroutines, timing batches of hitBatch calls.
func hitLatency(ctx context.Context, r *resolver.Resolver, service string, keys [][]byte, ops, workers int) hitResult {
	batches := max(1, ops/hitBatch/workers)
	per := make([][]time.Duration, workers)
	errs := make([]error, workers)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ds := make([]time.Duration, 0, batches)
			k := w * 131
			for range batches {
				t0 := time.Now()
				for range hitBatch {
					if _, err := r.Resolve(ctx, service, keys[k%len(keys)]); err != nil {
						errs[w] = err
						return
					}
					k++
				}
				ds = append(ds, time.Since(t0)/hitBatch)
			}
			per[w] = ds
		})
	}
	wg.Wait()
	wall := time.Since(start)
	runtime.ReadMemStats(&ms1)
	res := hitResult{ops: batches * hitBatch * workers}
	for _, err := range errs {
		if err != nil {
			res.err = fmt.Errorf("cache hit: %w", err)
			return res
		}
	}
	var all []time.Duration
	var sum time.Duration
	for _, ds := range per {
		all = append(all, ds...)
		for _, d := range ds {
			sum += d
		}
	}
	slices.Sort(all)
	res.mean = sum / time.Duration(len(all))
	res.p50, res.p99 = percentile(all, 0.5), percentile(all, 0.99)
	res.aggregate = wall / time.Duration(res.ops)
	// Includes the harness's few allocations (goroutines, the batch-time slices): under 0.001 per op.
	res.allocs = float64(ms1.Mallocs-ms0.Mallocs) / float64(res.ops)
	return res
}
