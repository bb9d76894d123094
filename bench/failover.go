package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfgate/sfgate/fakesf"
)

// failoverWorkers is the size of the steady request stream (closed loop: each worker sends its next GET when
// the previous one is answered).
const failoverWorkers = 4

// outcome is one request of the load loop.
type outcome struct {
	end     time.Time
	replica string // replicaId of the JSON body ("" when the request failed)
	failure string // "" on 200
}

// watch waits for the first 200 answered by one replica.
type watch struct {
	replica string
	once    sync.Once
	seen    chan time.Time
}

// loadLoop sends GETs with a fixed partition key to sfgate until stopped.
type loadLoop struct {
	url     string
	client  *http.Client
	mu      sync.Mutex
	results []outcome
	watch   atomic.Pointer[watch]
}

func (l *loadLoop) run(ctx context.Context) {
	for ctx.Err() == nil {
		o := l.once(ctx)
		if ctx.Err() != nil {
			return // a request cut short by the end of the run is not a failure
		}
		if w := l.watch.Load(); w != nil && o.replica == w.replica {
			w.once.Do(func() { w.seen <- o.end })
		}
		l.mu.Lock()
		l.results = append(l.results, o)
		l.mu.Unlock()
	}
}

func (l *loadLoop) once(ctx context.Context) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url, nil)
	if err != nil {
		return outcome{end: time.Now(), failure: err.Error()}
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return outcome{end: time.Now(), failure: err.Error()}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	end := time.Now()
	if err != nil {
		return outcome{end: end, failure: "read body: " + err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		return outcome{end: end, failure: fmt.Sprintf("status %d: %.200s", resp.StatusCode, body)}
	}
	var rr fakesf.ReplicaResponse
	if err := json.Unmarshal(body, &rr); err != nil {
		return outcome{end: end, failure: "body is not a replica's answer: " + err.Error()}
	}
	return outcome{end: end, replica: rr.ReplicaID}
}

// failoverScenario is the naming behaviour during a failover.
type failoverScenario struct {
	name  string
	cache fakesf.NamingCache
}

var failoverScenarios = []failoverScenario{
	{name: "fresh naming"},
	{name: "stale naming cache", cache: fakesf.NamingCache{Stale: true}},
}

// failover measures how long sfgate takes to serve from a new primary after MovePrimaryReplica, with fresh
// naming answers and with SF's naming-gateway cache returning the old endpoints until a complaint.
func (h *harness) failover(ctx context.Context) (*table, []string) {
	t := &table{Title: "Failover: MovePrimaryReplica under a steady GET stream through sfgate",
		Header: []string{"naming", "move", "primary (replica/node)", "MovePrimaryReplica call", "move → first answer from the new primary",
			"requests in window", "failed"}}
	if h.sfgateErr != nil {
		t.note("skipped: %v", h.sfgateErr)
		return t, nil
	}
	var sum []string
	for _, sc := range failoverScenarios {
		times, failed, err := h.failoverScenario(ctx, sc, t)
		if err != nil {
			t.note("%s: %v", sc.name, err)
		}
		if len(times) > 0 {
			sum = append(sum, fmt.Sprintf("failover (%s): first answer from the new primary after **%s ms** (median, min–max over %d moves); **%d GETs failed** (target 0)",
				sc.name, spreadOf(times).format("%.1f"), len(times), failed))
		}
	}
	t.note("Load: %d goroutines in a closed loop, `GET /shop/orders?customer=%s` through sfgate (net/http client, keep-alive); fakesf "+
		"and the load run in this process, sfgate in its own (GOMAXPROCS default). The new primary is the partition's first live "+
		"secondary; the old primary becomes a secondary and fakesf closes its listener and connections, so sfgate sees a connection "+
		"failure and re-resolves (bench/sfgate.yaml has no sf-resolve-condition: the default rule). With the stale naming cache "+
		"(fakesf NamingCache{Stale: true}), ResolvePartition keeps answering the old endpoints until a PreviousRspVersion complaint, "+
		"as SF's naming gateway does. Time = completion of the first 200 answered by the new primary's replica ID minus the moment the "+
		"MovePrimaryReplica call was sent; a window runs from one move to the next (the last to the end of the stream).",
		failoverWorkers, benchKey)
	return t, sum
}

// failoverScenario runs h.opts.moves moves against a fresh fakesf and sfgate and adds one row per move.
func (h *harness) failoverScenario(ctx context.Context, sc failoverScenario, t *table) (times []float64, failedTotal int, err error) {
	c, err := fakesf.Start(ctx, benchTopology(), fakesf.WithNamingCache(sc.cache))
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	g, err := startSfgate(ctx, h.sfgateBin, h.dir, c.URL(), "", 0, "")
	if err != nil {
		return nil, 0, err
	}
	defer g.stop()

	loadCtx, stopLoad := context.WithCancel(ctx)
	l := &loadLoop{url: g.url(benchKey), client: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: failoverWorkers}}}
	var wg sync.WaitGroup
	for range failoverWorkers {
		wg.Go(func() { l.run(loadCtx) })
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopLoad()
			wg.Wait()
			stopped = true
		}
	}
	defer stop()

	settle := 500 * time.Millisecond
	if h.opts.smoke {
		settle = 200 * time.Millisecond
	}
	t.Commands = appendOnce(t.Commands, `curl -X POST "$FAKESF/Partitions/$PARTITION_ID/\$/MovePrimaryReplica?api-version=6.5"   # NodeName omitted: the first live secondary`)
	first := len(t.Rows)
	var windows []time.Time
	for move := 1; move <= h.opts.moves; move++ {
		sleepCtx(ctx, settle)
		parts, err := c.Partitions(benchService)
		if err != nil {
			return times, failedTotal, err
		}
		p := parts[0]
		old, _ := p.Primary()
		t0 := time.Now()
		if err := movePrimaryREST(ctx, c.URL(), p.ID); err != nil {
			return times, failedTotal, fmt.Errorf("move %d: %w", move, err)
		}
		callDur := time.Since(t0)
		windows = append(windows, t0)
		parts, err = c.Partitions(benchService)
		if err != nil {
			return times, failedTotal, err
		}
		now, _ := parts[0].Primary()
		w := &watch{replica: strconv.FormatInt(now.ID, 10), seen: make(chan time.Time, 1)}
		l.watch.Store(w)
		took := "not within 30 s"
		timeout := time.NewTimer(30 * time.Second)
		select {
		case at := <-w.seen:
			d := at.Sub(t0)
			times = append(times, float64(d)/float64(time.Millisecond))
			took = micros(d)
		case <-timeout.C:
		case <-ctx.Done():
			timeout.Stop()
			return times, failedTotal, ctx.Err()
		}
		timeout.Stop()
		t.add(sc.name, strconv.Itoa(move), fmt.Sprintf("%d/%s → %d/%s", old.ID, old.Node, now.ID, now.Node), micros(callDur), took, "", "")
	}
	sleepCtx(ctx, settle)
	stop()

	l.mu.Lock()
	results := slices.Clone(l.results)
	l.mu.Unlock()
	end := time.Now()
	for i, from := range windows {
		to := end
		if i+1 < len(windows) {
			to = windows[i+1]
		}
		n, failed := 0, 0
		for _, o := range results {
			if o.end.Before(from) || !o.end.Before(to) {
				continue
			}
			n++
			if o.failure != "" {
				failed++
				if failedTotal+failed <= 3 {
					t.note("%s, move %d: a failed request: %s", sc.name, i+1, o.failure)
				}
			}
		}
		failedTotal += failed
		if row := first + i; row < len(t.Rows) {
			t.Rows[row][5], t.Rows[row][6] = thousands(int64(n)), strconv.Itoa(failed)
		}
	}
	before := 0
	for _, o := range results {
		if len(windows) > 0 && o.end.Before(windows[0]) && o.failure != "" {
			before++
		}
	}
	if before > 0 {
		t.note("%s: %d requests failed before the first move", sc.name, before)
	}
	return times, failedTotal, nil
}

// movePrimaryREST calls SF's MovePrimaryReplica on the management endpoint.
func movePrimaryREST(ctx context.Context, base, partitionID string) error {
	u := base + "/Partitions/" + partitionID + "/$/MovePrimaryReplica?api-version=6.5"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s: %s", u, resp.Status, body)
	}
	return nil
}
