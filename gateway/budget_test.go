package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

// budgetConfig sends GETs for one partition to fakesf's Orders service, re-resolving on 503 (the replica is no
// longer primary) as the SF Reverse Proxy does; BUDGET is replaced by a retryBudget line or nothing.
const budgetConfig = `
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster: {managementEndpoints: [CLUSTER_URL], maxPartitionResolutionRetries: 3}
BUDGET
apis:
  - name: orders
    path: o
    policies: |
      <policies><inbound>
        <set-backend-service backend-id="orders" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("k",""))"
            sf-resolve-condition="@(context.LastError?.Reason == &quot;BackendConnectionFailure&quot; || context.Response.StatusCode == 503)" />
      </inbound></policies>
`

// moveFigures are the calls a primary move under load caused.
type moveFigures struct {
	requests     int64 // client requests answered
	attempts     int64 // requests the gateway sent to replicas
	complaints   int64 // ResolvePartition calls with PreviousRspVersion (re-resolutions that reached naming)
	budgetDenied uint64
}

// extraCalls is the backend calls beyond one per client request.
func (f moveFigures) extraCalls() int64 { return f.attempts - f.requests }

func (f moveFigures) String() string {
	return fmt.Sprintf("%d client requests, %d backend calls (%d extra), %d naming complaints, %d retries refused by the budget",
		f.requests, f.attempts, f.extraCalls(), f.complaints, f.budgetDenied)
}

// runPrimaryMove keeps clients GETting one partition while its primary stops being primary: for a while it
// answers 503 (as a replica does between losing the role and naming naming the new one), then the primary
// moves. Each phase lasts a number of answered requests, not a time.
func runPrimaryMove(t *testing.T, budget string, clients int) moveFigures {
	c := fakesftest.Start(t)
	g := startGateway(t, replaceBudget(budget), c)
	p, prim := primaryOf42(t, c)
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 30 * time.Second}
	t.Cleanup(httpc.CloseIdleConnections)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var answered atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := httpc.Get("http://" + g.addr + "/o/orders?k=42")
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("GET: %v", err)
					}
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				answered.Add(1)
			}
		}()
	}
	phase := func(what string, n int64) {
		target := answered.Load() + n
		waitFor(t, what, func() bool { return answered.Load() >= target })
	}
	phase("requests before the move", 200)
	_, complaintsBefore := c.PartitionResolveCalls(p.ID)
	attemptsBefore := g.rt.Load().backends["orders"].metrics.attempts.Load()
	requestsBefore := answered.Load()
	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{Status: 503}); err != nil {
		t.Fatal(err)
	}
	phase("requests while the primary answers 503", 80)
	var target string
	for _, r := range p.Replicas {
		if r.ID != prim.ID {
			target = r.Node
			break
		}
	}
	if err := c.MovePrimary(p.ID, target); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{}); err != nil {
		t.Fatal(err)
	}
	phase("requests after the move", 50)
	stop()
	wg.Wait()
	be := g.rt.Load().backends["orders"]
	_, complaints := c.PartitionResolveCalls(p.ID)
	return moveFigures{
		requests:     answered.Load() - requestsBefore,
		attempts:     int64(be.metrics.attempts.Load() - attemptsBefore),
		complaints:   complaints - complaintsBefore,
		budgetDenied: be.metrics.budgetRefused.Load(),
	}
}

func replaceBudget(budget string) string {
	if budget != "" {
		budget = "    retryBudget: " + budget
	}
	return strings.Replace(budgetConfig, "BUDGET", budget, 1)
}

// A primary move under load: without a budget every request the old primary refuses re-resolves and is resent
// up to maxPartitionResolutionRetries times; with retryBudget {ratio: 0.2, minPerSecond: 1} the extra naming
// and backend calls stay within 0.2 × the requests + 10 (one per second over the 10-second window), give or
// take the requests deciding at the same instant.
func TestRetryBudgetHoldsAPrimaryMove(t *testing.T) {
	const clients = 8
	var without, with moveFigures
	t.Run("moves", func(t *testing.T) { // two clusters, side by side
		t.Run("without", func(t *testing.T) {
			t.Parallel()
			without = runPrimaryMove(t, "", clients)
			t.Logf("without a retry budget: %s", without)
		})
		t.Run("with", func(t *testing.T) {
			t.Parallel()
			with = runPrimaryMove(t, "{ratio: 0.2, minPerSecond: 1}", clients)
			t.Logf("with retryBudget {ratio: 0.2, minPerSecond: 1}: %s", with)
		})
	})
	if t.Failed() {
		return
	}

	// Requests before the move counted in the budget's window too (200 of them): they are what the ratio allows.
	allowed := int64(0.2*float64(with.requests+200)) + 10 + clients
	if with.extraCalls() > allowed || with.complaints > allowed {
		t.Errorf("with the budget: %d extra backend calls and %d naming complaints, want at most %d each", with.extraCalls(), with.complaints, allowed)
	}
	if with.budgetDenied == 0 {
		t.Error("the budget refused no retry: the move did not test it")
	}
	if without.extraCalls() <= with.extraCalls() || without.complaints <= with.complaints {
		t.Errorf("the move without a budget caused no more calls than with one (%s vs %s): it did not test the budget", without, with)
	}
}
