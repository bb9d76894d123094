package fakesf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Topology describes a fake cluster: its nodes and the applications and services placed on them.
// Build one in Go, take DefaultTopology, or read YAML with ParseTopology (format in the package doc).
type Topology struct {
	Nodes        []Node
	Applications []Application
	// ApplicationTypes registers application types beyond those of Applications (whose types are registered
	// from their services), for CreateApplication and CreateService to instantiate.
	ApplicationTypes []ApplicationType
}

// ApplicationType is a registered (provisioned) application type: what GET /ApplicationTypes lists and
// CreateApplication instantiates.
type ApplicationType struct {
	Name         string            // "ShopType"
	Version      string            // empty → "1.0.0"
	Parameters   map[string]string // default application parameters
	ServiceTypes []ServiceType
}

// ServiceType is a service type of an application type, as its service manifest declares it. A service created
// from it takes its listeners from here, as an SF service's endpoints come from its service manifest.
type ServiceType struct {
	Name              string   // "OrdersType"
	Kind              string   // Stateful or Stateless
	HasPersistedState bool     // Stateful
	Listeners         []string // listener names each replica publishes; nil → [""]
	ListenOnSecondary bool     // Stateful: secondaries open their listeners too
	// Extensions are the service type's <Extensions> in its service manifest: extension name → labels (key →
	// value), rendered as <Extension Name="..."><Labels xmlns="..."><Label Key="...">value</Label>...
	Extensions map[string]map[string]string
}

// Node is one cluster node. Every replica placed on it listens on its IP, so stopping the node takes all of them
// away at once.
type Node struct {
	Name string // e.g. "_Node_0"
	IP   string // loopback IPv4 address such as "127.0.0.2"; empty → 127.0.0.(2+index)
	Type string // node type name; empty → "NodeType0"
}

// Application is one SF application with its services.
type Application struct {
	Name        string // "fabric:/Shop"
	TypeName    string // empty → last name segment + "Type"
	TypeVersion string // empty → "1.0.0"
	Parameters  map[string]string
	Services    []Service
}

// Service kinds.
const (
	Stateful  = "Stateful"
	Stateless = "Stateless"
)

// Partition schemes (SF ServicePartitionKind strings; "UniformInt64Range" is accepted as Int64Range).
const (
	Singleton  = "Singleton"
	Int64Range = "Int64Range"
	Named      = "Named"
)

// Service is one service and its partitioning and placement.
type Service struct {
	Name     string // full name "fabric:/Shop/Orders"; must be below its application's name
	TypeName string // empty → last name segment + "Type"
	Kind     string // Stateful or Stateless
	// Scheme is Singleton, Int64Range or Named.
	Scheme string
	// Partitions is the Int64Range partition count; [LowKey, HighKey] is split as SF's
	// UniformInt64RangePartitionScheme does: equal shares, and the keys left over one each to the first partitions
	// (0..33 in 4 partitions: [0,8] [9,17] [18,25] [26,33]).
	Partitions      int
	LowKey, HighKey int64
	Names           []string // Named partition names
	// Replicas is the target replica set size (Stateful) or instance count (Stateless, -1 = one per node).
	// At most one replica of a partition is placed on a node.
	Replicas          int
	MinReplicas       int      // Stateful MinReplicaSetSize; 0 → Replicas/2+1
	Listeners         []string // listener names each replica publishes; nil → [""]
	ListenOnSecondary bool     // Stateful: secondaries open their listeners too
	HasPersistedState bool     // Stateful
	// Extensions are the service manifest extensions of the service's type when the type is built from the
	// application's services (see ServiceType.Extensions); a service of a declared type takes its type's.
	Extensions map[string]map[string]string
}

// TopologyError is a topology that cannot be used: Field names the place (e.g.
// "applications[0].services[1].partitions"), Line and Column are set when the topology came from YAML.
type TopologyError struct {
	Line, Column int
	Field        string
	Msg          string
}

func (e *TopologyError) Error() string {
	var b strings.Builder
	b.WriteString("fakesf topology")
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d column %d", e.Line, e.Column)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": %s", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// DefaultTopology is the built-in cluster: five nodes _Node_0.._Node_4 on 127.0.0.2..127.0.0.6 and
//   - fabric:/Shop/Orders: Stateful, Int64Range 0..1023 in 4 partitions (256 keys each), 3 replicas, listener "";
//   - fabric:/Shop/Carts: Stateful, Named "eu", "us", "asia", 3 replicas, listener "", listenOnSecondary;
//   - fabric:/Shop/Web: Stateless Singleton, 3 instances, listeners "" and "Admin";
//   - fabric:/Catalog/Products: Stateful Singleton, 3 replicas, listener "".
func DefaultTopology() Topology {
	t := Topology{}
	for i := range 5 {
		t.Nodes = append(t.Nodes, Node{Name: fmt.Sprintf("_Node_%d", i), IP: fmt.Sprintf("127.0.0.%d", i+2), Type: "NodeType0"})
	}
	t.Applications = []Application{
		{
			Name: "fabric:/Shop", TypeName: "ShopType", TypeVersion: "1.0.0",
			Parameters: map[string]string{"Web_InstanceCount": "3"},
			Services: []Service{
				{Name: "fabric:/Shop/Orders", TypeName: "OrdersType", Kind: Stateful, Scheme: Int64Range,
					Partitions: 4, LowKey: 0, HighKey: 1023, Replicas: 3, HasPersistedState: true},
				{Name: "fabric:/Shop/Carts", TypeName: "CartsType", Kind: Stateful, Scheme: Named,
					Names: []string{"eu", "us", "asia"}, Replicas: 3, ListenOnSecondary: true, HasPersistedState: true},
				{Name: "fabric:/Shop/Web", TypeName: "WebType", Kind: Stateless, Scheme: Singleton,
					Replicas: 3, Listeners: []string{"", "Admin"}},
			},
		},
		{
			Name: "fabric:/Catalog", TypeName: "CatalogType", TypeVersion: "2.1.0",
			Services: []Service{
				{Name: "fabric:/Catalog/Products", TypeName: "ProductsType", Kind: Stateful, Scheme: Singleton,
					Replicas: 3, HasPersistedState: true},
			},
		},
	}
	return t
}

// MaxPartitions bounds the partitions of one service (each partition's replicas are real listeners).
const MaxPartitions = 1024

// maxTopologyBytes bounds a topology file.
const maxTopologyBytes = 1 << 20

// ParseTopology reads a YAML topology (format in the package doc). Unknown fields, wrong types and inconsistent
// values are *TopologyError with the line, column and field.
func ParseTopology(data []byte) (t Topology, err error) {
	if len(data) > maxTopologyBytes {
		return Topology{}, &TopologyError{Msg: fmt.Sprintf("file is %d bytes, more than the %d allowed", len(data), maxTopologyBytes)}
	}
	var doc yaml.Node
	defer func() {
		// yaml.v3 has panicked on hostile input in the past; a parser of outside bytes must return an error instead.
		if r := recover(); r != nil {
			t, err = Topology{}, &TopologyError{Msg: fmt.Sprintf("invalid YAML: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Topology{}, &TopologyError{Msg: "empty document: expected a mapping with nodes and applications"}
		}
		return Topology{}, &TopologyError{Msg: "invalid YAML: " + err.Error()}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Topology{}, &TopologyError{Line: extra.Line, Column: extra.Column, Msg: "a topology file holds exactly one YAML document"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return Topology{}, &TopologyError{Msg: "empty document: expected a mapping with nodes and applications"}
		}
		root = root.Content[0]
	}
	d := yamlDecoder{}
	if err := d.topology(root, &t); err != nil {
		return Topology{}, err
	}
	if err := t.validate(d.lines); err != nil {
		return Topology{}, err
	}
	return t, nil
}

// yamlDecoder walks a yaml.Node tree; lines remembers where each field path was written, so that validation
// errors found later still point at a line.
type yamlDecoder struct {
	lines map[string]*yaml.Node
}

func (d *yamlDecoder) errAt(n *yaml.Node, field, format string, args ...any) error {
	return &TopologyError{Line: n.Line, Column: n.Column, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (d *yamlDecoder) remember(field string, n *yaml.Node) {
	if d.lines == nil {
		d.lines = map[string]*yaml.Node{}
	}
	d.lines[field] = n
}

// mapping calls fields[key] for each key of mapping node n; unknown and repeated keys are errors.
func (d *yamlDecoder) mapping(n *yaml.Node, field string, fields map[string]func(v *yaml.Node, field string) error) error {
	if err := d.plain(n, field); err != nil {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return d.errAt(n, field, "expected a mapping, found %s", kindName(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		sub := joinField(field, k.Value)
		if k.Kind != yaml.ScalarNode {
			return d.errAt(k, field, "mapping keys must be plain strings")
		}
		fn, ok := fields[k.Value]
		if !ok {
			names := make([]string, 0, len(fields))
			for name := range fields {
				names = append(names, name)
			}
			sort.Strings(names)
			return d.errAt(k, sub, "unknown field %q (allowed: %s)", k.Value, strings.Join(names, ", "))
		}
		if seen[k.Value] {
			return d.errAt(k, sub, "field %q given twice", k.Value)
		}
		seen[k.Value] = true
		if err := d.plain(v, sub); err != nil {
			return err
		}
		d.remember(sub, v)
		if err := fn(v, sub); err != nil {
			return err
		}
	}
	return nil
}

// plain rejects YAML features the topology does not use and that make walking expensive (aliases, merges).
func (d *yamlDecoder) plain(n *yaml.Node, field string) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" || n.Tag == "!!merge" {
		return d.errAt(n, field, "anchors, aliases and merge keys are not supported")
	}
	return nil
}

func (d *yamlDecoder) sequence(n *yaml.Node, field string, item func(v *yaml.Node, field string) error) error {
	if n.Kind != yaml.SequenceNode {
		return d.errAt(n, field, "expected a list, found %s", kindName(n))
	}
	for i, v := range n.Content {
		sub := fmt.Sprintf("%s[%d]", field, i)
		if err := d.plain(v, sub); err != nil {
			return err
		}
		d.remember(sub, v)
		if err := item(v, sub); err != nil {
			return err
		}
	}
	return nil
}

func (d *yamlDecoder) str(dst *string) func(*yaml.Node, string) error {
	return func(n *yaml.Node, field string) error {
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			return d.errAt(n, field, "expected a string, found %s", kindName(n))
		}
		*dst = n.Value
		return nil
	}
}

func (d *yamlDecoder) strList(dst *[]string) func(*yaml.Node, string) error {
	return func(n *yaml.Node, field string) error {
		list := []string{}
		err := d.sequence(n, field, func(v *yaml.Node, f string) error {
			var s string
			if err := d.str(&s)(v, f); err != nil {
				return err
			}
			list = append(list, s)
			return nil
		})
		*dst = list
		return err
	}
}

func (d *yamlDecoder) int64(dst *int64) func(*yaml.Node, string) error {
	return func(n *yaml.Node, field string) error {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return d.errAt(n, field, "expected an integer, found %s %q", kindName(n), n.Value)
		}
		v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil {
			return d.errAt(n, field, "%q is not an int64", n.Value)
		}
		*dst = v
		return nil
	}
}

func (d *yamlDecoder) int(dst *int) func(*yaml.Node, string) error {
	return func(n *yaml.Node, field string) error {
		var v int64
		if err := d.int64(&v)(n, field); err != nil {
			return err
		}
		if v < math.MinInt32 || v > math.MaxInt32 {
			return d.errAt(n, field, "%d is out of range", v)
		}
		*dst = int(v)
		return nil
	}
}

func (d *yamlDecoder) bool(dst *bool) func(*yaml.Node, string) error {
	return func(n *yaml.Node, field string) error {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return d.errAt(n, field, "expected true or false, found %s %q", kindName(n), n.Value)
		}
		*dst = n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
		return nil
	}
}

func (d *yamlDecoder) topology(n *yaml.Node, t *Topology) error {
	return d.mapping(n, "", map[string]func(*yaml.Node, string) error{
		"nodes": func(v *yaml.Node, f string) error {
			return d.sequence(v, f, func(item *yaml.Node, f string) error {
				var node Node
				err := d.mapping(item, f, map[string]func(*yaml.Node, string) error{
					"name": d.str(&node.Name),
					"ip":   d.str(&node.IP),
					"type": d.str(&node.Type),
				})
				t.Nodes = append(t.Nodes, node)
				return err
			})
		},
		"applications": func(v *yaml.Node, f string) error {
			return d.sequence(v, f, func(item *yaml.Node, f string) error {
				var app Application
				err := d.application(item, f, &app)
				t.Applications = append(t.Applications, app)
				return err
			})
		},
		"applicationTypes": func(v *yaml.Node, f string) error {
			return d.sequence(v, f, func(item *yaml.Node, f string) error {
				var at ApplicationType
				err := d.mapping(item, f, map[string]func(*yaml.Node, string) error{
					"name":       d.str(&at.Name),
					"version":    d.str(&at.Version),
					"parameters": d.strMap(&at.Parameters),
					"serviceTypes": func(v *yaml.Node, f string) error {
						return d.sequence(v, f, func(item *yaml.Node, f string) error {
							var st ServiceType
							err := d.mapping(item, f, map[string]func(*yaml.Node, string) error{
								"name":              d.str(&st.Name),
								"kind":              d.str(&st.Kind),
								"hasPersistedState": d.bool(&st.HasPersistedState),
								"listeners":         d.strList(&st.Listeners),
								"listenOnSecondary": d.bool(&st.ListenOnSecondary),
								"extensions":        d.extensions(&st.Extensions),
							})
							at.ServiceTypes = append(at.ServiceTypes, st)
							return err
						})
					},
				})
				t.ApplicationTypes = append(t.ApplicationTypes, at)
				return err
			})
		},
	})
}

// strMap reads a mapping of plain strings to plain strings.
func (d *yamlDecoder) strMap(dst *map[string]string) func(*yaml.Node, string) error {
	return func(v *yaml.Node, f string) error {
		if v.Kind != yaml.MappingNode {
			return d.errAt(v, f, "expected a mapping of names to values, found %s", kindName(v))
		}
		m := map[string]string{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, val := v.Content[i], v.Content[i+1]
			if err := d.plain(k, f); err != nil {
				return err
			}
			if err := d.plain(val, f); err != nil {
				return err
			}
			if k.Kind != yaml.ScalarNode || val.Kind != yaml.ScalarNode {
				return d.errAt(k, f, "entries must be plain key: value strings")
			}
			if _, dup := m[k.Value]; dup {
				return d.errAt(k, joinField(f, k.Value), "key %q given twice", k.Value)
			}
			m[k.Value] = val.Value
		}
		*dst = m
		return nil
	}
}

// extensions reads service manifest extensions: a mapping of extension names to label mappings.
func (d *yamlDecoder) extensions(dst *map[string]map[string]string) func(*yaml.Node, string) error {
	return func(v *yaml.Node, f string) error {
		if v.Kind != yaml.MappingNode {
			return d.errAt(v, f, "expected a mapping of extension names to labels, found %s", kindName(v))
		}
		m := map[string]map[string]string{}
		for i := 0; i+1 < len(v.Content); i += 2 {
			k, labels := v.Content[i], v.Content[i+1]
			if err := d.plain(k, f); err != nil {
				return err
			}
			if k.Kind != yaml.ScalarNode || k.Value == "" {
				return d.errAt(k, f, "extension names are non-empty plain strings")
			}
			sub := joinField(f, k.Value)
			if _, dup := m[k.Value]; dup {
				return d.errAt(k, sub, "extension %q given twice", k.Value)
			}
			if err := d.plain(labels, sub); err != nil {
				return err
			}
			var lm map[string]string
			if err := d.strMap(&lm)(labels, sub); err != nil {
				return err
			}
			m[k.Value] = lm
		}
		*dst = m
		return nil
	}
}

func (d *yamlDecoder) application(n *yaml.Node, field string, app *Application) error {
	return d.mapping(n, field, map[string]func(*yaml.Node, string) error{
		"name":        d.str(&app.Name),
		"typeName":    d.str(&app.TypeName),
		"typeVersion": d.str(&app.TypeVersion),
		"parameters":  d.strMap(&app.Parameters),
		"services": func(v *yaml.Node, f string) error {
			return d.sequence(v, f, func(item *yaml.Node, f string) error {
				var s Service
				err := d.service(item, f, &s)
				app.Services = append(app.Services, s)
				return err
			})
		},
	})
}

func (d *yamlDecoder) service(n *yaml.Node, field string, s *Service) error {
	var replicas, instances *yaml.Node
	count := func(dst **yaml.Node) func(*yaml.Node, string) error {
		return func(v *yaml.Node, f string) error {
			*dst = v
			return d.int(&s.Replicas)(v, f)
		}
	}
	err := d.mapping(n, field, map[string]func(*yaml.Node, string) error{
		"name":              d.str(&s.Name),
		"typeName":          d.str(&s.TypeName),
		"kind":              d.str(&s.Kind),
		"scheme":            d.str(&s.Scheme),
		"partitions":        d.int(&s.Partitions),
		"lowKey":            d.int64(&s.LowKey),
		"highKey":           d.int64(&s.HighKey),
		"names":             d.strList(&s.Names),
		"replicas":          count(&replicas),
		"instances":         count(&instances),
		"minReplicas":       d.int(&s.MinReplicas),
		"listeners":         d.strList(&s.Listeners),
		"listenOnSecondary": d.bool(&s.ListenOnSecondary),
		"hasPersistedState": d.bool(&s.HasPersistedState),
		"extensions":        d.extensions(&s.Extensions),
	})
	switch {
	case err != nil:
		return err
	case replicas != nil && instances != nil:
		return d.errAt(instances, joinField(field, "instances"), "give replicas (Stateful) or instances (Stateless), not both")
	case s.Kind == Stateless && replicas != nil:
		return d.errAt(replicas, joinField(field, "replicas"), "a Stateless service has instances, not replicas")
	case s.Kind == Stateful && instances != nil:
		return d.errAt(instances, joinField(field, "instances"), "a Stateful service has replicas, not instances")
	}
	return nil
}

func joinField(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "a " + strings.TrimPrefix(n.Tag, "!!")
	}
	return "nothing"
}

// validate checks the whole topology; lines (may be nil) maps field paths to YAML nodes for positions.
func (t *Topology) validate(lines map[string]*yaml.Node) error {
	fail := func(field, format string, args ...any) error {
		e := &TopologyError{Field: field, Msg: fmt.Sprintf(format, args...)}
		for f := field; f != ""; f = parentField(f) {
			if n, ok := lines[f]; ok {
				e.Line, e.Column = n.Line, n.Column
				break
			}
		}
		return e
	}
	if len(t.Nodes) == 0 {
		return fail("nodes", "at least one node is required")
	}
	nodeNames := map[string]bool{}
	nodeIPs := map[string]bool{}
	for i := range t.Nodes {
		n := &t.Nodes[i]
		f := fmt.Sprintf("nodes[%d]", i)
		if n.Name == "" || strings.ContainsAny(n.Name, "/?#%& ") {
			return fail(f+".name", "node name %q must be non-empty and must not contain / ? # %% & or spaces", n.Name)
		}
		if nodeNames[n.Name] {
			return fail(f+".name", "node name %q is used twice", n.Name)
		}
		nodeNames[n.Name] = true
		if n.IP == "" {
			n.IP = fmt.Sprintf("127.0.0.%d", (i+2)%256)
		}
		if n.Type == "" {
			n.Type = "NodeType0"
		}
		addr, err := netip.ParseAddr(n.IP)
		if err != nil || !addr.Is4() || !addr.IsLoopback() {
			return fail(f+".ip", "%q is not an IPv4 loopback address (use 127.0.0.2, 127.0.0.3, ...)", n.IP)
		}
		if nodeIPs[addr.String()] {
			return fail(f+".ip", "IP %s is used by two nodes; each node needs its own loopback IP", addr)
		}
		nodeIPs[addr.String()] = true
	}
	if len(t.Applications) == 0 && len(t.ApplicationTypes) == 0 {
		return fail("applications", "at least one application is required (or application types to create applications from at run time)")
	}
	appNames := map[string]bool{}
	svcNames := map[string]bool{}
	for ai := range t.Applications {
		a := &t.Applications[ai]
		af := fmt.Sprintf("applications[%d]", ai)
		if err := checkFabricName(a.Name); err != nil {
			return fail(af+".name", "%v", err)
		}
		if appNames[a.Name] {
			return fail(af+".name", "application %q is defined twice", a.Name)
		}
		appNames[a.Name] = true
		if a.TypeName == "" {
			a.TypeName = lastSegment(a.Name) + "Type"
		}
		if a.TypeVersion == "" {
			a.TypeVersion = "1.0.0"
		}
		if len(a.Services) == 0 {
			return fail(af+".services", "application %q needs at least one service", a.Name)
		}
		for si := range a.Services {
			s := &a.Services[si]
			sf := fmt.Sprintf("%s.services[%d]", af, si)
			if err := checkFabricName(s.Name); err != nil {
				return fail(sf+".name", "%v", err)
			}
			if !strings.HasPrefix(s.Name, a.Name+"/") {
				return fail(sf+".name", "service %q must be below its application %q (e.g. %s/Svc)", s.Name, a.Name, a.Name)
			}
			if svcNames[s.Name] || appNames[s.Name] {
				return fail(sf+".name", "name %q is used twice", s.Name)
			}
			svcNames[s.Name] = true
			if s.TypeName == "" {
				s.TypeName = lastSegment(s.Name) + "Type"
			}
			if err := s.validate(len(t.Nodes), func(field, format string, args ...any) error {
				return fail(sf+"."+field, format, args...)
			}); err != nil {
				return err
			}
		}
	}
	_, err := t.applicationTypes(fail)
	return err
}

// applicationTypes validates the declared application types (filling defaults) and returns them together with
// the types of the applications that are not declared, each built from its applications' services. A service of
// a declared type must name one of its service types, with the same kind, and takes the type's listeners.
func (t *Topology) applicationTypes(fail func(field, format string, args ...any) error) ([]ApplicationType, error) {
	key := func(name, version string) string { return name + "\x00" + version }
	declared := map[string]*ApplicationType{}
	for i := range t.ApplicationTypes {
		at := &t.ApplicationTypes[i]
		f := fmt.Sprintf("applicationTypes[%d]", i)
		if at.Version == "" {
			at.Version = "1.0.0"
		}
		if err := checkTypeName(at.Name); err != nil {
			return nil, fail(f+".name", "%v", err)
		}
		if err := checkTypeName(at.Version); err != nil {
			return nil, fail(f+".version", "%v", err)
		}
		if declared[key(at.Name, at.Version)] != nil {
			return nil, fail(f, "application type %s version %s is declared twice", at.Name, at.Version)
		}
		declared[key(at.Name, at.Version)] = at
		seen := map[string]bool{}
		for j := range at.ServiceTypes {
			st := &at.ServiceTypes[j]
			sf := fmt.Sprintf("%s.serviceTypes[%d]", f, j)
			if err := checkTypeName(st.Name); err != nil {
				return nil, fail(sf+".name", "%v", err)
			}
			if seen[st.Name] {
				return nil, fail(sf+".name", "service type %q is declared twice in %s", st.Name, at.Name)
			}
			seen[st.Name] = true
			if err := st.validate(func(field, format string, args ...any) error { return fail(sf+"."+field, format, args...) }); err != nil {
				return nil, err
			}
		}
	}
	out := slices.Clone(t.ApplicationTypes)
	derived := map[string]int{} // key → index in out
	for ai := range t.Applications {
		a := &t.Applications[ai]
		if at := declared[key(a.TypeName, a.TypeVersion)]; at != nil {
			for si := range a.Services {
				s := &a.Services[si]
				sf := fmt.Sprintf("applications[%d].services[%d]", ai, si)
				i := slices.IndexFunc(at.ServiceTypes, func(st ServiceType) bool { return st.Name == s.TypeName })
				if i < 0 {
					return nil, fail(sf+".typeName", "application type %s %s has no service type %q", at.Name, at.Version, s.TypeName)
				}
				st := at.ServiceTypes[i]
				if st.Kind != s.Kind {
					return nil, fail(sf+".kind", "service type %s is %s, not %s", st.Name, st.Kind, s.Kind)
				}
				if slices.Equal(s.Listeners, []string{""}) && !s.ListenOnSecondary {
					s.Listeners, s.ListenOnSecondary = slices.Clone(st.Listeners), st.ListenOnSecondary
				} else if !slices.Equal(s.Listeners, st.Listeners) || s.ListenOnSecondary != st.ListenOnSecondary {
					return nil, fail(sf+".listeners", "listeners come from service type %s (%q, listenOnSecondary %v); leave them out here", st.Name, st.Listeners, st.ListenOnSecondary)
				}
				if s.Extensions == nil {
					s.Extensions = cloneExtensions(st.Extensions)
				} else if !equalExtensions(s.Extensions, st.Extensions) {
					return nil, fail(sf+".extensions", "extensions come from service type %s; leave them out here", st.Name)
				}
			}
			continue
		}
		k := key(a.TypeName, a.TypeVersion)
		i, ok := derived[k]
		if !ok {
			i = len(out)
			derived[k] = i
			out = append(out, ApplicationType{Name: a.TypeName, Version: a.TypeVersion})
		}
		for si, s := range a.Services {
			st := ServiceType{Name: s.TypeName, Kind: s.Kind, HasPersistedState: s.HasPersistedState, Listeners: slices.Clone(s.Listeners),
				ListenOnSecondary: s.ListenOnSecondary, Extensions: cloneExtensions(s.Extensions)}
			j := slices.IndexFunc(out[i].ServiceTypes, func(x ServiceType) bool { return x.Name == st.Name })
			if j < 0 {
				out[i].ServiceTypes = append(out[i].ServiceTypes, st)
				continue
			}
			if old := out[i].ServiceTypes[j]; old.Kind != st.Kind || !slices.Equal(old.Listeners, st.Listeners) || old.ListenOnSecondary != st.ListenOnSecondary ||
				!equalExtensions(old.Extensions, st.Extensions) {
				return nil, fail(fmt.Sprintf("applications[%d].services[%d].typeName", ai, si),
					"service type %s of %s %s is used with different kinds, listeners or extensions; give the services different typeNames", st.Name, a.TypeName, a.TypeVersion)
			}
		}
	}
	slices.SortFunc(out, func(x, y ApplicationType) int { return strings.Compare(key(x.Name, x.Version), key(y.Name, y.Version)) })
	return out, nil
}

// validate checks a declared service type and fills its default listener.
func (st *ServiceType) validate(fail func(field, format string, args ...any) error) error {
	switch st.Kind {
	case Stateful:
	case Stateless:
		if st.HasPersistedState || st.ListenOnSecondary {
			return fail("kind", "hasPersistedState and listenOnSecondary apply to Stateful service types only")
		}
	default:
		return fail("kind", "kind %q must be Stateful or Stateless", st.Kind)
	}
	if st.Listeners == nil {
		st.Listeners = []string{""}
	}
	if err := checkExtensions(st.Extensions, fail); err != nil {
		return err
	}
	return checkListeners(st.Listeners, fail)
}

// checkTypeName checks an application or service type name or version: non-empty, URL-safe.
func checkTypeName(name string) error {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune("/~?#%&\\\"<>{}|^`[]$", r)
	}) {
		return fmt.Errorf("%q must be non-empty and hold only URL-safe characters (no / ~ $)", name)
	}
	return nil
}

// checkExtensions requires non-empty extension names and label keys.
func checkExtensions(e map[string]map[string]string, fail func(field, format string, args ...any) error) error {
	for name, labels := range e {
		if name == "" {
			return fail("extensions", "an extension needs a name, such as sfgate")
		}
		if _, empty := labels[""]; empty {
			return fail("extensions."+name, "a label needs a key, such as sfgate.enable")
		}
	}
	return nil
}

// checkListeners requires at least one listener name and no name twice.
func checkListeners(listeners []string, fail func(field, format string, args ...any) error) error {
	if len(listeners) == 0 {
		return fail("listeners", "at least one listener name is required (\"\" is the default listener)")
	}
	seen := map[string]bool{}
	for i, l := range listeners {
		if seen[l] {
			return fail(fmt.Sprintf("listeners[%d]", i), "listener %q is listed twice", l)
		}
		seen[l] = true
	}
	return nil
}

func (s *Service) validate(nodes int, fail func(field, format string, args ...any) error) error {
	switch s.Kind {
	case Stateful, Stateless:
	default:
		return fail("kind", "kind %q must be Stateful or Stateless", s.Kind)
	}
	switch s.Scheme {
	case Singleton, Named:
	case Int64Range, "UniformInt64Range":
		s.Scheme = Int64Range
	default:
		return fail("scheme", "scheme %q must be Singleton, Int64Range or Named", s.Scheme)
	}
	if s.Scheme != Int64Range && (s.Partitions != 0 || s.LowKey != 0 || s.HighKey != 0) {
		return fail("partitions", "partitions, lowKey and highKey apply to the Int64Range scheme only")
	}
	if s.Scheme != Named && s.Names != nil {
		return fail("names", "names apply to the Named scheme only")
	}
	switch s.Scheme {
	case Int64Range:
		if s.Partitions < 1 || s.Partitions > MaxPartitions {
			return fail("partitions", "an Int64Range service needs 1..%d partitions, got %d", MaxPartitions, s.Partitions)
		}
		if s.LowKey > s.HighKey {
			return fail("lowKey", "lowKey %d is above highKey %d", s.LowKey, s.HighKey)
		}
		if span := uint64(s.HighKey-s.LowKey) + 1; span != 0 && uint64(s.Partitions) > span {
			return fail("partitions", "%d partitions do not fit in the %d keys of [%d, %d]", s.Partitions, span, s.LowKey, s.HighKey)
		}
	case Named:
		if len(s.Names) == 0 || len(s.Names) > MaxPartitions {
			return fail("names", "a Named service needs 1..%d partition names, got %d", MaxPartitions, len(s.Names))
		}
		seen := map[string]bool{}
		for i, name := range s.Names {
			if name == "" || seen[name] {
				return fail(fmt.Sprintf("names[%d]", i), "partition name %q must be non-empty and unique", name)
			}
			seen[name] = true
		}
	}
	if s.Kind == Stateless {
		if s.Replicas != -1 && (s.Replicas < 1 || s.Replicas > nodes) {
			return fail("instances", "a Stateless service needs 1..%d instances (one per node) or -1 (every node), got %d", nodes, s.Replicas)
		}
		if s.ListenOnSecondary || s.HasPersistedState || s.MinReplicas != 0 {
			return fail("kind", "listenOnSecondary, hasPersistedState and minReplicas apply to Stateful services only")
		}
	} else {
		if s.Replicas < 1 || s.Replicas > nodes {
			return fail("replicas", "a Stateful service needs 1..%d replicas (at most one per node), got %d", nodes, s.Replicas)
		}
		if s.MinReplicas < 0 || s.MinReplicas > s.Replicas {
			return fail("minReplicas", "minReplicas %d must be in 0..%d", s.MinReplicas, s.Replicas)
		}
	}
	if s.Listeners == nil {
		s.Listeners = []string{""}
	}
	if err := checkExtensions(s.Extensions, fail); err != nil {
		return err
	}
	return checkListeners(s.Listeners, fail)
}

func parentField(f string) string {
	if i := strings.LastIndexAny(f, ".["); i >= 0 {
		return f[:i]
	}
	return ""
}

// checkFabricName checks a fabric:/ name the way the fake uses it in IDs: non-empty segments, no '~' (it is the
// ID separator), no characters that need escaping in a URL path.
func checkFabricName(name string) error {
	rest, ok := strings.CutPrefix(name, "fabric:/")
	if !ok || rest == "" {
		return fmt.Errorf("name %q must start with fabric:/ followed by a name", name)
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == "" || seg == "$" {
			return fmt.Errorf("name %q has an empty or \"$\" segment", name)
		}
		if strings.ContainsFunc(seg, func(r rune) bool {
			return r == '~' || r <= ' ' || r >= 0x7f || strings.ContainsRune("?#%&\\\"<>{}|^`[]", r)
		}) {
			return fmt.Errorf("name %q: segment %q may hold only URL-safe characters and no '~'", name, seg)
		}
	}
	return nil
}

// int64Ranges splits [low, high] into n ranges as SF's UniformInt64RangePartitionScheme does
// (PartitionedServiceDescriptor::TryGetPartitionRange): with span = high-low (one less than the key count), each
// partition gets span/n keys, and the span%n+1 left over go one each to the first partitions (if that is all n of
// them, every partition simply gets one more). So 0..33 in 4 is [0,8] [9,17] [18,25] [26,33]. The arithmetic is
// unsigned and wraps, so negative ranges and the full int64 range need no special case. The caller has checked
// low <= high and 1 <= n <= the key count.
func int64Ranges(low, high int64, n int) [][2]int64 {
	if n == 1 {
		return [][2]int64{{low, high}}
	}
	span := uint64(high) - uint64(low)
	per, extra := span/uint64(n), span%uint64(n)+1
	if extra == uint64(n) {
		per, extra = per+1, 0
	}
	out := make([][2]int64, n)
	for i := range uint64(n) {
		lo := uint64(low) + i*per + min(i, extra)
		hi := lo + per - 1
		if i < extra {
			hi++
		}
		out[i] = [2]int64{int64(lo), int64(hi)}
	}
	return out
}

// cloneTopology deep-copies t so that the cluster never shares slices with its caller.
func cloneTopology(t Topology) Topology {
	c := Topology{Nodes: slices.Clone(t.Nodes)}
	for _, a := range t.Applications {
		ac := a
		ac.Parameters = maps.Clone(a.Parameters)
		ac.Services = nil
		for _, s := range a.Services {
			sc := s
			sc.Names = slices.Clone(s.Names)
			sc.Listeners = slices.Clone(s.Listeners)
			sc.Extensions = cloneExtensions(s.Extensions)
			ac.Services = append(ac.Services, sc)
		}
		c.Applications = append(c.Applications, ac)
	}
	for _, at := range t.ApplicationTypes {
		atc := at
		atc.Parameters = maps.Clone(at.Parameters)
		atc.ServiceTypes = nil
		for _, st := range at.ServiceTypes {
			stc := st
			stc.Listeners = slices.Clone(st.Listeners)
			stc.Extensions = cloneExtensions(st.Extensions)
			atc.ServiceTypes = append(atc.ServiceTypes, stc)
		}
		c.ApplicationTypes = append(c.ApplicationTypes, atc)
	}
	return c
}

// cloneExtensions deep-copies service manifest extensions (nil stays nil).
func cloneExtensions(e map[string]map[string]string) map[string]map[string]string {
	if e == nil {
		return nil
	}
	c := make(map[string]map[string]string, len(e))
	for name, labels := range e {
		c[name] = maps.Clone(labels)
	}
	return c
}

// equalExtensions reports whether two services declare the same extensions (nil and empty are equal).
func equalExtensions(a, b map[string]map[string]string) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]string) bool { return maps.Equal(x, y) })
}
