package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

// stormConfig sends orders to fakesf's Int64Range service with the default re-resolution rule (/d) and with the
// condition the README recommends (/c).
const stormConfig = `
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster:
      managementEndpoints: [CLUSTER_URL]
      maxPartitionResolutionRetries: 10
  orders-fresh-writes:
    url: fabric:/Shop/Orders
    writeConnections: fresh
    serviceFabricCluster:
      managementEndpoints: [CLUSTER_URL]
      maxPartitionResolutionRetries: 10
apis:
  - name: default-rule
    path: d
    operations:
      - {method: "*", urlTemplate: "/orders/{id}"}
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders" sf-partition-key="@(context.Request.MatchedParameters["id"])" />
      </inbound></policies>
  - name: readme-condition
    path: c
    operations:
      - {method: "*", urlTemplate: "/orders/{id}"}
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders" sf-partition-key="@(context.Request.MatchedParameters["id"])"
            sf-resolve-condition="@(context.LastError?.Reason == &quot;BackendConnectionFailure&quot;)" />
      </inbound></policies>
  - name: fresh-writes
    path: f
    operations:
      - {method: "*", urlTemplate: "/orders/{id}"}
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders-fresh-writes" sf-partition-key="@(context.Request.MatchedParameters["id"])" />
      </inbound></policies>
`

// replicaLedger counts, per request ID, how often a request arrived at a replica and how often it ran there.
type replicaLedger struct {
	mu       sync.Mutex
	received map[string]int
	executed map[string]int
	bodies   map[string]string // request ID → SHA-256 of the body the replica read
}

func newReplicaLedger() *replicaLedger {
	return &replicaLedger{received: map[string]int{}, executed: map[string]int{}, bodies: map[string]string{}}
}

func (l *replicaLedger) record(ev fakesf.ReplicaEvent) {
	id := ev.Header.Get("X-Request-Id")
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev.Stage {
	case fakesf.StageReceived:
		l.received[id]++
	case fakesf.StageExecuted:
		l.executed[id]++
		l.bodies[id] = ev.BodySHA256
	}
}

func (l *replicaLedger) counts(id string) (received, executed int, body string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.received[id], l.executed[id], l.bodies[id]
}

// stormOutcome is what clients saw of one request.
type stormOutcome struct {
	id      string
	method  string
	status  int    // 0: no HTTP answer at all
	bodySum string // SHA-256 of the body sent (POST)
	echoSum string // SHA-256 the replica reported
	detail  string
}

// stormFigures sums up a storm.
type stormFigures struct {
	gets, getsFailed                            int
	posts, postsOK, postsTwice, postsDropped    int
	postsFailedReached, postsBodyWrong, noReply int
}

func (f stormFigures) String() string {
	return fmt.Sprintf("GETs %d (failed %d); POSTs %d (ok %d, executed twice %d, dropped without reaching a replica %d, "+
		"failed after reaching one %d, body changed %d); no HTTP answer %d",
		f.gets, f.getsFailed, f.posts, f.postsOK, f.postsTwice, f.postsDropped, f.postsFailedReached, f.postsBodyWrong, f.noReply)
}

// runStorm sends GETs and POSTs (unique bodies, unique request IDs) from clients goroutines to prefix while
// primaries move, replicas restart and a node stops and starts, for the given number of chaos steps.
func runStorm(t *testing.T, prefix string, clients, steps int) stormFigures {
	ledger := newReplicaLedger()
	c := fakesftest.Start(t, fakesf.WithReplicaObserver(ledger.record), fakesf.WithNamingCache(fakesf.NamingCache{Stale: true}))
	logs := &lockedBuffer{}
	g := startGatewayWith(t, stormConfig, c, Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	logOf := func(id string) string { // the gateway's account of a failed request
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, id) {
				return line
			}
		}
		return "(no log line)"
	}
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 30 * time.Second}
	t.Cleanup(httpc.CloseIdleConnections)

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var (
		mu       sync.Mutex
		outcomes []stormOutcome
		wg       sync.WaitGroup
		sent     atomic.Int64
	)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for n := 0; ctx.Err() == nil; n++ {
				o := stormOutcome{id: fmt.Sprintf("storm-%d-%d", w, n), method: "GET"}
				var body []byte
				if rng.IntN(10) < 6 {
					o.method = "POST"
					body = fmt.Appendf(nil, "order %s: %x", o.id, rng.Uint64())
					sum := sha256.Sum256(body)
					o.bodySum = hex.EncodeToString(sum[:])
				}
				req, err := http.NewRequest(o.method, fmt.Sprintf("http://%s/%s/orders/%d", g.addr, prefix, rng.IntN(1024)), bytes.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("X-Request-Id", o.id)
				resp, err := httpc.Do(req)
				if err != nil {
					o.detail = err.Error()
				} else {
					data, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					o.status = resp.StatusCode
					var rr fakesf.ReplicaResponse
					if o.status == 200 && json.Unmarshal(data, &rr) == nil {
						o.echoSum = rr.BodySHA256
					} else {
						o.detail = string(data)
					}
				}
				sent.Add(1)
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		}()
	}

	// Chaos: every tick, move the primary of every partition; every third tick restart a primary; stop a node
	// a third of the way through and start it again at two thirds. Each step waits for some requests first,
	// so the storm is as long as the load needs, not a fixed time.
	parts := partitionsOf(t, c, "fabric:/Shop/Orders")
	stopped := ""
	for step := range steps {
		waitFor(t, "requests between chaos steps", func() bool { return sent.Load() >= int64((step+1)*clients) })
		for i, p := range parts {
			cur := partitionFor(t, c, "fabric:/Shop/Orders", fmt.Sprint(p.LowKey))
			prim, ok := cur.Primary()
			switch {
			case !ok:
			case step%3 == 2 && i == step%len(parts):
				_ = c.RestartReplica(prim.Node, p.ID, prim.ID)
			default:
				_ = c.MovePrimary(p.ID, "")
			}
		}
		switch step {
		case steps / 3:
			stopped = c.Nodes()[step%5].Name
			if err := c.StopNode(stopped); err != nil {
				t.Logf("stop node: %v", err)
				stopped = ""
			}
		case 2 * steps / 3:
			if stopped != "" {
				if err := c.StartNode(stopped); err != nil {
					t.Errorf("start node: %v", err)
				}
			}
		}
	}
	stop()
	wg.Wait()

	var f stormFigures
	for _, o := range outcomes {
		received, executed, echoed := ledger.counts(o.id)
		if o.status == 0 {
			f.noReply++
		}
		if o.method == "GET" {
			f.gets++
			if o.status != 200 {
				f.getsFailed++
				if f.getsFailed <= 3 {
					t.Logf("GET %s: %d %s", o.id, o.status, o.detail)
				}
			}
			continue
		}
		f.posts++
		if executed > 1 {
			f.postsTwice++
			t.Logf("POST %s ran %d times (client saw %d)", o.id, executed, o.status)
		}
		switch {
		case o.status == 200:
			f.postsOK++
			if o.echoSum != o.bodySum || echoed != o.bodySum || executed == 0 {
				f.postsBodyWrong++
				t.Logf("POST %s: body sent %s, echoed %s, replica read %s (ran %d times)", o.id, o.bodySum, o.echoSum, echoed, executed)
			}
		case received == 0:
			f.postsDropped++
			t.Logf("POST %s dropped: %d; gateway: %s", o.id, o.status, logOf(o.id))
		default:
			f.postsFailedReached++
			t.Logf("POST %s failed after reaching a replica (received %d, ran %d): %d; gateway: %s", o.id, received, executed, o.status, logOf(o.id))
		}
	}
	t.Logf("storm on /%s: %s", prefix, f)
	return f
}

// During a failover storm no POST runs twice, no POST that never reached a replica is lost, every GET succeeds
// and every body arrives intact, with the default rule (/d) and with the README's recommended condition (/c).
// A POST written into a keep-alive connection just as the replica closed it may still fail after reaching the
// replica (HTTP/1.1 cannot tell the gateway whether it ran, so it is not resent); with writeConnections: fresh
// (/f) every POST has its own connection and that case cannot arise. Such failures are logged with the gateway's
// account, not asserted: how many there are depends on how the machine schedules the race.
//
// A POST on a new connection can still be lost in one way no client can tell from a POST that ran: the closing
// replica resets the connection after the gateway wrote the request, because its handshake was still completing
// or the kernel queued it between the replica's last accept and its close (drain.go). That needs the replica's
// thread stalled in that instant: measured at about one storm in 40 with four busy loops on two CPUs, none in
// 90 with none. The assertion stays strict: a gateway change that drops writes in any other way fails it.
func TestFailoverStormWritesRunOnceAndNoneDropped(t *testing.T) {
	for _, prefix := range []string{"d", "c", "f"} {
		t.Run(prefix, func(t *testing.T) {
			t.Parallel()
			f := runStorm(t, prefix, 16, 24)
			if f.posts < 100 || f.gets < 50 {
				t.Fatalf("storm too small to tell: %s", f)
			}
			if f.postsTwice != 0 || f.postsDropped != 0 || f.getsFailed != 0 || f.postsBodyWrong != 0 || f.noReply != 0 {
				t.Errorf("storm: %s", f)
			}
		})
	}
}
