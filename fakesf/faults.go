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
	p, err := c.partitionOf(partitionID)
	if err != nil {
		return err
	}
	return c.movePrimary(p, nodeName)
}

func (c *Cluster) movePrimary(p *partition, nodeName string) error {
	if p.svc.Kind != Stateful {
		return fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_FOR_STATELESS_SERVICES", "%s is a stateless service; it has no primary", p.svc.Name)
	}
	if nodeName != "" {
		if _, err := c.nodeOf(nodeName); err != nil {
			return err
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
	n, err := c.nodeOf(nodeName)
	if err != nil {
		return err
	}
	p, err := c.partitionOf(partitionID)
	if err != nil {
		return err
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
	openErr := c.reopenListeners(r)
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
	n, err := c.nodeOf(name)
	if err != nil {
		return err
	}
	if !n.up {
		return fabricErr(http.StatusBadRequest, "FABRIC_E_NODE_IS_DOWN", "Node %s is down.", name)
	}
	return c.setNode(n, false)
}

// StartNode starts a stopped node with a new instance ID; its replicas come back (stateful ones as secondaries,
// on new ports), and partitions left without a primary get one.
func (c *Cluster) StartNode(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.nodeOf(name)
	if err != nil {
		return err
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
	c.removeService(s)
	c.logEvent("DeleteService: %s deleted", name)
	return nil
}

// removeService closes every listener of s and forgets its partitions and name. Caller holds mu.
func (c *Cluster) removeService(s *service) {
	for _, p := range s.partitions {
		for _, r := range p.replicas {
			for _, srv := range r.servers {
				srv.close()
			}
			r.servers = nil
		}
		delete(c.partitions, p.id)
	}
	delete(c.services, s.Name)
	s.app.services = slices.DeleteFunc(s.app.services, func(x *service) bool { return x == s })
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
	if _, err := q.boolParam("IgnoreConstraints"); err != nil {
		return fail(err)
	}
	pid, err := parsePartitionID(q.vars["pid"][0])
	if err != nil {
		return fail(err)
	}
	return done(http.StatusOK, c.MovePrimary(pid, nodeName))
}

func (c *Cluster) postDeleteService(q *request) result {
	if _, err := q.boolParam("ForceRemove"); err != nil {
		return fail(err)
	}
	name, err := q.name("svc")
	if err != nil {
		return fail(err)
	}
	return done(http.StatusOK, c.DeleteService(name))
}

func (c *Cluster) postRestartReplica(q *request) result {
	pid, err := parsePartitionID(q.vars["pid"][0])
	if err != nil {
		return fail(err)
	}
	rid, err := q.replicaID()
	if err != nil {
		return fail(err)
	}
	return done(http.StatusOK, c.RestartReplica(q.single("node"), pid, rid))
}

// partitionOf returns the partition with ID id (any case) or SF's 404.
func (c *Cluster) partitionOf(id string) (*partition, *FabricError) {
	p := c.partitions[strings.ToLower(id)]
	if p == nil {
		return nil, fabricErr(http.StatusNotFound, "FABRIC_E_PARTITION_NOT_FOUND", "Partition %s does not exist.", id)
	}
	return p, nil
}

// nodeOf returns the named node or SF's 404.
func (c *Cluster) nodeOf(name string) (*node, *FabricError) {
	n, ok := c.nodeByName[name]
	if !ok {
		return nil, fabricErr(http.StatusNotFound, "FABRIC_E_NODE_NOT_FOUND", "Node %s does not exist.", name)
	}
	return n, nil
}

// replicaOn returns p's replica on node n, or nil.
func (p *partition) replicaOn(n *node) *replica {
	for _, r := range p.replicas {
		if r.node == n {
			return r
		}
	}
	return nil
}

// placementTarget picks the node a replica of p moves to: the named one (which must be up and hold no replica of p:
// SF's AlreadyPrimaryReplica, AlreadySecondaryReplica, AlreadyInstance), or with name "" the first up node without
// one. Caller holds mu.
func (c *Cluster) placementTarget(p *partition, name string) (*node, *FabricError) {
	if name == "" {
		for _, n := range c.nodes {
			if n.up && p.replicaOn(n) == nil {
				return n, nil
			}
		}
		return nil, fabricErr(http.StatusBadRequest, "FABRIC_E_CONSTRAINT_NOT_SATISFIED", "no up node without a replica of partition %s to move to", p.id)
	}
	n, err := c.nodeOf(name)
	if err != nil {
		return nil, err
	}
	if !n.up {
		return nil, fabricErr(http.StatusBadRequest, "FABRIC_E_NODE_IS_DOWN", "Node %s is down.", name)
	}
	if r := p.replicaOn(n); r != nil {
		switch r.role {
		case rolePrimary:
			return nil, alreadyExists("FABRIC_E_PRIMARY_ALREADY_EXISTS", "Primary already exists on node %s for partition %s.", name, p.id)
		case roleSecondary:
			return nil, alreadyExists("FABRIC_E_SECONDARY_ALREADY_EXISTS", "Secondary already exists on node %s for partition %s.", name, p.id)
		}
		return nil, alreadyExists("FABRIC_E_INSTANCE_ALREADY_EXISTS", "Instance already exists on node %s for partition %s.", name, p.id)
	}
	return n, nil
}

// moveReplica moves r to node to: a new replica (new ID) is built there and r is dropped, as SF's FM does.
// Caller holds mu.
func (c *Cluster) moveReplica(r *replica, to *node) error {
	from := r.node
	for _, s := range r.servers {
		s.close()
	}
	r.servers = nil
	r.node, r.id, r.down, r.fault = to, c.newID(), false, ReplicaFault{}
	r.hits.Store(0)
	r.reports = nil
	c.logEvent("replica of partition %s moved from %s to %s (now replica %d)", r.p.id, from.Name, to.Name, r.id)
	return c.reconfigure(r.p)
}

// MoveSecondary moves the secondary replica of a stateful partition on currentNode to newNode ("" = any up node
// without a replica of the partition), as SF's MoveSecondaryReplica does: it comes up there with a new replica ID.
func (c *Cluster) MoveSecondary(partitionID, currentNode, newNode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.partitionOf(partitionID)
	if err != nil {
		return err
	}
	if p.svc.Kind != Stateful {
		return fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_FOR_STATELESS_SERVICES", "%s is a stateless service; use MoveInstance", p.svc.Name)
	}
	from, err := c.nodeOf(currentNode)
	if err != nil {
		return err
	}
	r := p.replicaOn(from)
	if r == nil {
		return fabricErr(http.StatusNotFound, "FABRIC_E_REPLICA_DOES_NOT_EXIST", "Partition %s has no replica on node %s.", p.id, currentNode)
	}
	if r.role != roleSecondary {
		return fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_REPLICA_OPERATION", "The replica of partition %s on node %s is the primary; use MovePrimaryReplica.", p.id, currentNode)
	}
	to, err := c.placementTarget(p, newNode)
	if err != nil {
		return err
	}
	if e := c.moveReplica(r, to); e != nil {
		return asFabricError(e)
	}
	return nil
}

// MoveInstance moves an instance of a stateless partition from currentNode ("" = any) to newNode ("" = any up node
// without one), as SF's MoveInstance does: it comes up there with a new instance ID.
func (c *Cluster) MoveInstance(serviceName, partitionID, currentNode, newNode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.services[serviceName]
	if !ok {
		return fabricErr(http.StatusNotFound, "FABRIC_E_SERVICE_DOES_NOT_EXIST", "Service %s does not exist.", serviceName)
	}
	p := c.partitions[strings.ToLower(partitionID)]
	if p == nil || p.svc != s {
		return fabricErr(http.StatusNotFound, "FABRIC_E_PARTITION_NOT_FOUND", "Partition %s of %s does not exist.", partitionID, serviceName)
	}
	if s.Kind != Stateless {
		return fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_FOR_STATEFUL_SERVICES", "%s is a stateful service; use MovePrimaryReplica or MoveSecondaryReplica", s.Name)
	}
	var r *replica
	if currentNode == "" {
		for _, x := range p.replicas {
			if !x.down && x.node.up {
				r = x
				break
			}
		}
		if r == nil {
			return fabricErr(http.StatusServiceUnavailable, "FABRIC_E_NOT_READY", "partition %s has no live instance to move", p.id)
		}
	} else {
		from, err := c.nodeOf(currentNode)
		if err != nil {
			return err
		}
		if r = p.replicaOn(from); r == nil {
			return fabricErr(http.StatusNotFound, "FABRIC_E_REPLICA_DOES_NOT_EXIST", "Partition %s has no instance on node %s.", p.id, currentNode)
		}
	}
	to, err := c.placementTarget(p, newNode)
	if err != nil {
		return err
	}
	if e := c.moveReplica(r, to); e != nil {
		return asFabricError(e)
	}
	return nil
}

// RemoveReplica removes a replica or instance as SF's RemoveReplica does: it is dropped (a removed primary fails
// over first) and the cluster builds a replacement with a new ID, on another up node if one has no replica of the
// partition, else on the same node.
func (c *Cluster) RemoveReplica(nodeName, partitionID string, replicaID int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.nodeOf(nodeName)
	if err != nil {
		return err
	}
	p, err := c.partitionOf(partitionID)
	if err != nil {
		return err
	}
	r := p.findReplica(replicaID)
	if r == nil || r.node != n {
		return fabricErr(http.StatusNotFound, "FABRIC_E_REPLICA_DOES_NOT_EXIST", "Replica %d of partition %s is not on node %s.", replicaID, p.id, nodeName)
	}
	if r.role == rolePrimary {
		r.role = roleSecondary
		if !c.manualFailover {
			r.down = true
			p.promote(r)
		}
	}
	to, perr := c.placementTarget(p, "")
	if perr != nil {
		to = n
	}
	c.logEvent("RemoveReplica: replica %d of partition %s on %s removed", replicaID, p.id, nodeName)
	if e := c.moveReplica(r, to); e != nil {
		return asFabricError(e)
	}
	return nil
}

// RestartNode restarts a node as SF's RestartNode does: it goes down (its primaries fail over) and comes back at
// once with a new instance ID. instanceID 0 matches any instance; another one must be the node's current one.
func (c *Cluster) RestartNode(name string, instanceID int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.nodeOf(name)
	if err != nil {
		return err
	}
	if instanceID != 0 && instanceID != n.instanceID {
		return fabricErr(http.StatusConflict, "FABRIC_E_INSTANCE_ID_MISMATCH", "node %s has instance ID %d, not %d", name, n.instanceID, instanceID)
	}
	if !n.up {
		return fabricErr(http.StatusBadRequest, "FABRIC_E_NODE_IS_DOWN", "Node %s is down.", name)
	}
	if e := c.setNode(n, false); e != nil {
		return e
	}
	return c.setNode(n, true)
}

func (c *Cluster) postMoveSecondary(q *request) result {
	if _, err := q.boolParam("IgnoreConstraints"); err != nil {
		return fail(err)
	}
	current, ok := q.query["CurrentNodeName"]
	if !ok {
		return fail(invalidArg("CurrentNodeName is required: the node of the secondary to move"))
	}
	pid, err := parsePartitionID(q.vars["pid"][0])
	if err != nil {
		return fail(err)
	}
	return done(http.StatusOK, c.MoveSecondary(pid, current, q.query["NewNodeName"]))
}

func (c *Cluster) postMoveInstance(q *request) result {
	if _, err := q.boolParam("IgnoreConstraints"); err != nil {
		return fail(err)
	}
	name, err := q.name("svc")
	if err != nil {
		return fail(err)
	}
	pid, err := parsePartitionID(q.vars["pid"][0])
	if err != nil {
		return fail(err)
	}
	return done(http.StatusOK, c.MoveInstance(name, pid, q.query["CurrentNodeName"], q.query["NewNodeName"]))
}

func (c *Cluster) postRemoveReplica(q *request) result {
	if _, err := q.boolParam("ForceRemove"); err != nil {
		return fail(err)
	}
	pid, err := parsePartitionID(q.vars["pid"][0])
	if err != nil {
		return fail(err)
	}
	rid, err := q.replicaID()
	if err != nil {
		return fail(err)
	}
	return done(http.StatusOK, c.RemoveReplica(q.single("node"), pid, rid))
}

// postRestartNode serves POST /Nodes/{nodeName}/$/Restart with SF's RestartNodeDescription body.
func (c *Cluster) postRestartNode(q *request) result {
	var body struct {
		NodeInstanceID   *string `json:"NodeInstanceId"`
		CreateFabricDump string  `json:"CreateFabricDump"`
	}
	if err := q.readJSON(&body); err != nil {
		return fail(err)
	}
	if body.NodeInstanceID == nil {
		return fail(invalidArg(`RestartNodeDescription.NodeInstanceId is required ("0" matches any instance)`))
	}
	inst, perr := strconv.ParseInt(*body.NodeInstanceID, 10, 64)
	if perr != nil {
		return fail(invalidArg("RestartNodeDescription.NodeInstanceId %q is not an instance ID", *body.NodeInstanceID))
	}
	if body.CreateFabricDump != "" && body.CreateFabricDump != "True" && body.CreateFabricDump != "False" {
		return fail(invalidArg("RestartNodeDescription.CreateFabricDump %q must be True or False", body.CreateFabricDump))
	}
	return done(http.StatusOK, c.RestartNode(q.single("node"), inst))
}
