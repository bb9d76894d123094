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
				if a[0] == "" || !strings.HasPrefix(a[1], "fabric:/") {
					t.Fatalf("accepted application %q", a)
				}
			}
		}
		if svcs, _, err := decodeServicePage(body, "fabric:/A"); err == nil {
			for _, s := range svcs {
				if !strings.HasPrefix(s.Name, "fabric:/") || (s.Kind != "Stateful" && s.Kind != "Stateless") {
					t.Fatalf("accepted service %+v", s)
				}
			}
		}
	})
}
