package fakesf

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// JSON shapes of the query answers, fields in SF's order (base type first).

type applicationInfoJSON struct {
	ID                        string          `json:"Id"`
	Name                      string          `json:"Name"`
	TypeName                  string          `json:"TypeName"`
	TypeVersion               string          `json:"TypeVersion"`
	Status                    string          `json:"Status"`
	Parameters                []parameterJSON `json:"Parameters"`
	HealthState               string          `json:"HealthState"`
	ApplicationDefinitionKind string          `json:"ApplicationDefinitionKind"`
}

type parameterJSON struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type serviceInfoJSON struct {
	ServiceKind       string `json:"ServiceKind"`
	Name              string `json:"Name"`
	TypeName          string `json:"TypeName"`
	ManifestVersion   string `json:"ManifestVersion"`
	HasPersistedState *bool  `json:"HasPersistedState,omitempty"`
	HealthState       string `json:"HealthState"`
	ServiceStatus     string `json:"ServiceStatus"`
	IsServiceGroup    bool   `json:"IsServiceGroup"`
	ID                string `json:"Id"`
}

type partitionInformationJSON struct {
	ServicePartitionKind string `json:"ServicePartitionKind"`
	ID                   string `json:"Id"`
	LowKey               string `json:"LowKey,omitempty"`
	HighKey              string `json:"HighKey,omitempty"`
	Name                 string `json:"Name,omitempty"`
}

type epochJSON struct {
	ConfigurationVersion string `json:"ConfigurationVersion"`
	DataLossVersion      string `json:"DataLossVersion"`
}

type partitionInfoJSON struct {
	ServiceKind           string                   `json:"ServiceKind"`
	PartitionInformation  partitionInformationJSON `json:"PartitionInformation"`
	TargetReplicaSetSize  *int                     `json:"TargetReplicaSetSize,omitempty"`
	MinReplicaSetSize     *int                     `json:"MinReplicaSetSize,omitempty"`
	AuxiliaryReplicaCount *int                     `json:"AuxiliaryReplicaCount,omitempty"`
	InstanceCount         *int                     `json:"InstanceCount,omitempty"`
	MinInstanceCount      *int                     `json:"MinInstanceCount,omitempty"`
	MinInstancePercentage *int                     `json:"MinInstancePercentage,omitempty"`
	HealthState           string                   `json:"HealthState"`
	PartitionStatus       string                   `json:"PartitionStatus"`
	// The runtime sends LastQuorumLossDurationInSeconds (int64 string); the swagger's LastQuorumLossDuration is
	// not what goes on the wire (docs/servicefabric.md §5).
	LastQuorumLossDurationInSeconds string `json:"LastQuorumLossDurationInSeconds,omitempty"`
	// PrimaryEpoch from api-version 6.4, CurrentConfigurationEpoch below (same content).
	PrimaryEpoch              *epochJSON `json:"PrimaryEpoch,omitempty"`
	CurrentConfigurationEpoch *epochJSON `json:"CurrentConfigurationEpoch,omitempty"`
}

type replicaInfoJSON struct {
	ServiceKind                  string `json:"ServiceKind"`
	ReplicaID                    string `json:"ReplicaId,omitempty"`
	ReplicaRole                  string `json:"ReplicaRole,omitempty"`
	InstanceID                   string `json:"InstanceId,omitempty"`
	ReplicaStatus                string `json:"ReplicaStatus"`
	HealthState                  string `json:"HealthState"`
	Address                      string `json:"Address"`
	NodeName                     string `json:"NodeName"`
	LastInBuildDurationInSeconds string `json:"LastInBuildDurationInSeconds"`
}

type nodeIDObj struct {
	ID string `json:"Id"`
}

type nodeDeactivationJSON struct {
	NodeDeactivationIntent string `json:"NodeDeactivationIntent"`
	NodeDeactivationStatus string `json:"NodeDeactivationStatus"`
	NodeDeactivationTask   []any  `json:"NodeDeactivationTask"`
	PendingSafetyChecks    []any  `json:"PendingSafetyChecks"`
}

type nodeInfoJSON struct {
	Name                          string               `json:"Name"`
	IPAddressOrFQDN               string               `json:"IpAddressOrFQDN"`
	Type                          string               `json:"Type"`
	CodeVersion                   string               `json:"CodeVersion"`
	ConfigVersion                 string               `json:"ConfigVersion"`
	NodeStatus                    string               `json:"NodeStatus"`
	NodeUpTimeInSeconds           string               `json:"NodeUpTimeInSeconds"`
	HealthState                   string               `json:"HealthState"`
	IsSeedNode                    bool                 `json:"IsSeedNode"`
	UpgradeDomain                 string               `json:"UpgradeDomain"`
	FaultDomain                   string               `json:"FaultDomain"`
	ID                            nodeIDObj            `json:"Id"`
	InstanceID                    string               `json:"InstanceId"`
	NodeDeactivationInfo          nodeDeactivationJSON `json:"NodeDeactivationInfo"`
	IsStopped                     bool                 `json:"IsStopped"`
	NodeDownTimeInSeconds         string               `json:"NodeDownTimeInSeconds"`
	NodeUpAt                      string               `json:"NodeUpAt"`
	NodeDownAt                    string               `json:"NodeDownAt"`
	NodeTags                      []string             `json:"NodeTags"`
	IsNodeByNodeUpgradeInProgress bool                 `json:"IsNodeByNodeUpgradeInProgress"`
	InfrastructurePlacementID     string               `json:"InfrastructurePlacementID"`
}

type partitionSchemeJSON struct {
	PartitionScheme string    `json:"PartitionScheme"`
	Count           *int      `json:"Count,omitempty"`
	LowKey          string    `json:"LowKey,omitempty"`
	HighKey         string    `json:"HighKey,omitempty"`
	Names           *[]string `json:"Names,omitempty"`
}

type serviceDescriptionJSON struct {
	ServiceKind                  string              `json:"ServiceKind"`
	ApplicationName              string              `json:"ApplicationName"`
	ServiceName                  string              `json:"ServiceName"`
	ServiceTypeName              string              `json:"ServiceTypeName"`
	InitializationData           []int               `json:"InitializationData"`
	PartitionDescription         partitionSchemeJSON `json:"PartitionDescription"`
	PlacementConstraints         string              `json:"PlacementConstraints"`
	CorrelationScheme            []any               `json:"CorrelationScheme"`
	ServiceLoadMetrics           []any               `json:"ServiceLoadMetrics"`
	ServicePlacementPolicies     []any               `json:"ServicePlacementPolicies"`
	DefaultMoveCost              string              `json:"DefaultMoveCost"`
	IsDefaultMoveCostSpecified   bool                `json:"IsDefaultMoveCostSpecified"`
	ServicePackageActivationMode string              `json:"ServicePackageActivationMode"`
	ServiceDnsName               string              `json:"ServiceDnsName"`
	ScalingPolicies              []any               `json:"ScalingPolicies"`
	TargetReplicaSetSize         *int                `json:"TargetReplicaSetSize,omitempty"`
	MinReplicaSetSize            *int                `json:"MinReplicaSetSize,omitempty"`
	HasPersistedState            *bool               `json:"HasPersistedState,omitempty"`
	InstanceCount                *int                `json:"InstanceCount,omitempty"`
	Flags                        int                 `json:"Flags"`
}

type resolvedPartitionJSON struct {
	Name                 string                   `json:"Name"`
	PartitionInformation partitionInformationJSON `json:"PartitionInformation"`
	Endpoints            []endpointJSON           `json:"Endpoints"`
	Version              string                   `json:"Version"`
}

type nameInfoJSON struct {
	ID   string `json:"Id"`
	Name string `json:"Name"`
}

func ptr[T any](v T) *T { return &v }

// appInfo is a's ApplicationInfo. Caller holds mu.
func (c *Cluster) appInfo(a *app) applicationInfoJSON {
	params := []parameterJSON{}
	keys := make([]string, 0, len(a.Parameters))
	for k := range a.Parameters {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		params = append(params, parameterJSON{Key: k, Value: a.Parameters[k]})
	}
	return applicationInfoJSON{
		ID: idFromName(a.Name), Name: a.Name, TypeName: a.TypeName, TypeVersion: a.TypeVersion,
		Status: "Ready", Parameters: params, HealthState: c.appHealth(a, c.now()).state,
		ApplicationDefinitionKind: "ServiceFabricApplicationDescription",
	}
}

// serviceInfo is s's ServiceInfo. Caller holds mu.
func (c *Cluster) serviceInfo(s *service) serviceInfoJSON {
	out := serviceInfoJSON{
		ServiceKind: s.Kind, Name: s.Name, TypeName: s.TypeName, ManifestVersion: s.app.TypeVersion,
		HealthState: c.serviceHealth(s, c.now()).state, ServiceStatus: "Active", ID: idFromName(s.Name),
	}
	if s.Kind == Stateful {
		out.HasPersistedState = ptr(s.HasPersistedState)
	}
	return out
}

func (p *partition) information() partitionInformationJSON {
	out := partitionInformationJSON{ServicePartitionKind: p.svc.Scheme, ID: p.id}
	switch p.svc.Scheme {
	case Int64Range:
		out.LowKey, out.HighKey = strconv.FormatInt(p.low, 10), strconv.FormatInt(p.high, 10)
	case Named:
		out.Name = p.name
	}
	return out
}

func (p *partition) liveCount() int {
	n := 0
	for _, r := range p.replicas {
		if !r.down && r.node.up {
			n++
		}
	}
	return n
}

func (p *partition) status() string {
	live := p.liveCount()
	if p.svc.Kind == Stateless {
		if live == 0 {
			return "NotReady"
		}
		return "Ready"
	}
	switch {
	case live == 0:
		return "NotReady"
	case p.primary() == nil:
		return "Reconfiguring"
	case live < p.svc.MinReplicas:
		return "InQuorumLoss"
	}
	return "Ready"
}

// health is the state of the partition's System.FM event, from its replica set.
func (p *partition) health() string {
	switch {
	case p.status() != "Ready":
		return "Error"
	case p.liveCount() < len(p.replicas):
		return "Warning"
	}
	return "Ok"
}

// partitionInfo is p's ServicePartitionInfo in api-version's shape. Caller holds mu.
func (c *Cluster) partitionInfo(p *partition, version float64) partitionInfoJSON {
	out := partitionInfoJSON{
		ServiceKind: p.svc.Kind, PartitionInformation: p.information(),
		HealthState: c.partitionHealth(p, c.now()).state, PartitionStatus: p.status(),
	}
	if p.svc.Kind == Stateless {
		out.InstanceCount = ptr(p.svc.Replicas)
		out.MinInstanceCount = ptr(1)
		out.MinInstancePercentage = ptr(0)
		return out
	}
	out.TargetReplicaSetSize = ptr(p.svc.Replicas)
	out.MinReplicaSetSize = ptr(p.svc.MinReplicas)
	out.AuxiliaryReplicaCount = ptr(0)
	out.LastQuorumLossDurationInSeconds = strconv.FormatInt(int64(p.lastQuorumLoss/time.Second), 10)
	epoch := &epochJSON{ConfigurationVersion: strconv.FormatInt(p.configVer, 10), DataLossVersion: strconv.FormatInt(p.dataLoss, 10)}
	if version >= 6.4 {
		out.PrimaryEpoch = epoch
	} else {
		out.CurrentConfigurationEpoch = epoch
	}
	return out
}

// initialDataLossVersion is every partition's DataLossVersion until a data loss (StartDataLoss) changes it.
const initialDataLossVersion = 132000000000000000

// replicaInfo is r's ReplicaInfo. Caller holds mu.
func (c *Cluster) replicaInfo(r *replica) replicaInfoJSON {
	out := replicaInfoJSON{
		ServiceKind: r.p.svc.Kind, ReplicaStatus: "Ready", HealthState: c.replicaHealth(r, c.now()).state,
		Address: r.address(), NodeName: r.node.Name, LastInBuildDurationInSeconds: "0",
	}
	if r.down || !r.node.up {
		out.ReplicaStatus = "Down"
	}
	id := strconv.FormatInt(r.id, 10)
	switch r.role {
	case roleStateless:
		out.InstanceID = id
	case rolePrimary:
		out.ReplicaID, out.ReplicaRole = id, "Primary"
	default:
		out.ReplicaID, out.ReplicaRole = id, "ActiveSecondary"
	}
	return out
}

func (c *Cluster) nodeInfo(n *node, i int) nodeInfoJSON {
	now := time.Now()
	out := nodeInfoJSON{
		Name: n.Name, IPAddressOrFQDN: n.IP, Type: n.Type, CodeVersion: c.cfg.clusterVersion, ConfigVersion: "1.0",
		NodeStatus: "Up", NodeUpTimeInSeconds: "0", HealthState: c.nodeHealth(n, c.now()).state, IsSeedNode: i < 3,
		UpgradeDomain: strconv.Itoa(i), FaultDomain: "fd:/" + strconv.Itoa(i),
		ID: nodeIDObj{ID: n.id}, InstanceID: strconv.FormatInt(n.instanceID, 10),
		NodeDeactivationInfo: nodeDeactivationJSON{
			NodeDeactivationIntent: "Invalid", NodeDeactivationStatus: "None",
			NodeDeactivationTask: []any{}, PendingSafetyChecks: []any{},
		},
		NodeDownTimeInSeconds: "0", NodeUpAt: "0001-01-01T00:00:00.000Z", NodeDownAt: "0001-01-01T00:00:00.000Z",
		NodeTags: []string{}, InfrastructurePlacementID: "",
	}
	secs := strconv.FormatInt(int64(now.Sub(n.changedAt)/time.Second), 10)
	at := n.changedAt.UTC().Format("2006-01-02T15:04:05.000Z")
	if n.up {
		out.NodeUpTimeInSeconds, out.NodeUpAt = secs, at
	} else {
		out.NodeStatus, out.IsStopped = "Down", true
		out.NodeDownTimeInSeconds, out.NodeDownAt = secs, at
	}
	return out
}

func (s *service) description() serviceDescriptionJSON {
	out := serviceDescriptionJSON{
		ServiceKind: s.Kind, ApplicationName: s.app.Name, ServiceName: s.Name, ServiceTypeName: s.TypeName,
		InitializationData: []int{}, PlacementConstraints: "", CorrelationScheme: []any{}, ServiceLoadMetrics: []any{},
		ServicePlacementPolicies: []any{}, DefaultMoveCost: "Low", IsDefaultMoveCostSpecified: true,
		ServicePackageActivationMode: "SharedProcess", ServiceDnsName: "", ScalingPolicies: []any{},
	}
	switch s.Scheme {
	case Singleton:
		out.PartitionDescription = partitionSchemeJSON{PartitionScheme: "Singleton"}
	case Int64Range:
		out.PartitionDescription = partitionSchemeJSON{PartitionScheme: "UniformInt64Range", Count: ptr(s.Partitions),
			LowKey: strconv.FormatInt(s.LowKey, 10), HighKey: strconv.FormatInt(s.HighKey, 10)}
	case Named:
		out.PartitionDescription = partitionSchemeJSON{PartitionScheme: "Named", Count: ptr(len(s.Names)), Names: ptr(slices.Clone(s.Names))}
	}
	if s.Kind == Stateful {
		out.TargetReplicaSetSize, out.MinReplicaSetSize = ptr(s.Replicas), ptr(s.MinReplicas)
		out.HasPersistedState = ptr(s.HasPersistedState)
	} else {
		out.InstanceCount = ptr(s.Replicas)
	}
	return out
}

// lookups (caller holds mu)

func (c *Cluster) serviceByVar(q *request, v string) (*service, *FabricError) {
	name, err := q.name(v)
	if err != nil {
		return nil, err
	}
	s, ok := c.services[name]
	if !ok {
		return nil, fabricErr(http.StatusNotFound, "FABRIC_E_SERVICE_DOES_NOT_EXIST", "Service %s does not exist.", name)
	}
	if _, scoped := q.vars["app"]; scoped {
		a, err := c.appByVar(q)
		if err != nil {
			return nil, err
		}
		if s.app != a {
			return nil, fabricErr(http.StatusNotFound, "FABRIC_E_SERVICE_DOES_NOT_EXIST", "Service %s does not exist in application %s.", name, a.Name)
		}
	}
	return s, nil
}

func (c *Cluster) appByVar(q *request) (*app, *FabricError) {
	name, err := q.name("app")
	if err != nil {
		return nil, err
	}
	a, ok := c.appByName[name]
	if !ok {
		return nil, fabricErr(http.StatusNotFound, "FABRIC_E_APPLICATION_NOT_FOUND", "Application %s does not exist.", name)
	}
	return a, nil
}

// partitionByVar finds the partition named by the {pid} variable; missing → nil with no error.
func (c *Cluster) partitionByVar(q *request) (*partition, *FabricError) {
	id, err := parsePartitionID(q.vars["pid"][0])
	if err != nil {
		return nil, err
	}
	return c.partitions[id], nil
}

// existingPartitionByVar is partitionByVar for queries below a partition: a missing one is
// FABRIC_E_PARTITION_NOT_FOUND.
func (c *Cluster) existingPartitionByVar(q *request) (*partition, *FabricError) {
	p, err := c.partitionByVar(q)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fabricErr(http.StatusNotFound, "FABRIC_E_PARTITION_NOT_FOUND", "Partition %s does not exist.", q.vars["pid"][0])
	}
	return p, nil
}

// pagedInfo is one page of all (sorted by key) from token, each item in its JSON shape.
func pagedInfo[T, J any](all []T, key func(T) string, token string, max int64, info func(T) J) pagedList[J] {
	items, next := page(all, key, token, max)
	out := pagedList[J]{ContinuationToken: next, Items: make([]J, 0, len(items))}
	for _, x := range items {
		out.Items = append(out.Items, info(x))
	}
	return out
}

// handlers

func (c *Cluster) getApplications(q *request) result {
	token, max, err := q.paging(true)
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	typeName, filterByType := q.query["ApplicationTypeName"]
	var all []*app
	for _, a := range c.apps {
		if !filterByType || a.TypeName == typeName {
			all = append(all, a)
		}
	}
	excludeParams := q.query["ExcludeApplicationParameters"] == "true"
	return ok(pagedInfo(all, func(a *app) string { return a.Name }, token, max, func(a *app) applicationInfoJSON {
		info := c.appInfo(a)
		if excludeParams {
			info.Parameters = []parameterJSON{}
		}
		return info
	}))
}

func (c *Cluster) getApplication(q *request) result {
	name, err := q.name("app")
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a, found := c.appByName[name]
	if !found {
		return empty(http.StatusNoContent)
	}
	return ok(c.appInfo(a))
}

func (c *Cluster) getServices(q *request) result {
	token, max, err := q.paging(q.version >= 6.4) // MaxResults is honoured from 6.4 on
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := c.appByVar(q)
	if err != nil {
		return fail(err)
	}
	typeName, filterByType := q.query["ServiceTypeName"]
	var all []*service
	for _, s := range a.services {
		if !filterByType || s.TypeName == typeName {
			all = append(all, s)
		}
	}
	return ok(pagedInfo(all, func(s *service) string { return s.Name }, token, max, c.serviceInfo))
}

func (c *Cluster) getAppService(q *request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := c.appByVar(q)
	if err != nil {
		return fail(err)
	}
	name, err := q.name("svc")
	if err != nil {
		return fail(err)
	}
	s, found := c.services[name]
	if !found || s.app != a {
		return empty(http.StatusNoContent)
	}
	return ok(c.serviceInfo(s))
}

func (c *Cluster) getPartitions(q *request) result {
	token, max, err := q.paging(true)
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.serviceByVar(q, "svc")
	if err != nil {
		return fail(err)
	}
	all := slices.Clone(s.partitions)
	slices.SortFunc(all, func(x, y *partition) int { return strings.Compare(x.id, y.id) })
	return ok(pagedInfo(all, func(p *partition) string { return p.id }, token, max, func(p *partition) partitionInfoJSON {
		return c.partitionInfo(p, q.version)
	}))
}

func (c *Cluster) getDescription(q *request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.serviceByVar(q, "svc")
	if err != nil {
		return fail(err)
	}
	return ok(s.description())
}

func (c *Cluster) getApplicationName(q *request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.serviceByVar(q, "svc")
	if err != nil {
		return fail(err)
	}
	return ok(nameInfoJSON{ID: idFromName(s.app.Name), Name: s.app.Name})
}

func (c *Cluster) getPartition(q *request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.partitionByVar(q)
	if err != nil {
		return fail(err)
	}
	if p == nil {
		return empty(http.StatusNoContent)
	}
	return ok(c.partitionInfo(p, q.version))
}

func (c *Cluster) getReplicas(q *request) result {
	token, max, err := q.paging(true)
	if err != nil {
		return fail(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.existingPartitionByVar(q)
	if err != nil {
		return fail(err)
	}
	all := slices.Clone(p.replicas)
	slices.SortFunc(all, func(x, y *replica) int { return strings.Compare(replicaKey(x), replicaKey(y)) })
	return ok(pagedInfo(all, replicaKey, token, max, c.replicaInfo))
}

// replicaKey orders replicas by ID; IDs have the same number of digits, so string order is numeric order.
func replicaKey(r *replica) string { return strconv.FormatInt(r.id, 10) }

func (c *Cluster) getReplica(q *request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, r, err := c.replicaOrNilByVar(q)
	if err != nil {
		return fail(err)
	}
	if r == nil {
		return empty(http.StatusNoContent)
	}
	return ok(c.replicaInfo(r))
}

// replicaOrNilByVar finds the partition {pid} (missing: 404) and in it the replica {rid} (missing: nil).
func (c *Cluster) replicaOrNilByVar(q *request) (*partition, *replica, *FabricError) {
	p, err := c.existingPartitionByVar(q)
	if err != nil {
		return nil, nil, err
	}
	id, err := q.replicaID()
	if err != nil {
		return nil, nil, err
	}
	return p, p.findReplica(id), nil
}

// replicaID parses the {rid} variable.
func (q *request) replicaID() (int64, *FabricError) {
	id, err := strconv.ParseInt(q.single("rid"), 10, 64)
	if err != nil {
		return 0, invalidArg("replica ID %q is not an int64", q.single("rid"))
	}
	return id, nil
}

func (c *Cluster) getServiceName(q *request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.existingPartitionByVar(q)
	if err != nil {
		return fail(err)
	}
	return ok(nameInfoJSON{ID: idFromName(p.svc.Name), Name: p.svc.Name})
}

func (c *Cluster) getNodes(q *request) result {
	token, max, err := q.paging(true)
	if err != nil {
		return fail(err)
	}
	filter := q.query["NodeStatusFilter"]
	c.mu.Lock()
	defer c.mu.Unlock()
	type indexed struct {
		n *node
		i int
	}
	var all []indexed
	for i, n := range c.nodes {
		switch {
		case filter == "up" && !n.up, filter == "down" && n.up:
			continue
		}
		all = append(all, indexed{n, i})
	}
	slices.SortFunc(all, func(x, y indexed) int { return strings.Compare(x.n.Name, y.n.Name) })
	return ok(pagedInfo(all, func(x indexed) string { return x.n.Name }, token, max, func(x indexed) nodeInfoJSON {
		return c.nodeInfo(x.n, x.i)
	}))
}

func (c *Cluster) getNode(q *request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	name := q.single("node")
	for i, n := range c.nodes {
		if n.Name == name {
			return ok(c.nodeInfo(n, i))
		}
	}
	return empty(http.StatusNoContent)
}

func (c *Cluster) getClusterVersion(*request) result {
	return ok(struct {
		Version string `json:"Version"`
	}{c.cfg.clusterVersion})
}

func (c *Cluster) getAadMetadata(*request) result {
	if c.cfg.aad == nil {
		return ok(struct{}{})
	}
	m := c.cfg.aad
	type metadata struct {
		Authority string `json:"authority"`
		Client    string `json:"client"`
		Cluster   string `json:"cluster"`
		Login     string `json:"login"`
		Redirect  string `json:"redirect"`
		Tenant    string `json:"tenant"`
	}
	return ok(struct {
		Type     string   `json:"type"`
		Metadata metadata `json:"metadata"`
	}{"aad", metadata{m.Authority, m.Client, m.Cluster, m.Login, m.Redirect, m.Tenant}})
}
