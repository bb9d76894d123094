package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sfgate/sfgate/fakesf"
)

// The peers section compares sfgate with the proxies its users would otherwise deploy (nginx, haproxy, Caddy),
// each configured to do the same work for the same request: route /shop/orders/1?customer=0 to the primary of
// partition 0 of fabric:/Bench/Orders (the API path /shop replaced by the replica's base path), over keep-alive
// connections on both sides, adding X-Forwarded-For, -Proto, -Host, -Prefix and X-Request-Id, with one worker
// process or thread each (sfgate GOMAXPROCS=1). Only sfgate resolves the partition (from its cache); the peers
// are configured with the primary's address. It measures closed-loop throughput, p99 and CPU per request (wrk),
// open-loop latency at fixed rates (openLoop) and memory with idle keep-alive client connections.

// peerTarget is the request every proxy of the peers section gets.
const peerTarget = "/shop/orders/1?customer=0"

// peer is one proxy of the peers section.
type peer struct {
	name, version string
	addr          string
	proc          *proc
}

func (p peer) url() string { return "http://" + p.addr + peerTarget }

// peerNames are the rows, in order; sfgate is the reference of every ratio.
var peerNames = []string{"sfgate", "nginx", "haproxy", "Caddy"}

// peersSection starts fakesf and the proxies and runs the three measurements, each its own table.
func (h *harness) peersSection(ctx context.Context) ([]*table, []string) {
	closed := &table{Title: "Peers: equal work, closed loop (wrk -t1; medians of interleaved rounds, ratios within a round)",
		Header: []string{"proxy", "version", "req/s", "p99 µs", "CPU µs/req", "sfgate req/s ÷ its", "its CPU/req ÷ sfgate's", "sfgate p99 ÷ its", "errors"}}
	open := &table{Title: "Peers: open loop at fixed rates (bench's Go load generator; latency from each request's due time)",
		Header: []string{"rate", "proxy", "answered req/s", "p50 µs", "p99 µs", "p99.9 µs", "unfinished", "errors", "generator CPU µs/req"}}
	idle := &table{Title: fmt.Sprintf("Peers: memory with %s idle keep-alive client connections", thousands(int64(h.opts.idleConns))),
		Header: []string{"proxy", "RSS before", "RSS with the connections", "per connection", "still open when measured"}}
	tables := []*table{closed, open, idle}
	skipAll := func(format string, args ...any) ([]*table, []string) {
		for _, t := range tables {
			t.note("skipped: "+format, args...)
		}
		return tables, nil
	}

	limit, err := raiseFileLimit()
	if err != nil {
		idle.note("the file limit could not be raised: %v", err)
		limit = fileLimit()
	}
	fsf, err := startFakesfProc(ctx, "")
	if err != nil {
		return skipAll("fakesf: %v", err)
	}
	defer fsf.stop()
	parts, err := fsf.partitions(ctx)
	if err != nil {
		return skipAll("fakesf: %v", err)
	}
	replica, err := primaryURL(parts)
	if err != nil {
		return skipAll("fakesf: %v", err)
	}

	var peers []peer
	var absent []string
	add := func(name, version string, p *proc, addr string, err error) {
		if err != nil {
			absent = append(absent, name)
			for _, t := range tables {
				t.note("%s: skipped: %v", name, err)
			}
			return
		}
		pr := peer{name: name, version: version, addr: addr, proc: p}
		if err := checkPeer(ctx, pr.url(), parts[0]); err != nil {
			p.stop()
			absent = append(absent, name)
			for _, t := range tables {
				t.note("%s: skipped: GET %s did not reach the primary with the five headers: %v", name, pr.url(), err)
			}
			return
		}
		peers = append(peers, pr)
	}
	if h.sfgateErr != nil {
		add("sfgate", "", nil, "", h.sfgateErr)
	} else {
		g, err := startSfgate(ctx, h.sfgateBin, h.dir, fsf.url, "", 1, "")
		if err != nil {
			add("sfgate", "", nil, "", err)
		} else {
			add("sfgate", "this tree, GOMAXPROCS=1", g.proc, g.addr, nil)
		}
	}
	ng, addr, err := startNginxPeer(ctx, h.dir, replica)
	add("nginx", strings.TrimPrefix(nginxVersion(), "nginx version: "), ng, addr, err)
	hp, addr, err := startHaproxyPeer(ctx, h.dir, replica, haproxyMaxconn(h.opts.idleConns))
	add("haproxy", haproxyVersion(), hp, addr, err)
	cd, addr, err := startCaddyPeer(ctx, h.dir, replica)
	add("Caddy", caddyVersion(), cd, addr, err)
	for _, p := range peers {
		defer p.proc.stop()
	}
	if len(peers) == 0 || peers[0].name != "sfgate" {
		return skipAll("sfgate, the reference of every ratio, is not running")
	}

	var summary []string
	if _, err := lookTool("wrk", "apt-get install wrk"); err != nil {
		closed.note("skipped: %v", err)
		open.note("skipped: the rates are fractions of nginx's closed-loop peak, which needs wrk: %v", err)
	} else {
		samples := h.peersClosedLoop(ctx, peers, closed)
		summary = append(summary, h.peersClosedRows(peers, samples, closed)...)
		peak, of := spreadOf(rpsOf(samples["nginx"])).Med, "nginx"
		if peak == 0 {
			peak, of = spreadOf(rpsOf(samples["sfgate"])).Med, "sfgate (nginx is not running)"
		}
		if peak > 0 {
			summary = append(summary, h.peersOpenLoop(ctx, peers, peak, of, open)...)
		} else {
			open.note("skipped: no closed-loop peak to take the rates from")
		}
	}
	summary = append(summary, h.peersIdle(ctx, peers, limit, idle)...)
	if len(absent) > 0 {
		summary = append(summary, fmt.Sprintf("peers not measured: %s (see the notes of the peers tables)", strings.Join(absent, ", ")))
	}
	return tables, summary
}

// safeURLPath is what the replica's base path may hold to be pasted into a proxy's configuration as is.
var safeURLPath = regexp.MustCompile(`^[A-Za-z0-9/_.-]*$`)

// peerListen parses the replica's base URL for a peer's configuration and picks a free loopback address for
// the peer to listen on.
func peerListen(replica string) (*url.URL, string, error) {
	u, err := url.Parse(replica)
	if err != nil || u.Host == "" || !safeURLPath.MatchString(u.Path) {
		return nil, "", fmt.Errorf("replica URL %q: not http://host:port/path with a plain path (%v)", replica, err)
	}
	addr, err := freeAddr()
	return u, addr, err
}

// haproxyMaxconn is haproxy's maxconn for the memory measurement: the idle connections and room for a few more.
func haproxyMaxconn(idle int) int { return idle + 100 }

// checkPeer sends one GET through a proxy and checks, from fakesf's echo of the request, that the partition's
// primary answered it with the path and query of peerTarget behind its base path, and that the five
// headers sfgate adds arrived.
func checkPeer(ctx context.Context, u string, p fakesf.PartitionState) error {
	rr, err := replicaAnswer(ctx, u, p)
	if err != nil {
		return err
	}
	if !strings.HasSuffix(rr.Path, "/orders/1") || strings.HasPrefix(rr.Path, "/shop") || rr.Query != "customer=0" {
		return fmt.Errorf("the replica got path %q query %q, want <base path>/orders/1 and customer=0", rr.Path, rr.Query)
	}
	want := map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "", "X-Forwarded-Prefix": "/shop", "X-Request-Id": ""}
	for name, value := range want {
		got := http.Header(rr.Headers).Values(name)
		switch {
		case len(got) != 1 || got[0] == "":
			return fmt.Errorf("header %s arrived as %q, want one value", name, got)
		case value != "" && got[0] != value:
			return fmt.Errorf("header %s is %q, want %q", name, got[0], value)
		}
	}
	return nil
}

// replicaAnswer sends one GET and returns fakesf's echo, checking that the partition's primary answered.
func replicaAnswer(ctx context.Context, u string, p fakesf.PartitionState) (fakesf.ReplicaResponse, error) {
	var rr fakesf.ReplicaResponse
	status, body, err := get(ctx, u)
	if err != nil {
		return rr, err
	}
	if status != http.StatusOK {
		return rr, fmt.Errorf("status %d: %.300s", status, body)
	}
	if err := json.Unmarshal(body, &rr); err != nil {
		return rr, fmt.Errorf("answer is not a fakesf replica's: %w: %.300s", err, body)
	}
	prim, _ := p.Primary()
	if rr.PartitionID != p.ID || rr.Role != "primary" || rr.ReplicaID != fmt.Sprint(prim.ID) {
		return rr, fmt.Errorf("answered by replica %s (%s) of partition %s, want primary %d of %s",
			rr.ReplicaID, rr.Role, rr.PartitionID, prim.ID, p.ID)
	}
	return rr, nil
}

// peersClosedLoop runs wrk against every peer in turn, round after round; samples[name][round].
func (h *harness) peersClosedLoop(ctx context.Context, peers []peer, t *table) map[string][]e2eSample {
	run := func(p peer, d time.Duration) e2eSample {
		w := wrkRun{URL: p.url(), Threads: 1, Conns: h.opts.peerConns, Duration: d}
		var s e2eSample
		c0 := p.proc.cpuTime()
		s.res, s.err = w.run(ctx)
		s.proxyCPU = p.proc.cpuTime() - c0
		return s
	}
	for _, p := range peers {
		w := wrkRun{URL: p.url(), Threads: 1, Conns: h.opts.peerConns, Duration: h.opts.peerDuration}
		t.Commands = append(t.Commands, shellJoin(w.command())+"   # "+p.name)
	}
	if h.opts.warmup > 0 {
		for _, p := range peers {
			run(p, h.opts.warmup)
		}
	}
	samples := map[string][]e2eSample{}
	for round := range h.opts.peerRounds {
		for _, p := range peers {
			if ctx.Err() != nil {
				return samples
			}
			s := run(p, h.opts.peerDuration)
			h.logf("peers closed loop round %d %-8s %8.0f req/s  p99 %-9s CPU %s  %v", round+1, p.name, s.res.RequestsSec,
				micros(s.res.P99), s.proxyCPU, errOrEmpty(s.err))
			samples[p.name] = append(samples[p.name], s)
			sleepCtx(ctx, h.opts.pause)
		}
	}
	return samples
}

// rpsOf is the req/s of each successful sample.
func rpsOf(ss []e2eSample) []float64 {
	var xs []float64
	for _, s := range ss {
		if s.err == nil {
			xs = append(xs, s.res.RequestsSec)
		}
	}
	return xs
}

// sameRound is f(sfgate's sample, the peer's sample) for every round where both succeeded.
func sameRound(ref, other []e2eSample, f func(ref, other e2eSample) (float64, bool)) spread {
	var xs []float64
	for i := range min(len(ref), len(other)) {
		if ref[i].err == nil && other[i].err == nil {
			if x, ok := f(ref[i], other[i]); ok {
				xs = append(xs, x)
			}
		}
	}
	return spreadOf(xs)
}

// peersClosedRows renders the closed-loop table and returns its summary line.
func (h *harness) peersClosedRows(peers []peer, samples map[string][]e2eSample, t *table) []string {
	ref := samples["sfgate"]
	var parts []string
	for _, p := range peers {
		ss := samples[p.name]
		var p99 []float64
		var errs int64
		for _, s := range ss {
			if s.err != nil {
				t.note("%s: a round failed: %v", p.name, s.err)
				continue
			}
			p99 = append(p99, float64(s.res.P99)/1e3)
			errs += s.res.Errors()
		}
		rps := sameRound(ref, ss, func(a, b e2eSample) (float64, bool) {
			return a.res.RequestsSec / b.res.RequestsSec, b.res.RequestsSec > 0
		})
		cpu := sameRound(ref, ss, func(a, b e2eSample) (float64, bool) {
			ca, cb := float64(a.proxyCPU)/float64(a.res.Requests), float64(b.proxyCPU)/float64(b.res.Requests)
			return cb / ca, a.res.Requests > 0 && b.res.Requests > 0 && ca > 0
		})
		lat := sameRound(ref, ss, func(a, b e2eSample) (float64, bool) {
			return float64(a.res.P99) / float64(b.res.P99), b.res.P99 > 0
		})
		cells := []string{rps.format("%.2f"), cpu.format("%.2f"), lat.format("%.2f")}
		if p.name == "sfgate" {
			cells = []string{"—", "—", "—"}
		} else {
			parts = append(parts, fmt.Sprintf("%s: sfgate req/s ÷ its **%s**, its CPU/req ÷ sfgate's **%s**, sfgate p99 ÷ its %s",
				p.name, cells[0], cells[1], cells[2]))
		}
		t.add(append([]string{p.name, p.version, spreadOf(rpsOf(ss)).format("%.0f"), spreadOf(p99).format("%.0f"),
			cpuPerReq(ss).format("%.1f")}, append(cells, fmt.Sprint(errs))...)...)
	}
	t.note("Equal work: every proxy gets `GET %s` and sends `<primary's base path>/orders/1?customer=0` to the primary of "+
		"partition 0 of %s over keep-alive connections, adding X-Forwarded-For, -Proto, -Host, -Prefix and X-Request-Id; "+
		"each proxy is checked before timing to reach that primary with those five headers (fakesf echoes them). One worker each: "+
		"sfgate GOMAXPROCS=1 (bench/sfgate.yaml, partition key resolved from its cache), nginx `worker_processes 1` (bench/nginx.go), "+
		"haproxy `nbthread 1` (bench/haproxy.go), Caddy with GOMAXPROCS=1 (bench/caddy.go); no access logs. Nothing is pinned: the "+
		"proxies, fakesf, wrk and the harness share the machine's CPUs.", peerTarget, benchService)
	t.note("%d rounds × %s per proxy (wrk -c%d), proxies interleaved within each round, warm-up %s each. Ratios are the median (min–max) of "+
		"per-round ratios; the goal of sfgate's issue is `sfgate req/s ÷ its` ≥ 1, `its CPU/req ÷ sfgate's` ≥ 1 and `sfgate p99 ÷ its` ≤ 1 "+
		"against nginx and haproxy. CPU µs/req: utime+stime of the proxy process and its children (nginx's master and worker) from "+
		"/proc/<pid>/stat over the run ÷ the requests wrk completed (10 ms ticks). p99 is wrk's: closed loop, so queueing at -c%d.",
		h.opts.peerRounds, h.opts.peerDuration, h.opts.peerConns, h.opts.warmup, h.opts.peerConns)
	if len(parts) == 0 {
		return nil
	}
	return []string{"peers, equal work (wrk -t1 closed loop): " + strings.Join(parts, "; ")}
}

// openLoopDrain is how long an open-loop run waits, after its schedule, for the answers still due.
const openLoopDrain = 2 * time.Second

// peersOpenLoop runs the open-loop load at 50% and 90% of peak against every peer, interleaved round after
// round, and renders the medians of each round's percentiles.
func (h *harness) peersOpenLoop(ctx context.Context, peers []peer, peak float64, of string, t *table) []string {
	type key struct {
		frac float64
		name string
	}
	fracs := []float64{0.5, 0.9}
	res := map[key][]openLoopResult{}
	genCPU := map[key][]float64{}
	for round := range h.opts.peerRounds {
		for _, f := range fracs {
			for _, p := range peers {
				if ctx.Err() != nil {
					return nil
				}
				o := openLoop{URL: p.url(), Rate: f * peak, Duration: h.opts.peerDuration, Conns: h.opts.peerConns, Drain: openLoopDrain}
				c0 := selfCPU()
				r, err := o.run(ctx)
				if n := r.Scheduled - r.Unfinished; n > 0 {
					genCPU[key{f, p.name}] = append(genCPU[key{f, p.name}], float64(selfCPU()-c0)/1e3/float64(n))
				}
				if err != nil {
					t.note("%s at %.0f%%: round %d failed: %v", p.name, f*100, round+1, err)
					continue
				}
				h.logf("peers open loop round %d %3.0f%% %-8s answered %6.0f/s p50 %s p99 %s p99.9 %s unfinished %d errors %d", round+1, f*100,
					p.name, r.AnsweredRate(), formatLatency(r.Percentile(0.5)), formatLatency(r.Percentile(0.99)),
					formatLatency(r.Percentile(0.999)), r.Unfinished, r.Errors)
				res[key{f, p.name}] = append(res[key{f, p.name}], r)
				sleepCtx(ctx, h.opts.pause)
			}
		}
	}
	var summary []string
	for _, f := range fracs {
		var parts []string
		for _, p := range peers {
			rs := res[key{f, p.name}]
			var rate []float64
			var pct [3][]time.Duration
			unfinished, errs := 0, 0
			for _, r := range rs {
				rate = append(rate, r.AnsweredRate())
				for i, q := range []float64{0.5, 0.99, 0.999} {
					pct[i] = append(pct[i], r.Percentile(q))
				}
				unfinished += r.Unfinished
				errs += r.Errors
			}
			cells := []string{fmt.Sprintf("%.0f%% of %s's peak = %.0f req/s", f*100, strings.Fields(of)[0], f*peak), p.name, spreadOf(rate).format("%.0f")}
			for i := range pct {
				cells = append(cells, medianLatency(pct[i]))
			}
			t.add(append(cells, fmt.Sprint(unfinished), fmt.Sprint(errs), spreadOf(genCPU[key{f, p.name}]).format("%.1f"))...)
			parts = append(parts, fmt.Sprintf("%s %s/%s", p.name, medianLatency(pct[1]), medianLatency(pct[2])))
		}
		summary = append(summary, fmt.Sprintf("peers, open loop at %.0f%% of %s's peak (%.0f req/s), p99/p99.9 µs: %s",
			f*100, strings.Fields(of)[0], f*peak, strings.Join(parts, ", ")))
	}
	t.note("Rates: 50%% and 90%% of %s's closed-loop peak above (median req/s, %.0f). bench's own Go load generator (bench/openloop.go, "+
		"fasthttp client, %d keep-alive connections) schedules request i at start + i/rate on connection i mod %[3]d and sends it then, or as "+
		"soon as that connection is free; each latency runs from that due time to the answer, so a server that falls behind is charged "+
		"for the whole wait (no coordinated omission). A proxy that cannot keep up at a rate shows it as growing latency and as `unfinished`: requests "+
		"without an answer %s after the schedule ends, counted above every latency in the percentiles. %d rounds × %s per rate and "+
		"proxy, interleaved; percentiles are the median of the rounds' percentiles, answered req/s their median (min–max). "+
		"The generator runs in the harness process and shares the CPUs with the proxies and fakesf; its own CPU per request (the "+
		"harness's utime+stime over the run, from getrusage) is in the last column: where it costs more than wrk, a rate near the "+
		"closed-loop peak is beyond what the machine can serve for any proxy.",
		of, peak, h.opts.peerConns, openLoopDrain, h.opts.peerRounds, h.opts.peerDuration)
	return summary
}

// medianLatency formats the median of per-round percentiles in µs ("unfinished" when most rounds did not
// get that far).
func medianLatency(ds []time.Duration) string {
	if len(ds) == 0 {
		return "—"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return formatLatency(s[(len(s)-1)/2])
}

// peersIdle measures each peer's resident memory before and while it holds h.opts.idleConns idle keep-alive
// client connections, one peer at a time.
func (h *harness) peersIdle(ctx context.Context, peers []peer, limit uint64, t *table) []string {
	n := h.opts.idleConns
	var parts []string
	for _, p := range peers {
		if ctx.Err() != nil {
			return nil
		}
		before, err := p.proc.rss()
		if err != nil {
			t.note("%s: skipped: %v", p.name, err)
			continue
		}
		conns, err := openIdleConns(ctx, p.addr, peerTarget, n)
		if err != nil {
			t.note("%s: skipped: %v", p.name, err)
			continue
		}
		after, err := p.proc.rss()
		open := conns.stillOpen()
		conns.close()
		if err != nil {
			t.note("%s: skipped: %v", p.name, err)
			continue
		}
		per := float64(after-before) / float64(n)
		t.add(p.name, mib(before), mib(after), fmt.Sprintf("%.1f KiB", per/1024), thousands(int64(open)))
		parts = append(parts, fmt.Sprintf("%s %s (%.1f KiB per connection)", p.name, mib(after), per/1024))
		h.logf("peers idle %-8s RSS %s → %s with %d connections (%d still open)", p.name, mib(before), mib(after), n, open)
		sleepCtx(ctx, h.opts.pause)
	}
	t.note("Each connection is opened by the harness, carries one `GET %s` (answered 200 and kept alive) and then sits idle; "+
		"RSS is read from /proc/<pid>/stat (process and children: nginx's master and worker; pages they share count twice) "+
		"after the closed- and open-loop runs, just before the connections are opened and once all of them are open; per "+
		"connection = the difference ÷ %s. `still open` counts the connections the proxy had not closed when RSS was read "+
		"(a non-blocking peek). File limit (RLIMIT_NOFILE) of the harness and of the proxies it starts: %d; haproxy, which "+
		"reserves two descriptors per connection (maxconn %d), runs with `no strict-limits` to start under it.", peerTarget,
		thousands(int64(n)), limit, haproxyMaxconn(n))
	if limit < uint64(n)+1000 {
		t.note("the file limit %d is below %d connections plus a margin: raise the hard limit (ulimit -Hn) to measure them all", limit, n)
	}
	if len(parts) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("peers, RSS with %s idle keep-alive client connections: %s", thousands(int64(n)), strings.Join(parts, ", "))}
}

// selfCPU is the harness process's own user+system CPU time so far (getrusage RUSAGE_SELF; 0 if unknown).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
