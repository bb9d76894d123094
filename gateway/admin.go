package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"time"

	"github.com/sfgate/sfgate/listener"
	"github.com/sfgate/sfgate/partition"
	"github.com/sfgate/sfgate/resolver"
)

// AdminHandler serves the admin endpoints:
//
//	/healthz        200 while the process runs
//	/readyz         200 once the configuration is loaded and every cluster answered once; 503 before, and
//	                from the moment the gateway drains (Drain) until it exits
//	/metrics        Prometheus text format
//	/debug/resolve  ?service=fabric:/App/Svc[&key=K][&backend=ID][&cluster=URL][&replica=primary|secondary|any][&listener=NAME]
//	/debug/cache    resolver cache counters per cluster
//	/debug/breakers circuit breakers per backend: rule, scope, and each breaker's state and trips
//	/debug/routes   the APIs, and the services the reverse proxy exposes (and those it does not), with why
//	/debug/pprof/   Go runtime profiles (net/http/pprof), for `go tool pprof http://ADMIN/debug/pprof/profile`;
//	                only with adminPprof: true
//
// The admin listener is for operators: keep it on loopback or a management network (config "admin"). With
// adminAuth, /metrics and /debug/* need "Authorization: Bearer <token>"; /healthz and /readyz stay open.
func (g *Gateway) AdminHandler() http.Handler {
	mux := g.healthMux()
	mux.HandleFunc("GET /metrics", g.guarded(func(w http.ResponseWriter, _ *http.Request) {
		var b bytes.Buffer
		g.metrics.write(&b, g.currentClusters(), g.currentBackends())
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		w.Write(b.Bytes())
	}))
	mux.HandleFunc("GET /debug/resolve", g.guarded(g.debugResolve))
	mux.HandleFunc("GET /debug/cache", g.guarded(g.debugCache))
	mux.HandleFunc("GET /debug/breakers", g.guarded(g.debugBreakers))
	mux.HandleFunc("GET /debug/routes", g.guarded(g.debugRoutes))
	mux.HandleFunc("GET /debug/pprof/", g.profiles(pprof.Index))
	mux.HandleFunc("GET /debug/pprof/cmdline", g.profiles(pprof.Cmdline))
	mux.HandleFunc("GET /debug/pprof/profile", g.profiles(pprof.Profile))
	mux.HandleFunc("GET /debug/pprof/symbol", g.profiles(pprof.Symbol))
	mux.HandleFunc("GET /debug/pprof/trace", g.profiles(pprof.Trace))
	return mux
}

// HealthHandler serves only /healthz and /readyz (see AdminHandler), for probes.
func (g *Gateway) HealthHandler() http.Handler { return g.healthMux() }

func (g *Gateway) healthMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", g.masked(g.readyz))
	return mux
}

// currentBackends lists the backends of the configuration in use, by ID.
func (g *Gateway) currentBackends() []*backend {
	rt := g.rt.Load()
	if rt == nil {
		return nil
	}
	out := make([]*backend, 0, len(rt.backends))
	for _, b := range rt.backends {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b *backend) int { return strings.Compare(a.id, b.id) })
	return out
}

type debugBreaker struct {
	Backend  string        `json:"backend"`
	Rule     string        `json:"rule"`
	Scope    string        `json:"scope"`
	Breakers []breakerView `json:"breakers"`
}

// debugBreakers shows every circuit breaker: open ones with the seconds until their probe.
func (g *Gateway) debugBreakers(w http.ResponseWriter, _ *http.Request) {
	list := []debugBreaker{}
	for _, b := range g.currentBackends() {
		if cb := b.breaker; cb != nil {
			list = append(list, debugBreaker{Backend: cb.backendID, Rule: cb.rule, Scope: cb.scope, Breakers: cb.views()})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"circuitBreakers": list})
}

func (g *Gateway) currentClusters() []*cluster {
	rt := g.rt.Load()
	if rt == nil {
		return nil
	}
	return rt.clusters
}

type clusterStatus struct {
	Cluster string `json:"cluster"`
	Ready   bool   `json:"ready"`
}

func (g *Gateway) readyz(w http.ResponseWriter, _ *http.Request) {
	var list []clusterStatus
	for _, c := range g.currentClusters() {
		list = append(list, clusterStatus{Cluster: c.label, Ready: c.ready.Load()})
	}
	status := http.StatusOK
	if !g.Ready() {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "draining": g.draining.Load(), "clusters": list})
}

type debugReplica struct {
	Role      string            `json:"role"`
	Address   string            `json:"address"`
	Listeners map[string]string `json:"listeners"`
}

type debugResolution struct {
	Cluster   string         `json:"cluster"`
	Service   string         `json:"service"`
	Key       string         `json:"key"`
	Partition map[string]any `json:"partition"`
	Version   string         `json:"version"`
	Resolved  time.Time      `json:"resolved"`
	Replicas  []debugReplica `json:"replicas"`
	Selected  string         `json:"selected,omitempty"`
	SelectErr string         `json:"selectError,omitempty"`
}

// debugResolve resolves one service partition the way a request would and shows the snapshot.
func (g *Gateway) debugResolve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	service := q.Get("service")
	c, err := g.pickCluster(q.Get("backend"), q.Get("cluster"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if service == "" {
		if b := g.rt.Load().backends[q.Get("backend")]; b != nil {
			service = b.urlStr
		}
	}
	if service == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "give service=fabric:/App/Service (or backend=ID)"})
		return
	}
	key := q.Get("key")
	var keyBytes []byte
	if q.Has("key") {
		keyBytes = []byte(key)
	}
	snap, err := c.resolver.Resolve(r.Context(), service, keyBytes) // bounded by the cluster's resolveTimeout
	if err != nil {
		re := resolveError(err, nil, service, keyBytes)
		writeJSON(w, re.Status, map[string]string{"error": err.Error(), "code": re.Code})
		return
	}
	out := debugResolution{Cluster: c.label, Service: snap.Service, Key: key, Version: snap.Version, Resolved: snap.Resolved,
		Partition: map[string]any{"id": snap.Partition.ID, "kind": snap.Partition.Kind.String()}}
	switch p := snap.Partition; p.Kind {
	case partition.Int64Range:
		out.Partition["lowKey"], out.Partition["highKey"] = p.LowKey, p.HighKey
	case partition.Named:
		out.Partition["name"] = p.Name
	}
	for _, rep := range snap.Replicas.Replicas() {
		dr := debugReplica{Role: rep.Role.String(), Address: rep.Address, Listeners: map[string]string{}}
		for i := range rep.Listeners.Len() {
			name, u := rep.Listeners.At(i)
			dr.Listeners[name] = u
		}
		out.Replicas = append(out.Replicas, dr)
	}
	rtype, err := listener.ParseReplicaType(q.Get("replica"))
	if err == nil {
		var u string
		u, _, err = snap.Replicas.Select(rtype, q.Get("listener"))
		out.Selected = u
	}
	if err != nil {
		out.SelectErr = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *Gateway) pickCluster(backendID, label string) (*cluster, error) {
	rt := g.rt.Load()
	if backendID != "" {
		b := rt.backends[backendID]
		if b == nil || b.sf == nil {
			return nil, errors.New("no Service Fabric backend " + backendID)
		}
		return b.sf.cluster, nil
	}
	for _, c := range rt.clusters {
		if label == "" && len(rt.clusters) == 1 || c.label == label {
			return c, nil
		}
	}
	if len(rt.clusters) == 0 {
		return nil, errors.New("the configuration has no Service Fabric backend")
	}
	return nil, errors.New("several clusters are configured: give backend=ID or cluster=<first management endpoint>")
}

// debugCache shows each cluster's resolver counters and cache sizes.
func (g *Gateway) debugCache(w http.ResponseWriter, _ *http.Request) {
	type entry struct {
		Cluster string         `json:"cluster"`
		Ready   bool           `json:"ready"`
		Stats   resolver.Stats `json:"stats"`
	}
	var out []entry
	for _, c := range g.currentClusters() {
		out = append(out, entry{Cluster: c.label, Ready: c.ready.Load(), Stats: c.resolver.Stats()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"clusters": out})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
