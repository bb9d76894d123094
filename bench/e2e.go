package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/sfgate/sfgate/fakesf"
)

// e2eTarget is one row of the end-to-end table: a URL that reaches a backend (directly or through a proxy),
// the proxy process whose CPU per request is the proxy's cost (nil for direct), and the backend process.
type e2eTarget struct {
	backend string // "fakesf replica" or "echo"
	name    string // "direct", "nginx", "sfgate", ...
	url     string
	proxy   *proc
	server  *proc
}

func (t e2eTarget) key() string { return t.backend + "/" + t.name }

// e2eSample is one wrk run.
type e2eSample struct {
	res        WrkResult
	proxyCPU   time.Duration
	backendCPU time.Duration
	err        error
}

// e2eLayout is unpinned (everything shares both CPUs) or pinned (wrk -t1 on CPU 0, every server on CPU 1).
type e2eLayout struct {
	name       string
	serverCPUs string
	wrkCPUs    string
	wrkThreads int
}

var (
	unpinned = e2eLayout{name: "unpinned", wrkThreads: 2}
	pinned   = e2eLayout{name: "pinned", serverCPUs: "1", wrkCPUs: "0", wrkThreads: 1}
)

// targetFasthttp names the rows of the bare fasthttp proxy (internal/bareproxy, bench/fasthttpproxy.go).
const targetFasthttp = "fasthttp proxy"

// targetBaseline prefixes the rows of sfgate built at -baseline REV ("sfgate@REV").
const targetBaseline = "sfgate@"

// Backends of the end-to-end section.
const (
	backendReplica = "fakesf replica"
	backendEcho    = "echo"
)

// e2eResult is a layout's samples: samples[conns][target key][rep].
type e2eResult struct {
	layout  e2eLayout
	targets []e2eTarget
	samples map[int]map[string][]e2eSample
}

// e2eSection runs every layout and renders the end-to-end table.
func (h *harness) e2eSection(ctx context.Context) (*table, []string) {
	t := &table{Title: "End to end on loopback (wrk --latency; medians of interleaved repetitions, ratios within a repetition)", Header: e2eHeader}
	var summary []string
	for _, lay := range h.opts.layouts {
		h.logf("end to end, %s", lay.name)
		res, err := h.runE2E(ctx, lay, t)
		if err != nil {
			t.note("%s layout skipped: %v", lay.name, err)
			continue
		}
		summary = append(summary, e2eRows(res, t)...)
	}
	t.note("Backends: `fakesf replica` is the primary of partition 0 of %s (a Go net/http server answering with a JSON echo "+
		"of the request, about 0.7 KB, under fakesf's cluster lock); every replica target is checked to reach that same replica before timing. "+
		"`echo` is a reference backend (a default fasthttp server, fixed 100-byte body), much cheaper per request, so the proxy's own cost "+
		"weighs more in its ratios. Targets: `direct` = wrk to the backend; `nginx` = plain reverse proxy with upstream keep-alive "+
		"(bench/nginx.go); `fasthttp proxy` = the bare fasthttp proxy (HostClient.Do on the server's own request, "+
		"no routing, policy or resolution: the floor of the data-path library, internal/bareproxy), so `× fasthttp proxy` is the price "+
		"of everything sfgate adds; `sfgate` → fakesf replica = `/shop/orders?customer=%s`, routed by partition key through the resolver "+
		"(bench/sfgate.yaml, the Service Fabric policy of APIM's set-backend-service reference); `sfgate` → echo = `/echo/items/42`, a plain HTTP backend (no resolution).",
		benchService, benchKey)
	if h.opts.baseline != "" {
		t.note("`sfgate@%s` = sfgate built from git revision %s (a temporary worktree) with the same configuration, to measure "+
			"the working tree's change in the same run: see the `sfgate ÷ sfgate@%s` summary lines.", h.opts.baseline, h.opts.baseline, h.opts.baseline)
	}
	t.note("Repetitions: %d × %s per target and connection count, targets interleaved within each repetition, warm-up %s per target "+
		"at the largest connection count. Ratios are the median (min–max) of per-repetition ratios of req/s. p50/p99 come from wrk "+
		"--latency (closed loop: at -c64 they are queueing latency). CPU µs/req: utime+stime from /proc (nginx: master+workers; "+
		"backend: the whole fakesf or echo process) over the run, divided by the requests wrk completed (10 ms tick resolution). bytes/resp: what wrk read per response, headers included.",
		h.opts.reps, h.opts.duration, h.opts.warmup)
	t.note("Layouts: unpinned = every process shares all %d CPUs (wrk -t2; Go servers at their default GOMAXPROCS unless stated; nginx "+
		"worker_processes auto); pinned = `taskset -c 0 wrk -t1`, and fakesf, the echo backend, nginx (1 worker) and sfgate under "+
		"`taskset -c 1` (Go then runs with GOMAXPROCS=1; the bare fasthttp proxy too). The harness itself is not pinned; it sleeps while wrk runs.", runtime.NumCPU())
	return t, summary
}

// runE2E starts the backends, nginx and sfgate for one layout and runs wrk against each target in turn,
// repetition after repetition, so every repetition compares the targets under the same machine conditions.
func (h *harness) runE2E(ctx context.Context, lay e2eLayout, t *table) (*e2eResult, error) {
	if _, err := lookTool("wrk", "apt-get install wrk"); err != nil {
		return nil, err
	}
	if lay.serverCPUs != "" {
		if _, err := lookTool("taskset", "apt-get install util-linux"); err != nil {
			return nil, err
		}
	}
	fsf, err := startFakesfProc(ctx, lay.serverCPUs)
	if err != nil {
		return nil, err
	}
	defer fsf.stop()
	parts, err := fsf.partitions(ctx)
	if err != nil {
		return nil, err
	}
	replica, err := primaryURL(parts)
	if err != nil {
		return nil, err
	}
	ru, _ := url.Parse(replica)
	const replicaSuffix = "/orders?customer=" + benchKey
	const echoPath = "/items/42"
	targets := []e2eTarget{{backend: backendReplica, name: "direct", url: replica + replicaSuffix, server: fsf.proc}}
	upstreams := []string{replica}

	var echo *proc
	echoURL := ""
	if h.opts.echo {
		if echo, echoURL, err = startEchoProc(ctx, lay.serverCPUs); err != nil {
			return nil, err
		}
		defer echo.stop()
		targets = append(targets, e2eTarget{backend: backendEcho, name: "direct", url: echoURL + echoPath, server: echo})
		upstreams = append(upstreams, echoURL)
	}

	if ng, addrs, err := startNginx(ctx, h.dir, upstreams, lay.serverCPUs); err != nil {
		t.note("%s: nginx rows skipped: %v", lay.name, err)
	} else {
		defer ng.stop()
		targets = append(targets, e2eTarget{backend: backendReplica, name: "nginx", url: "http://" + addrs[0] + ru.Path + replicaSuffix, proxy: ng, server: fsf.proc})
		if echo != nil {
			targets = append(targets, e2eTarget{backend: backendEcho, name: "nginx", url: "http://" + addrs[1] + echoPath, proxy: ng, server: echo})
		}
	}

	if fp, addrs, err := startFasthttpProxy(ctx, upstreams, lay.serverCPUs); err != nil {
		t.note("%s: fasthttp proxy rows skipped: %v", lay.name, err)
	} else {
		defer fp.stop()
		targets = append(targets, e2eTarget{backend: backendReplica, name: targetFasthttp, url: "http://" + addrs[0] + ru.Path + replicaSuffix, proxy: fp, server: fsf.proc})
		if echo != nil {
			targets = append(targets, e2eTarget{backend: backendEcho, name: targetFasthttp, url: "http://" + addrs[1] + echoPath, proxy: fp, server: echo})
		}
	}

	if h.sfgateErr != nil {
		t.note("%s: sfgate rows skipped: %v", lay.name, h.sfgateErr)
	} else {
		type variant struct {
			name       string
			bin        string
			gomaxprocs int // 0 = Go's default
		}
		variants := []variant{{"sfgate", h.sfgateBin, 0}}
		if lay.serverCPUs == "" && h.opts.gomaxprocs1 {
			variants = append(variants, variant{"sfgate GOMAXPROCS=1", h.sfgateBin, 1})
		}
		switch {
		case h.baselineErr != nil:
			t.note("%s: sfgate@%s rows skipped: %v", lay.name, h.opts.baseline, h.baselineErr)
		case h.baselineBin != "":
			variants = append(variants, variant{targetBaseline + h.opts.baseline, h.baselineBin, 0})
		}
		for _, v := range variants {
			g, err := startSfgate(ctx, v.bin, h.dir, fsf.url, echoURL, v.gomaxprocs, lay.serverCPUs)
			if err != nil {
				t.note("%s: %s rows skipped: %v", lay.name, v.name, err)
				continue
			}
			defer g.stop()
			targets = append(targets, e2eTarget{backend: backendReplica, name: v.name, url: g.url(benchKey), proxy: g.proc, server: fsf.proc})
			if echo != nil {
				targets = append(targets, e2eTarget{backend: backendEcho, name: v.name, url: "http://" + g.addr + "/echo" + echoPath, proxy: g.proc, server: echo})
			}
		}
	}

	// Every target must reach its backend (the replica targets: the same primary) before anything is timed;
	// a proxy that does not is dropped with a note.
	var checked []e2eTarget
	for _, tg := range targets {
		check := func() error { return checkReplica(ctx, tg.url, parts[0]) }
		if tg.backend == backendEcho {
			check = func() error { return checkEcho(ctx, tg.url) }
		}
		if err := check(); err != nil {
			if tg.proxy == nil {
				return nil, fmt.Errorf("%s → %s (%s): %w", tg.name, tg.backend, tg.url, err)
			}
			t.note("%s: %s → %s row skipped: GET %s: %v", lay.name, tg.name, tg.backend, tg.url, err)
			continue
		}
		checked = append(checked, tg)
	}
	targets = checked

	res := &e2eResult{layout: lay, targets: targets, samples: map[int]map[string][]e2eSample{}}
	run := func(tg e2eTarget, conns int, d time.Duration) e2eSample {
		w := wrkRun{URL: tg.url, Threads: min(lay.wrkThreads, conns), Conns: conns, Duration: d, CPUs: lay.wrkCPUs}
		var s e2eSample
		var px0 time.Duration
		if tg.proxy != nil {
			px0 = tg.proxy.cpuTime()
		}
		be0 := tg.server.cpuTime()
		s.res, s.err = w.run(ctx)
		s.backendCPU = tg.server.cpuTime() - be0
		if tg.proxy != nil {
			s.proxyCPU = tg.proxy.cpuTime() - px0
		}
		return s
	}
	for _, conns := range h.opts.conns {
		for _, tg := range targets {
			w := wrkRun{URL: tg.url, Threads: min(lay.wrkThreads, conns), Conns: conns, Duration: h.opts.duration, CPUs: lay.wrkCPUs}
			t.Commands = appendOnce(t.Commands, shellJoin(w.command())+"   # "+lay.name+", "+tg.name+" → "+tg.backend)
		}
	}
	if h.opts.warmup > 0 {
		for _, tg := range targets {
			run(tg, slices.Max(h.opts.conns), h.opts.warmup)
		}
	}
	for rep := 0; rep < h.opts.reps; rep++ {
		for _, conns := range h.opts.conns {
			if res.samples[conns] == nil {
				res.samples[conns] = map[string][]e2eSample{}
			}
			for _, tg := range targets {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				s := run(tg, conns, h.opts.duration)
				h.logf("e2e %s rep %d -c%d %-36s %8.0f req/s  p50 %-9s p99 %-9s errors %d %v", lay.name, rep+1, conns, tg.key(),
					s.res.RequestsSec, micros(s.res.P50), micros(s.res.P99), s.res.Errors(), errOrEmpty(s.err))
				res.samples[conns][tg.key()] = append(res.samples[conns][tg.key()], s)
				sleepCtx(ctx, h.opts.pause)
			}
		}
	}
	return res, nil
}

// checkEcho sends one GET and checks for the echo backend's body.
func checkEcho(ctx context.Context, u string) error {
	status, body, err := get(ctx, u)
	if err != nil {
		return err
	}
	if status != http.StatusOK || string(body) != string(echoBody) {
		return fmt.Errorf("status %d, body %.300q: not the echo backend's answer", status, body)
	}
	return nil
}

// checkReplica sends one GET and checks that the partition's primary answered it.
func checkReplica(ctx context.Context, u string, p fakesf.PartitionState) error {
	status, body, err := get(ctx, u)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("status %d: %.300s", status, body)
	}
	var rr fakesf.ReplicaResponse
	if err := json.Unmarshal(body, &rr); err != nil {
		return fmt.Errorf("answer is not a fakesf replica's: %w: %.300s", err, body)
	}
	prim, _ := p.Primary()
	if rr.PartitionID != p.ID || rr.Role != "primary" || rr.ReplicaID != fmt.Sprint(prim.ID) {
		return fmt.Errorf("answered by replica %s (%s) of partition %s, want primary %d of %s",
			rr.ReplicaID, rr.Role, rr.PartitionID, prim.ID, p.ID)
	}
	return nil
}

// e2eRows renders one layout's results: per connection count and backend, one row per target with medians
// and the same-repetition ratios; it returns the headline ratios.
func e2eRows(res *e2eResult, t *table) (summary []string) {
	for _, conns := range slices.Sorted(maps.Keys(res.samples)) {
		byKey := res.samples[conns]
		ratio := func(backend, num, den string) spread {
			var xs []float64
			a, b := byKey[backend+"/"+num], byKey[backend+"/"+den]
			for i := range min(len(a), len(b)) {
				if a[i].err == nil && b[i].err == nil && b[i].res.RequestsSec > 0 {
					xs = append(xs, a[i].res.RequestsSec/b[i].res.RequestsSec)
				}
			}
			return spreadOf(xs)
		}
		for _, backend := range []string{backendReplica, backendEcho} {
			for _, tg := range res.targets {
				if tg.backend != backend {
					continue
				}
				var rps, p50, p99, pxCPU, beCPU, size []float64
				var errs int64
				var failed []string
				for _, s := range byKey[tg.key()] {
					if s.err != nil {
						failed = append(failed, s.err.Error())
						continue
					}
					rps = append(rps, s.res.RequestsSec)
					p50 = append(p50, float64(s.res.P50)/1e3)
					p99 = append(p99, float64(s.res.P99)/1e3)
					errs += s.res.Errors()
					size = append(size, s.res.BytesPerResponse())
					if n := float64(s.res.Requests); n > 0 {
						beCPU = append(beCPU, float64(s.backendCPU)/1e3/n)
						if tg.proxy != nil {
							pxCPU = append(pxCPU, float64(s.proxyCPU)/1e3/n)
						}
					}
				}
				xDirect, xNginx, xFasthttp := "—", "—", "—"
				if tg.name != "direct" {
					xDirect = ratio(backend, tg.name, "direct").format("%.2f")
				}
				if tg.name != "nginx" {
					xNginx = ratio(backend, tg.name, "nginx").format("%.2f")
				}
				if tg.proxy != nil && tg.name != targetFasthttp {
					xFasthttp = ratio(backend, tg.name, targetFasthttp).format("%.2f")
				}
				t.add(res.layout.name, fmt.Sprintf("-c%d", conns), backend, tg.name, spreadOf(rps).format("%.0f"),
					spreadOf(p50).format("%.0f"), spreadOf(p99).format("%.0f"), xDirect, xNginx, xFasthttp,
					spreadOf(pxCPU).format("%.1f"), spreadOf(beCPU).format("%.1f"), fmt.Sprintf("%.0f", spreadOf(size).Med), fmt.Sprint(errs))
				for _, f := range failed {
					t.note("%s -c%d %s → %s: a repetition failed: %s", res.layout.name, conns, tg.name, backend, f)
				}
				if tg.name == "sfgate" {
					for _, other := range res.targets {
						if other.backend == backend && strings.HasPrefix(other.name, targetBaseline) {
							summary = append(summary, fmt.Sprintf("%s -c%d, sfgate ÷ %s → %s: throughput **%s**, proxy CPU %s vs %s µs/req, p99 × %s",
								res.layout.name, conns, other.name, backend, ratio(backend, tg.name, other.name).format("%.2f"),
								cpuPerReq(byKey[tg.key()]).format("%.1f"), cpuPerReq(byKey[other.key()]).format("%.1f"),
								p99Ratio(byKey[tg.key()], byKey[other.key()]).format("%.2f")))
						}
					}
				}
				if strings.HasPrefix(tg.name, "sfgate") {
					summary = append(summary, fmt.Sprintf("%s -c%d, %s → %s: × nginx **%s** (bare fasthttp proxy × nginx %s), "+
						"× bare fasthttp proxy **%s**, × direct %s, p99 × nginx %s, proxy CPU %s µs/req (nginx %s, bare fasthttp %s)",
						res.layout.name, conns, tg.name, backend, ratio(backend, tg.name, "nginx").format("%.2f"),
						ratio(backend, targetFasthttp, "nginx").format("%.2f"), ratio(backend, tg.name, targetFasthttp).format("%.2f"),
						ratio(backend, tg.name, "direct").format("%.2f"), p99Ratio(byKey[tg.key()], byKey[backend+"/nginx"]).format("%.2f"),
						cpuPerReq(byKey[tg.key()]).format("%.1f"), cpuPerReq(byKey[backend+"/nginx"]).format("%.1f"),
						cpuPerReq(byKey[backend+"/"+targetFasthttp]).format("%.1f")))
				}
			}
		}
	}
	return summary
}

// p99Ratio is the per-repetition ratio of p99 latencies a ÷ b.
func p99Ratio(a, b []e2eSample) spread {
	var xs []float64
	for i := range min(len(a), len(b)) {
		if a[i].err == nil && b[i].err == nil && b[i].res.P99 > 0 {
			xs = append(xs, float64(a[i].res.P99)/float64(b[i].res.P99))
		}
	}
	return spreadOf(xs)
}

// cpuPerReq is the proxy CPU µs per request of each successful sample.
func cpuPerReq(ss []e2eSample) spread {
	var xs []float64
	for _, s := range ss {
		if s.err == nil && s.res.Requests > 0 && s.proxyCPU > 0 {
			xs = append(xs, float64(s.proxyCPU)/1e3/float64(s.res.Requests))
		}
	}
	return spreadOf(xs)
}

// e2eHeader is the end-to-end table's header.
var e2eHeader = []string{"layout", "conns", "backend", "target", "req/s", "p50 µs", "p99 µs", "× direct", "× nginx", "× fasthttp proxy",
	"proxy CPU µs/req", "backend CPU µs/req", "bytes/resp", "errors"}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sleepCtx pauses between load runs so that sockets and CPU settle (not a synchronisation).
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
