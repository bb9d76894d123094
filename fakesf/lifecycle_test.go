package fakesf

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

const (
	appTypesTmpl     = "/ApplicationTypes"
	appTypeTmpl      = "/ApplicationTypes/{applicationTypeName}"
	serviceTypesTmpl = "/ApplicationTypes/{applicationTypeName}/$/GetServiceTypes"
	serviceTypeTmpl  = "/ApplicationTypes/{applicationTypeName}/$/GetServiceTypes/{serviceTypeName}"
	appManifestTmpl  = "/ApplicationTypes/{applicationTypeName}/$/GetApplicationManifest"
	svcManifestTmpl  = "/ApplicationTypes/{applicationTypeName}/$/GetServiceManifest"
	createAppTmpl    = "/Applications/$/Create"
	deleteAppTmpl    = "/Applications/{applicationId}/$/Delete"
	createSvcTmpl    = "/Applications/{applicationId}/$/GetServices/$/Create"
	updateSvcTmpl    = "/Services/{serviceId}/$/Update"
)

// toolsTopology is DefaultTopology plus a declared application type no application uses yet.
func toolsTopology(t *testing.T) Topology {
	t.Helper()
	extra, err := ParseTopology([]byte(`
nodes: [{name: _Node_0}]
applications:
  - name: fabric:/X
    services: [{name: fabric:/X/Y, kind: Stateless, scheme: Singleton, instances: 1}]
applicationTypes:
  - name: ToolsType
    version: 2.0.0
    parameters: {Cache_Size: "10"}
    serviceTypes:
      - {name: CacheType, kind: Stateful, hasPersistedState: true, listeners: ["", Admin], listenOnSecondary: true,
         extensions: {sfgate: {sfgate.enable: "true", sfgate.listener: Admin}, Traefik: {traefik.expose: "true"}}}
      - {name: ApiType, kind: Stateless}
`))
	if err != nil {
		t.Fatal(err)
	}
	topo := DefaultTopology()
	topo.ApplicationTypes = extra.ApplicationTypes
	return topo
}

// TestApplicationTypes: the registered types (declared, and built from the applications) answer SF's type queries
// and manifests; absent ones get SF's errors.
func TestApplicationTypes(t *testing.T) {
	h := newHarness(t, toolsTopology(t))
	var types pagedList[applicationTypeInfoJSON]
	h.getJSON(appTypesTmpl, "/ApplicationTypes?api-version=6.0", &types)
	var names []string
	for _, at := range types.Items {
		names = append(names, at.Name+" "+at.Version)
	}
	if want := []string{"CatalogType 2.1.0", "ShopType 1.0.0", "ToolsType 2.0.0"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("application types %v, want %v", names, want)
	}
	var page pagedList[applicationTypeInfoJSON]
	h.getJSON(appTypesTmpl, "/ApplicationTypes?api-version=6.0&MaxResults=1&ExcludeApplicationParameters=true", &page)
	if len(page.Items) != 1 || page.ContinuationToken == "" {
		t.Errorf("first page %+v", page)
	}
	h.getJSON(appTypeTmpl, "/ApplicationTypes/ToolsType?api-version=6.0", &page)
	if len(page.Items) != 1 || len(page.Items[0].DefaultParameterList) != 1 || page.Items[0].DefaultParameterList[0].Value != "10" {
		t.Errorf("ToolsType %+v", page)
	}
	h.getJSON(appTypeTmpl, "/ApplicationTypes/ToolsType?api-version=6.0&ApplicationTypeVersion=9.9", &page)
	if len(page.Items) != 0 {
		t.Errorf("unknown version listed: %+v", page)
	}

	var sts []serviceTypeInfoJSON
	h.getJSON(serviceTypesTmpl, "/ApplicationTypes/ShopType/$/GetServiceTypes?api-version=6.0&ApplicationTypeVersion=1.0.0", &sts)
	if len(sts) != 3 || sts[0].ServiceTypeDescription["ServiceTypeName"] != "OrdersType" || sts[0].ServiceManifestName != "OrdersPkg" {
		t.Errorf("ShopType service types %+v", sts)
	}
	var st serviceTypeInfoJSON
	h.getJSON(serviceTypeTmpl, "/ApplicationTypes/ToolsType/$/GetServiceTypes/ApiType?api-version=6.0&ApplicationTypeVersion=2.0.0", &st)
	if st.ServiceTypeDescription["Kind"] != "Stateless" {
		t.Errorf("ApiType %+v", st)
	}
	h.get(serviceTypeTmpl, "/ApplicationTypes/ToolsType/$/GetServiceTypes/NopeType?api-version=6.0&ApplicationTypeVersion=2.0.0", http.StatusNoContent)
	h.wantError("GET", serviceTypesTmpl, "/ApplicationTypes/ToolsType/$/GetServiceTypes?api-version=6.0", 400, "E_INVALIDARG")
	h.wantError("GET", serviceTypesTmpl, "/ApplicationTypes/ToolsType/$/GetServiceTypes?api-version=6.0&ApplicationTypeVersion=1.0.0", 404, "FABRIC_E_APPLICATION_TYPE_NOT_FOUND")

	var m struct{ Manifest string }
	h.getJSON(appManifestTmpl, "/ApplicationTypes/ToolsType/$/GetApplicationManifest?api-version=6.0&ApplicationTypeVersion=2.0.0", &m)
	var am struct {
		Name string `xml:"ApplicationTypeName,attr"`
		Refs []struct {
			Name string `xml:"ServiceManifestName,attr"`
		} `xml:"ServiceManifestImport>ServiceManifestRef"`
	}
	if err := xml.Unmarshal([]byte(m.Manifest), &am); err != nil || am.Name != "ToolsType" || len(am.Refs) != 2 || am.Refs[0].Name != "CachePkg" {
		t.Errorf("application manifest %v %+v:\n%s", err, am, m.Manifest)
	}
	h.getJSON(svcManifestTmpl, "/ApplicationTypes/ToolsType/$/GetServiceManifest?api-version=6.0&ApplicationTypeVersion=2.0.0&ServiceManifestName=CachePkg", &m)
	var sm struct {
		Types []struct {
			XMLName   xml.Name
			Name      string `xml:"ServiceTypeName,attr"`
			Persisted string `xml:"HasPersistedState,attr"`
		} `xml:"ServiceTypes>StatefulServiceType"`
		Endpoints []struct {
			Name string `xml:"Name,attr"`
		} `xml:"Resources>Endpoints>Endpoint"`
	}
	if err := xml.Unmarshal([]byte(m.Manifest), &sm); err != nil || len(sm.Types) != 1 || sm.Types[0].Name != "CacheType" ||
		sm.Types[0].Persisted != "true" || len(sm.Endpoints) != 2 || sm.Endpoints[1].Name != "AdminEndpoint" {
		t.Errorf("service manifest %v %+v:\n%s", err, sm, m.Manifest)
	}
	h.wantError("GET", svcManifestTmpl, "/ApplicationTypes/ToolsType/$/GetServiceManifest?api-version=6.0&ApplicationTypeVersion=2.0.0&ServiceManifestName=NopePkg", 404, "FABRIC_E_SERVICE_MANIFEST_NOT_FOUND")
}

// TestServiceManifestExtensions: a service type's extensions are in its service manifest as SF writes them
// (<Extensions><Extension Name><Labels xmlns=...><Label Key>value), and in GetServiceTypes' Extensions; a type
// without extensions has none.
func TestServiceManifestExtensions(t *testing.T) {
	h := newHarness(t, toolsTopology(t))
	var m struct{ Manifest string }
	h.getJSON(svcManifestTmpl, "/ApplicationTypes/ToolsType/$/GetServiceManifest?api-version=6.0&ApplicationTypeVersion=2.0.0&ServiceManifestName=CachePkg", &m)
	type label struct {
		Key   string `xml:"Key,attr"`
		Value string `xml:",chardata"`
	}
	var sm struct {
		Types []struct {
			Name       string `xml:"ServiceTypeName,attr"`
			Extensions []struct {
				Name   string `xml:"Name,attr"`
				Labels struct {
					XMLName xml.Name
					Labels  []label `xml:"Label"`
				} `xml:"Labels"`
			} `xml:"Extensions>Extension"`
		} `xml:"ServiceTypes>StatefulServiceType"`
	}
	if err := xml.Unmarshal([]byte(m.Manifest), &sm); err != nil || len(sm.Types) != 1 || len(sm.Types[0].Extensions) != 2 {
		t.Fatalf("service manifest %v %+v:\n%s", err, sm, m.Manifest)
	}
	ext := sm.Types[0].Extensions
	if ext[0].Name != "Traefik" || ext[1].Name != "sfgate" || ext[1].Labels.XMLName.Space != "http://schemas.microsoft.com/2015/03/fabact-no-schema" ||
		!reflect.DeepEqual(ext[1].Labels.Labels, []label{{"sfgate.enable", "true"}, {"sfgate.listener", "Admin"}}) {
		t.Errorf("extensions %+v:\n%s", ext, m.Manifest)
	}

	var sts []serviceTypeInfoJSON
	h.getJSON(serviceTypesTmpl, "/ApplicationTypes/ToolsType/$/GetServiceTypes?api-version=6.0&ApplicationTypeVersion=2.0.0", &sts)
	exts := map[string]any{}
	for _, st := range sts {
		for _, e := range st.ServiceTypeDescription["Extensions"].([]any) {
			e := e.(map[string]any)
			exts[st.ServiceTypeDescription["ServiceTypeName"].(string)+" "+e["Key"].(string)] = e["Value"]
		}
	}
	if len(exts) != 2 || !strings.Contains(exts["CacheType sfgate"].(string), `<Label Key="sfgate.listener">Admin</Label>`) {
		t.Errorf("GetServiceTypes extensions %v", exts)
	}
	h.getJSON(svcManifestTmpl, "/ApplicationTypes/ToolsType/$/GetServiceManifest?api-version=6.0&ApplicationTypeVersion=2.0.0&ServiceManifestName=ApiPkg", &m)
	if strings.Contains(m.Manifest, "Extension") {
		t.Errorf("ApiType has no extensions, its manifest has:\n%s", m.Manifest)
	}
}

func cacheDescription(name string) string {
	return `{"ServiceKind":"Stateful","ApplicationName":"fabric:/Tools","ServiceName":"` + name + `","ServiceTypeName":"CacheType",
	"PartitionDescription":{"PartitionScheme":"UniformInt64Range","Count":3,"LowKey":"0","HighKey":"9"},
	"TargetReplicaSetSize":3,"MinReplicaSetSize":2,"HasPersistedState":true}`
}

// TestLifecycle: CreateApplication, CreateService (listeners from the service type), UpdateService and
// DeleteApplication over SF's wire format, with SF's errors.
func TestLifecycle(t *testing.T) {
	h := newHarness(t, toolsTopology(t))
	app := `{"Name":"fabric:/Tools","TypeName":"ToolsType","TypeVersion":"2.0.0","ParameterList":[{"Key":"Cache_Size","Value":"20"}]}`
	if r := h.send("POST", createAppTmpl, "/Applications/$/Create?api-version=6.0", app); r.status != 201 {
		t.Fatalf("CreateApplication: %d %s", r.status, r.body)
	}
	var ai applicationInfoJSON
	h.getJSON("/Applications/{applicationId}", "/Applications/Tools?api-version=6.0", &ai)
	if ai.TypeName != "ToolsType" || len(ai.Parameters) != 1 || ai.Parameters[0].Value != "20" {
		t.Errorf("created application %+v", ai)
	}
	h.wantErrorBody("POST", createAppTmpl, "/Applications/$/Create?api-version=6.0", app, 409, "FABRIC_E_APPLICATION_ALREADY_EXISTS")
	h.wantErrorBody("POST", createAppTmpl, "/Applications/$/Create?api-version=6.0", strings.Replace(app, "2.0.0", "3.0.0", 1), 404, "FABRIC_E_APPLICATION_TYPE_NOT_FOUND")
	h.wantErrorBody("POST", createAppTmpl, "/Applications/$/Create?api-version=6.0", `{"Name":"fabric:/T2"}`, 400, "E_INVALIDARG")
	h.wantErrorBody("POST", createAppTmpl, "/Applications/$/Create?api-version=6.0", strings.Replace(app, "fabric:/Tools", "Tools", 1), 400, "FABRIC_E_INVALID_NAME_URI")

	create := "/Applications/Tools/$/GetServices/$/Create?api-version=6.0"
	if r := h.send("POST", createSvcTmpl, create, cacheDescription("fabric:/Tools/Cache")); r.status != 202 {
		t.Fatalf("CreateService: %d %s", r.status, r.body)
	}
	var parts pagedList[partitionInfoJSON]
	h.getJSON("/Services/{serviceId}/$/GetPartitions", "/Services/Tools~Cache/$/GetPartitions?api-version=6.4", &parts)
	var ranges []string
	for _, p := range parts.Items {
		ranges = append(ranges, p.PartitionInformation.LowKey+".."+p.PartitionInformation.HighKey)
	}
	if len(ranges) != 3 || !strings.Contains(strings.Join(ranges, " "), "0..3") {
		t.Errorf("created partitions %v", ranges)
	}
	rsp := h.resolve("Tools~Cache", "&PartitionKeyType=2&PartitionKeyValue=5")
	if rr := hitReplica(t, listenerURL(t, rsp.Endpoints[0].Address, "Admin")); rr.Listener != "Admin" || rr.Service != "fabric:/Tools/Cache" {
		t.Errorf("created service's Admin listener answered %+v", rr)
	}
	if len(rsp.Endpoints) != 3 {
		t.Errorf("listenOnSecondary from the service type: %d endpoints, want 3", len(rsp.Endpoints))
	}
	api := `{"ServiceKind":"Stateless","ServiceName":"fabric:/Tools/Api","ServiceTypeName":"ApiType","PartitionDescription":{"PartitionScheme":"Named","Count":2,"Names":["a","b"]},"InstanceCount":2}`
	if r := h.send("POST", createSvcTmpl, create, api); r.status != 202 {
		t.Fatalf("CreateService stateless: %d %s", r.status, r.body)
	}
	if rsp := h.resolve("Tools~Api", "&PartitionKeyType=3&PartitionKeyValue=b"); len(rsp.Endpoints) != 2 {
		t.Errorf("stateless created service: %+v", rsp)
	}
	for _, tc := range []struct {
		body, code string
		status     int
	}{
		{cacheDescription("fabric:/Tools/Cache"), "FABRIC_E_SERVICE_ALREADY_EXISTS", 409},
		{strings.Replace(cacheDescription("fabric:/Tools/C2"), "CacheType", "NopeType", 1), "FABRIC_E_SERVICE_TYPE_NOT_FOUND", 404},
		{strings.NewReplacer("ApiType", "CacheType", "Tools/Api", "Tools/Api2").Replace(api), "E_INVALIDARG", 400},
		{strings.Replace(cacheDescription("fabric:/Tools/C2"), `"Count":3`, `"Count":30`, 1), "E_INVALIDARG", 400},
		{strings.Replace(cacheDescription("fabric:/Tools/C2"), `"TargetReplicaSetSize":3`, `"TargetReplicaSetSize":9`, 1), "E_INVALIDARG", 400},
		{cacheDescription("fabric:/Shop/C2"), "E_INVALIDARG", 400},
		{strings.Replace(cacheDescription("fabric:/Tools/C2"), `"HighKey":"9"`, `"HighKey":"x"`, 1), "E_INVALIDARG", 400},
		{`{"ServiceKind":"Stateful"}`, "E_INVALIDARG", 400},
	} {
		h.wantErrorBody("POST", createSvcTmpl, create, tc.body, tc.status, tc.code)
	}
	h.wantErrorBody("POST", createSvcTmpl, "/Applications/Nope/$/GetServices/$/Create?api-version=6.0", strings.Replace(cacheDescription("fabric:/Nope/C"), "fabric:/Tools", "fabric:/Nope", 1), 404, "FABRIC_E_APPLICATION_NOT_FOUND")

	// UpdateService resizes every partition.
	if r := h.send("POST", updateSvcTmpl, "/Services/Tools~Cache/$/Update?api-version=6.0", `{"ServiceKind":"Stateful","Flags":"17","TargetReplicaSetSize":5,"MinReplicaSetSize":3}`); r.status != 200 {
		t.Fatalf("UpdateService: %d %s", r.status, r.body)
	}
	for _, p := range h.parts("fabric:/Tools/Cache") {
		if len(p.Replicas) != 5 {
			t.Errorf("partition %s has %d replicas after the update, want 5", p.ID, len(p.Replicas))
		}
	}
	if r := h.send("POST", updateSvcTmpl, "/Services/Tools~Api/$/Update?api-version=6.0", `{"ServiceKind":"Stateless","Flags":"1","InstanceCount":1}`); r.status != 200 {
		t.Fatalf("UpdateService stateless: %d %s", r.status, r.body)
	}
	if p := h.parts("fabric:/Tools/Api")[0]; len(p.Replicas) != 1 {
		t.Errorf("stateless partition has %d instances, want 1", len(p.Replicas))
	}
	h.wantErrorBody("POST", updateSvcTmpl, "/Services/Tools~Api/$/Update?api-version=6.0", `{"ServiceKind":"Stateful","TargetReplicaSetSize":2}`, 400, "E_INVALIDARG")
	h.wantErrorBody("POST", updateSvcTmpl, "/Services/Tools~Cache/$/Update?api-version=6.0", `{"ServiceKind":"Stateful","TargetReplicaSetSize":9}`, 400, "E_INVALIDARG")
	h.wantErrorBody("POST", updateSvcTmpl, "/Services/Tools~Nope/$/Update?api-version=6.0", `{"ServiceKind":"Stateful"}`, 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	walkAll(h)

	// DeleteApplication takes its services with it; re-creating gives new partition IDs.
	oldPID := h.parts("fabric:/Tools/Cache")[0].ID
	primary, _ := h.parts("fabric:/Tools/Cache")[0].Primary()
	if r := h.call("POST", deleteAppTmpl, "/Applications/Tools/$/Delete?api-version=6.0&ForceRemove=true"); r.status != 200 {
		t.Fatalf("DeleteApplication: %d %s", r.status, r.body)
	}
	refused(t, primary.Endpoints[""])
	h.wantError("GET", resolveTmpl, "/Services/Tools~Cache/$/ResolvePartition?api-version=6.0&PartitionKeyType=2&PartitionKeyValue=1", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	h.get("/Applications/{applicationId}", "/Applications/Tools?api-version=6.0", http.StatusNoContent)
	h.wantError("POST", deleteAppTmpl, "/Applications/Tools/$/Delete?api-version=6.0", 404, "FABRIC_E_APPLICATION_NOT_FOUND")
	h.send("POST", createAppTmpl, "/Applications/$/Create?api-version=6.0", app)
	h.send("POST", createSvcTmpl, create, cacheDescription("fabric:/Tools/Cache"))
	if h.parts("fabric:/Tools/Cache")[0].ID == oldPID {
		t.Error("a re-created service reuses its old partition IDs")
	}
	walkAll(h)
}

// TestOnlyApplicationTypes: a cluster may start with types and no application; a test creates what it needs.
func TestOnlyApplicationTypes(t *testing.T) {
	topo, err := ParseTopology([]byte(`
nodes: [{name: n0}, {name: n1}]
applicationTypes:
  - {name: AType, serviceTypes: [{name: SType, kind: Stateless}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, topo)
	var apps pagedList[applicationInfoJSON]
	h.getJSON("/Applications", "/Applications?api-version=6.1", &apps)
	if len(apps.Items) != 0 {
		t.Fatalf("applications %+v", apps.Items)
	}
	if err := h.c.CreateApplication("fabric:/A", "AType", "1.0.0", nil); err != nil {
		t.Fatal(err)
	}
	if err := h.c.CreateService("fabric:/A", Service{Name: "fabric:/A/S", TypeName: "SType", Kind: Stateless, Scheme: Singleton, Replicas: -1}); err != nil {
		t.Fatal(err)
	}
	if rsp := h.resolve("A~S", ""); len(rsp.Endpoints) != 2 {
		t.Errorf("created service resolves to %+v", rsp.Endpoints)
	}
	h.health(clusterHealthTmpl, "/$/GetClusterHealth?api-version=6.0")
}

// TestTopologyApplicationTypes: an application of a declared type takes its services' listeners from the type;
// mismatches are topology errors naming the field.
func TestTopologyApplicationTypes(t *testing.T) {
	base := `
nodes: [{name: n0}, {name: n1}]
applicationTypes:
  - name: AType
    serviceTypes: [{name: SType, kind: Stateless, listeners: ["", Admin]}]
applications:
  - name: fabric:/A
    typeName: AType
    services: [%s]
`
	topo, err := ParseTopology([]byte(strings.Replace(base, "%s", "{name: fabric:/A/S, typeName: SType, kind: Stateless, scheme: Singleton, instances: 1}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, topo)
	if p := h.parts("fabric:/A/S")[0]; len(p.Replicas[0].Endpoints) != 2 {
		t.Errorf("listeners from the service type: %+v", p.Replicas[0].Endpoints)
	}
	for _, tc := range []struct{ svc, want string }{
		{"{name: fabric:/A/S, typeName: Nope, kind: Stateless, scheme: Singleton, instances: 1}", `has no service type "Nope"`},
		{"{name: fabric:/A/S, typeName: SType, kind: Stateful, scheme: Singleton, replicas: 1}", "is Stateless, not Stateful"},
		{"{name: fabric:/A/S, typeName: SType, kind: Stateless, scheme: Singleton, instances: 1, listeners: [X]}", "listeners come from service type"},
	} {
		_, err := ParseTopology([]byte(strings.Replace(base, "%s", tc.svc, 1)))
		var te *TopologyError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &te) || te.Line == 0 {
			t.Errorf("%s: error %v, want one with a line saying %q", tc.svc, err, tc.want)
		}
	}
	badKind := strings.Replace(base, "kind: Stateless, listeners", "kind: Sometimes, listeners", 1)
	badKind = strings.Replace(badKind, "%s", "{name: fabric:/A/S, typeName: SType, kind: Stateless, scheme: Singleton, instances: 1}", 1)
	if _, err := ParseTopology([]byte(badKind)); err == nil || !strings.Contains(err.Error(), "applicationTypes[0].serviceTypes[0].kind") {
		t.Errorf("bad service type kind: %v", err)
	}
}

// FuzzServiceDescription: any CreateService body either becomes a valid service or is refused with a 400; it never
// panics.
func FuzzServiceDescription(f *testing.F) {
	f.Add([]byte(cacheDescription("fabric:/Tools/Cache")))
	f.Add([]byte(`{"ServiceKind":"Stateless","ServiceName":"fabric:/A/B","ServiceTypeName":"T","PartitionDescription":{"PartitionScheme":"Named","Count":1,"Names":["x"]},"InstanceCount":-1}`))
	f.Add([]byte(`{"PartitionDescription":{"PartitionScheme":"UniformInt64Range","Count":2,"LowKey":9223372036854775807,"HighKey":"-9223372036854775808"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d serviceDescriptionInJSON
		if json.Unmarshal(data, &d) != nil {
			return
		}
		s, err := serviceFromDescription(d)
		if err != nil {
			if err.Status != 400 {
				t.Fatalf("refused with %+v", err)
			}
			return
		}
		if verr := s.validate(5, func(field, format string, args ...any) error { return fmt.Errorf(format, args...) }); verr != nil {
			return
		}
		if s.Scheme == Int64Range {
			if r := int64Ranges(s.LowKey, s.HighKey, s.Partitions); len(r) != s.Partitions || r[0][0] != s.LowKey || r[len(r)-1][1] != s.HighKey {
				t.Fatalf("split %v of %+v", r, s)
			}
		}
	})
}
