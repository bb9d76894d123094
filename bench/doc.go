// Command bench measures what sfgate adds to a request and how fast it recovers from a failover, on one
// machine, and writes bench/RESULTS.md.
//
// Place in the data flow (docs/design.md §1): bench drives the whole chain from outside. It starts fakesf (the fake
// cluster: management API and replica servers on loopback) through its Go API, builds cmd/sfgate and runs it as
// a separate process with bench/sfgate.yaml, and loads it with wrk (and its own Go load loops), next to the same
// replica reached directly and through nginx, haproxy and Caddy. It also calls the resolver package directly for resolution
// latency and cache scale.
//
//	go run ./bench                        # all sections, one Markdown report on stdout (about 12 minutes)
//	go run ./bench -out bench/RESULTS.md  # and rewrite the results file
//	go run ./bench -smoke                 # every section for about a second, no thresholds (CI runs it as
//	                                      # SFGATE_BENCH_SMOKE=1 go test -run TestSmokeRunsEverySection ./bench/)
//	go run ./bench -sections e2e -layouts pinned -reps 5 -duration 5s
//
// Sections (-sections):
//   - resolve: the resolver's benchmarks (go test -bench 'Resolve|Reresolve' -benchmem -count N ./resolver/, parsed)
//     and percentiles from bench's own timing loop over the resolver API against an in-process fakesf.
//   - instructions: user-space instructions per proxied GET (valgrind --tool=callgrind on the gateway package's
//     benchmarks BackendDirect, ProxyBareFasthttp, ProxyBaseURL, ProxyServiceFabric; two iteration counts,
//     difference ÷ their difference). Deterministic to about 0.2%, so it resolves changes in the gateway's own
//     work that wrk's timings, which drift with the VM's load, cannot.
//   - e2e: wrk --latency at each -conns against direct / nginx / sfgate, for a fakesf replica and for a
//     100-byte fasthttp echo backend, targets interleaved within each repetition, unpinned and pinned
//     (taskset: wrk on CPU 0, servers on CPU 1). Medians and same-repetition ratios, CPU µs per request from /proc.
//   - peers: sfgate beside nginx, haproxy and Caddy doing equal work (bench/peers.go): each proxies
//     /shop/orders/1?customer=0 to the same fakesf primary over keep-alive connections, adds X-Forwarded-For, -Proto,
//     -Host, -Prefix and X-Request-Id (checked from fakesf's echo before timing) and runs one worker (sfgate
//     GOMAXPROCS=1). Closed loop: wrk -t1 -c32, interleaved rounds, req/s, p99, CPU per request from
//     /proc/<pid>/stat (children included) and same-round ratios to sfgate. Open loop: bench's Go load generator
//     (bench/openloop.go) at 50% and 90% of nginx's peak, latency from each request's due time, p50/p99/p99.9.
//     Memory: RSS with 10,000 idle keep-alive client connections (the harness raises RLIMIT_NOFILE to its hard
//     limit for itself and the proxies).
//   - profile: where sfgate spends its CPU under wrk -c64 (Go pprof if the admin listener serves it, else perf).
//   - failover: MovePrimaryReplica (SF's REST fault call on fakesf) under a steady GET stream through sfgate:
//     time to the first answer from the new primary, failed requests.
//   - scale: resolver heap and hit latency with 1, 1k and 100k partitions cached; naming calls for 1M distinct
//     keys on a 4-partition service (fakesf's ResolvePartition counter).
//
// The report ends with bench/TUNING.md, the hand-kept log of the performance changes and what each bought.
//
// Child processes: the bench binary re-executes itself with -serve-fakesf ADDR, -serve-echo ADDR or
// -serve-fasthttp-proxy LISTEN=UPSTREAM (package internal/bareproxy) so that these servers can be pinned like the others. Every process is started and stopped by its PID. Missing tools
// (wrk, nginx, haproxy, Caddy, taskset, perf, valgrind) turn their rows into notes that say how to install them
// (apt-get install wrk nginx-light haproxy valgrind; go install github.com/caddyserver/caddy/v2/cmd/caddy@v2.11.9),
// and so does a valgrind that cannot run Go programs on the machine
// (the instructions section first runs a tiny Go program under callgrind and quotes valgrind's failure).
package main
