package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/gateway/policy"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/resolver"
)

// labelledTopology is fakesf's default topology with service manifests that opt in or not:
//   - WebType (fabric:/Shop/Web, stateless, listeners "" and Admin): sfgate.enable=true, listener Admin,
//     also served under /web;
//   - CartsType (fabric:/Shop/Carts, stateful Named): sfgate.enable=true, replica selector RandomSecondaryReplica;
//   - OrdersType (fabric:/Shop/Orders): no extension;
//   - ProductsType (fabric:/Catalog/Products): sfgate.enable=false, and a Traefik extension that opts in;
//   - ToolsType 2.0.0, no application yet: CacheType opts in, ApiType has no labels.
func labelledTopology() fakesf.Topology {
	t := fakesf.DefaultTopology()
	shop, catalog := t.Applications[0].Services, t.Applications[1].Services
	shop[2].Extensions = map[string]map[string]string{"sfgate": {
		"sfgate.enable": "true", "sfgate.listener": "Admin", "sfgate.pathPrefix": "/web/"}}
	shop[1].Extensions = map[string]map[string]string{"sfgate": {"sfgate.enable": "True", "sfgate.replicaSelector": "RandomSecondaryReplica"}}
	catalog[0].Extensions = map[string]map[string]string{"sfgate": {"sfgate.enable": "false"}, "Traefik": {"traefik.enable": "true"}}
	t.ApplicationTypes = []fakesf.ApplicationType{{Name: "ToolsType", Version: "2.0.0", ServiceTypes: []fakesf.ServiceType{
		{Name: "CacheType", Kind: fakesf.Stateless, Extensions: map[string]map[string]string{"sfgate": {"sfgate.enable": "true"}}},
		{Name: "ApiType", Kind: fakesf.Stateless},
	}}}
	return t
}

const labelsConfig = `
reverseProxy:
  cluster: {managementEndpoints: [CLUSTER_URL]}
  expose: labels
`

// countingReader counts the manifest calls discovery makes.
type countingReader struct {
	manifestReader
	mu                       sync.Mutex
	typeCalls, manifestCalls int
}

func (c *countingReader) ServiceTypes(ctx context.Context, appType, version string) (map[string]string, error) {
	c.mu.Lock()
	c.typeCalls++
	c.mu.Unlock()
	return c.manifestReader.ServiceTypes(ctx, appType, version)
}

func (c *countingReader) ServiceManifest(ctx context.Context, appType, version, manifest string) (*resolver.ServiceManifest, error) {
	c.mu.Lock()
	c.manifestCalls++
	c.mu.Unlock()
	return c.manifestReader.ServiceManifest(ctx, appType, version, manifest)
}

// TestReverseProxyLabels: with expose: labels only the services whose manifest says sfgate.enable=true are
// reachable, every list coming one item per page; the others answer exactly as an unknown service does; the
// labels' listener, replica selector and path prefix apply unless the query says otherwise; each manifest is
// read once.
func TestReverseProxyLabels(t *testing.T) {
	c := fakesftest.StartTopology(t, labelledTopology())
	if err := c.SetPageSize(1); err != nil { // every application, service and partition list is paged
		t.Fatal(err)
	}
	g := startGateway(t, labelsConfig, c)
	rp := g.rt.Load().rp
	counter := &countingReader{manifestReader: rp.reader}
	rp.reader = counter

	t.Run("labelled, with the label's listener", func(t *testing.T) {
		rr := replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Web/x?a=1", nil, ""))
		if rr.Service != "fabric:/Shop/Web" || rr.Listener != "Admin" || !strings.HasSuffix(rr.Path, rr.ReplicaID+"/x") || rr.Query != "a=1" {
			t.Errorf("reached %s listener %q path %s query %s, want fabric:/Shop/Web on Admin, /x, a=1", rr.Service, rr.Listener, rr.Path, rr.Query)
		}
		if rr = replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Web/x?ListenerName=", nil, "")); rr.Listener != "" {
			t.Errorf("ListenerName= reached listener %q: the query must win over the label", rr.Listener)
		}
	})
	t.Run("path prefix", func(t *testing.T) {
		rr := replicaAnswer(t, do(t, g.addr, "GET", "/web/a/b?c", nil, ""))
		if rr.Service != "fabric:/Shop/Web" || rr.Listener != "Admin" || !strings.HasSuffix(rr.Path, rr.ReplicaID+"/a/b") || rr.Query != "c" {
			t.Errorf("/web/a/b reached %s listener %q path %s query %s", rr.Service, rr.Listener, rr.Path, rr.Query)
		}
		if r := do(t, g.addr, "GET", "/webx/a", nil, ""); r.status != http.StatusNotFound {
			t.Errorf("/webx/a: %d, want 404 (a prefix ends at a segment boundary)", r.status)
		}
	})
	t.Run("label's replica selector", func(t *testing.T) {
		for range 4 {
			if rr := replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Carts/?PartitionKind=Named&PartitionKey=eu", nil, "")); rr.Role != "secondary" {
				t.Fatalf("reached the %s, want a secondary (sfgate.replicaSelector=RandomSecondaryReplica)", rr.Role)
			}
		}
		if rr := replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Carts/?PartitionKind=Named&PartitionKey=eu&TargetReplicaSelector=PrimaryReplica", nil, "")); rr.Role != "primary" {
			t.Errorf("TargetReplicaSelector=PrimaryReplica reached the %s: the query must win over the label", rr.Role)
		}
	})
	t.Run("not labelled answers as unknown", func(t *testing.T) {
		unknown := do(t, g.addr, "GET", "/Shop/Nope/x", nil, "")
		ue := decodeError(t, unknown)
		for _, target := range []string{"/Shop/Orders/x?PartitionKind=Int64Range&PartitionKey=1", "/Catalog/Products/x"} {
			r := do(t, g.addr, "GET", target, nil, "")
			e := decodeError(t, r)
			if r.status != unknown.status || e.Error.Code != ue.Error.Code || e.Error.Message != ue.Error.Message ||
				r.header.Get("X-ServiceFabric") != unknown.header.Get("X-ServiceFabric") {
				t.Errorf("%s: %d %q %s; an unknown service gets %d %q %s", target, r.status, r.header.Get("X-ServiceFabric"), r.body,
					unknown.status, unknown.header.Get("X-ServiceFabric"), unknown.body)
			}
		}
		if unknown.status != http.StatusNotFound || unknown.header.Get("X-ServiceFabric") != "ResourceNotFound" || ue.Error.Code != CodeServiceNotFound {
			t.Errorf("unknown service: %d %q %s, want SFRP's 404 with X-ServiceFabric: ResourceNotFound", unknown.status, unknown.header.Get("X-ServiceFabric"), unknown.body)
		}
	})
	t.Run("debug routes say why", func(t *testing.T) {
		got := map[string]routeEntry{}
		for _, s := range debugRouteServices(t, g) {
			got[s.Name] = s
		}
		for name, want := range map[string]routeEntry{
			"fabric:/Shop/Web": {Exposed: true, URL: "/Shop/Web/", PrefixURL: "/web/", Listener: "Admin",
				Why: "label sfgate.enable=true in service manifest WebPkg of ShopType 1.0.0 (service type WebType)"},
			"fabric:/Shop/Carts": {Exposed: true, URL: "/Shop/Carts/", ReplicaSelector: "RandomSecondaryReplica",
				Why: "label sfgate.enable=true in service manifest CartsPkg of ShopType 1.0.0 (service type CartsType)"},
			"fabric:/Shop/Orders":      {Why: "not exposed: no sfgate extension in service manifest OrdersPkg of ShopType 1.0.0 (service type OrdersType)"},
			"fabric:/Catalog/Products": {Why: "not exposed: label sfgate.enable=false in service manifest ProductsPkg of CatalogType 2.1.0 (service type ProductsType)"},
		} {
			want.Name = name
			if g := got[name]; g.Name != name || g.Exposed != want.Exposed || g.URL != want.URL || g.PrefixURL != want.PrefixURL ||
				g.Listener != want.Listener || g.ReplicaSelector != want.ReplicaSelector || g.Why != want.Why {
				t.Errorf("/debug/routes %s:\n got %+v\nwant %+v", name, g, want)
			}
		}
	})
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if counter.typeCalls != 2 || counter.manifestCalls != 4 {
		t.Errorf("after several listings: %d GetServiceTypes and %d GetServiceManifest calls, want 2 and 4 (each read once)", counter.typeCalls, counter.manifestCalls)
	}
}

// TestReverseProxyLabelsDiscovery: a labelled service created at run time is reachable after the next
// refresh, one of an unlabelled type is not, and a deleted one is gone after the refresh that follows.
func TestReverseProxyLabelsDiscovery(t *testing.T) {
	c := fakesftest.StartTopology(t, labelledTopology())
	g := startGateway(t, labelsConfig, c)
	rp := g.rt.Load().rp
	rp.missRefresh.Store(int64(time.Hour)) // only the explicit refreshes below list the services
	replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Web/", nil, ""))

	if err := c.CreateApplication("fabric:/Tools", "ToolsType", "2.0.0", nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []fakesf.Service{
		{Name: "fabric:/Tools/Cache", TypeName: "CacheType", Kind: fakesf.Stateless, Scheme: fakesf.Singleton, Replicas: 1},
		{Name: "fabric:/Tools/Api", TypeName: "ApiType", Kind: fakesf.Stateless, Scheme: fakesf.Singleton, Replicas: 1},
	} {
		if err := c.CreateService("fabric:/Tools", s); err != nil {
			t.Fatal(err)
		}
	}
	if r := do(t, g.addr, "GET", "/Tools/Cache/x", nil, ""); r.status != http.StatusNotFound {
		t.Fatalf("before the refresh: %d %s, want 404", r.status, r.body)
	}
	rp.list(context.Background(), time.Now()) // the next refresh
	if rr := replicaAnswer(t, do(t, g.addr, "GET", "/Tools/Cache/x", nil, "")); rr.Service != "fabric:/Tools/Cache" {
		t.Errorf("after the refresh reached %s, want fabric:/Tools/Cache", rr.Service)
	}
	if r := do(t, g.addr, "GET", "/Tools/Api/x", nil, ""); r.status != http.StatusNotFound || r.header.Get("X-ServiceFabric") != "ResourceNotFound" {
		t.Errorf("/Tools/Api (no labels): %d %s, want SFRP's 404", r.status, r.body)
	}

	if err := c.DeleteService("fabric:/Tools/Cache"); err != nil {
		t.Fatal(err)
	}
	rp.list(context.Background(), time.Now())
	if rp.set.Load().exposed["fabric:/Tools/Cache"] != nil {
		t.Error("the deleted service is still exposed after a refresh")
	}
	if r := do(t, g.addr, "GET", "/Tools/Cache/x", nil, ""); r.status != http.StatusNotFound || r.header.Get("X-ServiceFabric") != "ResourceNotFound" {
		t.Errorf("deleted service: %d %s, want SFRP's 404", r.status, r.body)
	}
	if err := c.DeleteApplication("fabric:/Tools"); err != nil {
		t.Fatal(err)
	}
	rp.list(context.Background(), time.Now())
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if _, ok := rp.cache.types[appTypeKey{"ToolsType", "2.0.0"}]; ok {
		t.Error("ToolsType 2.0.0 is still cached after its last application was deleted")
	}
}

// TestReverseProxyLabelsPrefixClaimedTwice: two services whose type claims one sfgate.pathPrefix are served
// under neither (each still under its SFRP path), and /debug/routes says so.
func TestReverseProxyLabelsPrefixClaimedTwice(t *testing.T) {
	c := fakesftest.StartTopology(t, labelledTopology())
	if err := c.CreateService("fabric:/Shop", fakesf.Service{Name: "fabric:/Shop/Web2", TypeName: "WebType", Kind: fakesf.Stateless, Scheme: fakesf.Singleton, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, labelsConfig, c)
	if r := do(t, g.addr, "GET", "/web/x", nil, ""); r.status != http.StatusNotFound {
		t.Errorf("/web/x claimed twice: %d %s, want 404", r.status, r.body)
	}
	for _, svc := range []string{"Web", "Web2"} {
		if rr := replicaAnswer(t, do(t, g.addr, "GET", "/Shop/"+svc+"/x", nil, "")); rr.Service != "fabric:/Shop/"+svc {
			t.Errorf("reached %s, want fabric:/Shop/%s", rr.Service, svc)
		}
	}
	for _, s := range debugRouteServices(t, g) {
		if strings.HasPrefix(s.Name, "fabric:/Shop/Web") && (s.PrefixURL != "" || !strings.HasSuffix(s.Why, "sfgate.pathPrefix /web is claimed by fabric:/Shop/Web and fabric:/Shop/Web2, so none is served under it")) {
			t.Errorf("/debug/routes %+v", s)
		}
	}
}

// TestReverseProxyLabelsUnreadableManifest: a service whose manifest cannot be read is not exposed, and
// /debug/routes gives the error; a service already exposed keeps its reading.
func TestReverseProxyLabelsUnreadableManifest(t *testing.T) {
	c := fakesftest.StartTopology(t, labelledTopology())
	g := startGateway(t, labelsConfig, c)
	rp := g.rt.Load().rp
	replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Web/", nil, ""))
	if err := c.CreateApplication("fabric:/Tools", "ToolsType", "2.0.0", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateService("fabric:/Tools", fakesf.Service{Name: "fabric:/Tools/Cache", TypeName: "CacheType", Kind: fakesf.Stateless, Scheme: fakesf.Singleton, Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	rp.reader = failingReader{}
	rp.cache = manifestCache{} // as if nothing had been read: ShopType's services keep their last reading
	rp.list(context.Background(), time.Now())
	set := rp.set.Load()
	if set.exposed["fabric:/Tools/Cache"] != nil {
		t.Error("a service whose manifest cannot be read is exposed")
	}
	web := set.exposed["fabric:/Shop/Web"]
	if web == nil || !strings.Contains(web.why, "(kept from the last reading: reading the service types of ShopType 1.0.0: manifests unavailable)") || string(web.listener) != "Admin" {
		t.Errorf("fabric:/Shop/Web after a failed reading: %+v", web)
	}
	for _, s := range set.all {
		if s.name == "fabric:/Tools/Cache" && s.why != "not exposed: reading the service types of ToolsType 2.0.0: manifests unavailable" {
			t.Errorf("fabric:/Tools/Cache: %q", s.why)
		}
	}
}

type failingReader struct{}

func (failingReader) ServiceTypes(context.Context, string, string) (map[string]string, error) {
	return nil, errManifestsUnavailable
}

func (failingReader) ServiceManifest(context.Context, string, string, string) (*resolver.ServiceManifest, error) {
	return nil, errManifestsUnavailable
}

var errManifestsUnavailable = errors.New("manifests unavailable")

// routeEntry is one service of /debug/routes' reverseProxy section.
type routeEntry struct {
	Name, URL, PrefixURL, Listener, ReplicaSelector, Why string
	Exposed                                              bool
}

// debugRouteServices reads /debug/routes and returns the reverse proxy's services.
func debugRouteServices(t *testing.T, g *testGateway) []routeEntry {
	t.Helper()
	r, err := http.Get("http://" + g.admin + "/debug/routes")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var routes struct {
		ReverseProxy struct{ Services []routeEntry }
	}
	if err := json.NewDecoder(r.Body).Decode(&routes); err != nil {
		t.Fatal(err)
	}
	return routes.ReverseProxy.Services
}

// FuzzLabels: a service manifest's sfgate labels come from the cluster; reading them never panics, and what
// it accepts is usable: a path prefix of whole segments without a trailing '/', a known replica selector
// (RandomInstance only for a stateless service).
func FuzzLabels(f *testing.F) {
	f.Add([]byte(`<ServiceManifest><ServiceTypes><StatelessServiceType ServiceTypeName="A"><Extensions><Extension Name="sfgate"><Labels><Label Key="sfgate.enable">true</Label><Label Key="sfgate.pathPrefix">/a/b/</Label><Label Key="sfgate.listener">L</Label><Label Key="sfgate.replicaSelector">RandomInstance</Label></Labels></Extension></Extensions></StatelessServiceType></ServiceTypes></ServiceManifest>`))
	f.Add([]byte(`<ServiceManifest><ServiceTypes><StatefulServiceType ServiceTypeName="B"><Extensions><Extension Name="sfgate"><Labels><Label Key="sfgate.pathPrefix">//x/../y</Label></Labels></Extension><Extension Name="sfgate"/></Extensions></StatefulServiceType></ServiceTypes></ServiceManifest>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := resolver.ParseServiceManifest(data)
		if err != nil {
			return
		}
		for _, exts := range m.ServiceTypes {
			for _, stateless := range []bool{true, false} {
				l, _, err := parseLabels(exts, stateless)
				if err != nil {
					continue
				}
				if p := l.pathPrefix; p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//")) {
					t.Fatalf("accepted path prefix %q", p)
				}
				switch l.selector {
				case "", "PrimaryReplica", "RandomSecondaryReplica", "RandomReplica":
				case "RandomInstance":
					if !stateless {
						t.Fatal("accepted RandomInstance for a stateful service")
					}
				default:
					t.Fatalf("accepted replica selector %q", l.selector)
				}
				if l.enable != "" && l.enable != "true" && l.enable != "false" {
					t.Fatalf("accepted sfgate.enable %q", l.enable)
				}
			}
		}
	})
}

func TestParseLabelsErrors(t *testing.T) {
	ext := func(labels ...string) []resolver.Extension {
		e := resolver.Extension{Name: "sfgate"}
		for i := 0; i+1 < len(labels); i += 2 {
			e.Labels = append(e.Labels, resolver.Label{Key: labels[i], Value: labels[i+1]})
		}
		return []resolver.Extension{{Name: "Traefik"}, e}
	}
	for _, tc := range []struct {
		name      string
		exts      []resolver.Extension
		stateless bool
		want      string
	}{
		{"enable", ext("sfgate.enable", "yes"), true, `label sfgate.enable is "yes": write true or false`},
		{"twice", ext("sfgate.enable", "true", "sfgate.enable", "false"), true, "label sfgate.enable is given twice"},
		{"unknown", ext("sfgate.listner", "A"), true, `label "sfgate.listner" is not one sfgate reads`},
		{"relative prefix", ext("sfgate.pathPrefix", "web"), true, "write a path such as /orders"},
		{"root prefix", ext("sfgate.pathPrefix", "/"), true, "/ alone would take every path"},
		{"dot segment", ext("sfgate.pathPrefix", "/a/../b"), true, "empty, . or .. segment"},
		{"query in prefix", ext("sfgate.pathPrefix", "/a?b"), true, "does not carry as it is"},
		{"selector", ext("sfgate.replicaSelector", "Primary"), false, `label sfgate.replicaSelector is "Primary"`},
		{"RandomInstance stateful", ext("sfgate.replicaSelector", "RandomInstance"), false, "which is for stateless services"},
		{"two extensions", append(ext("sfgate.enable", "true"), resolver.Extension{Name: "sfgate"}), true, `two "sfgate" extensions`},
	} {
		if _, found, err := parseLabels(tc.exts, tc.stateless); !found || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: found %v, error %v; want one containing %q", tc.name, found, err, tc.want)
		}
	}
	l, found, err := parseLabels(ext("sfgate.enable", " TRUE\n ", "sfgate.pathPrefix", "/a/b/", "sfgate.listener", "", "sfgate.replicaSelector", "RandomInstance"), true)
	if err != nil || !found || l != (rpLabels{enable: "true", pathPrefix: "/a/b", hasListener: true, selector: "RandomInstance"}) {
		t.Errorf("parseLabels = %+v, %v, %v", l, found, err)
	}
	if _, found, err := parseLabels([]resolver.Extension{{Name: "Traefik"}}, true); found || err != nil {
		t.Errorf("no sfgate extension: found %v, error %v", found, err)
	}
}

// TestReverseProxyExample runs examples/reverse-proxy.yaml against fakesf with
// examples/fakesf/reverse-proxy-topology.yaml: every curl of the example's comment answers as the comment
// says (200 from a replica, or the 404 it names).
func TestReverseProxyExample(t *testing.T) {
	topoText, err := os.ReadFile("../examples/fakesf/reverse-proxy-topology.yaml")
	if err != nil {
		t.Fatal(err)
	}
	topo, err := fakesf.ParseTopology(topoText)
	if err != nil {
		t.Fatal(err)
	}
	c := fakesftest.StartTopology(t, topo)
	data, err := os.ReadFile("../examples/reverse-proxy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const endpoint = "managementEndpoints: [http://127.0.0.1:19080]"
	if !strings.Contains(string(data), endpoint) {
		t.Fatalf("examples/reverse-proxy.yaml no longer holds %q; update this test", endpoint)
	}
	g := startGateway(t, strings.Replace(string(data), endpoint, "managementEndpoints: ["+c.URL()+"]", 1), nil)
	curls := regexp.MustCompile(`(?m)^#\s+curl 'http://127\.0\.0\.1:19081(\S+)'(.*)$`).FindAllStringSubmatch(string(data), -1)
	if len(curls) < 5 {
		t.Fatalf("examples/reverse-proxy.yaml shows %d curls of the reverse proxy; update this test", len(curls))
	}
	for _, m := range curls {
		target, comment := m[1], m[2]
		r := do(t, g.addr, "GET", target, nil, "")
		switch {
		case strings.Contains(comment, "404"):
			if r.status != http.StatusNotFound || r.header.Get("X-ServiceFabric") != "ResourceNotFound" {
				t.Errorf("%s: %d %s, want SFRP's 404 as the example says", target, r.status, r.body)
			}
		default:
			rr := replicaAnswer(t, r)
			if want := "fabric:" + strings.Join(strings.Split(target, "/")[:3], "/"); !strings.HasPrefix(target, "/web/") && rr.Service != want {
				t.Errorf("%s reached %s, want %s", target, rr.Service, want)
			} else if strings.HasPrefix(target, "/web/") && rr.Service != "fabric:/Shop/Web" {
				t.Errorf("%s reached %s, want fabric:/Shop/Web (its sfgate.pathPrefix)", target, rr.Service)
			}
		}
	}
}

// TestLabelledLookupAllocatesNothing: finding a service by its SFRP path or its sfgate.pathPrefix, and
// taking the labels' listener and replica selector, stay on the hot path's zero allocations.
func TestLabelledLookupAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("skipped, because the race detector's instrumentation allocates")
	}
	web := &rpService{name: "fabric:/Shop/Web", nameBytes: []byte("fabric:/Shop/Web"), stateless: true, exposed: true,
		prefix: "/web", listener: []byte("Admin"), selector: []byte("RandomInstance")}
	set := &serviceSet{exposed: map[string]*rpService{web.name: web}, all: []*rpService{web}}
	set.claimPrefixes()
	s := &reqState{}
	var tgt policy.Target
	for _, path := range []string{"/Shop/Web/a/b", "/web/a/b"} {
		rest := []byte(path)
		n := testing.AllocsPerRun(200, func() {
			svc, suffix := set.lookup(s, rest)
			if svc != web || string(suffix) != "/a/b" {
				t.Fatalf("%s: found %v, suffix %q", path, svc, suffix)
			}
			if re := s.sfrpTarget(sfrpQuery{}, svc, &tgt); re != nil || string(tgt.ListenerName) != "Admin" {
				t.Fatalf("%s: target %+v, %v", path, tgt, re)
			}
		})
		if n != 0 {
			t.Errorf("%s: %.1f allocations per lookup, want 0", path, n)
		}
	}
}

// TestReverseProxyMissListingBounded: a flood of paths that name no exposed service cannot make the gateway
// hammer the cluster's management API. Requests that arrive before the first listing ends share it; a miss
// while a listing runs answers from the last reading without starting another; after a listing a miss
// lists again only once the gap has passed. The cluster counts the listings (GET /Applications), and the
// test holds one listing open in the management observer.
func TestReverseProxyMissListingBounded(t *testing.T) {
	var (
		mu       sync.Mutex
		listings int
		hold     chan struct{} // non-nil: the next GET /Applications waits for it to close
		entered  = make(chan struct{}, 1)
	)
	observer := func(e fakesf.ManagementEvent) {
		if e.Method != http.MethodGet || e.Path != "/Applications" {
			return
		}
		mu.Lock()
		listings++
		h := hold
		hold = nil
		mu.Unlock()
		if h != nil {
			entered <- struct{}{}
			<-h
		}
	}
	holdNext := func() chan struct{} {
		h := make(chan struct{})
		mu.Lock()
		hold = h
		mu.Unlock()
		return h
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return listings
	}
	c := fakesftest.StartTopology(t, labelledTopology(), fakesf.WithManagementObserver(observer))
	g := startGateway(t, labelsConfig, c)
	rp := g.rt.Load().rp
	rp.missRefresh.Store(int64(time.Hour))
	unknown := []string{"/Nope/Svc/x", "/Shop/Orders/x", "/Catalog/Products/", "/Shop/Nope", "/web2/x"} // unknown, unlabelled, opted out

	// Before the first listing ends, every request waits for that one listing.
	release := holdNext()
	var wg sync.WaitGroup
	statuses := make([]int, 40)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := "/Shop/Web/"
			if i%2 == 1 {
				target = unknown[i%len(unknown)]
			}
			statuses[i] = do(t, g.addr, "GET", target, nil, "").status
		}()
	}
	<-entered
	close(release)
	wg.Wait()
	for i, st := range statuses {
		if want := []int{http.StatusOK, http.StatusNotFound}[i%2]; st != want {
			t.Errorf("request %d at start-up: %d, want %d", i, st, want)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("%d listings for 40 requests at start-up, want 1", n)
	}

	// While a listing runs, misses answer at once and start none.
	rp.missRefresh.Store(0)
	release = holdNext()
	first := make(chan int)
	go func() { first <- do(t, g.addr, "GET", "/Nope/First/x", nil, "").status }()
	<-entered
	for i := range 100 {
		if r := do(t, g.addr, "GET", unknown[i%len(unknown)], nil, ""); r.status != http.StatusNotFound || r.header.Get("X-ServiceFabric") != "ResourceNotFound" {
			t.Fatalf("miss %d during a listing: %d %s, want SFRP's 404", i, r.status, r.body)
		}
	}
	if n := count(); n != 2 {
		t.Errorf("%d listings after 100 misses during one listing, want 2 (the start-up one and the one running)", n)
	}
	close(release)
	if st := <-first; st != http.StatusNotFound {
		t.Errorf("the miss that listed: %d, want 404", st)
	}

	// After a listing, a miss lists again only once the gap (here an hour) has passed.
	if r := do(t, g.addr, "GET", "/Nope/Again/x", nil, ""); r.status != http.StatusNotFound {
		t.Errorf("miss after the gap: %d %s", r.status, r.body) // the gap is 0 still: it lists
	}
	rp.missRefresh.Store(int64(time.Hour))
	for i := range 100 {
		do(t, g.addr, "GET", unknown[i%len(unknown)], nil, "")
	}
	if n := count(); n != 3 {
		t.Errorf("%d listings, want 3: a miss after the gap lists once, and the 100 misses within the next gap none", n)
	}
}

func TestMissGap(t *testing.T) {
	for _, tc := range []struct{ min, took, want time.Duration }{
		{time.Second, 10 * time.Millisecond, time.Second},
		{time.Second, 3 * time.Second, 3 * time.Second}, // a slow listing: the API is idle at least as long
		{0, 3 * time.Second, 0},
	} {
		if got := missGap(tc.min, tc.took); got != tc.want {
			t.Errorf("missGap(%v, %v) = %v, want %v", tc.min, tc.took, got, tc.want)
		}
	}
}

// allow narrows expose: labels, as the configuration writes them together: a labelled service that no
// allow pattern matches is answered as unknown, and /debug/routes says why.
func TestReverseProxyLabelsNarrowedByAllow(t *testing.T) {
	c := fakesftest.StartTopology(t, labelledTopology())
	g := startGateway(t, labelsConfig+"  allow: [\"fabric:/Shop/Web\"]\n", c)
	if rr := replicaAnswer(t, do(t, g.addr, "GET", "/Shop/Web/x", nil, "")); rr.Service != "fabric:/Shop/Web" {
		t.Errorf("the labelled service allow matches reached %s", rr.Service)
	}
	if r := do(t, g.addr, "GET", "/Shop/Carts/?PartitionKind=Named&PartitionKey=eu", nil, ""); r.status != http.StatusNotFound || r.header.Get("X-ServiceFabric") != "ResourceNotFound" {
		t.Errorf("a labelled service outside allow: %d %q, want 404 ResourceNotFound", r.status, r.header.Get("X-ServiceFabric"))
	}
	for _, s := range debugRouteServices(t, g) {
		if s.Name == "fabric:/Shop/Carts" && (s.Exposed || !strings.Contains(s.Why, "no allow pattern matches")) {
			t.Errorf("/debug/routes on fabric:/Shop/Carts: exposed %v, why %q", s.Exposed, s.Why)
		}
	}
}
