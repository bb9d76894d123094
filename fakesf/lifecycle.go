package fakesf

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Lifecycle calls: create and delete applications of the registered application types, create services of their
// service types (listeners come from the service type, as an SF service's endpoints come from its manifest),
// update a service's replica or instance count. Each change is applied before the answer.

// flexInt64 reads an int64 given as a JSON number or as a string holding one (SF's swagger types LowKey and HighKey
// as strings; clients send either).
type flexInt64 int64

func (f *flexInt64) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not an int64", b)
	}
	*f = flexInt64(n)
	return nil
}

type applicationDescriptionJSON struct {
	Name          string          `json:"Name"`
	TypeName      string          `json:"TypeName"`
	TypeVersion   string          `json:"TypeVersion"`
	ParameterList []parameterJSON `json:"ParameterList"`
}

// CreateApplication creates an application of a registered type with no services, as SF's CreateApplication does
// for a type without default services. parameters override the type's defaults.
func (c *Cluster) CreateApplication(name, typeName, typeVersion string, parameters map[string]string) error {
	if err := checkFabricName(name); err != nil {
		return fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_NAME_URI", "%v", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ferr := c.appType(typeName, typeVersion)
	if ferr != nil {
		return ferr
	}
	if _, exists := c.appByName[name]; exists {
		return fabricErr(http.StatusConflict, "FABRIC_E_APPLICATION_ALREADY_EXISTS", "Application %s already exists.", name)
	}
	if _, exists := c.services[name]; exists {
		return fabricErr(http.StatusConflict, "FABRIC_E_NAME_ALREADY_EXISTS", "Name %s is a service.", name)
	}
	params := map[string]string{}
	for k, v := range at.Parameters {
		params[k] = v
	}
	for k, v := range parameters {
		params[k] = v
	}
	c.addApp(Application{Name: name, TypeName: typeName, TypeVersion: typeVersion, Parameters: params})
	c.logEvent("CreateApplication: %s (%s %s)", name, typeName, typeVersion)
	return nil
}

// DeleteApplication deletes an application and all its services (their listeners close, their names are gone).
func (c *Cluster) DeleteApplication(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.appByName[name]
	if !ok {
		return fabricErr(http.StatusNotFound, "FABRIC_E_APPLICATION_NOT_FOUND", "Application %s does not exist.", name)
	}
	for _, s := range slices.Clone(a.services) {
		c.removeService(s)
	}
	delete(c.appByName, name)
	c.apps = slices.DeleteFunc(c.apps, func(x *app) bool { return x == a })
	c.logEvent("DeleteApplication: %s deleted", name)
	return nil
}

func (c *Cluster) postCreateApplication(q *request) result {
	var d applicationDescriptionJSON
	if err := q.readJSON(&d); err != nil {
		return fail(err)
	}
	if d.Name == "" || d.TypeName == "" || d.TypeVersion == "" {
		return fail(invalidArg("ApplicationDescription needs Name, TypeName and TypeVersion"))
	}
	params := map[string]string{}
	for _, p := range d.ParameterList {
		params[p.Key] = p.Value
	}
	return done(http.StatusCreated, c.CreateApplication(d.Name, d.TypeName, d.TypeVersion, params))
}

func (c *Cluster) postDeleteApplication(q *request) result {
	if _, err := q.boolParam("ForceRemove"); err != nil {
		return fail(err)
	}
	name, err := q.name("app")
	if err != nil {
		return fail(err)
	}
	return done(http.StatusOK, c.DeleteApplication(name))
}

// serviceDescriptionInJSON is CreateService's body (SF's ServiceDescription, the fields the fake uses).
type serviceDescriptionInJSON struct {
	ServiceKind          string `json:"ServiceKind"`
	ApplicationName      string `json:"ApplicationName"`
	ServiceName          string `json:"ServiceName"`
	ServiceTypeName      string `json:"ServiceTypeName"`
	PartitionDescription *struct {
		PartitionScheme string     `json:"PartitionScheme"`
		Count           int        `json:"Count"`
		LowKey          *flexInt64 `json:"LowKey"`
		HighKey         *flexInt64 `json:"HighKey"`
		Names           []string   `json:"Names"`
	} `json:"PartitionDescription"`
	TargetReplicaSetSize *int  `json:"TargetReplicaSetSize"`
	MinReplicaSetSize    *int  `json:"MinReplicaSetSize"`
	HasPersistedState    *bool `json:"HasPersistedState"`
	InstanceCount        *int  `json:"InstanceCount"`
}

// serviceFromDescription turns a ServiceDescription body into a Service (its type is checked by CreateService).
func serviceFromDescription(d serviceDescriptionInJSON) (Service, *FabricError) {
	s := Service{Name: d.ServiceName, TypeName: d.ServiceTypeName, Kind: d.ServiceKind}
	if d.ServiceName == "" || d.ServiceTypeName == "" || d.PartitionDescription == nil {
		return s, invalidArg("ServiceDescription needs ServiceKind, ServiceName, ServiceTypeName and PartitionDescription")
	}
	pd := d.PartitionDescription
	switch pd.PartitionScheme {
	case Singleton:
		s.Scheme = Singleton
	case "UniformInt64Range":
		if pd.LowKey == nil || pd.HighKey == nil {
			return s, invalidArg("a UniformInt64Range PartitionDescription needs Count, LowKey and HighKey")
		}
		s.Scheme, s.Partitions, s.LowKey, s.HighKey = Int64Range, pd.Count, int64(*pd.LowKey), int64(*pd.HighKey)
	case Named:
		if pd.Count != len(pd.Names) {
			return s, invalidArg("PartitionDescription.Count %d does not match the %d Names", pd.Count, len(pd.Names))
		}
		s.Scheme, s.Names = Named, pd.Names
	default:
		return s, invalidArg("PartitionDescription.PartitionScheme %q must be Singleton, UniformInt64Range or Named", pd.PartitionScheme)
	}
	switch d.ServiceKind {
	case Stateful:
		if d.TargetReplicaSetSize == nil || d.MinReplicaSetSize == nil || d.HasPersistedState == nil {
			return s, invalidArg("a Stateful ServiceDescription needs TargetReplicaSetSize, MinReplicaSetSize and HasPersistedState")
		}
		s.Replicas, s.MinReplicas, s.HasPersistedState = *d.TargetReplicaSetSize, *d.MinReplicaSetSize, *d.HasPersistedState
		if s.MinReplicas < 1 {
			return s, invalidArg("MinReplicaSetSize %d must be at least 1", s.MinReplicas)
		}
	case Stateless:
		if d.InstanceCount == nil {
			return s, invalidArg("a Stateless ServiceDescription needs InstanceCount")
		}
		s.Replicas = *d.InstanceCount
	default:
		return s, invalidArg("ServiceKind %q must be Stateful or Stateless", d.ServiceKind)
	}
	return s, nil
}

// CreateService creates a service of application appName from one of its application type's service types, as
// SF's CreateService does; the replicas take their listeners from the service type and start serving at once.
func (c *Cluster) CreateService(appName string, s Service) error {
	if err := checkFabricName(s.Name); err != nil {
		return fabricErr(http.StatusBadRequest, "FABRIC_E_INVALID_NAME_URI", "%v", err)
	}
	if !strings.HasPrefix(s.Name, appName+"/") {
		return invalidArg("service %s must be named below its application %s (e.g. %s/Svc)", s.Name, appName, appName)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.appByName[appName]
	if !ok {
		return fabricErr(http.StatusNotFound, "FABRIC_E_APPLICATION_NOT_FOUND", "Application %s does not exist.", appName)
	}
	if _, exists := c.services[s.Name]; exists {
		return fabricErr(http.StatusConflict, "FABRIC_E_SERVICE_ALREADY_EXISTS", "Service %s already exists.", s.Name)
	}
	at, ferr := c.appType(a.TypeName, a.TypeVersion)
	if ferr != nil {
		return ferr
	}
	i := slices.IndexFunc(at.ServiceTypes, func(st ServiceType) bool { return st.Name == s.TypeName })
	if i < 0 {
		return fabricErr(http.StatusNotFound, "FABRIC_E_SERVICE_TYPE_NOT_FOUND", "Service type %s is not in application type %s %s.", s.TypeName, at.Name, at.Version)
	}
	st := at.ServiceTypes[i]
	if st.Kind != s.Kind {
		return invalidArg("service type %s is %s; a %s service cannot be created from it", st.Name, st.Kind, s.Kind)
	}
	s.Listeners, s.ListenOnSecondary, s.Extensions = slices.Clone(st.Listeners), st.ListenOnSecondary, cloneExtensions(st.Extensions)
	if err := s.validate(len(c.nodes), func(field, format string, args ...any) error {
		return invalidArg("ServiceDescription ("+field+"): "+format, args...)
	}); err != nil {
		return err
	}
	c.created++
	gen := c.created
	svc := c.addService(a, s, func(name string, index int) string { return partitionGUID(fmt.Sprintf("%s@%d", name, gen), index) })
	c.logEvent("CreateService: %s (%s, %d partitions)", s.Name, s.TypeName, len(svc.partitions))
	for _, p := range svc.partitions {
		if err := c.reconfigure(p); err != nil {
			c.removeService(svc)
			return fabricErr(http.StatusInternalServerError, "E_FAIL", "open the listeners of %s: %v", s.Name, err)
		}
	}
	return nil
}

func (c *Cluster) postCreateService(q *request) result {
	appName, err := q.name("app")
	if err != nil {
		return fail(err)
	}
	var d serviceDescriptionInJSON
	if err := q.readJSON(&d); err != nil {
		return fail(err)
	}
	if d.ApplicationName != "" && d.ApplicationName != appName {
		return fail(invalidArg("ServiceDescription.ApplicationName %s is not the application %s of the URL", d.ApplicationName, appName))
	}
	s, err := serviceFromDescription(d)
	if err != nil {
		return fail(err)
	}
	return done(http.StatusAccepted, c.CreateService(appName, s))
}

type serviceUpdateJSON struct {
	ServiceKind          string `json:"ServiceKind"`
	TargetReplicaSetSize *int   `json:"TargetReplicaSetSize"`
	MinReplicaSetSize    *int   `json:"MinReplicaSetSize"`
	InstanceCount        *int   `json:"InstanceCount"`
}

// UpdateService changes a service's target replica count (stateful; minReplicas too when not 0) or instance
// count (stateless; -1 = every node), as SF's UpdateService does: replicas are added on nodes without one of the
// partition, or secondaries (instances) removed, and every partition reconfigures.
func (c *Cluster) UpdateService(name string, replicas, minReplicas int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.services[name]
	if !ok {
		return fabricErr(http.StatusNotFound, "FABRIC_E_SERVICE_DOES_NOT_EXIST", "Service %s does not exist.", name)
	}
	want := s.Service
	want.Replicas = replicas
	if minReplicas != 0 {
		want.MinReplicas = minReplicas
	}
	if err := want.validate(len(c.nodes), func(field, format string, args ...any) error {
		return invalidArg("ServiceUpdateDescription ("+field+"): "+format, args...)
	}); err != nil {
		return err
	}
	s.Replicas, s.MinReplicas = want.Replicas, want.MinReplicas
	count := replicas
	if count == -1 {
		count = len(c.nodes)
	}
	for _, p := range s.partitions {
		for len(p.replicas) > count {
			// Drop the last replica that is not the primary.
			i := len(p.replicas) - 1
			for p.replicas[i].role == rolePrimary {
				i--
			}
			for _, srv := range p.replicas[i].servers {
				srv.close()
			}
			p.replicas = slices.Delete(p.replicas, i, i+1)
		}
		for len(p.replicas) < count {
			n := c.freeNode(p)
			r := &replica{p: p, id: c.newID(), node: n, role: roleStateless}
			if s.Kind == Stateful {
				r.role = roleSecondary
			}
			p.replicas = append(p.replicas, r)
		}
		if !c.manualFailover {
			p.promote(nil)
		}
		if err := c.reconfigure(p); err != nil {
			return fabricErr(http.StatusInternalServerError, "E_FAIL", "%v", err)
		}
	}
	c.logEvent("UpdateService: %s now has %d replicas or instances per partition", name, count)
	return nil
}

// freeNode is a node without a replica of p, up ones first (validation has made sure one exists).
func (c *Cluster) freeNode(p *partition) *node {
	var down *node
	for _, n := range c.nodes {
		if p.replicaOn(n) != nil {
			continue
		}
		if n.up {
			return n
		}
		down = n
	}
	return down
}

func (c *Cluster) postUpdateService(q *request) result {
	name, err := q.name("svc")
	if err != nil {
		return fail(err)
	}
	var d serviceUpdateJSON
	if err := q.readJSON(&d); err != nil {
		return fail(err)
	}
	c.mu.Lock()
	s, found := c.services[name]
	var kind string
	var replicas int
	if found {
		kind, replicas = s.Kind, s.Replicas
	}
	c.mu.Unlock()
	if !found {
		return fail(fabricErr(http.StatusNotFound, "FABRIC_E_SERVICE_DOES_NOT_EXIST", "Service %s does not exist.", name))
	}
	if d.ServiceKind != kind {
		return fail(invalidArg("ServiceUpdateDescription.ServiceKind %q does not match the %s service %s", d.ServiceKind, kind, name))
	}
	minReplicas := 0
	switch {
	case kind == Stateful && d.InstanceCount != nil, kind == Stateless && (d.TargetReplicaSetSize != nil || d.MinReplicaSetSize != nil):
		return fail(invalidArg("a %s service has %s", kind, map[string]string{Stateful: "TargetReplicaSetSize and MinReplicaSetSize", Stateless: "InstanceCount"}[kind]))
	case d.TargetReplicaSetSize != nil:
		replicas = *d.TargetReplicaSetSize
	case d.InstanceCount != nil:
		replicas = *d.InstanceCount
	}
	if d.MinReplicaSetSize != nil {
		if *d.MinReplicaSetSize < 1 {
			return fail(invalidArg("MinReplicaSetSize %d must be at least 1", *d.MinReplicaSetSize))
		}
		minReplicas = *d.MinReplicaSetSize
	}
	return done(http.StatusOK, c.UpdateService(name, replicas, minReplicas))
}
