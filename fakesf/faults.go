package fakesf

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MovePrimary moves the primary of a stateful partition to the live secondary on nodeName, or, with nodeName
// "", to the first live secondary. The old primary becomes a secondary (its listeners close unless the service
// listens on secondaries), the new one opens its listeners, and the partition's Version becomes newer.
// Errors are *FabricError as the HTTP call answers them.
func (c *Cluster) MovePrimary(partitionID, nodeName string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.partitions[strings.ToLower(partitionID)]
	if p == nil {
		return fabricErr(http.StatusNotFound, "FABRIC_E_PARTITION_NOT_FOUND", "Partition %s does not exist.", partitionID)
	}
	return c.movePrimary(p, nodeName)
}

func (c *Cluster) movePrimary(p *partition, nodeName string) error {
	if p.svc.Kind != Stateful {
		return fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_FOR_STATELESS_SERVICES", "%s is a stateless service; it has no primary", p.svc.Name)
	}
	if nodeName != "" {
		if _, ok := c.nodeByName[nodeName]; !ok {
			return fabricErr(http.StatusNotFound, "FABRIC_E_NODE_NOT_FOUND", "Node %s does not exist.", nodeName)
		}
	}
	old := p.primary()
	var target *replica
	for _, r := range p.replicas {
		if r.role != roleSecondary || r.down || !r.node.up {
			continue
		}
		if nodeName == "" || r.node.Name == nodeName {
			target = r
			break
		}
	}
	if target == nil {
		if old != nil && old.node.Name == nodeName {
			return alreadyExists("FABRIC_E_PRIMARY_ALREADY_EXISTS", "Primary already exists on node %s for partition %s.", nodeName, p.id)
		}
		if nodeName != "" {
			return invalidArg("partition %s has no live secondary on node %s to become primary", p.id, nodeName)
		}
		return fabricErr(http.StatusServiceUnavailable, "FABRIC_E_NOT_READY", "partition %s has no live secondary to become primary", p.id)
	}
	if old != nil {
		old.role = roleSecondary
	}
	for _, r := range p.replicas {
		if r.role == rolePrimary { // a primary on a stopped node
			r.role = roleSecondary
		}
	}
	target.role = rolePrimary
	c.logEvent("MovePrimaryReplica: partition %s primary moved to replica %d on %s", p.id, target.id, target.node.Name)
	if err := c.reconfigure(p); err != nil {
		return fabricErr(http.StatusInternalServerError, "E_FAIL", "%v", err)
	}
	return nil
}

// RestartReplica restarts a replica of a stateful service on nodeName: it comes back on a new port. A restarted
// primary fails over first (a live secondary becomes primary, the restarted replica returns as a secondary).
// Stateless instances cannot be restarted this way (FABRIC_E_INVALID_FOR_STATELESS_SERVICES), as in SF.
func (c *Cluster) RestartReplica(nodeName, partitionID string, replicaID int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodeByName[nodeName]
	if !ok {
		return fabricErr(http.StatusNotFound, "FABRIC_E_NODE_NOT_FOUND", "Node %s does not exist.", nodeName)
	}
	p := c.partitions[strings.ToLower(partitionID)]
	if p == nil {
		return fabricErr(http.StatusNotFound, "FABRIC_E_PARTITION_NOT_FOUND", "Partition %s does not exist.", partitionID)
	}
	r := p.findReplica(replicaID)
	if r == nil || r.node != n {
		return fabricErr(http.StatusNotFound, "FABRIC_E_REPLICA_DOES_NOT_EXIST", "Replica %d of partition %s is not on node %s.", replicaID, p.id, nodeName)
	}
	if p.svc.Kind != Stateful {
		return fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_FOR_STATELESS_SERVICES", "%s is a stateless service; restart its code package instead", p.svc.Name)
	}
	if !n.up || r.down {
		return fabricErr(http.StatusServiceUnavailable, "FABRIC_E_NOT_READY", "replica %d is down", replicaID)
	}
	if r.role == rolePrimary && !c.manualFailover {
		r.down = true // fail over: another secondary takes over while this one restarts
		p.promote(r)
		r.down = false
	}
	// Open the new listeners before closing the old ones, so the OS cannot hand out the same port again.
	old := r.servers
	r.servers = nil
	var openErr error
	if r.listening() {
		r.servers, openErr = c.openServers(r)
	}
	for _, s := range old {
		s.close()
	}
	c.logEvent("RestartReplica: replica %d of partition %s on %s restarted", r.id, p.id, nodeName)
	if err := c.reconfigure(p); err != nil {
		return fabricErr(http.StatusInternalServerError, "E_FAIL", "%v", err)
	}
	if openErr != nil {
		return fabricErr(http.StatusInternalServerError, "E_FAIL", "%v", openErr)
	}
	return nil
}

// StopNode stops a node: every replica on it stops answering (listeners and connections closed), and each
// partition whose primary was there fails over to a live secondary on another node.
func (c *Cluster) StopNode(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodeByName[name]
	if !ok {
		return fabricErr(http.StatusNotFound, "FABRIC_E_NODE_NOT_FOUND", "Node %s does not exist.", name)
	}
	if !n.up {
		return invalidArg("node %s is already stopped", name)
	}
	return c.setNode(n, false)
}

// StartNode starts a stopped node with a new instance ID; its replicas come back (stateful ones as secondaries,
// on new ports), and partitions left without a primary get one.
func (c *Cluster) StartNode(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodeByName[name]
	if !ok {
		return fabricErr(http.StatusNotFound, "FABRIC_E_NODE_NOT_FOUND", "Node %s does not exist.", name)
	}
	if n.up {
		return fabricErr(http.StatusBadRequest, "FABRIC_E_NODE_IS_UP", "Node %s is up.", name)
	}
	return c.setNode(n, true)
}

// setNode changes a node's state and reconfigures every partition with a replica on it. Caller holds mu.
func (c *Cluster) setNode(n *node, up bool) error {
	if n.restart != nil {
		n.restart.Stop()
		n.restart = nil
	}
	n.up = up
	n.changedAt = time.Now()
	if up {
		n.instanceID = c.newID()
		c.logEvent("node %s started (instance %d)", n.Name, n.instanceID)
	} else {
		c.logEvent("node %s stopped", n.Name)
	}
	var errs []error
	for _, p := range c.allPartitions() {
		touched := false
		for _, r := range p.replicas {
			if r.node == n {
				touched = true
				if !up && r.role == rolePrimary {
					r.role = roleSecondary // it comes back as a secondary
				}
			}
		}
		if !touched && p.primary() != nil {
			continue
		}
		if !c.manualFailover {
			p.promote(nil)
		}
		if err := c.reconfigure(p); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fabricErr(http.StatusInternalServerError, "E_FAIL", "%v", errs)
	}
	return nil
}

// DeleteService deletes a service as SF's DeleteService does: its replicas close their listeners (clients get
// connection refused), its partitions disappear, and every later call naming it, ResolvePartition with a
// PreviousRspVersion included, answers 404 FABRIC_E_SERVICE_DOES_NOT_EXIST.
func (c *Cluster) DeleteService(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.services[name]
	if !ok {
		return fabricErr(http.StatusNotFound, "FABRIC_E_SERVICE_DOES_NOT_EXIST", "Service %s does not exist.", name)
	}
	for _, p := range s.partitions {
		for _, r := range p.replicas {
			for _, srv := range r.servers {
				srv.close()
			}
			r.servers = nil
		}
		delete(c.partitions, p.id)
	}
	delete(c.services, name)
	c.logEvent("DeleteService: %s deleted", name)
	s.app.services = slices.DeleteFunc(s.app.services, func(x *service) bool { return x == s })
	return nil
}

// alreadyExists is SF's answer when a move targets a node that already holds the role (AlreadyPrimaryReplica,
// AlreadySecondaryReplica, AlreadyInstance): its *_ALREADY_EXISTS codes go out as 409 Conflict.
func alreadyExists(code, format string, args ...any) *FabricError {
	return fabricErr(http.StatusConflict, code, format, args...)
}

// HTTP fault calls

// asFabricError returns err's *FabricError, or wraps any other error as 500 E_FAIL.
func asFabricError(err error) *FabricError {
	var fe *FabricError
	if errors.As(err, &fe) {
		return fe
	}
	return fabricErr(http.StatusInternalServerError, "E_FAIL", "%v", err)
}

func (c *Cluster) postMovePrimary(q *request) result {
	nodeName := q.query["NodeName"] // raw, as SF reads query values
	if raw, ok := q.query["IgnoreConstraints"]; ok && raw != "true" && raw != "false" {
		return fail(invalidArg("IgnoreConstraints %q must be true or false", raw))
	}
	pid, err := parsePartitionID(q.vars["pid"][0])
	if err != nil {
		return fail(err)
	}
	if e := c.MovePrimary(pid, nodeName); e != nil {
		return fail(asFabricError(e))
	}
	return empty(http.StatusOK)
}

func (c *Cluster) postDeleteService(q *request) result {
	if raw, ok := q.query["ForceRemove"]; ok && raw != "true" && raw != "false" {
		return fail(invalidArg("ForceRemove %q must be true or false", raw))
	}
	name, err := q.name("svc")
	if err != nil {
		return fail(err)
	}
	if e := c.DeleteService(name); e != nil {
		return fail(asFabricError(e))
	}
	return empty(http.StatusOK)
}

func (c *Cluster) postRestartReplica(q *request) result {
	pid, err := parsePartitionID(q.vars["pid"][0])
	if err != nil {
		return fail(err)
	}
	rid, perr := strconv.ParseInt(q.single("rid"), 10, 64)
	if perr != nil {
		return fail(invalidArg("replica ID %q is not an int64", q.single("rid")))
	}
	if e := c.RestartReplica(q.single("node"), pid, rid); e != nil {
		return fail(asFabricError(e))
	}
	return empty(http.StatusOK)
}

// postStartTransition serves POST /Faults/Nodes/{nodeName}/$/StartTransition/: every parameter the swagger
// requires is required; the transition is applied before the 202 answer (GetTransitionProgress then reports
// Completed).
func (c *Cluster) postStartTransition(q *request) result {
	opID, ok := q.query["OperationId"]
	if !ok || !guidRE.MatchString(opID) {
		return fail(invalidArg("OperationId %q must be a GUID", opID))
	}
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
	opID = strings.ToLower(opID)
	if _, dup := c.operations[opID]; dup {
		return fail(fabricErr(http.StatusConflict, "FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS", "operation %s already exists", opID))
	}
	n, ok := c.nodeByName[name]
	if !ok {
		return fail(fabricErr(http.StatusNotFound, "FABRIC_E_NODE_NOT_FOUND", "Node %s does not exist.", name))
	}
	if n.instanceID != inst {
		return fail(fabricErr(http.StatusBadRequest, "FABRIC_E_INSTANCE_ID_MISMATCH", "node %s has instance ID %d, not %d", name, n.instanceID, inst))
	}
	var ferr *FabricError
	switch {
	case kind == "Stop" && !n.up:
		ferr = invalidArg("node %s is already stopped", name)
	case kind == "Start" && n.up:
		ferr = fabricErr(http.StatusBadRequest, "FABRIC_E_NODE_IS_UP", "Node %s is up.", name)
	}
	if ferr != nil {
		return fail(ferr)
	}
	if err := c.setNode(n, kind == "Start"); err != nil {
		return fail(asFabricError(err))
	}
	if kind == "Stop" {
		n.restart = time.AfterFunc(time.Duration(dur)*time.Second, func() { _ = c.autoStart(n) })
	}
	c.operations[opID] = &transition{node: name, kind: kind, instance: n.instanceID}
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
	opID := strings.ToLower(q.query["OperationId"])
	c.mu.Lock()
	defer c.mu.Unlock()
	t, found := c.operations[opID]
	if !found || t.node != q.single("node") {
		return fail(fabricErr(http.StatusNotFound, "FABRIC_E_TEST_COMMAND_OPERATION_ID_NOT_FOUND", "operation %q not found", opID))
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
	}{"Completed", transitionResult{0, nodeResult{t.node, strconv.FormatInt(t.instance, 10)}}})
}
