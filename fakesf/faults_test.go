package fakesf

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

const (
	moveTmpl       = "/Partitions/{partitionId}/$/MovePrimaryReplica"
	restartTmpl    = "/Nodes/{nodeName}/$/GetPartitions/{partitionId}/$/GetReplicas/{replicaId}/$/Restart"
	transitionTmpl = "/Faults/Nodes/{nodeName}/$/StartTransition/"
	progressTmpl   = "/Faults/Nodes/{nodeName}/$/GetTransitionProgress"
)

func TestMovePrimaryReplica(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	const q = "&PartitionKeyType=2&PartitionKeyValue=42"
	before := h.resolve("Shop~Orders", q)
	oldURL := before.primaryURL(t)
	pid := before.PartitionInformation.ID

	// A keep-alive connection to the old primary must be closed by the demotion too.
	keepAlive := &http.Transport{}
	defer keepAlive.CloseIdleConnections()
	ka := &http.Client{Transport: keepAlive}
	resp, err := ka.Get(oldURL)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	r := h.call("POST", moveTmpl, "/Partitions/"+pid+"/$/MovePrimaryReplica?api-version=6.5&IgnoreConstraints=true")
	if r.status != 200 || len(r.body) != 0 {
		t.Fatalf("MovePrimaryReplica: %d %s", r.status, r.body)
	}
	after := h.resolve("Shop~Orders", q)
	newURL := after.primaryURL(t)
	if newURL == oldURL {
		t.Fatal("primary did not move")
	}
	if !newer(t, after.Version, before.Version) {
		t.Errorf("Version %s is not newer than %s", after.Version, before.Version)
	}
	rr := hitReplica(t, newURL)
	if rr.Role != "primary" || rr.PartitionID != pid {
		t.Errorf("new primary answered %+v", rr)
	}
	refused(t, oldURL)
	if _, err := ka.Get(oldURL); err == nil {
		t.Error("request over the old primary's keep-alive connection succeeded")
	}
	walkAll(h)

	// Move to a named node holding a secondary.
	var target string
	for _, rep := range h.parts("fabric:/Shop/Orders")[0].Replicas {
		if rep.Role == "secondary" {
			target = rep.Node
		}
	}
	h.call("POST", moveTmpl, "/Partitions/"+pid+"/$/MovePrimaryReplica?api-version=6.5&NodeName="+target)
	if p, _ := h.parts("fabric:/Shop/Orders")[0].Primary(); p.Node != target {
		t.Errorf("primary on %s, want %s", p.Node, target)
	}
	// To the node that already holds the primary: SF's AlreadyPrimaryReplica.
	h.wantError("POST", moveTmpl, "/Partitions/"+pid+"/$/MovePrimaryReplica?api-version=6.5&NodeName="+target, 409, "FABRIC_E_PRIMARY_ALREADY_EXISTS")
	h.wantError("POST", moveTmpl, "/Partitions/"+pid+"/$/MovePrimaryReplica?api-version=6.5&NodeName=_Node_9", 404, "FABRIC_E_NODE_NOT_FOUND")
	h.wantError("POST", moveTmpl, "/Partitions/"+pid+"/$/MovePrimaryReplica?api-version=6.5&IgnoreConstraints=maybe", 400, "E_INVALIDARG")
	h.wantError("POST", moveTmpl, "/Partitions/00000000-0000-0000-0000-000000000001/$/MovePrimaryReplica?api-version=6.5", 404, "FABRIC_E_PARTITION_NOT_FOUND")
	web := h.parts("fabric:/Shop/Web")[0].ID
	h.wantError("POST", moveTmpl, "/Partitions/"+web+"/$/MovePrimaryReplica?api-version=6.5", 400, "FABRIC_E_INVALID_FOR_STATELESS_SERVICES")

	var fe *FabricError
	if err := h.c.MovePrimary(web, ""); !errors.As(err, &fe) || fe.Code != "FABRIC_E_INVALID_FOR_STATELESS_SERVICES" {
		t.Errorf("Go MovePrimary on stateless: %v", err)
	}
}

func TestRestartReplica(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	carts := h.parts("fabric:/Shop/Carts")[0]
	var sec ReplicaState
	for _, r := range carts.Replicas {
		if r.Role == "secondary" {
			sec = r
			break
		}
	}
	oldURL := sec.Endpoints[""]
	path := "/Nodes/" + sec.Node + "/$/GetPartitions/" + carts.ID + "/$/GetReplicas/" + itoa(sec.ID) + "/$/Restart?api-version=6.0"
	if r := h.call("POST", restartTmpl, path); r.status != 200 {
		t.Fatalf("Restart: %d %s", r.status, r.body)
	}
	var rep replicaInfoJSON
	h.getJSON("/Partitions/{partitionId}/$/GetReplicas/{replicaId}", "/Partitions/"+carts.ID+"/$/GetReplicas/"+itoa(sec.ID)+"?api-version=6.0", &rep)
	newURL := listenerURL(t, rep.Address, "")
	if portOf(t, newURL) == portOf(t, oldURL) {
		t.Fatalf("port unchanged after restart: %s", newURL)
	}
	refused(t, oldURL)
	if rr := hitReplica(t, newURL); rr.ReplicaID != itoa(sec.ID) || rr.Role != "secondary" {
		t.Errorf("restarted replica answered %+v", rr)
	}
	after := h.resolve("Shop~Carts", "&PartitionKeyType=3&PartitionKeyValue=eu")
	if !newer(t, after.Version, carts.Version) {
		t.Error("restart did not make the Version newer")
	}

	// Restarting the primary fails over to a secondary; the restarted replica returns as a secondary.
	prim, _ := carts.Primary()
	h.call("POST", restartTmpl, "/Nodes/"+prim.Node+"/$/GetPartitions/"+carts.ID+"/$/GetReplicas/"+itoa(prim.ID)+"/$/Restart?api-version=6.0")
	now, _ := h.parts("fabric:/Shop/Carts")[0].Primary()
	if now.ID == prim.ID {
		t.Error("restarted primary is still primary")
	}
	walkAll(h)

	h.wantError("POST", restartTmpl, "/Nodes/_Node_9/$/GetPartitions/"+carts.ID+"/$/GetReplicas/"+itoa(sec.ID)+"/$/Restart?api-version=6.0", 404, "FABRIC_E_NODE_NOT_FOUND")
	wrongNode := "_Node_0"
	if sec.Node == wrongNode {
		wrongNode = "_Node_1"
	}
	h.wantError("POST", restartTmpl, "/Nodes/"+wrongNode+"/$/GetPartitions/"+carts.ID+"/$/GetReplicas/"+itoa(sec.ID)+"/$/Restart?api-version=6.0", 404, "FABRIC_E_REPLICA_DOES_NOT_EXIST")
	web := h.parts("fabric:/Shop/Web")[0]
	inst := web.Replicas[0]
	h.wantError("POST", restartTmpl, "/Nodes/"+inst.Node+"/$/GetPartitions/"+web.ID+"/$/GetReplicas/"+itoa(inst.ID)+"/$/Restart?api-version=6.0", 400, "FABRIC_E_INVALID_FOR_STATELESS_SERVICES")
}

func TestNodeStopStart(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	orders := h.parts("fabric:/Shop/Orders")
	prim, _ := orders[0].Primary()
	nodeName := prim.Node
	// Every URL of every replica on that node, before the stop.
	var urls []string
	for _, svc := range h.c.Services() {
		for _, p := range h.parts(svc) {
			for _, r := range p.Replicas {
				if r.Node == nodeName {
					for _, u := range r.Endpoints {
						urls = append(urls, u)
					}
				}
			}
		}
	}
	if len(urls) == 0 {
		t.Fatal("no open listener on the node")
	}
	before := h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=0")

	var node nodeInfoJSON
	h.getJSON("/Nodes/{nodeName}", "/Nodes/"+nodeName+"?api-version=6.0", &node)
	base := "/Faults/Nodes/" + nodeName + "/$/StartTransition/?api-version=6.0"
	stopOp := "11111111-2222-3333-4444-555555555555"
	h.wantError("POST", transitionTmpl, base+"&OperationId="+stopOp+"&NodeTransitionType=Stop&NodeInstanceId=1&StopDurationInSeconds=600", 409, "FABRIC_E_INSTANCE_ID_MISMATCH")
	h.wantError("POST", transitionTmpl, base+"&OperationId="+stopOp+"&NodeTransitionType=Stop&NodeInstanceId="+node.InstanceID+"&StopDurationInSeconds=60", 400, "E_INVALIDARG")
	h.wantError("POST", transitionTmpl, base+"&NodeTransitionType=Stop&NodeInstanceId="+node.InstanceID+"&StopDurationInSeconds=600", 400, "E_INVALIDARG")
	h.wantError("POST", transitionTmpl, base+"&OperationId="+stopOp+"&NodeTransitionType=Pause&NodeInstanceId="+node.InstanceID+"&StopDurationInSeconds=600", 400, "E_INVALIDARG")
	h.wantError("POST", transitionTmpl, base+"&OperationId="+stopOp+"&NodeTransitionType=Start&NodeInstanceId="+node.InstanceID+"&StopDurationInSeconds=600", 400, "FABRIC_E_NODE_IS_UP")
	stop := base + "&OperationId=" + stopOp + "&NodeTransitionType=Stop&NodeInstanceId=" + node.InstanceID + "&StopDurationInSeconds=600"
	if r := h.call("POST", transitionTmpl, stop); r.status != 202 {
		t.Fatalf("stop: %d %s", r.status, r.body)
	}
	h.wantError("POST", transitionTmpl, stop, 409, "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS")
	var progress struct {
		State                string
		NodeTransitionResult struct{ ErrorCode int }
	}
	h.getJSON(progressTmpl, "/Faults/Nodes/"+nodeName+"/$/GetTransitionProgress?api-version=6.0&OperationId="+stopOp, &progress)
	if progress.State != "Completed" {
		t.Errorf("progress %+v", progress)
	}

	for _, u := range urls {
		refused(t, u)
	}
	h.getJSON("/Nodes/{nodeName}", "/Nodes/"+nodeName+"?api-version=6.0", &node)
	if node.NodeStatus != "Down" || !node.IsStopped {
		t.Errorf("stopped node reports %s stopped=%v", node.NodeStatus, node.IsStopped)
	}
	after := h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=0")
	if !newer(t, after.Version, before.Version) {
		t.Error("node stop did not make the Version newer")
	}
	if rr := hitReplica(t, after.primaryURL(t)); rr.Node == nodeName || rr.Role != "primary" {
		t.Errorf("primary after stop: %+v", rr)
	}
	if len(after.Endpoints) != 2 {
		t.Errorf("resolve lists %d endpoints, want the 2 live replicas", len(after.Endpoints))
	}
	var reps pagedList[replicaInfoJSON]
	h.getJSON("/Partitions/{partitionId}/$/GetReplicas", "/Partitions/"+orders[0].ID+"/$/GetReplicas?api-version=6.0", &reps)
	down := 0
	for _, r := range reps.Items {
		if r.ReplicaStatus == "Down" {
			down++
			if r.NodeName != nodeName || r.Address != "" {
				t.Errorf("down replica %+v", r)
			}
		}
	}
	if down != 1 {
		t.Errorf("%d down replicas, want 1", down)
	}
	walkAll(h)

	startOp := "11111111-2222-3333-4444-555555555556"
	start := base + "&OperationId=" + startOp + "&NodeTransitionType=Start&NodeInstanceId=" + node.InstanceID + "&StopDurationInSeconds=0"
	if r := h.call("POST", transitionTmpl, start); r.status != 202 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	var up nodeInfoJSON
	h.getJSON("/Nodes/{nodeName}", "/Nodes/"+nodeName+"?api-version=6.0", &up)
	if up.NodeStatus != "Up" || up.InstanceID == node.InstanceID {
		t.Errorf("started node: %s instance %s (was %s)", up.NodeStatus, up.InstanceID, node.InstanceID)
	}
	back := h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=0")
	if len(back.Endpoints) != 3 || !newer(t, back.Version, after.Version) {
		t.Errorf("after start: %d endpoints, version newer=%v", len(back.Endpoints), newer(t, back.Version, after.Version))
	}
	// Stateless instances on the node serve again (on new ports).
	for _, p := range h.parts("fabric:/Shop/Web") {
		for _, r := range p.Replicas {
			if r.Node == nodeName {
				if rr := hitReplica(t, r.Endpoints["Admin"]); rr.Node != nodeName {
					t.Errorf("instance on restarted node: %+v", rr)
				}
			}
		}
	}
	walkAll(h)

	// Go methods mirror the calls.
	if err := h.c.StartNode(nodeName); err == nil {
		t.Error("StartNode of an up node succeeded")
	}
	if err := h.c.StopNode("_Node_9"); err == nil {
		t.Error("StopNode of an unknown node succeeded")
	}
}

func TestStopDurationRestartsNode(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	n := h.c.Nodes()[2]
	h.call("POST", transitionTmpl, "/Faults/Nodes/"+n.Name+"/$/StartTransition/?api-version=6.0&OperationId=21111111-2222-3333-4444-555555555555&NodeTransitionType=Stop&NodeInstanceId="+itoa(n.InstanceID)+"&StopDurationInSeconds=600")
	if h.c.Nodes()[2].Up {
		t.Fatal("node still up")
	}
	// Let the StopDurationInSeconds timer fire now instead of in 600 s.
	h.c.mu.Lock()
	h.c.nodeByName[n.Name].restart.Reset(0)
	h.c.mu.Unlock()
	waitFor(t, func() bool { return h.c.Nodes()[2].Up })
	if h.c.Nodes()[2].InstanceID == n.InstanceID {
		t.Error("restarted node kept its instance ID")
	}
	walkAll(h)
}

func TestAllNodesDown(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	for _, n := range h.c.Nodes() {
		if err := h.c.StopNode(n.Name); err != nil {
			t.Fatal(err)
		}
	}
	rsp := h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=0")
	if len(rsp.Endpoints) != 0 {
		t.Errorf("endpoints with every node down: %+v", rsp.Endpoints)
	}
	walkAll(h)
	for _, n := range h.c.Nodes() {
		if err := h.c.StartNode(n.Name); err != nil {
			t.Fatal(err)
		}
	}
	rsp = h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=0")
	rr := hitReplica(t, rsp.primaryURL(t))
	if rr.Role != "primary" {
		t.Errorf("after restarting every node: %+v", rr)
	}
}

func TestStaleNamingCache(t *testing.T) {
	h := newHarness(t, DefaultTopology(), WithNamingCache(NamingCache{Stale: true}))
	const q = "&PartitionKeyType=3&PartitionKeyValue=us"
	pid := h.parts("fabric:/Shop/Carts")[1].ID
	v1 := h.resolve("Shop~Carts", q)
	if err := h.c.MovePrimary(pid, ""); err != nil {
		t.Fatal(err)
	}
	stale := h.resolve("Shop~Carts", q)
	if stale.Version != v1.Version || stale.primaryURL(t) != v1.primaryURL(t) {
		t.Fatal("with the naming cache on, a plain resolve must return the cached (pre-move) answer")
	}
	// A complaint naming the cached version refreshes.
	v2 := h.resolve("Shop~Carts", q+"&PreviousRspVersion="+v1.Version)
	if !newer(t, v2.Version, v1.Version) || v2.primaryURL(t) == v1.primaryURL(t) {
		t.Fatal("complaint did not refresh")
	}
	if got := h.resolve("Shop~Carts", q); got.Version != v2.Version {
		t.Error("cache not updated by the refresh")
	}
	// Another move: the cache holds v2, the truth is v3. A complaint about the older v1 gets the cached v2
	// (cached is newer than the complaint); a complaint about v2 gets v3.
	if err := h.c.MovePrimary(pid, ""); err != nil {
		t.Fatal(err)
	}
	if got := h.resolve("Shop~Carts", q+"&PreviousRspVersion="+v1.Version); got.Version != v2.Version {
		t.Error("complaint older than the cache must return the cached entry")
	}
	v3 := h.resolve("Shop~Carts", q+"&PreviousRspVersion="+v2.Version)
	if !newer(t, v3.Version, v2.Version) {
		t.Error("complaint about the cached version must return current data")
	}
	plain, prev := h.c.PartitionResolveCalls(pid)
	if plain != 3 || prev != 3 {
		t.Errorf("counters plain=%d withPrevious=%d, want 3 and 3", plain, prev)
	}

	// MaxAge: an entry older than MaxAge is refreshed (the test controls the clock).
	now := time.Now()
	h.c.mu.Lock()
	h.c.now = func() time.Time { return now }
	h.c.mu.Unlock()
	h.c.SetNamingCache(NamingCache{Stale: true, MaxAge: time.Minute})
	cached := h.resolve("Shop~Carts", q)
	if err := h.c.MovePrimary(pid, ""); err != nil {
		t.Fatal(err)
	}
	if got := h.resolve("Shop~Carts", q); got.Version != cached.Version {
		t.Error("entry younger than MaxAge was refreshed")
	}
	h.c.mu.Lock()
	h.c.now = func() time.Time { return now.Add(2 * time.Minute) }
	h.c.mu.Unlock()
	if got := h.resolve("Shop~Carts", q); !newer(t, got.Version, cached.Version) {
		t.Error("entry older than MaxAge was not refreshed")
	}

	// Off: always current.
	h.c.SetNamingCache(NamingCache{})
	if err := h.c.MovePrimary(pid, ""); err != nil {
		t.Fatal(err)
	}
	if got := h.resolve("Shop~Carts", q); got.Version != h.parts("fabric:/Shop/Carts")[1].Version {
		t.Error("cache off but answer not current")
	}
}

func TestNamingFaults(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	if err := h.c.SetNamingFault(NamingFault{Status: 503, Code: "FABRIC_E_SERVICE_OFFLINE", Count: 2}); err != nil {
		t.Fatal(err)
	}
	h.get("/Services/{serviceId}/$/GetPartitions", "/Services/Shop~Web/$/GetPartitions?api-version=6.4", 200) // not a resolve call
	h.wantError("GET", resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version=6.0", 503, "FABRIC_E_SERVICE_OFFLINE")
	h.wantError("GET", resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version=6.0", 503, "FABRIC_E_SERVICE_OFFLINE")
	h.resolve("Shop~Web", "")

	if err := h.c.SetNamingFault(NamingFault{Status: 504, Code: "FABRIC_E_TIMEOUT", AllRoutes: true, Count: 1}); err != nil {
		t.Fatal(err)
	}
	h.wantError("GET", "/Services/{serviceId}/$/GetPartitions", "/Services/Shop~Web/$/GetPartitions?api-version=6.4", 504, "FABRIC_E_TIMEOUT")
	h.resolve("Shop~Web", "")

	if err := h.c.SetNamingFault(NamingFault{Drop: true, Count: 1}); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableKeepAlives: true}
	if _, err := (&http.Client{Transport: tr}).Get(h.c.URL() + "/Services/Shop~Web/$/ResolvePartition?api-version=6.0"); err == nil {
		t.Error("dropped connection answered")
	}
	h.resolve("Shop~Web", "")
	if err := h.c.SetNamingFault(NamingFault{Status: 200, Code: "X"}); err == nil {
		t.Error("status 200 accepted as a fault")
	}

	// Resolve latency longer than the call's timeout → 504 FABRIC_E_TIMEOUT.
	h.c.SetResolveDelay(time.Hour)
	h.wantError("GET", resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version=6.0&timeout=1", 504, "FABRIC_E_TIMEOUT")
	// A client giving up does not leave the handler waiting.
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", h.c.URL()+"/Services/Shop~Web/$/ResolvePartition?api-version=6.0", nil)
	errc := make(chan error, 1)
	calls := h.c.ResolveCalls()
	go func() {
		resp, err := h.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, func() bool { return h.c.ResolveCalls() > calls })
	cancel()
	if err := <-errc; err == nil {
		t.Error("cancelled request succeeded")
	}
	h.c.SetResolveDelay(0)
	h.resolve("Shop~Web", "")
}

// waitFor polls cond (bounded, no sleeps).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		runtime.Gosched()
	}
}

func TestReplicaEcho(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	web := h.parts("fabric:/Shop/Web")[0]
	inst := web.Replicas[1]
	body := make([]byte, 100<<10)
	_, _ = rand.Read(body)
	req, _ := http.NewRequest("PUT", inst.Endpoints["Admin"]+"/a%2Fb/c?x=%20y&x=2", bytes.NewReader(body))
	req.Header.Set("X-Test", "v1")
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rr ReplicaResponse
	if err := json.NewDecoder(resp.Body).Decode(&rr); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if rr.BodyLength != int64(len(body)) || rr.BodySHA256 != hex.EncodeToString(sum[:]) || len(rr.Body) == 0 {
		t.Errorf("body: length %d sha %s", rr.BodyLength, rr.BodySHA256)
	}
	if rr.Method != "PUT" || rr.Listener != "Admin" || rr.Node != inst.Node || rr.Role != "stateless" || rr.ReplicaID != itoa(inst.ID) || rr.PartitionID != web.ID || rr.Service != "fabric:/Shop/Web" {
		t.Errorf("identity %+v", rr)
	}
	if !strings.HasSuffix(rr.Path, "/a%2Fb/c") || rr.Query != "x=%20y&x=2" || rr.Headers["X-Test"][0] != "v1" {
		t.Errorf("request echo: path %q query %q headers %v", rr.Path, rr.Query, rr.Headers)
	}
	if h.c.ReplicaHits(inst.ID) != 1 {
		t.Errorf("hits %d", h.c.ReplicaHits(inst.ID))
	}

	// Faults: a status, a dropped connection.
	if err := h.c.SetReplicaFault(inst.ID, ReplicaFault{Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	r1, err := h.client.Get(inst.Endpoints[""])
	if err != nil {
		t.Fatal(err)
	}
	r1.Body.Close()
	if r1.StatusCode != 503 {
		t.Errorf("fault status %d", r1.StatusCode)
	}
	if r := h.call("POST", "", "/_fake/replicas/"+itoa(inst.ID)+"/fault?status=404&header=X-ServiceFabric:ResourceNotFound&count=1"); r.status != 200 {
		t.Fatalf("fault via /_fake: %d %s", r.status, r.body)
	}
	r2, err := h.client.Get(inst.Endpoints[""])
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 404 || r2.Header.Get("X-ServiceFabric") != "ResourceNotFound" {
		t.Errorf("fault with header: %d %v", r2.StatusCode, r2.Header)
	}
	if err := h.c.SetReplicaFault(inst.ID, ReplicaFault{Drop: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.Get(inst.Endpoints[""]); err == nil {
		t.Error("dropped replica answered")
	}
	if err := h.c.SetReplicaFault(inst.ID, ReplicaFault{}); err != nil {
		t.Fatal(err)
	}
	hitReplica(t, inst.Endpoints[""])
	if err := h.c.SetReplicaFault(42, ReplicaFault{Status: 503}); err == nil {
		t.Error("fault on an unknown replica accepted")
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := Start(ctx, DefaultTopology())
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	// Leave keep-alive connections open to the management API and a replica.
	resp, err := client.Get(c.URL() + "/Services/Shop~Web/$/ResolvePartition?api-version=6.0")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	parts, _ := c.Partitions("fabric:/Shop/Web")
	replicaURL := parts[0].Replicas[0].Endpoints[""]
	resp, err = client.Get(replicaURL)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	cancel() // the context ends the cluster
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	refused(t, c.URL())
	refused(t, replicaURL)
	tr.CloseIdleConnections()
	waitGoroutines(t, base)
}

func TestStartErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Start(ctx, DefaultTopology()); err == nil {
		t.Error("Start with a done context succeeded")
	}
	if _, err := Start(t.Context(), Topology{}); err == nil {
		t.Error("Start with an empty topology succeeded")
	}
	if _, err := Start(t.Context(), DefaultTopology(), WithListenAddr("256.0.0.1:0")); err == nil {
		t.Error("Start on a bad address succeeded")
	}
	if _, err := Start(t.Context(), DefaultTopology(), WithClientCertThumbprints("00")); err == nil {
		t.Error("bad thumbprint accepted")
	}
	if _, err := Start(t.Context(), DefaultTopology(), WithClusterVersion("x")); err == nil {
		t.Error("bad cluster version accepted")
	}
	// Validation runs on Go-built topologies too.
	topo := DefaultTopology()
	topo.Nodes[0].IP = "127.0.0.1"
	topo.Nodes[1].IP = "127.0.0.1"
	if _, err := Start(t.Context(), topo); err == nil {
		t.Error("two nodes on one IP accepted")
	}
}

// TestFaultsUnderLoad runs resolutions and replica requests while primaries move and nodes stop and start, so
// the race detector sees every lock path; every answer must be a valid one.
func TestFaultsUnderLoad(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	h.c.SetNamingCache(NamingCache{Stale: true})
	stop := make(chan struct{})
	errc := make(chan error, 4)
	for w := range 4 {
		go func() {
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			prev := ""
			for i := 0; ; i++ {
				select {
				case <-stop:
					errc <- nil
					return
				default:
				}
				u := h.c.URL() + "/Services/Shop~Carts/$/ResolvePartition?api-version=6.0&PartitionKeyType=3&PartitionKeyValue=" + []string{"eu", "us", "asia"}[(i+w)%3]
				if prev != "" && i%2 == 0 {
					u += "&PreviousRspVersion=" + prev
				}
				resp, err := client.Get(u)
				if err != nil {
					errc <- err
					return
				}
				var rsp rspJSON
				err = json.NewDecoder(resp.Body).Decode(&rsp)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					errc <- errors.Join(err, errors.New(resp.Status))
					return
				}
				prev = rsp.Version
				for _, e := range rsp.Endpoints {
					if e.Address == "" {
						continue
					}
					var a struct{ Endpoints map[string]string }
					if json.Unmarshal([]byte(e.Address), &a) != nil {
						errc <- errors.New("bad address " + e.Address)
						return
					}
					// The replica may have moved meanwhile: connection errors are expected, wrong answers are not.
					if r, err := client.Get(a.Endpoints[""]); err == nil {
						_, _ = io.Copy(io.Discard, r.Body)
						r.Body.Close()
					}
				}
			}
		}()
	}
	carts := h.parts("fabric:/Shop/Carts")
	for i := range 30 {
		if err := h.c.MovePrimary(carts[i%3].ID, ""); err != nil {
			t.Error(err)
		}
		node := h.c.Nodes()[i%5].Name
		if err := h.c.StopNode(node); err != nil {
			t.Error(err)
		}
		if err := h.c.StartNode(node); err != nil {
			t.Error(err)
		}
		p := h.parts("fabric:/Shop/Carts")[i%3]
		for _, r := range p.Replicas {
			if r.Role == "secondary" && r.Up {
				if err := h.c.RestartReplica(r.Node, p.ID, r.ID); err != nil {
					t.Error(err)
				}
				break
			}
		}
		h.c.SetNamingCache(NamingCache{Stale: i%2 == 0})
	}
	close(stop)
	for range 4 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	walkAll(h)
}

func TestNoPrimaryState(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	if r := h.call("POST", "", "/_fake/failover?auto=false"); r.status != 200 {
		t.Fatalf("failover knob: %d %s", r.status, r.body)
	}
	p := h.parts("fabric:/Shop/Orders")[2]
	prim, _ := p.Primary()
	if err := h.c.StopNode(prim.Node); err != nil {
		t.Fatal(err)
	}
	rsp := h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=600")
	if len(rsp.Endpoints) != 2 || rsp.Endpoints[0].Kind != "StatefulSecondary" || rsp.Endpoints[0].Address != "" {
		t.Fatalf("without failover: %+v", rsp.Endpoints)
	}
	var pi partitionInfoJSON
	h.getJSON("/Partitions/{partitionId}", "/Partitions/"+p.ID+"?api-version=6.4", &pi)
	if pi.PartitionStatus != "Reconfiguring" || pi.HealthState != "Error" {
		t.Errorf("partition without primary: %s %s", pi.PartitionStatus, pi.HealthState)
	}
	walkAll(h)
	if r := h.call("POST", moveTmpl, "/Partitions/"+p.ID+"/$/MovePrimaryReplica?api-version=6.5"); r.status != 200 {
		t.Fatalf("MovePrimaryReplica without a primary: %d %s", r.status, r.body)
	}
	after := h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=600")
	if rr := hitReplica(t, after.primaryURL(t)); rr.Role != "primary" || rr.Node == prim.Node {
		t.Errorf("promoted primary %+v", rr)
	}
	h.c.SetAutoFailover(true)
}
