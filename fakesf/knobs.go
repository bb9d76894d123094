package fakesf

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SetResolveDelay makes every ResolvePartition wait d before answering (0 = no delay). A delay longer than the
// call's timeout parameter answers 504 FABRIC_E_TIMEOUT after the timeout.
func (c *Cluster) SetResolveDelay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resolveDelay = d
}

// SetPageSize makes every paged list (GET /Applications, GetServices, GetPartitions, /ApplicationTypes, ...)
// answer at most n items per call with a ContinuationToken for the rest, whatever MaxResults asks, as a real
// cluster pages a list too large for one message; 0 removes the limit. A client must follow the tokens.
func (c *Cluster) SetPageSize(n int) error {
	if n < 0 {
		return fmt.Errorf("fakesf: page size %d is negative", n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pageSize = int64(n)
	return nil
}

// SetNamingFault makes ResolvePartition (or, with AllRoutes, every management call) fail with f; a zero
// NamingFault clears it. With f.Count > 0 the fault clears itself after that many calls.
func (c *Cluster) SetNamingFault(f NamingFault) error {
	if f.Drop {
		f.Status = 0
	} else if f.Status != 0 && (f.Status < 400 || f.Status > 599 || f.Code == "") {
		return fmt.Errorf("fakesf: naming fault needs an error status (400..599) and a FabricError code, got %d %q", f.Status, f.Code)
	}
	if f.Count < 0 {
		return fmt.Errorf("fakesf: naming fault count %d is negative", f.Count)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.namingFault = f
	c.namingLeft = f.Count
	return nil
}

// SetNamingCache switches the simulated naming-gateway cache (see NamingCache). Switching it changes nothing
// until the next ResolvePartition; switching it off drops every cached entry.
func (c *Cluster) SetNamingCache(n NamingCache) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.naming = n
	if !n.Stale {
		for _, p := range c.partitions {
			p.cached = nil
		}
	}
}

// SetAutoFailover switches automatic failover (default on). Off, a partition whose primary's node stops keeps
// no primary (ResolvePartition lists only secondaries, PartitionStatus is Reconfiguring) until MovePrimary
// promotes a secondary; a restarted primary restarts in place. Use it to reach SF's "no primary yet" state.
func (c *Cluster) SetAutoFailover(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.manualFailover = !on
}

// SetReplicaFault makes a replica (by replica or instance ID) misbehave; a zero ReplicaFault clears it.
func (c *Cluster) SetReplicaFault(replicaID int64, f ReplicaFault) error {
	if f.Count < 0 || f.Delay < 0 || (f.Status != 0 && (f.Status < 100 || f.Status > 599)) {
		return fmt.Errorf("fakesf: replica fault %+v: want status 100..599 (or 0), delay and count >= 0", f)
	}
	if f.Header != nil {
		h := make(map[string]string, len(f.Header))
		for k, v := range f.Header {
			h[k] = v
		}
		f.Header = h
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.findReplica(replicaID)
	if r == nil {
		return fmt.Errorf("fakesf: no replica or instance with ID %d", replicaID)
	}
	r.fault = f
	return nil
}

func (c *Cluster) findReplica(id int64) *replica {
	for _, p := range c.partitions {
		if r := p.findReplica(id); r != nil {
			return r
		}
	}
	return nil
}

// ResolveCalls is the number of ResolvePartition calls that passed api-version checks (faulted ones included).
func (c *Cluster) ResolveCalls() int64 { return c.resolveTotal.Load() }

// PartitionResolveCalls counts answered ResolvePartition calls for one partition, without and with
// PreviousRspVersion.
func (c *Cluster) PartitionResolveCalls(partitionID string) (plain, withPrevious int64) {
	c.mu.Lock()
	p := c.partitions[strings.ToLower(partitionID)]
	c.mu.Unlock()
	if p == nil {
		return 0, 0
	}
	return p.plainCalls.Load(), p.prevCalls.Load()
}

// ReplicaHits is the number of requests a replica (by replica or instance ID) has received on any listener.
func (c *Cluster) ReplicaHits(replicaID int64) int64 {
	c.mu.Lock()
	r := c.findReplica(replicaID)
	c.mu.Unlock()
	if r == nil {
		return 0
	}
	return r.hits.Load()
}

// ResetCounters sets every counter to zero.
func (c *Cluster) ResetCounters() {
	c.resolveTotal.Store(0)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.partitions {
		p.plainCalls.Store(0)
		p.prevCalls.Store(0)
		for _, r := range p.replicas {
			r.hits.Store(0)
		}
	}
}

// PartitionState is a snapshot of one partition for tests and /_fake/state.
type PartitionState struct {
	Service  string         `json:"service"`
	ID       string         `json:"id"`
	Kind     string         `json:"kind"` // Singleton, Int64Range or Named
	LowKey   int64          `json:"lowKey"`
	HighKey  int64          `json:"highKey"`
	Name     string         `json:"name"`
	Version  string         `json:"version"` // current Version (what an uncached ResolvePartition returns)
	Health   string         `json:"health"`  // aggregated health state: Ok, Warning or Error
	Replicas []ReplicaState `json:"replicas"`
}

// ReplicaState is a snapshot of one replica or instance.
type ReplicaState struct {
	ID        int64             `json:"id"`
	Node      string            `json:"node"`
	Role      string            `json:"role"` // primary, secondary or stateless
	Up        bool              `json:"up"`
	Endpoints map[string]string `json:"endpoints"` // open listeners: name → URL
}

// Primary returns the primary replica, if any is up.
func (p PartitionState) Primary() (ReplicaState, bool) {
	for _, r := range p.Replicas {
		if r.Role == "primary" && r.Up {
			return r, true
		}
	}
	return ReplicaState{}, false
}

// NodeState is a snapshot of one node.
type NodeState struct {
	Name       string `json:"name"`
	IP         string `json:"ip"`
	Up         bool   `json:"up"`
	InstanceID int64  `json:"instanceId"`
	Health     string `json:"health"` // aggregated health state: Ok, Warning or Error
}

// Partitions returns the current state of a service's partitions in scheme order (ranges ascending, names as
// listed in the topology).
func (c *Cluster) Partitions(serviceName string) ([]PartitionState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.services[serviceName]
	if !ok {
		return nil, fmt.Errorf("fakesf: no service %q", serviceName)
	}
	out := make([]PartitionState, 0, len(s.partitions))
	for _, p := range s.partitions {
		ps := p.state()
		ps.Health = c.partitionHealth(p, c.now()).state
		out = append(out, ps)
	}
	return out, nil
}

func (p *partition) state() PartitionState {
	ps := PartitionState{Service: p.svc.Name, ID: p.id, Kind: p.svc.Scheme, LowKey: p.low, HighKey: p.high,
		Name: p.name, Version: p.current.version}
	for _, r := range p.replicas {
		rs := ReplicaState{ID: r.id, Node: r.node.Name, Role: r.role.String(), Up: !r.down && r.node.up, Endpoints: map[string]string{}}
		for _, s := range r.servers {
			rs.Endpoints[s.listener] = s.url
		}
		ps.Replicas = append(ps.Replicas, rs)
	}
	return ps
}

// Nodes returns the nodes in topology order.
func (c *Cluster) Nodes() []NodeState {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]NodeState, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, NodeState{Name: n.Name, IP: n.IP, Up: n.up, InstanceID: n.instanceID, Health: c.nodeHealth(n, c.now()).state})
	}
	return out
}

// Services lists every service name, sorted by application then service name.
func (c *Cluster) Services() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, a := range c.apps {
		for _, s := range a.services {
			out = append(out, s.Name)
		}
	}
	return out
}

// serveFake serves the fake-only control API under /_fake (see the package doc). It needs no credentials.
func (c *Cluster) serveFake(w http.ResponseWriter, r *http.Request, path string) {
	q := r.URL.Query()
	bad := func(err error) { writeFakeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()}) }
	done := func() { writeFakeJSON(w, http.StatusOK, map[string]string{"result": "ok"}) }
	segs := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method == "GET" && path == "/state":
		type svcState struct {
			Name       string           `json:"name"`
			Partitions []PartitionState `json:"partitions"`
		}
		var services []svcState
		for _, name := range c.Services() {
			parts, _ := c.Partitions(name)
			services = append(services, svcState{name, parts})
		}
		writeFakeJSON(w, http.StatusOK, map[string]any{"nodes": c.Nodes(), "services": services, "events": c.Events()})
	case r.Method == "GET" && path == "/counters":
		c.mu.Lock()
		parts := map[string]map[string]int64{}
		hits := map[string]int64{}
		for id, p := range c.partitions {
			parts[id] = map[string]int64{"plain": p.plainCalls.Load(), "withPrevious": p.prevCalls.Load()}
			for _, rep := range p.replicas {
				hits[strconv.FormatInt(rep.id, 10)] = rep.hits.Load()
			}
		}
		c.mu.Unlock()
		writeFakeJSON(w, http.StatusOK, map[string]any{"resolveCalls": c.ResolveCalls(), "partitions": parts, "replicaHits": hits})
	case r.Method == "POST" && path == "/counters/reset":
		c.ResetCounters()
		done()
	case r.Method == "POST" && path == "/naming/delay":
		d, err := time.ParseDuration(q.Get("duration"))
		if err != nil || d < 0 {
			bad(fmt.Errorf("duration %q: want a Go duration such as 250ms", q.Get("duration")))
			return
		}
		c.SetResolveDelay(d)
		done()
	case r.Method == "POST" && path == "/paging":
		n, err := strconv.Atoi(q.Get("pageSize"))
		if err == nil {
			err = c.SetPageSize(n)
		}
		if err != nil {
			bad(fmt.Errorf("pageSize %q: want a count of items, 0 for no limit", q.Get("pageSize")))
			return
		}
		done()
	case r.Method == "POST" && path == "/naming/fault":
		f, err := namingFaultFromQuery(q)
		if err == nil {
			err = c.SetNamingFault(f)
		}
		if err != nil {
			bad(err)
			return
		}
		done()
	case r.Method == "DELETE" && path == "/naming/fault":
		_ = c.SetNamingFault(NamingFault{})
		done()
	case r.Method == "POST" && path == "/naming/cache":
		stale, err := strconv.ParseBool(q.Get("stale"))
		if err != nil {
			bad(fmt.Errorf("stale %q: want true or false", q.Get("stale")))
			return
		}
		var maxAge time.Duration
		if v := q.Get("maxAge"); v != "" {
			if maxAge, err = time.ParseDuration(v); err != nil || maxAge < 0 {
				bad(fmt.Errorf("maxAge %q: want a Go duration such as 5s", v))
				return
			}
		}
		c.SetNamingCache(NamingCache{Stale: stale, MaxAge: maxAge})
		done()
	case r.Method == "POST" && path == "/failover":
		auto, err := strconv.ParseBool(q.Get("auto"))
		if err != nil {
			bad(fmt.Errorf("auto %q: want true or false", q.Get("auto")))
			return
		}
		c.SetAutoFailover(auto)
		done()
	case len(segs) == 3 && segs[0] == "replicas" && segs[2] == "events" && (r.Method == "POST" || r.Method == "DELETE"):
		id, err := replicaIDOf(segs[1])
		if err != nil {
			bad(err)
			return
		}
		var n int
		if r.Method == "POST" {
			n, err = c.SendEvent(id, q.Get("data"))
		} else {
			n, err = c.EndEvents(id)
		}
		if err != nil {
			bad(err)
			return
		}
		writeFakeJSON(w, http.StatusOK, map[string]int{"streams": n})
	case len(segs) == 3 && segs[0] == "replicas" && segs[2] == "fault" && (r.Method == "POST" || r.Method == "DELETE"):
		id, err := replicaIDOf(segs[1])
		if err != nil {
			bad(err)
			return
		}
		var f ReplicaFault
		if r.Method == "POST" {
			if f, err = replicaFaultFromQuery(q); err != nil {
				bad(err)
				return
			}
		}
		if err := c.SetReplicaFault(id, f); err != nil {
			writeFakeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		done()
	default:
		writeFakeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no fake control %s /_fake%s (see the fakesf package doc)", r.Method, path)})
	}
}

func namingFaultFromQuery(q url.Values) (NamingFault, error) {
	var f NamingFault
	var err error
	if v := q.Get("status"); v != "" {
		if f.Status, err = strconv.Atoi(v); err != nil {
			return f, fmt.Errorf("status %q is not a number", v)
		}
	}
	f.Code, f.Message = q.Get("code"), q.Get("message")
	if f.Code == "" && f.Status != 0 {
		f.Code = map[int]string{503: "FABRIC_E_SERVICE_OFFLINE", 504: "FABRIC_E_TIMEOUT"}[f.Status]
	}
	if f.Drop, err = optBool(q, "drop"); err != nil {
		return f, err
	}
	if f.AllRoutes, err = optBool(q, "all"); err != nil {
		return f, err
	}
	if v := q.Get("count"); v != "" {
		if f.Count, err = strconv.Atoi(v); err != nil {
			return f, fmt.Errorf("count %q is not a number", v)
		}
	}
	if f.Status == 0 && !f.Drop {
		return f, errors.New("give status (and code) or drop=true")
	}
	return f, nil
}

// replicaIDOf reads the {replicaId} of a /_fake/replicas/{replicaId}/... control.
func replicaIDOf(seg string) (int64, error) {
	id, err := strconv.ParseInt(seg, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("replica ID %q is not an int64", seg)
	}
	return id, nil
}

func replicaFaultFromQuery(q url.Values) (ReplicaFault, error) {
	var f ReplicaFault
	var err error
	if v := q.Get("status"); v != "" {
		if f.Status, err = strconv.Atoi(v); err != nil {
			return f, fmt.Errorf("status %q is not a number", v)
		}
	}
	if v := q.Get("delay"); v != "" {
		if f.Delay, err = time.ParseDuration(v); err != nil {
			return f, fmt.Errorf("delay %q: want a Go duration such as 250ms", v)
		}
	}
	if f.Drop, err = optBool(q, "drop"); err != nil {
		return f, err
	}
	if v := q.Get("cutAnswerAfter"); v != "" {
		if f.CutAnswerAfter, err = strconv.ParseInt(v, 10, 64); err != nil || f.CutAnswerAfter < 0 {
			return f, fmt.Errorf("cutAnswerAfter %q: want a byte count", v)
		}
	}
	if v := q.Get("count"); v != "" {
		if f.Count, err = strconv.Atoi(v); err != nil {
			return f, fmt.Errorf("count %q is not a number", v)
		}
	}
	for _, h := range q["header"] {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return f, fmt.Errorf("header %q: want Name:Value", h)
		}
		if f.Header == nil {
			f.Header = map[string]string{}
		}
		f.Header[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return f, nil
}

func optBool(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s %q: want true or false", name, v)
	}
	return b, nil
}

func writeFakeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	setJSONHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
