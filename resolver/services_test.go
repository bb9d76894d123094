package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/resolver"
)

func TestListServicesOfFakeCluster(t *testing.T) {
	c := fakesftest.Start(t)
	r, _ := newResolver(t, []string{c.URL()}, nil)
	got, err := r.ListServices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []resolver.ServiceInfo{
		{Name: "fabric:/Catalog/Products", Application: "fabric:/Catalog", AppTypeName: "CatalogType", AppTypeVersion: "2.1.0", TypeName: "ProductsType", Kind: "Stateful"},
		{Name: "fabric:/Shop/Carts", Application: "fabric:/Shop", AppTypeName: "ShopType", AppTypeVersion: "1.0.0", TypeName: "CartsType", Kind: "Stateful"},
		{Name: "fabric:/Shop/Orders", Application: "fabric:/Shop", AppTypeName: "ShopType", AppTypeVersion: "1.0.0", TypeName: "OrdersType", Kind: "Stateful"},
		{Name: "fabric:/Shop/Web", Application: "fabric:/Shop", AppTypeName: "ShopType", AppTypeVersion: "1.0.0", TypeName: "WebType", Kind: "Stateless"},
	}
	slices.SortFunc(got, func(a, b resolver.ServiceInfo) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	if !slices.Equal(got, want) {
		t.Errorf("ListServices:\n got %+v\nwant %+v", got, want)
	}
	if err := c.DeleteService("fabric:/Shop/Web"); err != nil {
		t.Fatal(err)
	}
	got, err = r.ListServices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || slices.ContainsFunc(got, func(s resolver.ServiceInfo) bool { return s.Name == "fabric:/Shop/Web" }) {
		t.Errorf("after deleting fabric:/Shop/Web: %+v", got)
	}
}

// TestListServicesFollowsContinuationTokens: both lists come in two pages; every page's token is sent back
// verbatim and every item is kept.
func TestListServicesFollowsContinuationTokens(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.URL.Query().Get("ContinuationToken")
		seen = append(seen, r.URL.Path+"?"+tok)
		switch r.URL.Path + "|" + tok {
		case "/Applications|":
			fmt.Fprint(w, `{"ContinuationToken":"fabric:/A","Items":[{"Id":"A","Name":"fabric:/A"}]}`)
		case "/Applications|fabric:/A":
			fmt.Fprint(w, `{"ContinuationToken":"","Items":[{"Id":"B~C","Name":"fabric:/B/C"}]}`)
		case "/Applications/A/$/GetServices|":
			fmt.Fprint(w, `{"ContinuationToken":"t1","Items":[{"Name":"fabric:/A/x","TypeName":"X","ServiceKind":"Stateless"}]}`)
		case "/Applications/A/$/GetServices|t1":
			fmt.Fprint(w, `{"ContinuationToken":"","Items":[{"Name":"fabric:/A/y","TypeName":"Y","ServiceKind":"Stateful"}]}`)
		case "/Applications/B~C/$/GetServices|":
			fmt.Fprint(w, `{"Items":[{"Name":"fabric:/B/C/z","TypeName":"Z","ServiceKind":"Stateful"}]}`)
		default:
			http.Error(w, `{"Error":{"Code":"E_INVALIDARG","Message":"unexpected"}}`, 400)
		}
	}))
	defer srv.Close()
	r, _ := newResolver(t, []string{srv.URL}, nil)
	got, err := r.ListServices(context.Background())
	if err != nil {
		t.Fatalf("%v (requests %v)", err, seen)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Application+" "+s.Name+" "+s.Kind)
	}
	want := []string{"fabric:/A fabric:/A/x Stateless", "fabric:/A fabric:/A/y Stateful", "fabric:/B/C fabric:/B/C/z Stateful"}
	if !slices.Equal(names, want) {
		t.Errorf("got %q, want %q (requests %v)", names, want, seen)
	}
}

// TestServiceManifestsOfFakeCluster: the service types of an application type name their manifests, and a
// manifest gives each service type's extensions with their labels; an unknown manifest is fakesf's (SF's) 404.
func TestServiceManifestsOfFakeCluster(t *testing.T) {
	topo := fakesf.DefaultTopology()
	topo.Applications[0].Services[2].Extensions = map[string]map[string]string{
		"sfgate":  {"sfgate.enable": "true", "sfgate.listener": "Admin"},
		"Traefik": {"traefik.expose": "true"},
	}
	c := fakesftest.StartTopology(t, topo)
	r, _ := newResolver(t, []string{c.URL()}, nil)
	types, err := r.ServiceTypes(context.Background(), "ShopType", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"OrdersType": "OrdersPkg", "CartsType": "CartsPkg", "WebType": "WebPkg"}; !maps.Equal(types, want) {
		t.Errorf("ServiceTypes = %v, want %v", types, want)
	}
	m, err := r.ServiceManifest(context.Background(), "ShopType", "1.0.0", "WebPkg")
	if err != nil {
		t.Fatal(err)
	}
	want := []resolver.Extension{
		{Name: "Traefik", Labels: []resolver.Label{{Key: "traefik.expose", Value: "true"}}},
		{Name: "sfgate", Labels: []resolver.Label{{Key: "sfgate.enable", Value: "true"}, {Key: "sfgate.listener", Value: "Admin"}}},
	}
	if m.Name != "WebPkg" || len(m.ServiceTypes) != 1 || !reflect.DeepEqual(m.ServiceTypes["WebType"], want) {
		t.Errorf("ServiceManifest = %+v, want WebPkg with WebType's extensions %+v", m, want)
	}
	m, err = r.ServiceManifest(context.Background(), "ShopType", "1.0.0", "OrdersPkg")
	if err != nil || len(m.ServiceTypes["OrdersType"]) != 0 {
		t.Errorf("OrdersPkg: %+v, %v; want OrdersType without extensions", m, err)
	}
	var fe *resolver.FabricError
	if _, err := r.ServiceManifest(context.Background(), "ShopType", "1.0.0", "NopePkg"); !errors.As(err, &fe) || fe.Code != "FABRIC_E_SERVICE_MANIFEST_NOT_FOUND" {
		t.Errorf("unknown manifest: %v, want FABRIC_E_SERVICE_MANIFEST_NOT_FOUND", err)
	}
	if _, err := r.ServiceTypes(context.Background(), "ShopType", "1.0.0&x=y"); err == nil {
		t.Error("a version that cannot travel in a query was sent")
	}
}

func TestParseServiceManifest(t *testing.T) {
	const ok = `<?xml version="1.0" encoding="utf-8"?>
<ServiceManifest Name="WebPkg" Version="1.0.0" xmlns="http://schemas.microsoft.com/2011/01/fabric">
  <ServiceTypes>
    <StatelessServiceType ServiceTypeName="WebType" UseImplicitHost="true">
      <Extensions>
        <Extension Name="__GeneratedServiceType__" GeneratedId="x">
          <GeneratedNames xmlns="http://schemas.microsoft.com/2015/03/fabact-no-schema"><DefaultService Name="Web" /></GeneratedNames>
        </Extension>
        <Extension Name="sfgate">
          <Labels xmlns="http://schemas.microsoft.com/2015/03/fabact-no-schema">
            <Label Key="sfgate.enable">true</Label>
            <Label Key="sfgate.pathPrefix">/a&amp;b</Label>
          </Labels>
        </Extension>
      </Extensions>
    </StatelessServiceType>
    <StatefulServiceType ServiceTypeName="OrdersType" HasPersistedState="true" />
  </ServiceTypes>
  <CodePackage Name="Code" Version="1.0.0"><EntryPoint><ExeHost><Program>Web.exe</Program></ExeHost></EntryPoint></CodePackage>
</ServiceManifest>`
	m, err := resolver.ParseServiceManifest([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]resolver.Extension{
		"WebType":    {{Name: "__GeneratedServiceType__"}, {Name: "sfgate", Labels: []resolver.Label{{Key: "sfgate.enable", Value: "true"}, {Key: "sfgate.pathPrefix", Value: "/a&b"}}}},
		"OrdersType": {},
	}
	if m.Name != "WebPkg" || !reflect.DeepEqual(m.ServiceTypes, want) {
		t.Errorf("parsed %+v, want %+v", m.ServiceTypes, want)
	}
	for _, tc := range []struct{ name, xml, want string }{
		{"empty", "", "empty"},
		{"not XML", "<ServiceManifest><ServiceTypes>", "not XML"},
		{"other root", `<ApplicationManifest/>`, "not <ServiceManifest>"},
		{"type twice", `<ServiceManifest><ServiceTypes><StatelessServiceType ServiceTypeName="A"/><StatefulServiceType ServiceTypeName="A"/></ServiceTypes></ServiceManifest>`, "declared twice"},
		{"empty type name", `<ServiceManifest><ServiceTypes><StatelessServiceType ServiceTypeName=""/></ServiceTypes></ServiceManifest>`, "empty ServiceTypeName"},
		{"label without key", `<ServiceManifest><ServiceTypes><StatelessServiceType ServiceTypeName="A"><Extensions><Extension Name="sfgate"><Labels><Label>true</Label></Labels></Extension></Extensions></StatelessServiceType></ServiceTypes></ServiceManifest>`, "has no Key"},
		{"extension without name", `<ServiceManifest><ServiceTypes><StatelessServiceType ServiceTypeName="A"><Extensions><Extension/></Extensions></StatelessServiceType></ServiceTypes></ServiceManifest>`, "has no Name"},
		{"entity", `<!DOCTYPE x [<!ENTITY a "aaaa">]><ServiceManifest>&a;</ServiceManifest>`, "not XML"},
	} {
		if _, err := resolver.ParseServiceManifest([]byte(tc.xml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
