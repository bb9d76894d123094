package fakesf

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Health: SF's health store in miniature. Every entity (cluster, node, application, service, partition, replica)
// has the events reported on it with ReportHealth plus one system event that follows the fake's state (a stopped
// node, a replica fakesf has taken down, a partition without a primary are Error; a partition below its target
// replica count is Warning). An entity's aggregated health is the worst of its events and its children's
// aggregated health, as SF's default health policy (no unhealthy children tolerated, warnings not errors) gives.

// Health states and the HealthStateFilter bits of the health queries.
const (
	healthOk      = "Ok"
	healthWarning = "Warning"
	healthError   = "Error"

	filterDefault = 0 // matches every state
	filterNone    = 1
	filterOk      = 2
	filterWarning = 4
	filterError   = 8
	filterAll     = 65535
)

func healthRank(s string) int {
	switch s {
	case healthWarning:
		return 2
	case healthError:
		return 3
	}
	return 1
}

func worse(a, b string) string {
	if healthRank(b) > healthRank(a) {
		return b
	}
	return a
}

// healthReport is one event reported with ReportHealth, keyed by SourceId and Property.
type healthReport struct {
	source, property, state, description string
	ttl                                  time.Duration // 0: never expires
	removeWhenExpired                    bool
	seq                                  int64
	at                                   time.Time
	lastOk, lastWarning, lastError       time.Time // transition times
}

// healthReports is an entity's reported events; guarded by Cluster.mu.
type healthReports []*healthReport

// maxTTL is .NET's TimeSpan.MaxValue, what SF sends as the time to live of an event that never expires.
const maxTTL = "P10675199DT2H48M5.4775807S"

// sfTime formats t as SF does in health events; the zero time is SF's zero date-time.
func sfTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00.000Z"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

type healthEventJSON struct {
	SourceID                 string `json:"SourceId"`
	Property                 string `json:"Property"`
	HealthState              string `json:"HealthState"`
	TimeToLiveInMilliSeconds string `json:"TimeToLiveInMilliSeconds"`
	Description              string `json:"Description"`
	SequenceNumber           string `json:"SequenceNumber"`
	RemoveWhenExpired        bool   `json:"RemoveWhenExpired"`
	IsExpired                bool   `json:"IsExpired"`
	SourceUtcTimestamp       string `json:"SourceUtcTimestamp"`
	LastModifiedUtcTimestamp string `json:"LastModifiedUtcTimestamp"`
	LastOkTransitionAt       string `json:"LastOkTransitionAt"`
	LastWarningTransitionAt  string `json:"LastWarningTransitionAt"`
	LastErrorTransitionAt    string `json:"LastErrorTransitionAt"`
}

func (r *healthReport) event(now time.Time) healthEventJSON {
	e := healthEventJSON{
		SourceID: r.source, Property: r.property, HealthState: r.state, TimeToLiveInMilliSeconds: maxTTL,
		Description: r.description, SequenceNumber: strconv.FormatInt(r.seq, 10), RemoveWhenExpired: r.removeWhenExpired,
		SourceUtcTimestamp: sfTime(r.at), LastModifiedUtcTimestamp: sfTime(r.at),
		LastOkTransitionAt: sfTime(r.lastOk), LastWarningTransitionAt: sfTime(r.lastWarning), LastErrorTransitionAt: sfTime(r.lastError),
	}
	if r.ttl > 0 {
		e.TimeToLiveInMilliSeconds = isoDuration(r.ttl)
		e.IsExpired = now.After(r.at.Add(r.ttl))
	}
	return e
}

// systemEvent is the event SF's own components keep on an entity (System.FM, System.RA, System.CM).
func systemEvent(source, state, description string, since time.Time) healthEventJSON {
	e := healthEventJSON{
		SourceID: source, Property: "State", HealthState: state, TimeToLiveInMilliSeconds: maxTTL,
		Description: description, SequenceNumber: strconv.FormatInt(fileTime(since), 10),
		SourceUtcTimestamp: sfTime(since), LastModifiedUtcTimestamp: sfTime(since),
		LastOkTransitionAt: sfTime(time.Time{}), LastWarningTransitionAt: sfTime(time.Time{}), LastErrorTransitionAt: sfTime(time.Time{}),
	}
	switch state {
	case healthOk:
		e.LastOkTransitionAt = e.SourceUtcTimestamp
	case healthWarning:
		e.LastWarningTransitionAt = e.SourceUtcTimestamp
	default:
		e.LastErrorTransitionAt = e.SourceUtcTimestamp
	}
	return e
}

// live drops the expired reports that asked to be removed and returns the others as events.
func (rs *healthReports) live(now time.Time) []healthEventJSON {
	*rs = slices.DeleteFunc(*rs, func(r *healthReport) bool {
		return r.removeWhenExpired && r.ttl > 0 && now.After(r.at.Add(r.ttl))
	})
	out := make([]healthEventJSON, 0, len(*rs))
	for _, r := range *rs {
		out = append(out, r.event(now))
	}
	return out
}

// add stores a report, replacing the one with the same SourceId and Property; an older SequenceNumber is stale.
func (rs *healthReports) add(r *healthReport) *FabricError {
	for i, old := range *rs {
		if old.source != r.source || old.property != r.property {
			continue
		}
		if r.seq <= old.seq {
			return fabricErr(http.StatusBadRequest, "FABRIC_E_HEALTH_STALE_REPORT",
				"SequenceNumber %d of SourceId %q, Property %q is not above the stored %d", r.seq, r.source, r.property, old.seq)
		}
		r.lastOk, r.lastWarning, r.lastError = old.lastOk, old.lastWarning, old.lastError
		if old.state != r.state {
			r.stamp()
		}
		(*rs)[i] = r
		return nil
	}
	r.stamp()
	*rs = append(*rs, r)
	return nil
}

func (r *healthReport) stamp() {
	switch r.state {
	case healthOk:
		r.lastOk = r.at
	case healthWarning:
		r.lastWarning = r.at
	default:
		r.lastError = r.at
	}
}

// evaluation is one of SF's HealthEvaluation kinds (the discriminator Kind picks the fields).
type evaluation map[string]any

type evaluationWrapper struct {
	HealthEvaluation evaluation `json:"HealthEvaluation"`
}

// entityHealth is an entity's evaluated health: aggregated state, own events, why it is unhealthy, child counts.
type entityHealth struct {
	state     string
	events    []healthEventJSON
	unhealthy []evaluationWrapper
	counts    map[string]*healthStateCount // entity kind → counts of every descendant
}

type healthStateCount struct {
	OkCount      int64 `json:"OkCount"`
	WarningCount int64 `json:"WarningCount"`
	ErrorCount   int64 `json:"ErrorCount"`
}

func (n *healthStateCount) add(state string) {
	switch state {
	case healthOk:
		n.OkCount++
	case healthWarning:
		n.WarningCount++
	default:
		n.ErrorCount++
	}
}

// own evaluates an entity's own events (an expired event counts as Error, as SF evaluates it).
func own(events []healthEventJSON) entityHealth {
	h := entityHealth{state: healthOk, events: events, counts: map[string]*healthStateCount{}}
	for _, e := range events {
		st := e.HealthState
		if e.IsExpired {
			st = healthError
		}
		if st == healthOk {
			continue
		}
		h.state = worse(h.state, st)
		h.unhealthy = append(h.unhealthy, evaluationWrapper{evaluation{
			"Kind": "Event", "AggregatedHealthState": st, "ConsiderWarningAsError": false, "UnhealthyEvent": e,
			"Description": fmt.Sprintf("%s event: SourceId='%s', Property='%s'.", st, e.SourceID, e.Property),
		}})
	}
	return h
}

// child is one child entity's health and how SF names it in an evaluation.
type child struct {
	health entityHealth
	kind   string         // entity kind: Node, Application, Service, Partition, Replica
	id     evaluation     // identifying fields of its evaluation (NodeName, ServiceName, ...)
	label  string         // for descriptions: "node '_Node_0'"
	state  map[string]any // its entry in the parent's *HealthStates list
}

// addChildren folds a group of children of one kind into h: the worst child state, a group evaluation listing
// the unhealthy children, and the descendant counts.
func (h *entityHealth) addChildren(group, maxPercentField string, children []child) {
	worst := healthOk
	var bad []evaluationWrapper
	for _, c := range children {
		kindCount := h.counts[c.kind]
		if kindCount == nil {
			kindCount = &healthStateCount{}
			h.counts[c.kind] = kindCount
		}
		kindCount.add(c.health.state)
		for k, n := range c.health.counts {
			if h.counts[k] == nil {
				h.counts[k] = &healthStateCount{}
			}
			h.counts[k].OkCount += n.OkCount
			h.counts[k].WarningCount += n.WarningCount
			h.counts[k].ErrorCount += n.ErrorCount
		}
		if c.health.state == healthOk {
			continue
		}
		worst = worse(worst, c.health.state)
		e := evaluation{"Kind": c.kind, "AggregatedHealthState": c.health.state,
			"Description":          fmt.Sprintf("Unhealthy %s: AggregatedHealthState='%s'.", c.label, c.health.state),
			"UnhealthyEvaluations": nonNil(c.health.unhealthy)}
		for k, v := range c.id {
			e[k] = v
		}
		bad = append(bad, evaluationWrapper{e})
	}
	if worst == healthOk {
		return
	}
	h.state = worse(h.state, worst)
	h.unhealthy = append(h.unhealthy, evaluationWrapper{evaluation{
		"Kind": group, "AggregatedHealthState": worst, maxPercentField: 0, "TotalCount": len(children),
		"Description": fmt.Sprintf("Unhealthy %s: %d%% (%d/%d), %s=0%%.", strings.ToLower(group),
			100*len(bad)/len(children), len(bad), len(children), maxPercentField),
		"UnhealthyEvaluations": bad,
	}})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// statistics is the HealthStatistics of h for the given descendant kinds (in SF's order).
func (h entityHealth) statistics(kinds ...string) map[string]any {
	list := make([]map[string]any, 0, len(kinds))
	for _, k := range kinds {
		n := h.counts[k]
		if n == nil {
			n = &healthStateCount{}
		}
		list = append(list, map[string]any{"EntityKind": k, "HealthStateCount": n})
	}
	return map[string]any{"HealthStateCountList": list}
}

// Per-entity evaluation. Caller holds mu.

func (c *Cluster) replicaHealth(r *replica, now time.Time) entityHealth {
	sys := systemEvent("System.RA", healthOk, "Replica is up.", c.started)
	if r.down || !r.node.up {
		sys = systemEvent("System.RA", healthError, "Replica is down.", r.node.changedAt)
	}
	return own(append([]healthEventJSON{sys}, r.reports.live(now)...))
}

func (c *Cluster) replicaChild(r *replica, now time.Time) child {
	id := strconv.FormatInt(r.id, 10)
	state := map[string]any{"ServiceKind": r.p.svc.Kind, "PartitionId": r.p.id, "ReplicaId": id}
	h := c.replicaHealth(r, now)
	state["AggregatedHealthState"] = h.state
	return child{health: h, kind: "Replica", id: evaluation{"PartitionId": r.p.id, "ReplicaOrInstanceId": id},
		label: "replica " + id, state: state}
}

func (c *Cluster) partitionHealth(p *partition, now time.Time) entityHealth {
	var sys healthEventJSON
	switch p.health() {
	case healthOk:
		sys = systemEvent("System.FM", healthOk, "Partition is healthy.", c.started)
	case healthWarning:
		sys = systemEvent("System.FM", healthWarning, "Partition is below target replica or instance count.", c.started)
	default:
		sys = systemEvent("System.FM", healthError, "Partition is "+p.status()+".", c.started)
	}
	h := own(append([]healthEventJSON{sys}, p.reports.live(now)...))
	h.addChildren("Replicas", "MaxPercentUnhealthyReplicasPerPartition", c.replicaChildren(p, now))
	return h
}

func (c *Cluster) replicaChildren(p *partition, now time.Time) []child {
	out := make([]child, 0, len(p.replicas))
	for _, r := range p.replicas {
		out = append(out, c.replicaChild(r, now))
	}
	return out
}

func (c *Cluster) partitionChildren(s *service, now time.Time) []child {
	out := make([]child, 0, len(s.partitions))
	for _, p := range s.partitions {
		h := c.partitionHealth(p, now)
		out = append(out, child{health: h, kind: "Partition", id: evaluation{"PartitionId": p.id}, label: "partition " + p.id,
			state: map[string]any{"PartitionId": p.id, "AggregatedHealthState": h.state}})
	}
	return out
}

func (c *Cluster) serviceHealth(s *service, now time.Time) entityHealth {
	h := own(append([]healthEventJSON{systemEvent("System.FM", healthOk, "Service has been created.", c.started)}, s.reports.live(now)...))
	h.addChildren("Partitions", "MaxPercentUnhealthyPartitionsPerService", c.partitionChildren(s, now))
	return h
}

func (c *Cluster) serviceChildren(a *app, now time.Time) []child {
	out := make([]child, 0, len(a.services))
	for _, s := range a.services {
		h := c.serviceHealth(s, now)
		out = append(out, child{health: h, kind: "Service", id: evaluation{"ServiceName": s.Name}, label: "service '" + s.Name + "'",
			state: map[string]any{"ServiceName": s.Name, "AggregatedHealthState": h.state}})
	}
	return out
}

func (c *Cluster) appHealth(a *app, now time.Time) entityHealth {
	h := own(append([]healthEventJSON{systemEvent("System.CM", healthOk, "Application has been created.", c.started)}, a.reports.live(now)...))
	h.addChildren("Services", "MaxPercentUnhealthyServices", c.serviceChildren(a, now))
	return h
}

func (c *Cluster) nodeHealth(n *node, now time.Time) entityHealth {
	sys := systemEvent("System.FM", healthOk, "Fabric node is up.", n.changedAt)
	if !n.up {
		sys = systemEvent("System.FM", healthError, "Fabric node is down.", n.changedAt)
	}
	return own(append([]healthEventJSON{sys}, n.reports.live(now)...))
}

func (c *Cluster) clusterHealth(now time.Time) (entityHealth, []child, []child) {
	h := own(c.reports.live(now))
	nodes := make([]child, 0, len(c.nodes))
	for _, n := range c.nodes {
		nh := c.nodeHealth(n, now)
		nodes = append(nodes, child{health: nh, kind: "Node", id: evaluation{"NodeName": n.Name}, label: "node '" + n.Name + "'",
			state: map[string]any{"Name": n.Name, "Id": nodeIDObj{ID: n.id}, "AggregatedHealthState": nh.state}})
	}
	apps := make([]child, 0, len(c.apps))
	for _, a := range c.apps {
		ah := c.appHealth(a, now)
		apps = append(apps, child{health: ah, kind: "Application", id: evaluation{"ApplicationName": a.Name}, label: "application '" + a.Name + "'",
			state: map[string]any{"Name": a.Name, "AggregatedHealthState": ah.state}})
	}
	h.addChildren("Nodes", "MaxPercentUnhealthyNodes", nodes)
	h.addChildren("Applications", "MaxPercentUnhealthyApplications", apps)
	return h, nodes, apps
}

// Query parameters of the health calls.

// healthFilter reads a HealthStateFilter parameter (absent: Default, which matches everything).
func (q *request) healthFilter(name string) (int, *FabricError) {
	raw, present := q.query[name]
	if !present {
		return filterDefault, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || n > filterAll {
		return 0, invalidArg("%s %q must be a HealthStateFilter: 0 (Default), 1 (None), 2 (Ok), 4 (Warning), 8 (Error), 65535 (All) or a sum of them", name, raw)
	}
	return n, nil
}

func filterMatches(filter int, state string) bool {
	if filter == filterDefault {
		return true
	}
	bit := map[string]int{healthOk: filterOk, healthWarning: filterWarning, healthError: filterError}[state]
	return filter&bit != 0
}

// healthQuery holds the parsed parameters common to the health queries.
type healthQuery struct {
	events, children int
	noStats          bool
}

func (q *request) healthQuery(childrenFilter string) (healthQuery, *FabricError) {
	var hq healthQuery
	var err *FabricError
	if hq.events, err = q.healthFilter("EventsHealthStateFilter"); err != nil {
		return hq, err
	}
	if childrenFilter != "" {
		if hq.children, err = q.healthFilter(childrenFilter); err != nil {
			return hq, err
		}
	}
	if hq.noStats, err = q.boolParam("ExcludeHealthStatistics"); err != nil {
		return hq, err
	}
	return hq, nil
}

// body is the EntityHealth part of an answer, with events filtered; extra adds the entity's own fields.
func (hq healthQuery) body(h entityHealth, extra map[string]any, statKinds ...string) map[string]any {
	events := []healthEventJSON{}
	for _, e := range h.events {
		st := e.HealthState
		if e.IsExpired {
			st = healthError
		}
		if filterMatches(hq.events, st) {
			events = append(events, e)
		}
	}
	out := map[string]any{"AggregatedHealthState": h.state, "HealthEvents": events, "UnhealthyEvaluations": nonNil(h.unhealthy)}
	if len(statKinds) > 0 && !hq.noStats {
		out["HealthStatistics"] = h.statistics(statKinds...)
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// states lists the children's health-state entries that pass the filter.
func states(children []child, filter int) []map[string]any {
	out := []map[string]any{}
	for _, c := range children {
		if filterMatches(filter, c.health.state) {
			out = append(out, c.state)
		}
	}
	return out
}

// Handlers.

func (c *Cluster) getClusterHealth(q *request) result {
	nodesFilter, err := q.healthFilter("NodesHealthStateFilter")
	if err != nil {
		return fail(err)
	}
	hq, err := q.healthQuery("ApplicationsHealthStateFilter")
	if err != nil {
		return fail(err)
	}
	if _, err := q.boolParam("IncludeSystemApplicationHealthStatistics"); err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h, nodes, apps := c.clusterHealth(c.now())
	return ok(hq.body(h, map[string]any{"NodeHealthStates": states(nodes, nodesFilter), "ApplicationHealthStates": states(apps, hq.children)},
		"Node", "Application", "Service", "Partition", "Replica"))
}

func (c *Cluster) getNodeHealth(q *request) result {
	hq, err := q.healthQuery("")
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.nodeByVar(q)
	if err != nil {
		return fail(err)
	}
	return ok(hq.body(c.nodeHealth(n, c.now()), map[string]any{"Name": n.Name}))
}

// nodeByVar finds the node named by the {node} variable or answers SF's 404.
func (c *Cluster) nodeByVar(q *request) (*node, *FabricError) { return c.nodeOf(q.single("node")) }

func (c *Cluster) getApplicationHealth(q *request) result {
	hq, err := q.healthQuery("ServicesHealthStateFilter")
	if err != nil {
		return fail(err)
	}
	if _, err := q.healthFilter("DeployedApplicationsHealthStateFilter"); err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := c.appByVar(q)
	if err != nil {
		return fail(err)
	}
	now := c.now()
	return ok(hq.body(c.appHealth(a, now), map[string]any{"Name": a.Name, "ServiceHealthStates": states(c.serviceChildren(a, now), hq.children),
		"DeployedApplicationHealthStates": []any{}}, "Service", "Partition", "Replica"))
}

func (c *Cluster) getServiceHealth(q *request) result {
	hq, err := q.healthQuery("PartitionsHealthStateFilter")
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.serviceByVar(q, "svc")
	if err != nil {
		return fail(err)
	}
	now := c.now()
	return ok(hq.body(c.serviceHealth(s, now), map[string]any{"Name": s.Name, "PartitionHealthStates": states(c.partitionChildren(s, now), hq.children)},
		"Partition", "Replica"))
}

func (c *Cluster) getPartitionHealth(q *request) result {
	hq, err := q.healthQuery("ReplicasHealthStateFilter")
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.existingPartitionByVar(q)
	if err != nil {
		return fail(err)
	}
	now := c.now()
	return ok(hq.body(c.partitionHealth(p, now), map[string]any{"PartitionId": p.id, "ReplicaHealthStates": states(c.replicaChildren(p, now), hq.children)},
		"Replica"))
}

func (c *Cluster) getReplicaHealth(q *request) result {
	hq, err := q.healthQuery("")
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, err := c.replicaByVar(q)
	if err != nil {
		return fail(err)
	}
	extra := map[string]any{"ServiceKind": r.p.svc.Kind, "PartitionId": r.p.id}
	if r.p.svc.Kind == Stateful {
		extra["ReplicaId"] = strconv.FormatInt(r.id, 10)
	} else {
		extra["InstanceId"] = strconv.FormatInt(r.id, 10)
	}
	return ok(hq.body(c.replicaHealth(r, c.now()), extra))
}

// replicaByVar finds the replica named by {pid} and {rid}; either missing is a 404.
func (c *Cluster) replicaByVar(q *request) (*replica, *FabricError) {
	p, r, err := c.replicaOrNilByVar(q)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fabricErr(http.StatusNotFound, "FABRIC_E_REPLICA_DOES_NOT_EXIST", "Replica %s of partition %s does not exist.", q.single("rid"), p.id)
	}
	return r, nil
}

// ReportHealth.

// maxBody bounds the request bodies fakesf reads.
const maxBody = 1 << 20

// readJSON decodes a request body of at most maxBody bytes into v; errors are 400 E_INVALIDARG naming the problem.
func (q *request) readJSON(v any) *FabricError {
	data, err := readBody(q)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return invalidArg("request body is not the expected JSON: %v", err)
	}
	return nil
}

// healthInformationJSON is ReportHealth's body (SF's HealthInformation).
type healthInformationJSON struct {
	SourceID                 *string `json:"SourceId"`
	Property                 *string `json:"Property"`
	HealthState              *string `json:"HealthState"`
	TimeToLiveInMilliSeconds *string `json:"TimeToLiveInMilliSeconds"`
	Description              string  `json:"Description"`
	SequenceNumber           *string `json:"SequenceNumber"`
	RemoveWhenExpired        bool    `json:"RemoveWhenExpired"`
	HealthReportID           string  `json:"HealthReportId"`
}

// parseHealthReport validates a ReportHealth body as SF does: SourceId, Property and HealthState (Ok, Warning or
// Error) required, SourceId not in SF's reserved "System." namespace, TimeToLive an ISO 8601 duration,
// SequenceNumber an int64 (auto-assigned when absent), Description cut to 4096 characters.
func parseHealthReport(data []byte, autoSeq int64, now time.Time) (*healthReport, *FabricError) {
	var in healthInformationJSON
	if err := json.Unmarshal(data, &in); err != nil {
		return nil, invalidArg("HealthInformation is not the expected JSON: %v", err)
	}
	switch {
	case in.SourceID == nil || strings.TrimSpace(*in.SourceID) == "":
		return nil, invalidArg("HealthInformation.SourceId is required")
	case in.Property == nil || strings.TrimSpace(*in.Property) == "":
		return nil, invalidArg("HealthInformation.Property is required")
	case in.HealthState == nil:
		return nil, invalidArg("HealthInformation.HealthState is required (Ok, Warning or Error)")
	case strings.HasPrefix(strings.ToLower(*in.SourceID), "system."):
		return nil, invalidArg("HealthInformation.SourceId %q: the System. prefix is reserved for Service Fabric's own reports", *in.SourceID)
	}
	r := &healthReport{source: *in.SourceID, property: *in.Property, state: *in.HealthState, description: in.Description,
		removeWhenExpired: in.RemoveWhenExpired, seq: autoSeq, at: now}
	if r.state != healthOk && r.state != healthWarning && r.state != healthError {
		return nil, invalidArg("HealthInformation.HealthState %q must be Ok, Warning or Error", r.state)
	}
	if in.TimeToLiveInMilliSeconds != nil {
		ttl, err := parseISODuration(*in.TimeToLiveInMilliSeconds)
		if err != nil {
			return nil, invalidArg("HealthInformation.TimeToLiveInMilliSeconds: %v", err)
		}
		if ttl <= 0 {
			return nil, invalidArg("HealthInformation.TimeToLiveInMilliSeconds %q must be positive", *in.TimeToLiveInMilliSeconds)
		}
		if *in.TimeToLiveInMilliSeconds != maxTTL {
			r.ttl = ttl
		}
	}
	if in.SequenceNumber != nil {
		n, err := strconv.ParseInt(*in.SequenceNumber, 10, 64)
		if err != nil || n < 0 {
			return nil, invalidArg("HealthInformation.SequenceNumber %q must be a non-negative int64", *in.SequenceNumber)
		}
		r.seq = n
	}
	if len(r.description) > 4096 {
		r.description = strings.ToValidUTF8(r.description[:4096-len("[Truncated]")], "") + "[Truncated]"
	}
	return r, nil
}

var isoDurationRE = regexp.MustCompile(`^P(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+(?:\.[0-9]+)?)S)?)?$`)

// parseISODuration reads the ISO 8601 durations SF's JSON uses for TimeSpan ("PT30S", "P1DT2H3M4.5S").
func parseISODuration(s string) (time.Duration, error) {
	m := isoDurationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("%q is not an ISO 8601 duration such as PT30S or P1DT2H", s)
	}
	if s == maxTTL {
		return time.Duration(1<<63 - 1), nil
	}
	var total float64
	for i, unit := range []float64{86400, 3600, 60, 1} {
		if m[i+1] == "" {
			continue
		}
		v, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil {
			return 0, fmt.Errorf("%q: %v", s, err)
		}
		total += v * unit
	}
	if total > float64(100*365*86400) {
		return 0, fmt.Errorf("%q is longer than 100 years; omit it for a report that never expires", s)
	}
	return time.Duration(total * float64(time.Second)), nil
}

// isoDuration writes d as .NET's XmlConvert writes a TimeSpan: "PT30S", "P1DT2H", "PT0.5S".
func isoDuration(d time.Duration) string {
	if d <= 0 {
		return "PT0S"
	}
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	var b strings.Builder
	b.WriteString("P")
	if days > 0 {
		fmt.Fprintf(&b, "%dD", days)
	}
	if h == 0 && m == 0 && d == 0 {
		return b.String()
	}
	b.WriteString("T")
	if h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if d > 0 {
		fmt.Fprintf(&b, "%sS", strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
	}
	return b.String()
}

// report reads a ReportHealth call's body and stores the report on the entity that find returns (find runs with
// mu held). Immediate is accepted and has no effect: reports are applied at once.
func (c *Cluster) report(q *request, find func() (*healthReports, string, *FabricError)) result {
	if _, err := q.boolParam("Immediate"); err != nil {
		return fail(err)
	}
	data, ferr := readBody(q)
	if ferr != nil {
		return fail(ferr)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.healthSeq++
	r, ferr := parseHealthReport(data, fileTime(c.now())+c.healthSeq, c.now())
	if ferr != nil {
		return fail(ferr)
	}
	rs, what, ferr := find()
	if ferr != nil {
		return fail(ferr)
	}
	if ferr := rs.add(r); ferr != nil {
		return fail(ferr)
	}
	c.logEvent("ReportHealth: %s on %s (SourceId %s, Property %s)", r.state, what, r.source, r.property)
	return empty(http.StatusOK)
}

// readBody reads a request body of at most maxBody bytes.
func readBody(q *request) ([]byte, *FabricError) {
	data, err := io.ReadAll(io.LimitReader(q.r.Body, maxBody+1))
	if err != nil {
		return nil, invalidArg("read request body: %v", err)
	}
	if len(data) > maxBody {
		return nil, invalidArg("request body is larger than %d bytes", maxBody)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, invalidArg("request body is empty; a JSON object is required")
	}
	return data, nil
}

func (c *Cluster) postReportClusterHealth(q *request) result {
	return c.report(q, func() (*healthReports, string, *FabricError) { return &c.reports, "the cluster", nil })
}

func (c *Cluster) postReportNodeHealth(q *request) result {
	return c.report(q, func() (*healthReports, string, *FabricError) {
		n, err := c.nodeByVar(q)
		if err != nil {
			return nil, "", err
		}
		return &n.reports, "node " + n.Name, nil
	})
}

func (c *Cluster) postReportApplicationHealth(q *request) result {
	return c.report(q, func() (*healthReports, string, *FabricError) {
		a, err := c.appByVar(q)
		if err != nil {
			return nil, "", err
		}
		return &a.reports, "application " + a.Name, nil
	})
}

func (c *Cluster) postReportServiceHealth(q *request) result {
	return c.report(q, func() (*healthReports, string, *FabricError) {
		s, err := c.serviceByVar(q, "svc")
		if err != nil {
			return nil, "", err
		}
		return &s.reports, "service " + s.Name, nil
	})
}

func (c *Cluster) postReportPartitionHealth(q *request) result {
	return c.report(q, func() (*healthReports, string, *FabricError) {
		p, err := c.existingPartitionByVar(q)
		if err != nil {
			return nil, "", err
		}
		return &p.reports, "partition " + p.id, nil
	})
}

func (c *Cluster) postReportReplicaHealth(q *request) result {
	kind, given := q.query["ServiceKind"]
	if given && kind != Stateful && kind != Stateless {
		return fail(invalidArg("ServiceKind %q must be Stateful or Stateless", kind))
	}
	return c.report(q, func() (*healthReports, string, *FabricError) {
		r, err := c.replicaByVar(q)
		if err != nil {
			return nil, "", err
		}
		if given && kind != r.p.svc.Kind {
			return nil, "", invalidArg("ServiceKind %s does not match the %s service %s", kind, r.p.svc.Kind, r.p.svc.Name)
		}
		return &r.reports, fmt.Sprintf("replica %d of partition %s", r.id, r.p.id), nil
	})
}
