package main

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serveTest serves h on a free loopback port until the test ends and returns its base URL.
func serveTest(t *testing.T, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// TestOpenLoopSendsTheSchedule: rate × duration requests reach the server, each answered once.
func TestOpenLoopSendsTheSchedule(t *testing.T) {
	var served atomic.Int64
	base := serveTest(t, func(c *fasthttp.RequestCtx) {
		if string(c.RequestURI()) != "/shop/orders/1?customer=0" {
			c.Error("wrong target "+string(c.RequestURI()), fasthttp.StatusNotFound)
			return
		}
		served.Add(1)
	})
	res, err := openLoop{URL: base + "/shop/orders/1?customer=0", Rate: 2000, Duration: 100 * time.Millisecond, Conns: 4,
		Drain: 5 * time.Second}.run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// The server also sees one unmeasured request per connection, sent before the schedule to open it.
	if res.Scheduled != 200 || res.Answered != 200 || res.Errors != 0 || res.Unfinished != 0 || len(res.Latencies) != 200 || served.Load() != 200+4 {
		t.Fatalf("scheduled %d answered %d errors %d unfinished %d latencies %d; server saw %d; want 200 each (the server 204)",
			res.Scheduled, res.Answered, res.Errors, res.Unfinished, len(res.Latencies), served.Load())
	}
	if res.Percentile(0.999) == unfinishedLatency || res.AnsweredRate() <= 0 {
		t.Fatalf("p99.9 %v, rate %v", res.Percentile(0.999), res.AnsweredRate())
	}
}

// TestOpenLoopCountsWaitingFromTheDueTime is the coordinated-omission check: over one connection, the first
// scheduled request (the server's second: the first opens the connection) is held for 300 ms while the other
// 99 fall due, one per ms. Each of them waits behind it, and its latency must include that wait: the held one
// arrives no earlier than the schedule's start, so request i (due i ms after it) is answered at least
// 300 - i ≥ 201 ms after its due time. A closed-loop measurement, which starts the clock when the request is
// sent, would report about a millisecond.
func TestOpenLoopCountsWaitingFromTheDueTime(t *testing.T) {
	var n atomic.Int64
	base := serveTest(t, func(c *fasthttp.RequestCtx) {
		if n.Add(1) == 2 {
			<-time.After(300 * time.Millisecond) // a slow answer, not a synchronisation
		}
	})
	res, err := openLoop{URL: base + "/", Rate: 1000, Duration: 100 * time.Millisecond, Conns: 1, Drain: 10 * time.Second}.run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Answered != 100 || res.Unfinished != 0 {
		t.Fatalf("answered %d, unfinished %d; want 100, 0", res.Answered, res.Unfinished)
	}
	if min := res.Latencies[0]; min < 201*time.Millisecond {
		t.Fatalf("shortest latency %v: the wait behind the held request (≥ 201 ms for every request) was not counted", min)
	}
}

// TestOpenLoopUnanswered: a server that never answers leaves every request unfinished, and the percentiles
// say so instead of reporting only what came back.
func TestOpenLoopUnanswered(t *testing.T) {
	stop := make(chan struct{})
	base := serveTest(t, func(c *fasthttp.RequestCtx) { <-stop })
	defer close(stop)
	res, err := openLoop{URL: base + "/", Rate: 200, Duration: 50 * time.Millisecond, Conns: 2, Drain: 100 * time.Millisecond}.run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Scheduled != 10 || res.Unfinished != 10 || res.Answered != 0 {
		t.Fatalf("scheduled %d unfinished %d answered %d; want 10, 10, 0", res.Scheduled, res.Unfinished, res.Answered)
	}
	if p := res.Percentile(0.5); p != unfinishedLatency || formatLatency(p) != "unfinished" {
		t.Fatalf("p50 = %v (%s), want unfinished", p, formatLatency(p))
	}
}

func TestOpenLoopRejectsBadInput(t *testing.T) {
	for _, o := range []openLoop{
		{URL: "https://127.0.0.1:1/", Rate: 1, Duration: time.Second, Conns: 1},
		{URL: "127.0.0.1:1", Rate: 1, Duration: time.Second, Conns: 1},
		{URL: "http://127.0.0.1:1/", Rate: 0, Duration: time.Second, Conns: 1},
		{URL: "http://127.0.0.1:1/", Rate: 1, Duration: time.Second, Conns: 0},
	} {
		if _, err := o.run(t.Context()); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}
