package fakesf

import (
	"cmp"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Cluster is a running fake SF cluster: the management API on one listener and one HTTP server per open replica
// listener. All methods are safe for concurrent use.
type Cluster struct {
	cfg config
	url string

	mgmt   *http.Server
	closed chan struct{} // closed when Close starts
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
	stopCtx   func() bool // unregisters Start's AfterFunc; set and read under mu

	mu         sync.Mutex
	nodes      []*node // topology order
	nodeByName map[string]*node
	apps       []*app // sorted by name
	appByName  map[string]*app
	services   map[string]*service   // by fabric:/ name
	partitions map[string]*partition // by lower-case GUID
	fmVersion  int64                 // cluster-wide FM lookup version; every reconfiguration takes the next one
	generation int64
	nextID     int64                 // replica and instance IDs
	operations map[string]*operation // fault operations by OperationId (lower case)
	events     []Event               // recent faults, oldest first (logEvent)
	appTypes   []ApplicationType     // registered application types, sorted by name and version
	placed     int                   // partitions placed so far; spreads primaries over the nodes
	created    int                   // services created with CreateService; keeps their partition IDs new
	reports    healthReports         // health reports on the cluster entity
	healthSeq  int64                 // makes auto-assigned health SequenceNumbers unique
	started    time.Time

	// fake-only knobs, guarded by mu
	resolveDelay   time.Duration
	pageSize       int64 // SetPageSize: the most items of a paged list per answer (0 = no limit)
	namingFault    NamingFault
	namingLeft     int // remaining calls namingFault applies to; -1 = until cleared
	naming         NamingCache
	manualFailover bool // no automatic promotion when a primary goes away

	serverCert   atomic.Pointer[tls.Certificate] // nil: plain HTTP; SetServerCertificate replaces it
	certConns    certConns                       // management connections by the server certificate they began under
	thumbprints  atomic.Pointer[map[string]bool] // accepted client certificates (upper-case SHA-1 hex)
	resolveTotal atomic.Int64
	now          func() time.Time // clock of the naming cache's MaxAge; tests replace it
}

type node struct {
	Node
	id         string // 32 hex digits
	instanceID int64
	up         bool
	changedAt  time.Time
	restart    *time.Timer // pending automatic start after StopDurationInSeconds
	reports    healthReports
}

type app struct {
	Application
	services []*service // sorted by name
	reports  healthReports
}

type service struct {
	Service
	app        *app
	partitions []*partition // scheme order (ranges ascending, names as listed)
	reports    healthReports
}

type partition struct {
	svc            *service
	id             string
	low, high      int64  // Int64Range
	name           string // Named
	replicas       []*replica
	fmVersion      int64
	store          int64         // StoreVersion, bumped with every reconfiguration
	configVer      int64         // PrimaryEpoch.ConfigurationVersion
	dataLoss       int64         // PrimaryEpoch.DataLossVersion, new with every data loss
	quorumLost     time.Time     // when the running quorum loss began (zero: none)
	lastQuorumLoss time.Duration // how long the last quorum loss lasted
	current        *resolution
	cached         *resolution // naming-gateway cache entry (NamingCache.Stale)
	cachedAt       time.Time
	plainCalls     atomic.Int64 // ResolvePartition without PreviousRspVersion
	prevCalls      atomic.Int64 // ResolvePartition with PreviousRspVersion
	reports        healthReports
}

type role uint8

const (
	rolePrimary role = iota + 1
	roleSecondary
	roleStateless
)

func (r role) String() string {
	switch r {
	case rolePrimary:
		return "primary"
	case roleSecondary:
		return "secondary"
	}
	return "stateless"
}

type replica struct {
	p       *partition
	id      int64 // ReplicaId (stateful) or InstanceId (stateless)
	node    *node
	role    role
	down    bool
	servers []*replicaServer // open listeners in Service.Listeners order; nil when closed
	fault   ReplicaFault
	hits    atomic.Int64
	reports healthReports
	events  eventStreams // open server-sent-event answers (streams.go)
}

// resolution is one immutable ResolvePartition answer (what a naming-gateway cache would hold).
type resolution struct {
	partitionID string
	generation  int64
	fmVersion   int64
	version     string
	endpoints   []endpointJSON
}

// Start builds the cluster described by t, opens the management listener and every replica listener, and
// serves until Close is called or ctx is done.
func Start(ctx context.Context, t Topology, opts ...Option) (*Cluster, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fakesf: start: %w", err)
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	t = cloneTopology(t)
	if err := t.validate(nil); err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:        cfg,
		closed:     make(chan struct{}),
		nodeByName: map[string]*node{},
		appByName:  map[string]*app{},
		services:   map[string]*service{},
		partitions: map[string]*partition{},
		operations: map[string]*operation{},
		generation: fileTime(time.Now()),
		nextID:     fileTime(time.Now()),
		naming:     cfg.naming,
		now:        time.Now,
		started:    time.Now(),
	}
	c.build(t)
	c.serverCert.Store(cfg.tlsCert)
	thumbprints := maps.Clone(cfg.thumbprints)
	c.thumbprints.Store(&thumbprints)

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return nil, fmt.Errorf("fakesf: management listener on %s: %w", cfg.listen, err)
	}
	scheme := "http"
	if cfg.tlsCert != nil {
		ln = tls.NewListener(ln, c.tlsConfig())
		scheme = "https"
	}
	c.url = scheme + "://" + ln.Addr().String()

	c.mu.Lock()
	for _, p := range c.allPartitions() {
		for _, r := range p.replicas {
			if err := c.syncListeners(r); err != nil {
				c.mu.Unlock()
				ln.Close()
				c.closeReplicaServers()
				return nil, err
			}
		}
		p.current = c.resolve(p)
	}
	c.mu.Unlock()

	c.mgmt = &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, ErrorLog: discardLog, ConnState: c.certConns.track,
		ConnContext: withConn}
	c.wg.Go(func() { _ = c.mgmt.Serve(ln) })
	c.mu.Lock() // Close, run by the AfterFunc the moment ctx ends, reads stopCtx under mu
	c.stopCtx = context.AfterFunc(ctx, func() { _ = c.Close() })
	c.mu.Unlock()
	return c, nil
}

// URL is the management endpoint's base URL, e.g. "http://127.0.0.1:19080" (https with WithTLS).
func (c *Cluster) URL() string { return c.url }

// Close stops the management server and every replica server, closes their connections and waits for all of
// the cluster's goroutines to end. It is safe to call more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		stop := c.stopCtx
		c.mu.Unlock()
		if stop != nil {
			stop()
		}
		close(c.closed)
		c.closeErr = c.mgmt.Close()
		c.closeReplicaServers()
		c.mu.Lock()
		for _, n := range c.nodes {
			if n.restart != nil {
				n.restart.Stop()
				n.restart = nil
			}
		}
		c.stopOperationTimers()
		c.mu.Unlock()
		c.wg.Wait()
		if c.closeErr != nil {
			c.closeErr = fmt.Errorf("fakesf: close management server: %w", c.closeErr)
		}
	})
	return c.closeErr
}

func (c *Cluster) closeReplicaServers() {
	c.mu.Lock()
	var open []*replicaServer
	for _, p := range c.allPartitions() {
		for _, r := range p.replicas {
			open = append(open, r.servers...)
			r.servers = nil
		}
	}
	c.mu.Unlock()
	for _, s := range open {
		s.close()
	}
}

func (c *Cluster) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// build creates nodes, application types, applications, services, partitions and replicas (no listeners yet).
func (c *Cluster) build(t Topology) {
	for _, n := range t.Nodes {
		sum := sha1.Sum([]byte("node:" + n.Name))
		nd := &node{Node: n, id: hex.EncodeToString(sum[:16]), instanceID: c.newID(), up: true, changedAt: time.Now()}
		c.nodes = append(c.nodes, nd)
		c.nodeByName[n.Name] = nd
	}
	types, _ := t.applicationTypes(func(string, string, ...any) error { return nil }) // validated by Start
	c.appTypes = types
	for _, a := range t.Applications {
		ap := c.addApp(a)
		for _, s := range a.Services {
			c.addService(ap, s, partitionGUID)
		}
	}
}

// addApp registers an application (no services yet). Caller holds mu (or is building).
func (c *Cluster) addApp(a Application) *app {
	a.Services = nil
	ap := &app{Application: a}
	i, _ := slices.BinarySearchFunc(c.apps, a.Name, func(x *app, name string) int { return cmp.Compare(x.Name, name) })
	c.apps = slices.Insert(c.apps, i, ap)
	c.appByName[a.Name] = ap
	return ap
}

// addService creates a validated service of ap with its partitions and replicas placed (no listeners yet):
// replica j of the k-th partition placed in the cluster goes to node (k+j) mod len(nodes), replica 0 as primary.
// pid names the partitions. Caller holds mu (or is building).
func (c *Cluster) addService(ap *app, s Service, pid func(service string, index int) string) *service {
	if s.Kind == Stateful && s.MinReplicas == 0 {
		s.MinReplicas = s.Replicas/2 + 1
	}
	svc := &service{Service: s, app: ap}
	var parts []*partition
	switch s.Scheme {
	case Singleton:
		parts = append(parts, &partition{})
	case Int64Range:
		for _, r := range int64Ranges(s.LowKey, s.HighKey, s.Partitions) {
			parts = append(parts, &partition{low: r[0], high: r[1]})
		}
	case Named:
		for _, name := range s.Names {
			parts = append(parts, &partition{name: name})
		}
	}
	for i, p := range parts {
		p.svc = svc
		p.id = pid(s.Name, i)
		count := s.Replicas
		if count == -1 {
			count = len(c.nodes)
		}
		for j := range count {
			r := &replica{p: p, id: c.newID(), node: c.nodes[(c.placed+j)%len(c.nodes)], role: roleStateless}
			if s.Kind == Stateful {
				r.role = roleSecondary
				if j == 0 {
					r.role = rolePrimary
				}
			}
			p.replicas = append(p.replicas, r)
		}
		c.placed++
		c.fmVersion++
		p.fmVersion = c.fmVersion
		p.store = 1
		p.configVer = 1<<32 | 1
		p.dataLoss = initialDataLossVersion
		c.partitions[p.id] = p
	}
	svc.partitions = parts
	i, _ := slices.BinarySearchFunc(ap.services, s.Name, func(x *service, name string) int { return cmp.Compare(x.Name, name) })
	ap.services = slices.Insert(ap.services, i, svc)
	c.services[s.Name] = svc
	return svc
}

func (c *Cluster) newID() int64 {
	c.nextID++
	return c.nextID
}

// allPartitions lists every partition in application, service, scheme order. Caller holds mu (or is building).
func (c *Cluster) allPartitions() []*partition {
	var out []*partition
	for _, a := range c.apps {
		for _, s := range a.services {
			out = append(out, s.partitions...)
		}
	}
	return out
}

// listening reports whether r should have its listeners open: up, and stateless, primary, or a secondary of a
// listenOnSecondary service (Reliable Services open listeners on secondaries only when asked to).
func (r *replica) listening() bool {
	if r.down || !r.node.up {
		return false
	}
	return r.role != roleSecondary || r.p.svc.ListenOnSecondary
}

// syncListeners opens or closes r's listeners to match r.listening(). Caller holds mu.
func (c *Cluster) syncListeners(r *replica) error {
	want := r.listening() && !c.isClosed()
	switch {
	case want && r.servers == nil:
		servers, err := c.openServers(r)
		if err != nil {
			return err
		}
		r.servers = servers
	case !want && r.servers != nil:
		for _, s := range r.servers {
			s.close()
		}
		r.servers = nil
	}
	return nil
}

// reconfigure records a change of p's replica set: new FM version, new epoch, new current resolution. Caller
// holds mu.
func (c *Cluster) reconfigure(p *partition) error {
	var errs []error
	for _, r := range p.replicas {
		if err := c.syncListeners(r); err != nil {
			errs = append(errs, err)
		}
	}
	c.fmVersion++
	p.fmVersion = c.fmVersion
	p.store++
	p.configVer++
	p.current = c.resolve(p)
	return errors.Join(errs...)
}

// primary returns p's primary replica if it is up, else nil.
func (p *partition) primary() *replica {
	for _, r := range p.replicas {
		if r.role == rolePrimary && !r.down && r.node.up {
			return r
		}
	}
	return nil
}

// promote makes a live secondary of p primary if p has no live primary; old (if any) becomes secondary.
// Reports whether anything changed. Caller holds mu.
func (p *partition) promote(exclude *replica) bool {
	if p.svc.Kind != Stateful || p.primary() != nil {
		return false
	}
	for _, r := range p.replicas {
		if r != exclude && r.role == roleSecondary && !r.down && r.node.up {
			for _, old := range p.replicas {
				if old.role == rolePrimary {
					old.role = roleSecondary
				}
			}
			r.role = rolePrimary
			return true
		}
	}
	return false
}

func (p *partition) findReplica(id int64) *replica {
	for _, r := range p.replicas {
		if r.id == id {
			return r
		}
	}
	return nil
}

// partitionGUID derives a stable GUID (RFC 4122 version 5 layout) from the service name and partition index, so
// a topology always yields the same partition IDs.
func partitionGUID(service string, index int) string {
	sum := sha1.Sum([]byte(fmt.Sprintf("fakesf partition %s #%d", service, index)))
	sum[6] = sum[6]&0x0f | 0x50
	sum[8] = sum[8]&0x3f | 0x80
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func lastSegment(name string) string {
	return name[strings.LastIndex(name, "/")+1:]
}

// fileTime is t in Windows FILETIME units (100 ns since 1601), the unit SF uses for replica and instance IDs.
func fileTime(t time.Time) int64 {
	return t.UnixNano()/100 + 116444736000000000
}
