package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// openLoop is a constant-rate load: request i is due at start + i/Rate, whether or not the earlier ones have
// been answered (an open loop, unlike wrk's closed loop, where a slow answer delays the next request and so
// hides itself: coordinated omission). Each latency runs from the request's due time to its answer, so the
// time a request waits for a free connection, or for the generator itself, counts against the server.
type openLoop struct {
	URL      string
	Rate     float64       // requests per second
	Duration time.Duration // how long requests are scheduled
	Conns    int           // keep-alive connections (and sending goroutines)
	Drain    time.Duration // after Duration, how long answers to requests already due are awaited
}

// openLoopResult is one run. Latencies holds one entry per scheduled request, sorted; a request not
// answered by the end of the drain is unfinishedLatency.
type openLoopResult struct {
	Scheduled  int
	Answered   int // 2xx or 3xx answers
	Errors     int // other statuses and transport errors
	Unfinished int // not answered (or not even sent) by the end of the drain
	Latencies  []time.Duration
	Elapsed    time.Duration // from the first due time to the last answer
}

// unfinishedLatency stands for a request without an answer: above every measured latency.
const unfinishedLatency = time.Duration(math.MaxInt64)

// Percentile is the q-quantile of all scheduled requests, unfinished ones included (as unfinishedLatency).
func (r openLoopResult) Percentile(q float64) time.Duration { return percentile(r.Latencies, q) }

// AnsweredRate is the answers per second over the run.
func (r openLoopResult) AnsweredRate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Answered) / r.Elapsed.Seconds()
}

// formatLatency prints a latency in µs, or "unfinished".
func formatLatency(d time.Duration) string {
	if d == unfinishedLatency {
		return "unfinished"
	}
	return fmt.Sprintf("%.0f", float64(d)/1e3)
}

// run sends the schedule and waits for the answers (at most Duration + Drain).
func (o openLoop) run(ctx context.Context) (openLoopResult, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return openLoopResult{}, fmt.Errorf("open loop: %q is not an http://host:port/... URL", o.URL)
	}
	if !(o.Rate > 0) || o.Duration <= 0 || o.Conns < 1 {
		return openLoopResult{}, fmt.Errorf("open loop: rate %v, duration %v and connections %d must be positive", o.Rate, o.Duration, o.Conns)
	}
	total := int(o.Rate * o.Duration.Seconds())
	if total < 1 {
		total = 1
	}
	hc := &fasthttp.HostClient{Addr: u.Host, MaxConns: o.Conns, MaxIdleConnDuration: time.Minute,
		NoDefaultUserAgentHeader: true, DisablePathNormalizing: true}
	defer hc.CloseIdleConnections()
	uri := u.RequestURI()

	// Open every connection first (one unmeasured request each, all at once, answered within Drain), so that the schedule does not
	// start with TCP handshakes.
	var warm sync.WaitGroup
	for range o.Conns {
		warm.Add(1)
		go func() {
			defer warm.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(uri)
			req.Header.SetHost(u.Host)
			_ = hc.DoTimeout(req, resp, max(o.Drain, 100*time.Millisecond))
		}()
	}
	warm.Wait()

	// The schedule: request i is due at start + i/Rate and goes out on connection i mod Conns (each connection
	// has its own share of the schedule, as in wrk2). A connection still busy with an earlier request sends a
	// due one as soon as it is free, and a late wake-up sends at once, so lateness never accumulates: it is
	// charged to the requests' latencies.
	interval := time.Duration(float64(time.Second) / o.Rate)
	start := time.Now().Add(10 * time.Millisecond)
	end := start.Add(o.Duration + o.Drain)
	var mu sync.Mutex
	var res openLoopResult
	res.Scheduled = total
	lats := make([]time.Duration, 0, total)
	var last time.Time
	var wg sync.WaitGroup
	for w := range o.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			mine := make([]time.Duration, 0, total/o.Conns+1)
			var answered, errs int
			var lastMine time.Time
			for i := w; i < total; i += o.Conns {
				t := start.Add(time.Duration(i) * interval)
				if d := time.Until(t); d > 0 {
					timer.Reset(d)
					select {
					case <-ctx.Done():
					case <-timer.C:
					}
				}
				if ctx.Err() != nil || !time.Now().Before(end) {
					break // the rest stays unfinished
				}
				req.Reset()
				req.SetRequestURI(uri)
				req.Header.SetHost(u.Host)
				err := hc.DoDeadline(req, resp, end)
				now := time.Now()
				switch {
				case errors.Is(err, fasthttp.ErrTimeout) || (err != nil && !now.Before(end)):
					continue // unfinished
				case err != nil || resp.StatusCode() >= 400:
					errs++
				default:
					answered++
				}
				mine = append(mine, now.Sub(t))
				lastMine = now
			}
			mu.Lock()
			lats = append(lats, mine...)
			res.Answered += answered
			res.Errors += errs
			if lastMine.After(last) {
				last = lastMine
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Unfinished = total - len(lats)
	for range res.Unfinished {
		lats = append(lats, unfinishedLatency)
	}
	slices.Sort(lats)
	res.Latencies = lats
	if !last.IsZero() {
		res.Elapsed = last.Sub(start)
	}
	return res, nil
}
