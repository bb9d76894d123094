package fakesf

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const (
	faultsBase          = "/Faults/Services/{serviceId}/$/GetPartitions/{partitionId}/$/"
	startRestartTmpl    = faultsBase + "StartRestart"
	restartProgressTmpl = faultsBase + "GetRestartProgress"
	startDataLossTmpl   = faultsBase + "StartDataLoss"
	dataLossProgTmpl    = faultsBase + "GetDataLossProgress"
	startQuorumLossTmpl = faultsBase + "StartQuorumLoss"
	quorumLossProgTmpl  = faultsBase + "GetQuorumLossProgress"
	faultsListTmpl      = "/Faults/"
	cancelTmpl          = "/Faults/$/Cancel"
	moveSecondaryTmpl   = "/Partitions/{partitionId}/$/MoveSecondaryReplica"
	moveInstanceTmpl    = "/Services/{serviceId}/$/GetPartitions/{partitionId}/$/MoveInstance"
	restartNodeTmpl     = "/Nodes/{nodeName}/$/Restart"
	removeReplicaTmpl   = "/Nodes/{nodeName}/$/GetPartitions/{partitionId}/$/GetReplicas/{replicaId}/$/Delete"
)

func opID(n int) string { return fmt.Sprintf("%08d-aaaa-4bbb-8ccc-dddddddddddd", n) }

// faultPath is the /Faults/Services/... URL of an operation on a partition.
func faultPath(serviceID, pid, op, query string) string {
	return "/Faults/Services/" + serviceID + "/$/GetPartitions/" + pid + "/$/" + op + "?api-version=6.0" + query
}

type partitionProgressJSON struct {
	State                  string
	RestartPartitionResult *struct {
		ErrorCode         int
		SelectedPartition struct{ ServiceName, PartitionId string }
	}
	InvokeDataLossResult   *struct{ ErrorCode int }
	InvokeQuorumLossResult *struct{ ErrorCode int }
}

func (h *harness) accepted(tmpl, path string) {
	h.t.Helper()
	if r := h.call("POST", tmpl, path); r.status != 202 {
		h.t.Fatalf("POST %s: %d %s, want 202", path, r.status, r.body)
	}
}

// TestPartitionRestart: StartRestart reopens every replica's listeners on new ports (the old primary URL is
// refused), makes the Version newer and reports Completed with the selected partition; SF's errors for a reused or
// unknown OperationId, a bad mode, a partition of another service.
func TestPartitionRestart(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	before := h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=1")
	pid := before.PartitionInformation.ID
	oldURL := before.primaryURL(t)
	start := faultPath("Shop~Orders", pid, "StartRestart", "&OperationId="+opID(1)+"&RestartPartitionMode=AllReplicasOrInstances")
	h.accepted(startRestartTmpl, start)
	after := h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=1")
	if !newer(t, after.Version, before.Version) || after.primaryURL(t) == oldURL {
		t.Errorf("restart: Version newer=%v, primary URL %s (was %s)", newer(t, after.Version, before.Version), after.primaryURL(t), oldURL)
	}
	refused(t, oldURL)
	if rr := hitReplica(t, after.primaryURL(t)); rr.Role != "primary" {
		t.Errorf("restarted primary: %+v", rr)
	}
	var prog partitionProgressJSON
	h.getJSON(restartProgressTmpl, faultPath("Shop~Orders", pid, "GetRestartProgress", "&OperationId="+opID(1)), &prog)
	if prog.State != "Completed" || prog.RestartPartitionResult == nil || prog.RestartPartitionResult.SelectedPartition.PartitionId != pid ||
		prog.RestartPartitionResult.SelectedPartition.ServiceName != "fabric:/Shop/Orders" {
		t.Errorf("restart progress %+v", prog)
	}
	h.wantError("POST", startRestartTmpl, start, 409, "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS")
	h.wantError("GET", restartProgressTmpl, faultPath("Shop~Orders", pid, "GetRestartProgress", "&OperationId="+opID(99)), 404, "FABRIC_E_KEY_NOT_FOUND")
	h.wantError("GET", dataLossProgTmpl, faultPath("Shop~Orders", pid, "GetDataLossProgress", "&OperationId="+opID(1)), 404, "FABRIC_E_KEY_NOT_FOUND")
	h.wantError("POST", startRestartTmpl, faultPath("Shop~Orders", pid, "StartRestart", "&OperationId="+opID(2)+"&RestartPartitionMode=Invalid"), 400, "E_INVALIDARG")
	h.wantError("POST", startRestartTmpl, faultPath("Shop~Orders", pid, "StartRestart", "&OperationId=nope&RestartPartitionMode=AllReplicasOrInstances"), 400, "E_INVALIDARG")
	h.wantError("POST", startRestartTmpl, faultPath("Shop~Carts", pid, "StartRestart", "&OperationId="+opID(2)+"&RestartPartitionMode=AllReplicasOrInstances"), 404, "FABRIC_E_PARTITION_NOT_FOUND")
	h.wantError("POST", startRestartTmpl, faultPath("Shop~Nope", pid, "StartRestart", "&OperationId="+opID(2)+"&RestartPartitionMode=AllReplicasOrInstances"), 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	web := h.parts("fabric:/Shop/Web")[0]
	h.wantError("POST", startRestartTmpl, faultPath("Shop~Web", web.ID, "StartRestart", "&OperationId="+opID(2)+"&RestartPartitionMode=OnlyActiveSecondaries"), 400, "FABRIC_E_INVALID_FOR_STATELESS_SERVICES")
	// Stateless instances restart too, and only secondaries when asked.
	h.accepted(startRestartTmpl, faultPath("Shop~Web", web.ID, "StartRestart", "&OperationId="+opID(3)+"&RestartPartitionMode=AllReplicasOrInstances"))
	if now := h.parts("fabric:/Shop/Web")[0]; now.Replicas[0].Endpoints[""] == web.Replicas[0].Endpoints[""] {
		t.Error("stateless instance kept its port across a partition restart")
	}
	carts := h.parts("fabric:/Shop/Carts")[0]
	h.accepted(startRestartTmpl, faultPath("Shop~Carts", carts.ID, "StartRestart", "&OperationId="+opID(4)+"&RestartPartitionMode=OnlyActiveSecondaries"))
	for i, r := range h.parts("fabric:/Shop/Carts")[0].Replicas {
		if moved := r.Endpoints[""] != carts.Replicas[i].Endpoints[""]; moved != (r.Role == "secondary") {
			t.Errorf("OnlyActiveSecondaries: %s replica changed port: %v", r.Role, moved)
		}
	}
	walkAll(h)
}

// TestDataLoss: StartDataLoss gives the partition a new DataLossVersion and restarts its replicas; stateless
// services are refused.
func TestDataLoss(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	p := h.parts("fabric:/Catalog/Products")[0]
	var before, after partitionInfoJSON
	h.getJSON("/Partitions/{partitionId}", "/Partitions/"+p.ID+"?api-version=6.4", &before)
	h.accepted(startDataLossTmpl, faultPath("Catalog~Products", p.ID, "StartDataLoss", "&OperationId="+opID(1)+"&DataLossMode=FullDataLoss"))
	h.getJSON("/Partitions/{partitionId}", "/Partitions/"+p.ID+"?api-version=6.4", &after)
	if after.PrimaryEpoch.DataLossVersion == before.PrimaryEpoch.DataLossVersion {
		t.Errorf("DataLossVersion unchanged: %s", after.PrimaryEpoch.DataLossVersion)
	}
	var prog partitionProgressJSON
	h.getJSON(dataLossProgTmpl, faultPath("Catalog~Products", p.ID, "GetDataLossProgress", "&OperationId="+opID(1)), &prog)
	if prog.State != "Completed" || prog.InvokeDataLossResult == nil {
		t.Errorf("data loss progress %+v", prog)
	}
	h.wantError("POST", startDataLossTmpl, faultPath("Catalog~Products", p.ID, "StartDataLoss", "&OperationId="+opID(2)+"&DataLossMode=Some"), 400, "E_INVALIDARG")
	web := h.parts("fabric:/Shop/Web")[0]
	h.wantError("POST", startDataLossTmpl, faultPath("Shop~Web", web.ID, "StartDataLoss", "&OperationId="+opID(2)+"&DataLossMode=PartialDataLoss"), 400, "FABRIC_E_INVALID_FOR_STATELESS_SERVICES")
	walkAll(h)
}

// TestQuorumLoss: a quorum loss takes secondaries down for its duration (partition InQuorumLoss, health Error,
// progress Running, listed by GET /Faults/), can be cancelled gracefully but not forced first, and ends by itself
// when its duration runs out.
func TestQuorumLoss(t *testing.T) {
	topo := DefaultTopology()
	topo.Applications[0].Services[1].HasPersistedState = false // Carts: volatile
	h := newHarness(t, topo)
	p := h.parts("fabric:/Shop/Orders")[0]
	start := faultPath("Shop~Orders", p.ID, "StartQuorumLoss", "&OperationId="+opID(1)+"&QuorumLossMode=QuorumReplicas&QuorumLossDuration=600")
	began := time.Now()
	h.c.mu.Lock()
	h.c.now = func() time.Time { return began }
	h.c.mu.Unlock()
	h.accepted(startQuorumLossTmpl, start)
	var info partitionInfoJSON
	h.getJSON("/Partitions/{partitionId}", "/Partitions/"+p.ID+"?api-version=6.4", &info)
	if info.PartitionStatus != "InQuorumLoss" || info.HealthState != "Error" {
		t.Errorf("partition in quorum loss: %s %s", info.PartitionStatus, info.HealthState)
	}
	if _, ok := h.parts("fabric:/Shop/Orders")[0].Primary(); !ok {
		t.Error("quorum loss took the primary down")
	}
	var prog partitionProgressJSON
	progress := faultPath("Shop~Orders", p.ID, "GetQuorumLossProgress", "&OperationId="+opID(1))
	h.getJSON(quorumLossProgTmpl, progress, &prog)
	if prog.State != "Running" || prog.InvokeQuorumLossResult != nil {
		t.Errorf("running quorum loss progress %+v", prog)
	}
	var ops []struct{ OperationId, State, Type string }
	h.getJSON(faultsListTmpl, "/Faults/?api-version=6.0&TypeFilter=2&StateFilter=1", &ops)
	if len(ops) != 1 || ops[0].OperationId != opID(1) || ops[0].Type != "PartitionQuorumLoss" {
		t.Errorf("running quorum losses: %+v", ops)
	}
	h.wantError("POST", cancelTmpl, "/Faults/$/Cancel?api-version=6.0&OperationId="+opID(1)+"&Force=true", 400, "FABRIC_E_INVALID_TEST_COMMAND_STATE")
	h.c.mu.Lock()
	h.c.now = func() time.Time { return began.Add(90 * time.Second) } // cancelled 90 s in
	h.c.mu.Unlock()
	if r := h.call("POST", cancelTmpl, "/Faults/$/Cancel?api-version=6.0&OperationId="+opID(1)+"&Force=false"); r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	h.getJSON(quorumLossProgTmpl, progress, &prog)
	h.getJSON("/Partitions/{partitionId}", "/Partitions/"+p.ID+"?api-version=6.4", &info)
	if prog.State != "Cancelled" || info.PartitionStatus != "Ready" || info.LastQuorumLossDurationInSeconds != "90" {
		t.Errorf("after cancel: progress %s, partition %s", prog.State, info.PartitionStatus)
	}
	h.wantError("POST", cancelTmpl, "/Faults/$/Cancel?api-version=6.0&OperationId="+opID(1)+"&Force=false", 404, "FABRIC_E_KEY_NOT_FOUND")
	h.wantError("POST", cancelTmpl, "/Faults/$/Cancel?api-version=6.0&OperationId="+opID(1), 400, "E_INVALIDARG")
	h.getJSON(faultsListTmpl, "/Faults/?api-version=6.0&TypeFilter=65535&StateFilter=32", &ops)
	if len(ops) != 1 || ops[0].State != "Cancelled" {
		t.Errorf("cancelled operations: %+v", ops)
	}
	h.wantError("GET", faultsListTmpl, "/Faults/?api-version=6.0&StateFilter=1", 400, "E_INVALIDARG")

	// AllReplicas takes every secondary down; the end of the duration brings them back.
	h.accepted(startQuorumLossTmpl, faultPath("Shop~Orders", p.ID, "StartQuorumLoss", "&OperationId="+opID(2)+"&QuorumLossMode=AllReplicas&QuorumLossDuration=600"))
	live := 0
	for _, r := range h.parts("fabric:/Shop/Orders")[0].Replicas {
		if r.Up {
			live++
		}
	}
	if live != 1 {
		t.Errorf("AllReplicas left %d replicas up, want only the primary", live)
	}
	h.c.mu.Lock()
	h.c.operations[opID(2)].end.Reset(0) // the duration runs out now instead of in 600 s
	h.c.mu.Unlock()
	waitFor(t, func() bool {
		h.c.mu.Lock()
		defer h.c.mu.Unlock()
		return h.c.operations[opID(2)].state == "Completed"
	})
	h.getJSON(quorumLossProgTmpl, faultPath("Shop~Orders", p.ID, "GetQuorumLossProgress", "&OperationId="+opID(2)), &prog)
	if prog.State != "Completed" || prog.InvokeQuorumLossResult == nil {
		t.Errorf("ended quorum loss progress %+v", prog)
	}
	walkAll(h)

	carts := h.parts("fabric:/Shop/Carts")[0]
	h.wantError("POST", startQuorumLossTmpl, faultPath("Shop~Carts", carts.ID, "StartQuorumLoss", "&OperationId="+opID(3)+"&QuorumLossMode=AllReplicas&QuorumLossDuration=60"), 400, "FABRIC_E_ONLY_VALID_FOR_STATEFUL_PERSISTENT_SERVICES")
	h.wantError("POST", startQuorumLossTmpl, faultPath("Shop~Orders", p.ID, "StartQuorumLoss", "&OperationId="+opID(3)+"&QuorumLossMode=AllReplicas&QuorumLossDuration=0"), 400, "E_INVALIDARG")
}

func replicaOnNode(ps PartitionState, node string) (ReplicaState, bool) {
	for _, r := range ps.Replicas {
		if r.Node == node {
			return r, true
		}
	}
	return ReplicaState{}, false
}

func freeNode(h *harness, ps PartitionState) string {
	for _, n := range h.c.Nodes() {
		if _, taken := replicaOnNode(ps, n.Name); !taken {
			return n.Name
		}
	}
	h.t.Fatal("no free node")
	return ""
}

// TestMoveSecondaryAndInstance: MoveSecondaryReplica and MoveInstance rebuild the replica on the new node with a
// new ID and listeners on that node's IP; moves onto a node holding a replica get SF's *_ALREADY_EXISTS.
func TestMoveSecondaryAndInstance(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	carts := h.parts("fabric:/Shop/Carts")[0]
	prim, _ := carts.Primary()
	var sec ReplicaState
	for _, r := range carts.Replicas {
		if r.Role == "secondary" {
			sec = r
		}
	}
	to := freeNode(h, carts)
	move := "/Partitions/" + carts.ID + "/$/MoveSecondaryReplica?api-version=6.5&CurrentNodeName=" + sec.Node
	h.wantError("POST", moveSecondaryTmpl, move+"&NewNodeName="+prim.Node, 409, "FABRIC_E_PRIMARY_ALREADY_EXISTS")
	for _, r := range carts.Replicas {
		if r.Role == "secondary" && r.ID != sec.ID {
			h.wantError("POST", moveSecondaryTmpl, move+"&NewNodeName="+r.Node, 409, "FABRIC_E_SECONDARY_ALREADY_EXISTS")
		}
	}
	if r := h.call("POST", moveSecondaryTmpl, move+"&NewNodeName="+to+"&IgnoreConstraints=false"); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("MoveSecondaryReplica: %d %s", r.status, r.body)
	}
	moved, ok := replicaOnNode(h.parts("fabric:/Shop/Carts")[0], to)
	if !ok || moved.Role != "secondary" || moved.ID == sec.ID {
		t.Fatalf("after the move: %+v on %s", moved, to)
	}
	if _, still := replicaOnNode(h.parts("fabric:/Shop/Carts")[0], sec.Node); still {
		t.Error("the old node still holds a replica")
	}
	if rr := hitReplica(t, moved.Endpoints[""]); rr.Node != to || rr.ReplicaID != itoa(moved.ID) {
		t.Errorf("moved secondary answered %+v", rr)
	}
	refused(t, sec.Endpoints[""])
	h.wantError("POST", moveSecondaryTmpl, "/Partitions/"+carts.ID+"/$/MoveSecondaryReplica?api-version=6.5&CurrentNodeName="+sec.Node, 404, "FABRIC_E_REPLICA_DOES_NOT_EXIST")
	h.wantError("POST", moveSecondaryTmpl, "/Partitions/"+carts.ID+"/$/MoveSecondaryReplica?api-version=6.5&CurrentNodeName="+prim.Node, 400, "FABRIC_E_INVALID_REPLICA_OPERATION")
	h.wantError("POST", moveSecondaryTmpl, "/Partitions/"+carts.ID+"/$/MoveSecondaryReplica?api-version=6.5", 400, "E_INVALIDARG")
	h.wantError("POST", moveSecondaryTmpl, "/Partitions/"+carts.ID+"/$/MoveSecondaryReplica?api-version=6.5&CurrentNodeName=_Node_9", 404, "FABRIC_E_NODE_NOT_FOUND")

	web := h.parts("fabric:/Shop/Web")[0]
	h.wantError("POST", moveSecondaryTmpl, "/Partitions/"+web.ID+"/$/MoveSecondaryReplica?api-version=6.5&CurrentNodeName="+web.Replicas[0].Node, 400, "FABRIC_E_INVALID_FOR_STATELESS_SERVICES")
	inst := web.Replicas[0]
	moveInst := "/Services/Shop~Web/$/GetPartitions/" + web.ID + "/$/MoveInstance?api-version=8.0&CurrentNodeName=" + inst.Node
	h.wantError("POST", moveInstanceTmpl, moveInst+"&NewNodeName="+web.Replicas[1].Node, 409, "FABRIC_E_INSTANCE_ALREADY_EXISTS")
	wto := freeNode(h, web)
	if r := h.call("POST", moveInstanceTmpl, moveInst+"&NewNodeName="+wto); r.status != 200 {
		t.Fatalf("MoveInstance: %d %s", r.status, r.body)
	}
	mi, ok := replicaOnNode(h.parts("fabric:/Shop/Web")[0], wto)
	if !ok || mi.ID == inst.ID {
		t.Fatalf("moved instance %+v", mi)
	}
	if rr := hitReplica(t, mi.Endpoints["Admin"]); rr.Node != wto || rr.Role != "stateless" {
		t.Errorf("moved instance answered %+v", rr)
	}
	h.wantError("POST", moveInstanceTmpl, "/Services/Shop~Carts/$/GetPartitions/"+carts.ID+"/$/MoveInstance?api-version=8.0", 400, "FABRIC_E_INVALID_FOR_STATEFUL_SERVICES")
	h.wantError("POST", moveInstanceTmpl, "/Services/Shop~Orders/$/GetPartitions/"+web.ID+"/$/MoveInstance?api-version=8.0", 404, "FABRIC_E_PARTITION_NOT_FOUND")
	walkAll(h)
}

// TestRemoveReplica: a removed replica is dropped and replaced by a new one (new ID) on a free node; removing the
// primary fails over first.
func TestRemoveReplica(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	before := h.parts("fabric:/Shop/Orders")[0]
	prim, _ := before.Primary()
	del := "/Nodes/" + prim.Node + "/$/GetPartitions/" + before.ID + "/$/GetReplicas/" + itoa(prim.ID) + "/$/Delete?api-version=6.0&ForceRemove=false"
	if r := h.call("POST", removeReplicaTmpl, del); r.status != 200 {
		t.Fatalf("Delete: %d %s", r.status, r.body)
	}
	after := h.parts("fabric:/Shop/Orders")[0]
	np, ok := after.Primary()
	if !ok || np.ID == prim.ID || len(after.Replicas) != 3 {
		t.Fatalf("after removing the primary: %+v", after.Replicas)
	}
	for _, r := range after.Replicas {
		if r.ID == prim.ID {
			t.Errorf("removed replica %d still listed", prim.ID)
		}
	}
	h.wantError("POST", removeReplicaTmpl, del, 404, "FABRIC_E_REPLICA_DOES_NOT_EXIST")
	h.wantError("POST", removeReplicaTmpl, strings.Replace(del, "ForceRemove=false", "ForceRemove=maybe", 1), 400, "E_INVALIDARG")
	walkAll(h)
}

// TestRestartNode: POST /Nodes/{n}/$/Restart brings the node back with a new instance ID, its primaries failed
// over; a wrong NodeInstanceId is 409 FABRIC_E_INSTANCE_ID_MISMATCH and a missing body 400.
func TestRestartNode(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	prim, _ := h.parts("fabric:/Shop/Orders")[0].Primary()
	var n NodeState
	for _, x := range h.c.Nodes() {
		if x.Name == prim.Node {
			n = x
		}
	}
	path := "/Nodes/" + n.Name + "/$/Restart?api-version=6.0"
	h.wantErrorBody("POST", restartNodeTmpl, path, `{"NodeInstanceId":"1"}`, 409, "FABRIC_E_INSTANCE_ID_MISMATCH")
	h.wantErrorBody("POST", restartNodeTmpl, path, `{"NodeInstanceId":"0","CreateFabricDump":"yes"}`, 400, "E_INVALIDARG")
	h.wantErrorBody("POST", restartNodeTmpl, path, `{}`, 400, "E_INVALIDARG")
	h.wantError("POST", restartNodeTmpl, path, 400, "E_INVALIDARG")
	if r := h.send("POST", restartNodeTmpl, path, `{"NodeInstanceId":"`+itoa(n.InstanceID)+`","CreateFabricDump":"False"}`); r.status != 200 {
		t.Fatalf("Restart: %d %s", r.status, r.body)
	}
	for _, x := range h.c.Nodes() {
		if x.Name == n.Name && (!x.Up || x.InstanceID == n.InstanceID) {
			t.Errorf("restarted node %+v (instance was %d)", x, n.InstanceID)
		}
	}
	if p, _ := h.parts("fabric:/Shop/Orders")[0].Primary(); p.Node == n.Name {
		t.Error("the primary did not fail over during the node restart")
	}
	if r := h.send("POST", restartNodeTmpl, path, `{"NodeInstanceId":"0"}`); r.status != 200 {
		t.Errorf("Restart with instance 0: %d %s", r.status, r.body)
	}
	walkAll(h)
}

// TestQuorumLossThenPrimaryLost: when the primary's node stops during a quorum loss, no replica can take over
// until the quorum loss ends; then a secondary becomes primary.
func TestQuorumLossThenPrimaryLost(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	p := h.parts("fabric:/Shop/Orders")[0]
	prim, _ := p.Primary()
	h.accepted(startQuorumLossTmpl, faultPath("Shop~Orders", p.ID, "StartQuorumLoss", "&OperationId="+opID(1)+"&QuorumLossMode=AllReplicas&QuorumLossDuration=600"))
	if err := h.c.StopNode(prim.Node); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.parts("fabric:/Shop/Orders")[0].Primary(); ok {
		t.Fatal("a replica taken down by the quorum loss became primary")
	}
	if r := h.call("POST", cancelTmpl, "/Faults/$/Cancel?api-version=6.0&OperationId="+opID(1)+"&Force=false"); r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	np, ok := h.parts("fabric:/Shop/Orders")[0].Primary()
	if !ok || np.Node == prim.Node {
		t.Errorf("after the quorum loss: primary %+v (ok %v), want one off %s", np, ok, prim.Node)
	}
	walkAll(h)
}
