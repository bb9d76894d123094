package resolver

import (
	"strings"
	"testing"
)

// FuzzDecodeListPages: the GetApplications and GetServices pages come from the network; decoding never
// panics, and what it accepts is usable (names under fabric:/, a known service kind).
func FuzzDecodeListPages(f *testing.F) {
	f.Add([]byte(`{"ContinuationToken":"fabric:/A","Items":[{"Id":"A","Name":"fabric:/A","TypeName":"AT"}]}`))
	f.Add([]byte(`{"ContinuationToken":"","Items":[{"Id":"Shop~Orders","ServiceKind":"Stateful","Name":"fabric:/Shop/Orders","TypeName":"OrdersType","HealthState":"Ok"}]}`))
	f.Add([]byte(`{"Items":[{"Name":"fabric:/x","ServiceKind":"Stateless"},{"Name":"nope"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if apps, _, err := decodeApplicationPage(body); err == nil {
			for _, a := range apps {
				if a.id == "" || !strings.HasPrefix(a.name, "fabric:/") {
					t.Fatalf("accepted application %+v", a)
				}
			}
		}
		if svcs, _, err := decodeServicePage(body, appRef{id: "A", name: "fabric:/A"}); err == nil {
			for _, s := range svcs {
				if !strings.HasPrefix(s.Name, "fabric:/") || (s.Kind != "Stateful" && s.Kind != "Stateless") {
					t.Fatalf("accepted service %+v", s)
				}
			}
		}
	})
}

// FuzzParseServiceManifest: a service manifest comes from the network (GetServiceManifest); parsing never
// panics, and what it accepts names every service type and extension.
func FuzzParseServiceManifest(f *testing.F) {
	f.Add([]byte(`<ServiceManifest Name="P"><ServiceTypes><StatelessServiceType ServiceTypeName="A"><Extensions><Extension Name="sfgate"><Labels xmlns="http://schemas.microsoft.com/2015/03/fabact-no-schema"><Label Key="sfgate.enable">true</Label></Labels></Extension></Extensions></StatelessServiceType></ServiceTypes></ServiceManifest>`))
	f.Add([]byte(`<ServiceManifest><ServiceTypes><StatefulServiceType ServiceTypeName="B" HasPersistedState="true"/><X/></ServiceTypes></ServiceManifest>`))
	f.Add([]byte(`<?xml version="1.0"?><ServiceManifest xmlns="x"><ServiceTypes><StatelessServiceType ServiceTypeName="A"><Extensions><Extension Name="e"><Labels><Label Key="">&lt;</Label><Label/></Labels></Extension></Extensions></StatelessServiceType></ServiceTypes></ServiceManifest>`))
	f.Add([]byte(`[{"ServiceTypeDescription":{"ServiceTypeName":"WebType"},"ServiceManifestName":"WebPkg"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := ParseServiceManifest(data); err == nil {
			for name, exts := range m.ServiceTypes {
				if name == "" {
					t.Fatal("accepted a service type without a name")
				}
				for _, e := range exts {
					if e.Name == "" {
						t.Fatalf("accepted an extension of %s without a name", name)
					}
				}
			}
		}
		if types, err := decodeServiceTypes(data); err == nil {
			for st, manifest := range types {
				if st == "" || manifest == "" {
					t.Fatalf("accepted service type %q in manifest %q", st, manifest)
				}
			}
		}
	})
}
