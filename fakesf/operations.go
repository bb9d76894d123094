package fakesf

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault operations ("test commands" of SF's Fault Analysis Service): partition restart, data loss and quorum loss,
// node transitions, each started under a client-chosen OperationId and followed with its progress call, listed by
// GET /Faults/ and cancelled with POST /Faults/$/Cancel. Restart, data loss and node transitions are applied before
// the 202 answer, so their progress is Completed at once; a quorum loss lasts its QuorumLossDuration (Running until
// then), and only it can be cancelled. As in SF, an operation that has finished is no longer cancellable (its ID is
// not found among the running ones), an unknown OperationId is 404 FABRIC_E_KEY_NOT_FOUND, a reused one is 409
// FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS.

// Operation types and states as SF names them (OperationType, OperationState).
const (
	opDataLoss       = "PartitionDataLoss"
	opQuorumLoss     = "PartitionQuorumLoss"
	opRestart        = "PartitionRestart"
	opNodeTransition = "NodeTransition"

	opRunning   = "Running"
	opCompleted = "Completed"
	opCancelled = "Cancelled"
)

// operation is one fault operation. Guarded by Cluster.mu.
type operation struct {
	id, typ, state string
	seq            int // start order, for GET /Faults/
	// partition operations
	service   string
	partition *partition
	victims   []*replica  // quorum loss: the replicas taken down
	end       *time.Timer // quorum loss: restores the partition after QuorumLossDuration
	// node transitions
	node     string
	instance int64
}

// opTypeBits and opStateBits are the TypeFilter and StateFilter bits of GET /Faults/.
var (
	opTypeBits  = map[string]int{opDataLoss: 1, opQuorumLoss: 2, opRestart: 4, opNodeTransition: 8}
	opStateBits = map[string]int{opRunning: 1, "RollingBack": 2, opCompleted: 8, "Faulted": 16, opCancelled: 32, "ForceCancelled": 64}
)

// newOperation validates the OperationId query parameter and makes a Running operation with it (the caller
// registers it once applied). Caller holds mu.
func (c *Cluster) newOperation(q *request, typ string) (*operation, *FabricError) {
	raw, ok := q.query["OperationId"]
	id := strings.ToLower(strings.Trim(raw, "{}"))
	if !ok || !guidRE.MatchString(id) {
		return nil, invalidArg("OperationId %q must be a GUID the client chooses for this operation", raw)
	}
	if _, dup := c.operations[id]; dup {
		return nil, fabricErr(http.StatusConflict, "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS", "OperationId '%s' already exists", id)
	}
	op := &operation{id: id, typ: typ, state: opRunning, seq: len(c.operations)}
	return op, nil
}

// findOperation returns the operation named by the OperationId query parameter, of the given type. Caller holds mu.
func (c *Cluster) findOperation(q *request, typ string) (*operation, *FabricError) {
	raw := q.query["OperationId"]
	op := c.operations[strings.ToLower(strings.Trim(raw, "{}"))]
	if op == nil || op.typ != typ {
		return nil, fabricErr(http.StatusNotFound, "FABRIC_E_KEY_NOT_FOUND", "OperationId '%s' was not found", raw)
	}
	return op, nil
}

// faultPartition finds the {svc*} service and its partition {pid} named by a /Faults/Services/... call. Caller
// holds mu.
func (c *Cluster) faultPartition(q *request) (*partition, *FabricError) {
	s, err := c.serviceByVar(q, "svc")
	if err != nil {
		return nil, err
	}
	p, err := c.existingPartitionByVar(q)
	if err != nil {
		return nil, err
	}
	if p.svc != s {
		return nil, fabricErr(http.StatusNotFound, "FABRIC_E_PARTITION_NOT_FOUND", "Partition %s is not a partition of %s.", p.id, s.Name)
	}
	return p, nil
}

// mode reads a required enum query parameter.
func (q *request) mode(name string, allowed ...string) (string, *FabricError) {
	v := q.query[name]
	if !slices.Contains(allowed, v) {
		return "", invalidArg("%s %q must be one of %s", name, v, strings.Join(allowed, ", "))
	}
	return v, nil
}

// startPartitionOperation runs the shared part of StartRestart, StartDataLoss and StartQuorumLoss: find the
// partition, register the operation, apply it; 202 when applied.
func (c *Cluster) startPartitionOperation(q *request, typ string, apply func(op *operation, p *partition) *FabricError) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.faultPartition(q)
	if err != nil {
		return fail(err)
	}
	op, err := c.newOperation(q, typ)
	if err != nil {
		return fail(err)
	}
	op.service, op.partition = p.svc.Name, p
	op.state = opCompleted
	if err := apply(op, p); err != nil {
		return fail(err)
	}
	c.operations[op.id] = op
	return empty(http.StatusAccepted)
}

// reopenListeners gives r new listeners on new ports, opened before the old ones close so that the OS cannot hand
// out the same port again. Caller holds mu.
func (c *Cluster) reopenListeners(r *replica) error {
	old := r.servers
	r.servers = nil
	var err error
	if r.listening() {
		r.servers, err = c.openServers(r)
	}
	for _, s := range old {
		s.close()
	}
	return err
}

// restartPartition restarts p's live replicas (or only its secondaries): each comes back on new ports, roles kept.
// Caller holds mu.
func (c *Cluster) restartPartition(p *partition, onlySecondaries bool) *FabricError {
	var errs []error
	for _, r := range p.replicas {
		if r.down || !r.node.up || (onlySecondaries && r.role != roleSecondary) {
			continue
		}
		if err := c.reopenListeners(r); err != nil {
			errs = append(errs, err)
		}
	}
	if err := c.reconfigure(p); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fabricErr(http.StatusInternalServerError, "E_FAIL", "%v", errs)
	}
	return nil
}

func (c *Cluster) postStartRestart(q *request) result {
	mode, err := q.mode("RestartPartitionMode", "AllReplicasOrInstances", "OnlyActiveSecondaries")
	if err != nil {
		return fail(err)
	}
	return c.startPartitionOperation(q, opRestart, func(op *operation, p *partition) *FabricError {
		if mode == "OnlyActiveSecondaries" && p.svc.Kind == Stateless {
			return fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_FOR_STATELESS_SERVICES", "%s is stateless: it has no secondaries to restart", p.svc.Name)
		}
		c.logEvent("StartRestart %s: partition %s of %s restarted (%s)", op.id, p.id, p.svc.Name, mode)
		return c.restartPartition(p, mode == "OnlyActiveSecondaries")
	})
}

func (c *Cluster) postStartDataLoss(q *request) result {
	mode, err := q.mode("DataLossMode", "PartialDataLoss", "FullDataLoss")
	if err != nil {
		return fail(err)
	}
	return c.startPartitionOperation(q, opDataLoss, func(op *operation, p *partition) *FabricError {
		if p.svc.Kind == Stateless {
			return fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_FOR_STATELESS_SERVICES", "%s is stateless: it has no state to lose", p.svc.Name)
		}
		// The partition rebuilds from the primary's (lost) state: a new DataLossVersion, every replica restarted.
		p.dataLoss = max(p.dataLoss+1, fileTime(c.now()))
		c.logEvent("StartDataLoss %s: %s on partition %s of %s", op.id, mode, p.id, p.svc.Name)
		return c.restartPartition(p, false)
	})
}

func (c *Cluster) postStartQuorumLoss(q *request) result {
	mode, err := q.mode("QuorumLossMode", "QuorumReplicas", "AllReplicas")
	if err != nil {
		return fail(err)
	}
	raw := q.query["QuorumLossDuration"]
	secs, perr := strconv.ParseInt(raw, 10, 32)
	if perr != nil || secs <= 0 {
		return fail(invalidArg("QuorumLossDuration %q must be a positive number of seconds", raw))
	}
	return c.startPartitionOperation(q, opQuorumLoss, func(op *operation, p *partition) *FabricError {
		if p.svc.Kind == Stateless {
			return fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_FOR_STATELESS_SERVICES", "%s is stateless: it has no quorum", p.svc.Name)
		}
		if !p.svc.HasPersistedState {
			return fabricErr(http.StatusBadRequest, "FABRIC_E_ONLY_VALID_FOR_STATEFUL_PERSISTENT_SERVICES", "%s has no persisted state; quorum loss needs a stateful persisted service", p.svc.Name)
		}
		if p.primary() == nil || p.status() != "Ready" {
			return fabricErr(http.StatusServiceUnavailable, "FABRIC_E_NOT_READY", "partition %s is %s; quorum loss needs a ready partition", p.id, p.status())
		}
		// Take secondaries down (the primary stays): all of them, or just enough to fall below the write quorum.
		for _, r := range p.replicas {
			if r.role != roleSecondary || r.down || !r.node.up {
				continue
			}
			if mode == "QuorumReplicas" && p.liveCount() < p.svc.MinReplicas {
				break
			}
			r.down = true
			op.victims = append(op.victims, r)
		}
		if err := c.reconfigure(p); err != nil {
			return fabricErr(http.StatusInternalServerError, "E_FAIL", "%v", err)
		}
		op.state = opRunning
		p.quorumLost = c.now()
		op.end = time.AfterFunc(time.Duration(secs)*time.Second, func() { c.endQuorumLoss(op, opCompleted) })
		c.logEvent("StartQuorumLoss %s: %s on partition %s of %s for %ds (%d replicas down)", op.id, mode, p.id, p.svc.Name, secs, len(op.victims))
		return nil
	})
}

// endQuorumLoss brings a quorum loss's replicas back and records how the operation ended.
func (c *Cluster) endQuorumLoss(op *operation, state string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endQuorumLossLocked(op, state)
}

func (c *Cluster) endQuorumLossLocked(op *operation, state string) {
	if op.state != opRunning || c.isClosed() {
		return
	}
	if op.end != nil {
		op.end.Stop()
		op.end = nil
	}
	for _, r := range op.victims {
		r.down = false
	}
	p := op.partition
	p.lastQuorumLoss, p.quorumLost = c.now().Sub(p.quorumLost), time.Time{}
	if !c.manualFailover {
		op.partition.promote(nil) // its primary may have gone meanwhile (a node stop)
	}
	_ = c.reconfigure(op.partition)
	op.state = state
	c.logEvent("quorum loss %s on partition %s ended: %s", op.id, op.partition.id, state)
}

// partitionProgress is the progress answer of the partition operations; the result field is named by the
// operation's type (RestartPartitionResult, InvokeDataLossResult, InvokeQuorumLossResult).
func partitionProgress(op *operation) map[string]any {
	out := map[string]any{"State": op.state}
	if op.state == opRunning {
		return out
	}
	field := map[string]string{opRestart: "RestartPartitionResult", opDataLoss: "InvokeDataLossResult", opQuorumLoss: "InvokeQuorumLossResult"}[op.typ]
	out[field] = map[string]any{"ErrorCode": 0, "SelectedPartition": map[string]string{"ServiceName": op.service, "PartitionId": op.partition.id}}
	return out
}

func (c *Cluster) progress(q *request, typ string) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	op, err := c.findOperation(q, typ)
	if err != nil {
		return fail(err)
	}
	name, nerr := q.name("svc")
	if nerr != nil {
		return fail(nerr)
	}
	pid, perr := parsePartitionID(q.vars["pid"][0])
	if perr != nil {
		return fail(perr)
	}
	if op.service != name || op.partition.id != pid {
		return fail(fabricErr(http.StatusNotFound, "FABRIC_E_KEY_NOT_FOUND", "OperationId '%s' was not found for partition %s of %s", op.id, pid, name))
	}
	return ok(partitionProgress(op))
}

func (c *Cluster) getRestartProgress(q *request) result    { return c.progress(q, opRestart) }
func (c *Cluster) getDataLossProgress(q *request) result   { return c.progress(q, opDataLoss) }
func (c *Cluster) getQuorumLossProgress(q *request) result { return c.progress(q, opQuorumLoss) }

// getFaultOperations serves GET /Faults/: the operations whose type and state pass TypeFilter and StateFilter
// (both required; 65535 selects all), in the order they were started.
func (c *Cluster) getFaultOperations(q *request) result {
	filter := func(name string) (int, *FabricError) {
		raw, present := q.query[name]
		n, err := strconv.Atoi(raw)
		if !present || err != nil || n < 0 || n > 65535 {
			return 0, invalidArg("%s %q must be a bit mask such as 65535 (all)", name, raw)
		}
		return n, nil
	}
	types, err := filter("TypeFilter")
	if err != nil {
		return fail(err)
	}
	states, err := filter("StateFilter")
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := make([]*operation, 0, len(c.operations))
	for _, op := range c.operations {
		if (types == 0 || types&opTypeBits[op.typ] != 0) && (states == 0 || states&opStateBits[op.state] != 0) {
			ops = append(ops, op)
		}
	}
	slices.SortFunc(ops, func(x, y *operation) int { return x.seq - y.seq })
	type status struct {
		OperationID string `json:"OperationId"`
		State       string `json:"State"`
		Type        string `json:"Type"`
	}
	out := make([]status, 0, len(ops))
	for _, op := range ops {
		out = append(out, status{op.id, op.state, op.typ})
	}
	return ok(out)
}

// postCancelOperation serves POST /Faults/$/Cancel. Only a running operation can be cancelled (here: a quorum
// loss); Force=true is allowed only after a graceful cancel, which in the fake completes at once, so it is always
// refused with FABRIC_E_INVALID_TEST_COMMAND_STATE, as SF refuses a forced cancel that was not preceded by one.
func (c *Cluster) postCancelOperation(q *request) result {
	force, err := q.boolParam("Force")
	if err != nil {
		return fail(err)
	}
	if _, present := q.query["Force"]; !present {
		return fail(invalidArg("Force is required (true or false)"))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	raw := q.query["OperationId"]
	op := c.operations[strings.ToLower(strings.Trim(raw, "{}"))]
	if op == nil || op.state != opRunning {
		return fail(fabricErr(http.StatusNotFound, "FABRIC_E_KEY_NOT_FOUND", "OperationId '%s' was not found", raw))
	}
	if force {
		return fail(fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_TEST_COMMAND_STATE",
			"CancelOperation %s: Force=true is allowed only after a cancel with Force=false", op.id))
	}
	c.endQuorumLossLocked(op, opCancelled)
	return empty(http.StatusOK)
}

// stopOperationTimers stops pending quorum-loss ends (Close). Caller holds mu.
func (c *Cluster) stopOperationTimers() {
	for _, op := range c.operations {
		if op.end != nil {
			op.end.Stop()
			op.end = nil
		}
	}
}

// postStartTransition serves POST /Faults/Nodes/{nodeName}/$/StartTransition/: every parameter the swagger
// requires is required; the transition is applied before the 202 answer (GetTransitionProgress then reports
// Completed).
func (c *Cluster) postStartTransition(q *request) result {
	kind := q.query["NodeTransitionType"]
	if kind != "Start" && kind != "Stop" {
		return fail(invalidArg("NodeTransitionType %q must be Start or Stop", kind))
	}
	instRaw, ok := q.query["NodeInstanceId"]
	inst, perr := strconv.ParseInt(instRaw, 10, 64)
	if !ok || perr != nil {
		return fail(invalidArg("NodeInstanceId %q must be the node's instance ID (GET /Nodes)", instRaw))
	}
	durRaw, ok := q.query["StopDurationInSeconds"]
	dur, perr := strconv.ParseInt(durRaw, 10, 32)
	if !ok || perr != nil {
		return fail(invalidArg("StopDurationInSeconds %q must be an integer", durRaw))
	}
	if kind == "Stop" && (dur < 600 || dur > 14400) {
		return fail(invalidArg("StopDurationInSeconds %d must be in 600..14400", dur))
	}
	name := q.single("node")

	c.mu.Lock()
	defer c.mu.Unlock()
	op, ferr := c.newOperation(q, opNodeTransition)
	if ferr != nil {
		return fail(ferr)
	}
	n, ferr := c.nodeOf(name)
	if ferr != nil {
		return fail(ferr)
	}
	if n.instanceID != inst {
		return fail(fabricErr(http.StatusConflict, "FABRIC_E_INSTANCE_ID_MISMATCH", "node %s has instance ID %d, not %d", name, n.instanceID, inst))
	}
	switch {
	case kind == "Stop" && !n.up:
		return fail(fabricErr(http.StatusBadRequest, "FABRIC_E_NODE_IS_DOWN", "Node %s is down.", name))
	case kind == "Start" && n.up:
		return fail(fabricErr(http.StatusBadRequest, "FABRIC_E_NODE_IS_UP", "Node %s is up.", name))
	}
	if err := c.setNode(n, kind == "Start"); err != nil {
		return fail(asFabricError(err))
	}
	if kind == "Stop" {
		n.restart = time.AfterFunc(time.Duration(dur)*time.Second, func() { _ = c.autoStart(n) })
	}
	op.state, op.node, op.instance = opCompleted, name, n.instanceID
	c.operations[op.id] = op
	return empty(http.StatusAccepted)
}

// autoStart brings a node back after its StopDurationInSeconds.
func (c *Cluster) autoStart(n *node) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.up || c.isClosed() {
		return nil
	}
	return c.setNode(n, true)
}

func (c *Cluster) getTransitionProgress(q *request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	op, err := c.findOperation(q, opNodeTransition)
	if err != nil {
		return fail(err)
	}
	if op.node != q.single("node") {
		return fail(fabricErr(http.StatusNotFound, "FABRIC_E_KEY_NOT_FOUND", "OperationId '%s' was not found for node %s", op.id, q.single("node")))
	}
	type nodeResult struct {
		NodeName       string `json:"NodeName"`
		NodeInstanceID string `json:"NodeInstanceId"`
	}
	type transitionResult struct {
		ErrorCode  int        `json:"ErrorCode"`
		NodeResult nodeResult `json:"NodeResult"`
	}
	return ok(struct {
		State                string           `json:"State"`
		NodeTransitionResult transitionResult `json:"NodeTransitionResult"`
	}{op.state, transitionResult{0, nodeResult{op.node, strconv.FormatInt(op.instance, 10)}}})
}
