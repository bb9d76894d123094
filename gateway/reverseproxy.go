package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/sfgate/sfgate/gateway/policy"
	"github.com/sfgate/sfgate/partition"
	"github.com/sfgate/sfgate/resolver"
	"github.com/valyala/fasthttp"
)

// The reverse proxy serves the Service Fabric Reverse Proxy's (SFRP's) URL contract on the client listener,
// with no policy (docs/reverse-proxy.md):
//
//	http://gw/<ApplicationName>/<ServiceName>/<suffix>?PartitionKey=&PartitionKind=&ListenerName=&TargetReplicaSelector=&Timeout=
//
// Place in the data flow (docs/design.md §1): a request no API matches, under reverseProxy.path, comes here
// instead of step 2. The longest prefix of the path that names an exposed service picks the service (the
// cluster's list of services, read by ListServices every refresh and again, within minMissRefresh's bound, when a
// path names none; with expose: labels, a service's sfgate.pathPrefix label is tried next, see
// reverseproxy_labels.go); SFRP's query parameters, or the service's labels where the query gives none,
// become the target (key, replica, listener); then step 3 onwards is the policy path's: forwardSF with
// resendRule, the rule's sf-resolve-condition being SFRP's.

// sfrpResolveCondition is SFRP's re-resolve rule, the recipe of docs/policies.md: connection failure, 503, 410,
// and 404 without X-ServiceFabric: ResourceNotFound (the replica moved). resendRule decides the resend.
const sfrpResolveCondition = `@(context.LastError?.Reason == "BackendConnectionFailure"
    || context.Response.StatusCode == 503
    || context.Response.StatusCode == 410
    || (context.Response.StatusCode == 404 && context.Response.Headers.GetValueOrDefault("X-ServiceFabric", "") != "ResourceNotFound"))`

// SFRP's query parameters; names are case-sensitive, as SFRP reads them.
const (
	sfrpPartitionKey  = "PartitionKey"
	sfrpPartitionKind = "PartitionKind"
	sfrpListenerName  = "ListenerName"
	sfrpSelector      = "TargetReplicaSelector"
	sfrpTimeout       = "Timeout"
)

// The X-ServiceFabric header: on a 404 the service's own "not found", which is not re-resolved; the gateway
// sends it with its own 404 for a name that is no exposed service, as SFRP does.
var (
	hdrXServiceFabric      = []byte("X-ServiceFabric")
	xServiceFabricNotFound = []byte("ResourceNotFound")
)

// doubleSlash is an empty path segment. A Service Fabric name has none, so one ends the name a path can
// hold (SFRP cuts the name it resolves there too); after the service name it is forwarded as it is.
var doubleSlash = []byte("//")

// maxNameSegments bounds how many leading path segments can form a service name: the lookup tries each
// prefix up to it, longest first.
const maxNameSegments = 16

// minMissRefresh is how often at most a path that names no known service makes the proxy list the cluster's
// services again before answering 404 (a service created since the last refresh is found at once). The gap
// runs from the end of the last listing and is at least as long as that listing took, so that a flood of
// unknown paths keeps the management API busy with the proxy's listings at most half of the time.
const minMissRefresh = time.Second

// reverseProxy is the compiled reverseProxy: section; part of a compiled configuration.
type reverseProxy struct {
	mount   []byte // the path prefix without a trailing '/': "" for "/"
	expose  string
	allow   []string
	refresh time.Duration
	backend *backend   // the cluster's pool, retries and metrics, used through forwardBackend
	api     *api       // for metrics and the access log
	op      *operation // for the access log; it has no program
	resolve *expr.Expr // sfrpResolveCondition
	lister  serviceLister
	reader  manifestReader // with expose: labels
	cache   manifestCache  // the manifests read, under mu

	set atomic.Pointer[serviceSet]
	mu  sync.Mutex // one listing at a time

	flightMu sync.Mutex
	flight   *listing // the listing in flight, nil when none runs (under flightMu)
	// When the last listing ended (UnixNano) and how long it took (missMayList reads them), set under flightMu.
	listEnd, listTook atomic.Int64
	// missRefresh is minMissRefresh (tests set 0: a miss lists again once the last listing ended).
	missRefresh atomic.Int64
}

// listing is one listing of the cluster's services running in the background (the single flight: the
// refresh, a miss and /debug/routes share it). set is valid once done is closed.
type listing struct {
	done chan struct{}
	set  *serviceSet
}

// serviceLister lists a cluster's services (*resolver.Resolver does).
type serviceLister interface {
	ListServices(ctx context.Context) ([]resolver.ServiceInfo, error)
}

// serviceSet is one reading of the cluster's services: the exposed ones by name, and why each is or is not.
type serviceSet struct {
	exposed  map[string]*rpService
	prefixes map[string]*rpService // by sfgate.pathPrefix (expose: labels), such as "/web"
	all      []*rpService          // sorted by name, exposed or not (for /debug/routes)
	listed   time.Time
	err      error // the listing failed: the previous services are kept
}

// rpService is one service the proxy knows.
type rpService struct {
	name      string
	nameBytes []byte
	typeName  string
	stateless bool
	exposed   bool
	why       string
	// From the service type's labels (expose: labels): also served under prefix (below the mount point); the
	// ListenerName and TargetReplicaSelector of a request that gives none (nil: SFRP's defaults).
	prefix             string
	listener, selector []byte
}

// rpScratch holds the reverse proxy's per-request buffers (in reqState).
type rpScratch struct {
	name, query, key, kind, listener, selector, timeout []byte
}

func compileReverseProxy(cfg *config.Config, rc *config.ReverseProxy, clusters clusterSource, m *metrics) (*reverseProxy, error) {
	bc := &config.Backend{ID: "reverseProxy", URL: "fabric:/", ServiceFabricCluster: rc.Cluster,
		Timeout: cfg.Limits.RequestTimeout, ConnectTimeout: config.DefaultConnectTimeout,
		MaxConnectionsPerEndpoint: config.DefaultMaxConnectionsPerEndpoint, IdleConnectionTimeout: config.DefaultIdleConnectionTimeout,
		ConnectionWaitTimeout: config.DefaultConnectionWaitTimeout}
	be, err := compileBackend(cfg, bc, clusters, m)
	if err != nil {
		return nil, err
	}
	cond, err := expr.Compile(sfrpResolveCondition, expr.Pos{File: "reverse-proxy", Line: 1, Col: 1}, expr.TypeBool)
	if err != nil {
		return nil, fmt.Errorf("SFRP's resolve condition: %w", err) // a defect: the text is a constant
	}
	rp := &reverseProxy{
		mount:   bytes.TrimRight([]byte(rc.Path), "/"),
		expose:  rc.Expose,
		allow:   rc.Allow,
		refresh: rc.Refresh,
		backend: be,
		api:     &api{name: "reverseProxy", info: expr.API{Name: "reverseProxy", Path: rc.Path}, metrics: m.api("reverseProxy")},
		op:      &operation{info: expr.Operation{Name: "reverseProxy", Method: "*", URLTemplate: "/{App}/{Service}/*"}},
		resolve: cond,
	}
	rp.lister, _ = be.sf.cluster.resolver.(serviceLister)
	rp.reader, _ = be.sf.cluster.resolver.(manifestReader)
	rp.missRefresh.Store(int64(minMissRefresh))
	return rp, nil
}

// mounted reports whether path is under the mount point.
func (rp *reverseProxy) mounted(path []byte) bool {
	return bytes.HasPrefix(path, rp.mount) && (len(path) == len(rp.mount) || path[len(rp.mount)] == '/')
}

// serveReverseProxy answers one SFRP URL: path is under the mount point and no API matched it.
func (g *Gateway) serveReverseProxy(ctx *fasthttp.RequestCtx, s *reqState, path []byte, start time.Time) (int, *apiMetrics) {
	rp := s.rt.rp
	s.api, s.op = rp.api, rp.op
	fail := func(re *requestError) (int, *apiMetrics) {
		s.scratch = writeError(ctx, re, s.requestID, s.scratch)
		if re.Status == fasthttp.StatusNotFound && re.Code == CodeServiceNotFound {
			ctx.Response.Header.SetCanonical(hdrXServiceFabric, xServiceFabricNotFound)
		}
		s.failure = re
		return re.Status, rp.api.metrics
	}
	q, re := s.splitSFRPQuery(ctx.Request.URI().QueryString())
	if re != nil {
		return fail(re)
	}
	rest := path[len(rp.mount):]
	if bytes.HasPrefix(rest, doubleSlash) {
		// SFRP reads "fabric:/" + "/App/..." here, a name SF refuses (an authority): 400, not a search.
		return fail(&requestError{Status: fasthttp.StatusBadRequest, Code: CodeBadRequest,
			Message: "the path starts with an empty segment (//): a reverse proxy URL is /<ApplicationName>/<ServiceName>/..., and Service Fabric names have no empty segments"})
	}
	svc, suffix, err := rp.find(s, rest, start)
	if err != nil {
		return fail(&requestError{Status: fasthttp.StatusServiceUnavailable, Code: CodeNamingUnavailable,
			Message: "the reverse proxy could not read the cluster's services; try again", Err: err})
	}
	if svc == nil {
		msg := "the path names no service the reverse proxy exposes (/<ApplicationName>/<ServiceName>/...)"
		if bytes.Contains(rest, doubleSlash) {
			msg += "; an empty segment (//) ends a service name, as Service Fabric names have none"
		}
		return fail(&requestError{Status: fasthttp.StatusNotFound, Code: CodeServiceNotFound, Message: msg})
	}
	if q.timeout > 0 {
		if d := start.Add(q.timeout); d.Before(s.deadline) {
			s.deadline = d
		}
	}
	t := &s.res.Target
	t.Set, t.ServiceInstanceName, t.SFRPPath = true, svc.nameBytes, true
	t.SetResolveCondition(rp.resolve)
	if re := s.sfrpTarget(q, svc, t); re != nil {
		return fail(re)
	}
	if re := rp.checkKind(s, svc, q); re != nil {
		return fail(re)
	}

	c := &s.ec
	c.Api, c.Operation = rp.api.info, rp.op.info
	c.Certificate, c.CertificateChain = peerCertificate(ctx)
	c.RequestID, c.Timestamp = s.requestID, start
	ctx.Request.URI().SetQueryStringBytes(s.rp.query) // SFRP's own parameters removed; the rest byte for byte
	c.Begin(&ctx.Request, ctx.IsTLS())
	c.SetPathAfterSuffix(suffix)
	if err := s.forwardBackend(s, c, t, rp.backend, 0); err != nil {
		return fail(rp.requestError(err, svc))
	}
	return s.answer(ctx), rp.api.metrics
}

// sfrpQuery is what SFRP's query parameters asked for.
type sfrpQuery struct {
	kind                             partition.Kind // 0: not given
	hasKey, hasListener, hasSelector bool
	timeout                          time.Duration
}

// splitSFRPQuery reads SFRP's parameters from the raw query and leaves the others, byte for byte and in
// order, in s.rp.query. Timeout is read and also left in the query: SFRP passes it on too.
func (s *reqState) splitSFRPQuery(raw []byte) (sfrpQuery, *requestError) {
	var q sfrpQuery
	r := &s.rp
	r.query, r.kind = r.query[:0], r.kind[:0]
	for len(raw) > 0 {
		pair := raw
		if i := bytes.IndexByte(raw, '&'); i >= 0 {
			pair, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		name, value := pair, []byte(nil)
		if i := bytes.IndexByte(pair, '='); i >= 0 {
			name, value = pair[:i], pair[i+1:]
		}
		switch string(name) {
		case sfrpPartitionKey:
			r.key, q.hasKey = fasthttp.AppendUnquotedArg(r.key[:0], value), true
			continue
		case sfrpPartitionKind:
			r.kind = fasthttp.AppendUnquotedArg(r.kind[:0], value)
			continue
		case sfrpListenerName:
			r.listener, q.hasListener = fasthttp.AppendUnquotedArg(r.listener[:0], value), true
			continue
		case sfrpSelector:
			r.selector = fasthttp.AppendUnquotedArg(r.selector[:0], value)
			q.hasSelector = len(r.selector) > 0 // empty: the default, as SFRP reads it
			continue
		case sfrpTimeout:
			r.timeout = fasthttp.AppendUnquotedArg(r.timeout[:0], value)
			secs, err := strconv.ParseUint(string(r.timeout), 10, 32)
			if err != nil {
				return q, sfrpBadParameter(sfrpTimeout, r.timeout, "Timeout is the request's time limit in whole seconds, such as Timeout=30")
			}
			q.timeout = time.Duration(secs) * time.Second
		}
		if len(r.query) > 0 || len(raw) > 0 && len(pair) == 0 {
			r.query = append(r.query, '&')
		}
		r.query = append(r.query, pair...)
	}
	if len(r.kind) > 0 {
		switch string(r.kind) {
		case "Int64Range":
			q.kind = partition.Int64Range
		case "Named":
			q.kind = partition.Named
		case "Singleton":
			q.kind = partition.Singleton
		default:
			return q, sfrpBadParameter(sfrpPartitionKind, r.kind, "PartitionKind is Int64Range, Named or Singleton (the case matters)")
		}
	}
	return q, nil
}

func sfrpBadParameter(name string, value []byte, msg string) *requestError {
	return &requestError{Status: fasthttp.StatusBadRequest, Code: CodeInvalidAttribute, Attribute: name, Value: string(value), Message: msg}
}

// sfrpTarget fills t's partition key, replica type and listener from the query, for service svc; the
// service's labels give the listener and replica selector the query does not.
func (s *reqState) sfrpTarget(q sfrpQuery, svc *rpService, t *policy.Target) *requestError {
	r := &s.rp
	if q.hasKey && q.kind != partition.Singleton {
		t.PartitionKey, t.HasPartitionKey = r.key, true
	}
	if q.hasListener {
		t.ListenerName = r.listener
	} else if svc.listener != nil {
		t.ListenerName = svc.listener
	}
	t.ReplicaType = nil // the default: the primary of a stateful service, any instance of a stateless one
	selector, hasSelector := r.selector, q.hasSelector
	if !hasSelector && svc.selector != nil {
		selector, hasSelector = svc.selector, true // checked against the service's kind when read
	}
	if !hasSelector {
		return nil
	}
	switch string(selector) {
	case "PrimaryReplica", "Default":
		if !svc.stateless {
			t.ReplicaType = replicaPrimary
		}
	case "RandomSecondaryReplica":
		if !svc.stateless {
			t.ReplicaType = replicaSecondary
		}
	case "RandomReplica":
		t.ReplicaType = replicaAny
	case "RandomInstance":
		if !svc.stateless {
			return sfrpBadParameter(sfrpSelector, selector, "RandomInstance is for stateless services; "+svc.name+" is stateful: use PrimaryReplica, RandomSecondaryReplica or RandomReplica")
		}
	default:
		return sfrpBadParameter(sfrpSelector, selector, "TargetReplicaSelector is PrimaryReplica, RandomSecondaryReplica, RandomReplica or RandomInstance (the case matters)")
	}
	return nil
}

// The sf-replica-type values the selectors become (parseReplicaType reads them without allocating).
var (
	replicaPrimary   = []byte("primary")
	replicaSecondary = []byte("secondary")
	replicaAny       = []byte("any")
)

// checkKind answers 400 when PartitionKind names another scheme than the service's: SF's
// FABRIC_E_INVALID_PARTITION_KEY, which SFRP passes on as 400. Without PartitionKind the key is read the way
// the service's scheme reads keys.
func (rp *reverseProxy) checkKind(s *reqState, svc *rpService, q sfrpQuery) *requestError {
	if q.kind == 0 {
		return nil
	}
	scheme, err := rp.backend.sf.cluster.resolver.Scheme(s, svc.name)
	if err != nil {
		return rp.requestError(err, svc)
	}
	if scheme.Kind() != q.kind {
		return &requestError{Status: fasthttp.StatusBadRequest, Code: CodeInvalidPartitionKey, Attribute: sfrpPartitionKind,
			Value: q.kind.String(), Message: "service " + svc.name + " is partitioned " + scheme.Kind().String() + ", not " + q.kind.String()}
	}
	return nil
}

// requestError is the client's answer for a failure of the forwarding: the policy path's mapping, with
// SFRP's parameter names in place of the policy attributes.
func (rp *reverseProxy) requestError(err error, svc *rpService) *requestError {
	re := asRequestError(err)
	if errors.Is(err, resolver.ErrInvalidPartitionKey) || errors.Is(err, resolver.ErrServiceNotFound) {
		re = resolveError(err, nil, svc.name, nil)
	}
	switch re.Attribute {
	case attrPartitionKey:
		re.Attribute = sfrpPartitionKey
	case attrListenerName:
		re.Attribute = sfrpListenerName
	case attrReplicaType:
		re.Attribute = sfrpSelector
	}
	switch re.Code {
	case CodeInvalidPartitionKey:
		re.Attribute, re.Value = sfrpPartitionKey, ""
		var ke *partition.KeyError
		if errors.As(err, &ke) {
			re.Value, re.Message = ke.Value, "PartitionKey: "+ke.Error()
		} else {
			re.Message = "service " + svc.name + " is partitioned: give PartitionKey and PartitionKind"
		}
	case CodeServiceNotFound:
		re.Attribute, re.Value = "", ""
		re.Message = "the path names no service the reverse proxy exposes (/<ApplicationName>/<ServiceName>/...)"
	}
	return re
}

// find returns the exposed service whose name is the longest prefix of rest ("/App/Svc/suffix", under the
// mount point) and the suffix after it. A name no known service has makes it list the services again and
// wait for that listing, when no listing runs and the gap after the last one (missGap) has passed;
// otherwise it answers from the last reading. An error only when no list was ever read.
func (rp *reverseProxy) find(s *reqState, rest []byte, now time.Time) (*rpService, []byte, error) {
	set := rp.set.Load()
	if set == nil {
		if set = rp.await(s, rp.startList(time.Time{})); set == nil {
			return nil, nil, errors.New("the first listing of the cluster's services did not end before the request's time")
		}
	} else if now.Sub(set.listed) >= rp.refresh {
		rp.startList(time.Time{}) // in the background: this request uses the current reading
	}
	if svc, suffix := set.lookup(s, rest); svc != nil {
		return svc, suffix, nil
	}
	if rp.missMayList(now) {
		if f := rp.startList(now); f != nil {
			if fresh := rp.await(s, f); fresh != nil {
				set = fresh
			}
		}
	}
	if set.exposed == nil && set.err != nil {
		return nil, nil, set.err
	}
	svc, suffix := set.lookup(s, rest)
	return svc, suffix, nil
}

// startList starts a listing in the background and returns it. miss is the time of a request whose path
// named no known service (zero for the refresh and the first listing): such a request starts one only when
// none runs and missGap has passed since the last one ended, and gets nil otherwise, so that any number of
// unknown paths costs at most one listing per gap.
func (rp *reverseProxy) startList(miss time.Time) *listing {
	rp.flightMu.Lock()
	defer rp.flightMu.Unlock()
	if rp.flight != nil {
		if !miss.IsZero() {
			return nil // a listing runs: the request answers from the last reading, without waiting
		}
		return rp.flight
	}
	if !miss.IsZero() && !rp.missMayList(miss) {
		return nil
	}
	f := &listing{done: make(chan struct{})}
	rp.flight = f
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), max(rp.refresh, 10*time.Second))
		defer cancel()
		start := time.Now()
		f.set = rp.list(ctx, start)
		end := time.Now()
		rp.flightMu.Lock()
		rp.flight = nil
		rp.listEnd.Store(end.UnixNano())
		rp.listTook.Store(int64(end.Sub(start)))
		rp.flightMu.Unlock()
		close(f.done)
	}()
	return f
}

// missMayList reports whether a miss at now may start a listing: missGap has passed since the last one ended.
func (rp *reverseProxy) missMayList(now time.Time) bool {
	gap := missGap(time.Duration(rp.missRefresh.Load()), time.Duration(rp.listTook.Load()))
	return now.Sub(time.Unix(0, rp.listEnd.Load())) >= gap
}

// missGap is how long after a listing that took took a miss may start another: minGap, and at least took
// (0 for tests: at once).
func missGap(minGap, took time.Duration) time.Duration {
	if minGap <= 0 {
		return 0
	}
	return max(minGap, took)
}

// await waits for listing f and returns what it read, or nil when ctx ends first (or f is nil).
func (rp *reverseProxy) await(ctx context.Context, f *listing) *serviceSet {
	if f == nil {
		return nil
	}
	select {
	case <-f.done:
		return f.set
	case <-ctx.Done():
		return nil
	}
}

// lookup finds the longest "fabric:" + prefix of rest, ending at a segment boundary, that is an exposed service;
// failing that, the longest such prefix of rest that is a service's sfgate.pathPrefix.
func (set *serviceSet) lookup(s *reqState, rest []byte) (*rpService, []byte) {
	buf := append(append(s.rp.name[:0], "fabric:"...), rest...)
	s.rp.name = buf
	const head = len("fabric:")
	var ends [maxNameSegments + 1]int
	n := 0
	for i := 1; i <= len(rest) && n < len(ends); i++ {
		if i == len(rest) || rest[i] == '/' {
			if rest[i-1] != '/' {
				ends[n] = i
				n++
			}
		}
	}
	for j := n - 1; j >= 1; j-- { // at least two segments: /App/Service
		if svc := set.exposed[string(buf[:head+ends[j]])]; svc != nil {
			return svc, rest[ends[j]:]
		}
	}
	if set.prefixes != nil {
		for j := n - 1; j >= 0; j-- {
			if svc := set.prefixes[string(rest[:ends[j]])]; svc != nil {
				return svc, rest[ends[j]:]
			}
		}
	}
	return nil, nil
}

// list reads the cluster's services and makes them the current set. A failed listing keeps the services of
// the last good one (and records the error).
func (rp *reverseProxy) list(ctx context.Context, now time.Time) *serviceSet {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if cur := rp.set.Load(); cur != nil && !cur.listed.Before(now) {
		return cur // listed by another request meanwhile
	}
	var infos []resolver.ServiceInfo
	err := errors.New("the cluster's resolver cannot list services")
	if rp.lister != nil {
		infos, err = rp.lister.ListServices(ctx)
	}
	set := &serviceSet{listed: time.Now(), err: err}
	if err != nil {
		if cur := rp.set.Load(); cur != nil {
			set.exposed, set.all = cur.exposed, cur.all
		}
		rp.set.Store(set)
		return set
	}
	set.exposed = make(map[string]*rpService, len(infos))
	var labels *labelDiscovery
	if rp.expose == config.ExposeLabels {
		labels = newLabelDiscovery(ctx, rp.reader, &rp.cache)
	}
	prev := rp.set.Load()
	for _, in := range infos {
		svc := &rpService{name: in.Name, nameBytes: []byte(in.Name), typeName: in.TypeName, stateless: in.Kind == "Stateless"}
		if labels == nil {
			svc.exposed, svc.why = rp.exposes(in.Name)
		} else if !rp.allowed(in.Name) {
			svc.why = "not exposed: no allow pattern matches (allow narrows expose: labels)"
		} else if err := labels.decide(in, svc); err != nil {
			svc.why = "not exposed: " + err.Error()
			if prev != nil && prev.exposed[in.Name] != nil && prev.exposed[in.Name].typeName == in.TypeName {
				kept := *prev.exposed[in.Name]
				kept.why += " (kept from the last reading: " + err.Error() + ")"
				svc = &kept
			}
		}
		set.all = append(set.all, svc)
		if svc.exposed {
			set.exposed[in.Name] = svc
		}
	}
	sort.Slice(set.all, func(i, j int) bool { return set.all[i].name < set.all[j].name })
	if labels != nil {
		set.claimPrefixes()
		rp.cache = labels.next
	}
	rp.set.Store(set)
	return set
}

// exposes reports whether the configuration exposes the service (expose: all or allowlist), and why.
func (rp *reverseProxy) exposes(name string) (bool, string) {
	if rp.expose == config.ExposeAll && len(rp.allow) == 0 {
		return true, "expose: all"
	}
	if p := rp.allowPattern(name); p != "" {
		return true, "allow: " + p
	}
	return false, "expose: " + rp.expose + ", and no allow pattern matches"
}

// allowed reports whether allow lets the service be exposed: no patterns, or one that matches.
func (rp *reverseProxy) allowed(name string) bool {
	return len(rp.allow) == 0 || rp.allowPattern(name) != ""
}

// allowPattern is the first allow pattern that matches name ("" for none).
func (rp *reverseProxy) allowPattern(name string) string {
	for _, p := range rp.allow {
		if ok, _ := path.Match(p, name); ok {
			return p
		}
	}
	return ""
}

// debugRoutes is /debug/routes: the APIs by path, and what the reverse proxy exposes, and why.
func (g *Gateway) debugRoutes(w http.ResponseWriter, r *http.Request) {
	rt := g.rt.Load()
	type apiRoute struct {
		Name string `json:"name"`
		Path string `json:"path"`
	}
	type service struct {
		Name string `json:"name"`
		URL  string `json:"url,omitempty"`
		// From the service type's labels (expose: labels).
		PrefixURL       string `json:"prefixUrl,omitempty"`
		Listener        string `json:"listener,omitempty"`
		ReplicaSelector string `json:"replicaSelector,omitempty"`
		Kind            string `json:"kind"`
		Type            string `json:"type"`
		Exposed         bool   `json:"exposed"`
		Why             string `json:"why"`
	}
	type proxy struct {
		Path     string    `json:"path"`
		Expose   string    `json:"expose"`
		Allow    []string  `json:"allow,omitempty"`
		Listed   time.Time `json:"listed"`
		Error    string    `json:"error,omitempty"`
		Services []service `json:"services"`
	}
	out := struct {
		APIs         []apiRoute `json:"apis"`
		ReverseProxy *proxy     `json:"reverseProxy,omitempty"`
	}{APIs: []apiRoute{}}
	for _, a := range rt.apis {
		out.APIs = append(out.APIs, apiRoute{Name: a.name, Path: "/" + a.info.Path})
	}
	if rp := rt.rp; rp != nil {
		set := rp.await(r.Context(), rp.startList(time.Time{})) // an operator asking sees the cluster as it is now
		if set == nil {
			set = rp.set.Load()
		}
		if set == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the first listing of the cluster's services has not ended"})
			return
		}
		p := &proxy{Path: rp.api.info.Path, Expose: rp.expose, Allow: rp.allow, Listed: set.listed, Services: []service{}}
		if set.err != nil {
			p.Error = set.err.Error()
		}
		for _, svc := range set.all {
			e := service{Name: svc.name, Kind: "Stateful", Type: svc.typeName, Exposed: svc.exposed, Why: svc.why}
			if svc.stateless {
				e.Kind = "Stateless"
			}
			if svc.exposed {
				e.URL = string(rp.mount) + svc.name[len("fabric:"):] + "/"
				if svc.prefix != "" {
					e.PrefixURL = string(rp.mount) + svc.prefix + "/"
				}
				e.Listener, e.ReplicaSelector = string(svc.listener), string(svc.selector)
			}
			p.Services = append(p.Services, e)
		}
		out.ReverseProxy = p
	}
	writeJSON(w, http.StatusOK, out)
}
