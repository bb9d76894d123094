package fakesf

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// walkAll calls every query of the management API for every entity and validates each answer against the
// swagger (the harness does the validation). It returns the number of calls made.
func walkAll(h *harness) int {
	h.t.Helper()
	calls := 0
	get := func(tmpl, path string, v any) {
		h.t.Helper()
		calls++
		h.getJSON(tmpl, path, v)
	}
	var apps pagedList[applicationInfoJSON]
	get("/Applications", "/Applications?api-version=6.1", &apps)
	for _, a := range apps.Items {
		var one applicationInfoJSON
		get("/Applications/{applicationId}", "/Applications/"+a.ID+"?api-version=6.0", &one)
		var ah map[string]any
		get("/Applications/{applicationId}/$/GetHealth", "/Applications/"+a.ID+"/$/GetHealth?api-version=6.0", &ah)
		var svcs pagedList[serviceInfoJSON]
		get("/Applications/{applicationId}/$/GetServices", "/Applications/"+a.ID+"/$/GetServices?api-version=6.0", &svcs)
		for _, s := range svcs.Items {
			var si serviceInfoJSON
			get("/Applications/{applicationId}/$/GetServices/{serviceId}", "/Applications/"+a.ID+"/$/GetServices/"+s.ID+"?api-version=6.0", &si)
			var desc map[string]any
			get("/Services/{serviceId}/$/GetDescription", "/Services/"+s.ID+"/$/GetDescription?api-version=6.0", &desc)
			var an nameInfoJSON
			get("/Services/{serviceId}/$/GetApplicationName", "/Services/"+s.ID+"/$/GetApplicationName?api-version=6.0", &an)
			if an.Name != a.Name || an.ID != a.ID {
				h.t.Errorf("GetApplicationName of %s = %+v", s.Name, an)
			}
			var sh map[string]any
			get("/Services/{serviceId}/$/GetHealth", "/Services/"+s.ID+"/$/GetHealth?api-version=6.0", &sh)
			var parts pagedList[partitionInfoJSON]
			get("/Services/{serviceId}/$/GetPartitions", "/Services/"+s.ID+"/$/GetPartitions?api-version=6.4", &parts)
			for _, p := range parts.Items {
				pid := p.PartitionInformation.ID
				var pi, old partitionInfoJSON
				get("/Partitions/{partitionId}", "/Partitions/"+pid+"?api-version=6.4", &pi)
				get("/Partitions/{partitionId}", "/Partitions/"+pid+"?api-version=6.0", &old)
				if s.ServiceKind == Stateful && (pi.PrimaryEpoch == nil || old.CurrentConfigurationEpoch == nil || old.PrimaryEpoch != nil) {
					h.t.Errorf("partition %s: epoch naming by api-version wrong: 6.4 %+v, 6.0 %+v", pid, pi, old)
				}
				var sn nameInfoJSON
				get("/Partitions/{partitionId}/$/GetServiceName", "/Partitions/"+pid+"/$/GetServiceName?api-version=6.0", &sn)
				if sn.Name != s.Name || sn.ID != s.ID {
					h.t.Errorf("GetServiceName of %s = %+v, want %s", pid, sn, s.Name)
				}
				var ph map[string]any
				get("/Partitions/{partitionId}/$/GetHealth", "/Partitions/"+pid+"/$/GetHealth?api-version=6.0", &ph)
				var reps pagedList[replicaInfoJSON]
				get("/Partitions/{partitionId}/$/GetReplicas", "/Partitions/"+pid+"/$/GetReplicas?api-version=6.0", &reps)
				for _, r := range reps.Items {
					id := r.ReplicaID + r.InstanceID
					var one replicaInfoJSON
					get("/Partitions/{partitionId}/$/GetReplicas/{replicaId}", "/Partitions/"+pid+"/$/GetReplicas/"+id+"?api-version=6.0", &one)
					var rh map[string]any
					get("/Partitions/{partitionId}/$/GetReplicas/{replicaId}/$/GetHealth", "/Partitions/"+pid+"/$/GetReplicas/"+id+"/$/GetHealth?api-version=6.0", &rh)
				}
				query := ""
				switch p.PartitionInformation.ServicePartitionKind {
				case Int64Range:
					query = "&PartitionKeyType=2&PartitionKeyValue=" + p.PartitionInformation.LowKey
				case Named:
					query = "&PartitionKeyType=3&PartitionKeyValue=" + p.PartitionInformation.Name
				}
				calls++
				rsp := h.resolve(s.ID, query)
				if rsp.PartitionInformation.ID != pid || rsp.Name != s.Name {
					h.t.Errorf("ResolvePartition %s%s answered partition %s of %s", s.ID, query, rsp.PartitionInformation.ID, rsp.Name)
				}
			}
		}
	}
	var nodes pagedList[nodeInfoJSON]
	get("/Nodes", "/Nodes?api-version=6.3", &nodes)
	for _, n := range nodes.Items {
		var one nodeInfoJSON
		get("/Nodes/{nodeName}", "/Nodes/"+n.Name+"?api-version=6.0", &one)
		var nh map[string]any
		get("/Nodes/{nodeName}/$/GetHealth", "/Nodes/"+n.Name+"/$/GetHealth?api-version=6.0", &nh)
	}
	var cv map[string]string
	get("/$/GetClusterVersion", "/$/GetClusterVersion?api-version=6.4", &cv)
	var manifest struct{ Manifest string }
	get("/$/GetClusterManifest", "/$/GetClusterManifest?api-version=6.0", &manifest)
	var cm struct {
		Nodes []struct {
			Name string `xml:"NodeName,attr"`
		} `xml:"Infrastructure>Linux>NodeList>Node"`
	}
	if err := xml.Unmarshal([]byte(manifest.Manifest), &cm); err != nil || len(cm.Nodes) != len(nodes.Items) {
		h.t.Errorf("cluster manifest lists %d nodes (%v), want %d:\n%s", len(cm.Nodes), err, len(nodes.Items), manifest.Manifest)
	}
	var upgrade struct {
		UpgradeState   string
		CodeVersion    string
		UpgradeDomains []struct{ Name, State string }
	}
	get("/$/GetUpgradeProgress", "/$/GetUpgradeProgress?api-version=6.0", &upgrade)
	if upgrade.UpgradeState != "RollingForwardCompleted" || upgrade.CodeVersion != cv["Version"] || len(upgrade.UpgradeDomains) != len(nodes.Items) {
		h.t.Errorf("upgrade progress %+v", upgrade)
	}
	var ch map[string]any
	get("/$/GetClusterHealth", "/$/GetClusterHealth?api-version=6.0&NodesHealthStateFilter=0&ApplicationsHealthStateFilter=0&EventsHealthStateFilter=0&ExcludeHealthStatistics=false&IncludeSystemApplicationHealthStatistics=false&timeout=60", &ch)
	var aad map[string]any
	get("/$/GetAadMetadata", "/$/GetAadMetadata?api-version=6.0", &aad)
	return calls
}

func TestQueriesMatchSwagger(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	if n := walkAll(h); n < 100 {
		t.Fatalf("walked only %d calls", n)
	}
}

func TestDefaultTopologyShape(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	var parts pagedList[partitionInfoJSON]
	h.getJSON("/Services/{serviceId}/$/GetPartitions", "/Services/Shop~Orders/$/GetPartitions?api-version=6.4", &parts)
	var ranges []string
	for _, p := range parts.Items {
		ranges = append(ranges, p.PartitionInformation.LowKey+".."+p.PartitionInformation.HighKey)
		if *p.TargetReplicaSetSize != 3 {
			t.Errorf("Orders partition with %d replicas", *p.TargetReplicaSetSize)
		}
	}
	slices.Sort(ranges)
	if got := strings.Join(ranges, " "); got != "0..255 256..511 512..767 768..1023" {
		t.Errorf("Orders ranges %s", got)
	}
	web := h.resolve("Shop~Web", "")
	if len(web.Endpoints) != 3 {
		t.Fatalf("Web endpoints %+v", web.Endpoints)
	}
	for _, e := range web.Endpoints {
		if e.Kind != "Stateless" {
			t.Errorf("Web endpoint kind %s", e.Kind)
		}
		for _, l := range []string{"", "Admin"} {
			rr := hitReplica(t, listenerURL(t, e.Address, l))
			if rr.Listener != l || rr.Role != "stateless" || rr.Service != "fabric:/Shop/Web" {
				t.Errorf("Web listener %q answered %+v", l, rr)
			}
		}
	}
	carts := h.resolve("Shop~Carts", "&PartitionKeyType=3&PartitionKeyValue=asia")
	if carts.PartitionInformation.Name != "asia" || len(carts.Endpoints) != 3 || carts.Endpoints[0].Kind != "StatefulPrimary" {
		t.Fatalf("Carts asia: %+v", carts)
	}
	for _, e := range carts.Endpoints[1:] {
		rr := hitReplica(t, listenerURL(t, e.Address, ""))
		if e.Kind != "StatefulSecondary" || rr.Role != "secondary" {
			t.Errorf("Carts secondary %s answered as %s", e.Kind, rr.Role)
		}
	}
	orders := h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=1000")
	if orders.Endpoints[1].Address != "" || orders.Endpoints[2].Address != "" {
		t.Errorf("Orders secondaries publish addresses without listenOnSecondary: %+v", orders.Endpoints)
	}
	rr := hitReplica(t, orders.primaryURL(t))
	if rr.Role != "primary" || rr.PartitionID != orders.PartitionInformation.ID {
		t.Errorf("Orders primary answered %+v", rr)
	}
	// Each node has its own loopback IP and every replica of a partition sits on a different node.
	ips := map[string]bool{}
	for _, n := range h.c.Nodes() {
		ips[n.IP] = true
	}
	if len(ips) != 5 || !ips["127.0.0.2"] || !ips["127.0.0.6"] {
		t.Errorf("node IPs %v", ips)
	}
}

func TestPaging(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	type page struct {
		ContinuationToken string
		Items             []json.RawMessage
	}
	walk := func(tmpl, base string, want int) {
		t.Helper()
		var all page
		h.getJSON(tmpl, base, &all)
		if len(all.Items) != want || all.ContinuationToken != "" {
			t.Fatalf("%s: %d items, token %q; want %d items and no token", base, len(all.Items), all.ContinuationToken, want)
		}
		token, got := "", 0
		for i := 0; ; i++ {
			var p page
			path := base + "&MaxResults=1"
			if token != "" {
				path += "&ContinuationToken=" + token // verbatim, not re-encoded
			}
			h.getJSON(tmpl, path, &p)
			if len(p.Items) > 1 {
				t.Fatalf("%s: %d items with MaxResults=1", path, len(p.Items))
			}
			if len(p.Items) == 1 && string(p.Items[0]) != string(all.Items[got]) {
				t.Fatalf("%s: page %d is %s, want %s", path, i, p.Items[0], all.Items[got])
			}
			got += len(p.Items)
			if p.ContinuationToken == "" {
				break
			}
			token = p.ContinuationToken
			if i > want {
				t.Fatalf("%s: paging does not end", base)
			}
		}
		if got != want {
			t.Fatalf("%s: paged %d items, want %d", base, got, want)
		}
	}
	walk("/Applications", "/Applications?api-version=6.1", 2)
	walk("/Applications/{applicationId}/$/GetServices", "/Applications/Shop/$/GetServices?api-version=6.4", 3)
	walk("/Services/{serviceId}/$/GetPartitions", "/Services/Shop~Orders/$/GetPartitions?api-version=6.4", 4)
	walk("/Partitions/{partitionId}/$/GetReplicas", "/Partitions/"+h.parts("fabric:/Shop/Orders")[0].ID+"/$/GetReplicas?api-version=6.0", 3)
	walk("/Nodes", "/Nodes?api-version=6.3", 5)

	// The application token is the last application name, sent back raw.
	var first page
	h.getJSON("/Applications", "/Applications?api-version=6.1&MaxResults=1", &first)
	if first.ContinuationToken != "fabric:/Catalog" {
		t.Errorf("application token %q, want the last name fabric:/Catalog", first.ContinuationToken)
	}
	// GetServices honours MaxResults only from 6.4.
	var svcs page
	h.getJSON("/Applications/{applicationId}/$/GetServices", "/Applications/Shop/$/GetServices?api-version=6.0&MaxResults=1", &svcs)
	if len(svcs.Items) != 3 {
		t.Errorf("GetServices 6.0 with MaxResults=1 returned %d items, want all 3", len(svcs.Items))
	}
	h.wantError("GET", "/Applications", "/Applications?api-version=6.1&MaxResults=-1", 400, "E_INVALIDARG")
	h.wantError("GET", "/Applications", "/Applications?api-version=6.1&MaxResults=x", 400, "E_INVALIDARG")
	var rest page
	h.getJSON("/Applications", "/Applications?api-version=6.1&ContinuationToken=fabric:/Shop", &rest)
	if len(rest.Items) != 0 || rest.ContinuationToken != "" {
		t.Errorf("token past the last application: %+v", rest)
	}

	// SetPageSize pages every list, whatever MaxResults asks (and below 6.4 too), as a real cluster pages a
	// list too large for one message.
	if err := h.c.SetPageSize(2); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/Applications/Shop/$/GetServices?api-version=6.0", "/Applications/Shop/$/GetServices?api-version=6.4&MaxResults=5"} {
		h.getJSON("/Applications/{applicationId}/$/GetServices", path, &svcs)
		if len(svcs.Items) != 2 || svcs.ContinuationToken != "fabric:/Shop/Orders" {
			t.Errorf("%s with page size 2: %d items, token %q", path, len(svcs.Items), svcs.ContinuationToken)
		}
	}
	h.getJSON("/Applications/{applicationId}/$/GetServices", "/Applications/Shop/$/GetServices?api-version=6.0&ContinuationToken=fabric:/Shop/Orders", &svcs)
	if len(svcs.Items) != 1 || svcs.ContinuationToken != "" {
		t.Errorf("last page with page size 2: %d items, token %q", len(svcs.Items), svcs.ContinuationToken)
	}
	if err := h.c.SetPageSize(-1); err == nil {
		t.Error("SetPageSize(-1) accepted")
	}
}

func TestAPIVersion(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	const parts = "/Services/{serviceId}/$/GetPartitions"
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"", 400},
		{"?api-version=", 400},
		{"?API-Version=6.4", 400}, // names are case-sensitive
		{"?api-version=abc", 400},
		{"?api-version=6.3", 400}, // below GetPartitions' 6.4
		{"?api-version=8.3", 400}, // above the runtime
		{"?api-version=9.0-preview", 400},
		{"?api-version=6.4", 200},
		{"?api-version=6.4-preview", 200},
		{"?api-version=7.2", 200},
		{"?api-version=8.2", 200},
		{"?api-version=8.2-preview", 200},
		{"?api-version=6.4&api-version=1.0", 200}, // first occurrence wins
		{"?api-version=1.0&api-version=6.4", 400},
	} {
		r := h.call("GET", parts, "/Services/Shop~Orders/$/GetPartitions"+tc.query)
		if r.status != tc.status || (tc.status == 400 && r.code() != "E_INVALIDARG") {
			t.Errorf("api-version %q: %d %s, want %d", tc.query, r.status, r.body, tc.status)
		}
	}
	// Per-route minimum: MovePrimaryReplica needs 6.5.
	pid := h.parts("fabric:/Shop/Orders")[0].ID
	h.wantError("POST", "/Partitions/{partitionId}/$/MovePrimaryReplica", "/Partitions/"+pid+"/$/MovePrimaryReplica?api-version=6.4", 400, "E_INVALIDARG")
	// A runtime of 7.0 accepts at most 7.0.
	h7 := newHarness(t, DefaultTopology(), WithClusterVersion("7.0.470.9590"))
	h7.wantError("GET", parts, "/Services/Shop~Orders/$/GetPartitions?api-version=7.1", 400, "E_INVALIDARG")
	h7.get(parts, "/Services/Shop~Orders/$/GetPartitions?api-version=7.0", 200)
	var cv struct{ Version string }
	h7.getJSON("/$/GetClusterVersion", "/$/GetClusterVersion?api-version=6.4", &cv)
	if cv.Version != "7.0.470.9590" {
		t.Errorf("cluster version %q", cv.Version)
	}
}

func TestResolvePartitionKeys(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	orders := h.parts("fabric:/Shop/Orders")
	for _, tc := range []struct {
		svc, query string
		status     int
		code       string
		wantID     string
	}{
		{"Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=0", 200, "", orders[0].ID},
		{"Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=255", 200, "", orders[0].ID},
		{"Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=256", 200, "", orders[1].ID},
		{"Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=%2B300", 400, "E_INVALIDARG", ""}, // not decoded
		{"Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=1023", 200, "", orders[3].ID},
		{"Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=300&PartitionKeyValue=5", 200, "", orders[1].ID},
		{"Shop/Orders", "&PartitionKeyType=2&PartitionKeyValue=600", 200, "", orders[2].ID}, // raw / form
		{"Shop%7EOrders", "&PartitionKeyType=2&PartitionKeyValue=600", 200, "", orders[2].ID},
		{"Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=1024", 400, "FABRIC_E_INVALID_PARTITION_KEY", ""},
		{"Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=-1", 400, "FABRIC_E_INVALID_PARTITION_KEY", ""},
		{"Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=abc", 400, "E_INVALIDARG", ""},
		{"Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=99999999999999999999", 400, "E_INVALIDARG", ""},
		{"Shop~Orders", "&PartitionKeyType=2", 400, "E_INVALIDARG", ""},
		{"Shop~Orders", "", 400, "FABRIC_E_INVALID_PARTITION_KEY", ""},
		{"Shop~Orders", "&PartitionKeyType=2=3&PartitionKeyValue=5", 400, "FABRIC_E_INVALID_PARTITION_KEY", ""}, // piece with two '=' ignored → type 1
		{"Shop~Orders", "&PartitionKeyType=3&PartitionKeyValue=eu", 400, "FABRIC_E_INVALID_PARTITION_KEY", ""},
		{"Shop~Orders", "&PartitionKeyType=4&PartitionKeyValue=1", 400, "E_INVALIDARG", ""},
		{"Shop~Orders", "&PartitionKeyType=x", 400, "E_INVALIDARG", ""},
		{"Shop~Carts", "&PartitionKeyType=3&PartitionKeyValue=us", 200, "", ""},
		{"Shop~Carts", "&PartitionKeyType=3&PartitionKeyValue=%75s", 400, "FABRIC_E_INVALID_PARTITION_KEY", ""}, // not decoded
		{"Shop~Carts", "&PartitionKeyType=3&PartitionKeyValue=US", 400, "FABRIC_E_INVALID_PARTITION_KEY", ""},
		{"Shop~Carts", "&PartitionKeyType=3", 400, "E_INVALIDARG", ""},
		{"Shop~Carts", "&PartitionKeyType=2&PartitionKeyValue=1", 400, "FABRIC_E_INVALID_PARTITION_KEY", ""},
		{"Shop~Web", "", 200, "", ""},
		{"Shop~Web", "&PartitionKeyType=1&PartitionKeyValue=ignored", 200, "", ""},
		{"Shop~Web", "&PartitionKeyType=2&PartitionKeyValue=1", 400, "FABRIC_E_INVALID_PARTITION_KEY", ""},
		{"Shop~Nope", "", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST", ""},
		{"shop~orders", "&PartitionKeyType=2&PartitionKeyValue=1", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST", ""},
		{"Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=1&timeout=abc&Timeout=1", 200, "", orders[0].ID},
	} {
		r := h.call("GET", resolveTmpl, "/Services/"+tc.svc+"/$/ResolvePartition?api-version=6.0"+tc.query)
		if r.status != tc.status || r.code() != tc.code {
			t.Errorf("%s%s: %d %s, want %d %s", tc.svc, tc.query, r.status, r.body, tc.status, tc.code)
			continue
		}
		if tc.wantID != "" {
			var rsp rspJSON
			_ = json.Unmarshal(r.body, &rsp)
			if rsp.PartitionInformation.ID != tc.wantID {
				t.Errorf("%s%s: partition %s, want %s", tc.svc, tc.query, rsp.PartitionInformation.ID, tc.wantID)
			}
		}
	}
	// The application-scoped alias resolves too, and only within its application.
	r := h.call("GET", "", "/Applications/Shop/$/GetServices/Shop~Web/$/ResolvePartition?api-version=6.0")
	if r.status != 200 {
		t.Errorf("alias: %d %s", r.status, r.body)
	}
	h.wantError("GET", "", "/Applications/Catalog/$/GetServices/Shop~Web/$/ResolvePartition?api-version=6.0", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
}

func TestRoutingAndAbsentEntities(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	pid := h.parts("fabric:/Shop/Orders")[0].ID
	const unknownPID = "00000000-0000-0000-0000-000000000001"
	// Template segments are case-sensitive.
	h.wantError("GET", "", "/services/Shop~Orders/$/ResolvePartition?api-version=6.0", 400, "E_INVALIDARG")
	h.wantError("GET", "", "/Services/Shop~Orders/$/resolvepartition?api-version=6.0", 400, "E_INVALIDARG")
	h.wantError("GET", "", "/Services/Shop~Orders/ResolvePartition?api-version=6.0", 400, "E_INVALIDARG")
	h.wantError("DELETE", "", "/Applications?api-version=6.1", 400, "E_INVALIDARG")
	// Trailing slash is tolerated.
	h.get("/Applications", "/Applications/?api-version=6.1", 200)
	// Single-entity GETs answer 204 when absent.
	h.get("/Applications/{applicationId}", "/Applications/Nope?api-version=6.0", 204)
	h.get("/Applications/{applicationId}/$/GetServices/{serviceId}", "/Applications/Shop/$/GetServices/Catalog~Products?api-version=6.0", 204)
	h.get("/Partitions/{partitionId}", "/Partitions/"+unknownPID+"?api-version=6.0", 204)
	h.get("/Partitions/{partitionId}/$/GetReplicas/{replicaId}", "/Partitions/"+pid+"/$/GetReplicas/1?api-version=6.0", 204)
	h.get("/Nodes/{nodeName}", "/Nodes/_Node_9?api-version=6.0", 204)
	// Lists and actions on absent entities are 404 with SF's codes.
	h.wantError("GET", "/Applications/{applicationId}/$/GetServices", "/Applications/Nope/$/GetServices?api-version=6.0", 404, "FABRIC_E_APPLICATION_NOT_FOUND")
	h.wantError("GET", "/Services/{serviceId}/$/GetPartitions", "/Services/Shop~Nope/$/GetPartitions?api-version=6.4", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	h.wantError("GET", "/Services/{serviceId}/$/GetDescription", "/Services/Shop~Nope/$/GetDescription?api-version=6.0", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	h.wantError("GET", "/Partitions/{partitionId}/$/GetReplicas", "/Partitions/"+unknownPID+"/$/GetReplicas?api-version=6.0", 404, "FABRIC_E_PARTITION_NOT_FOUND")
	h.wantError("GET", "/Partitions/{partitionId}/$/GetServiceName", "/Partitions/"+unknownPID+"/$/GetServiceName?api-version=6.0", 404, "FABRIC_E_PARTITION_NOT_FOUND")
	h.wantError("GET", "/Partitions/{partitionId}", "/Partitions/not-a-guid?api-version=6.0", 400, "E_INVALIDARG")
	h.wantError("GET", "/Partitions/{partitionId}/$/GetReplicas/{replicaId}", "/Partitions/"+pid+"/$/GetReplicas/x?api-version=6.0", 400, "E_INVALIDARG")
	// Partition IDs are accepted in upper case too.
	h.get("/Partitions/{partitionId}", "/Partitions/"+strings.ToUpper(pid)+"?api-version=6.0", 200)
	// Hierarchical raw '/' IDs work for applications' services as well.
	h.get("/Services/{serviceId}/$/GetDescription", "/Services/Catalog/Products/$/GetDescription?api-version=6.0", 200)
	// The service description reports SF's UniformInt64Range scheme.
	var desc struct {
		PartitionDescription partitionSchemeJSON
		ServiceKind          string
	}
	h.getJSON("/Services/{serviceId}/$/GetDescription", "/Services/Shop~Orders/$/GetDescription?api-version=6.0", &desc)
	if desc.PartitionDescription.PartitionScheme != "UniformInt64Range" || *desc.PartitionDescription.Count != 4 || desc.PartitionDescription.HighKey != "1023" {
		t.Errorf("Orders description %+v", desc.PartitionDescription)
	}
	// SF's JSON writer escapes '/'; so does the fake.
	r := h.get("/Applications", "/Applications?api-version=6.1", 200)
	if !strings.Contains(string(r.body), `"fabric:\/Shop"`) {
		t.Errorf("names not written with \\/: %s", r.body)
	}
}

func TestPreviousRspVersionRoundTrip(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	const q = "&PartitionKeyType=2&PartitionKeyValue=7"
	first := h.resolve("Shop~Orders", q)
	// The Version is SF's escaped JSON: exactly the listed characters escaped, ':' ',' kept.
	if strings.ContainsAny(first.Version, "{}\" ") || !strings.Contains(first.Version, "%7B%22PartitionId%22:%22") || !strings.Contains(first.Version, ",") {
		t.Fatalf("Version %q is not SF's escaped form", first.Version)
	}
	raw, err := url.PathUnescape(first.Version)
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		PartitionID      string `json:"PartitionId"`
		FMVersion        string
		StoreVersion     string
		GenerationNumber struct {
			Generation string
			NodeID     struct {
				ID string `json:"Id"`
			} `json:"NodeId"`
		}
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil || v.PartitionID != first.PartitionInformation.ID || v.GenerationNumber.NodeID.ID == "" || v.StoreVersion == "" {
		t.Fatalf("Version content %s: %+v %v", raw, v, err)
	}
	// Sent back verbatim, it is accepted; without a change the same version comes back (no long poll).
	again := h.resolve("Shop~Orders", q+"&PreviousRspVersion="+first.Version)
	if again.Version != first.Version {
		t.Errorf("same partition, no change: %s then %s", first.Version, again.Version)
	}
	plain, prev := h.c.PartitionResolveCalls(first.PartitionInformation.ID)
	if plain != 1 || prev != 1 {
		t.Errorf("counters plain=%d withPrevious=%d, want 1 and 1", plain, prev)
	}
	// A version of another partition just returns current data.
	other := h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=900&PreviousRspVersion="+first.Version)
	if other.PartitionInformation.ID == first.PartitionInformation.ID {
		t.Error("resolved the wrong partition")
	}
	// Re-encoding the version (as url.Values would) breaks it, and a malformed version is E_INVALIDARG.
	h.wantError("GET", resolveTmpl, "/Services/Shop~Orders/$/ResolvePartition?api-version=6.0"+q+"&PreviousRspVersion="+url.QueryEscape(first.Version), 400, "E_INVALIDARG")
	h.wantError("GET", resolveTmpl, "/Services/Shop~Orders/$/ResolvePartition?api-version=6.0"+q+"&PreviousRspVersion=garbage", 400, "E_INVALIDARG")
	h.wantError("GET", resolveTmpl, "/Services/Shop~Orders/$/ResolvePartition?api-version=6.0"+q+"&PreviousRspVersion=%ZZ", 400, "E_INVALIDARG")
	if h.c.ResolveCalls() != 6 {
		t.Errorf("ResolveCalls %d, want 6", h.c.ResolveCalls())
	}
}

func TestVersionEscaping(t *testing.T) {
	got := encodeVersion(versionJSON{PartitionID: "a b&c|d<e>f^g`h[i]j\\k/l:m,n", FMVersion: "1", StoreVersion: "2",
		Generation: generationJSON{Generation: "3", NodeID: nodeIDJSON{ID: "ff"}}})
	want := `%7B%22PartitionId%22:%22a%20b%26c%7Cd%3Ce%3Ef%5Eg%60h%5Bi%5Dj%5C%5Ck/l:m,n%22,%22FMVersion%22:%221%22,%22StoreVersion%22:%222%22,%22GenerationNumber%22:%7B%22Generation%22:%223%22,%22NodeId%22:%7B%22Id%22:%22ff%22%7D%7D%7D`
	if got != want {
		t.Errorf("encodeVersion:\n got %s\nwant %s", got, want)
	}
}

func TestFakeControlAPI(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	post := func(path string, status int) {
		t.Helper()
		r := h.call("POST", "", "/_fake"+path)
		if r.status != status {
			t.Fatalf("POST /_fake%s: %d %s", path, r.status, r.body)
		}
	}
	post("/naming/fault?status=503&code=FABRIC_E_SERVICE_OFFLINE&count=1", 200)
	h.wantError("GET", resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version=6.0", 503, "FABRIC_E_SERVICE_OFFLINE")
	h.resolve("Shop~Web", "")
	post("/naming/fault?status=504", 200)
	h.wantError("GET", resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version=6.0", 504, "FABRIC_E_TIMEOUT")
	if r := h.call("DELETE", "", "/_fake/naming/fault"); r.status != 200 {
		t.Fatalf("DELETE fault: %d", r.status)
	}
	h.resolve("Shop~Web", "")
	post("/naming/fault?status=200", 400)
	post("/naming/fault", 400)
	post("/naming/delay?duration=banana", 400)
	post("/naming/delay?duration=0s", 200)
	post("/naming/cache?stale=true&maxAge=1h", 200)
	post("/naming/cache?stale=maybe", 400)
	post("/counters/reset", 200)
	post("/nope", 404)

	web := h.parts("fabric:/Shop/Web")[0]
	inst := web.Replicas[0]
	post("/replicas/"+itoa(inst.ID)+"/fault?status=503&count=1", 200)
	post("/replicas/1/fault?status=503", 404)
	post("/replicas/x/fault?status=503", 400)
	resp, err := http.Get(inst.Endpoints[""])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("replica fault: status %d", resp.StatusCode)
	}
	if rr := hitReplica(t, inst.Endpoints[""]); rr.ReplicaID != itoa(inst.ID) {
		t.Errorf("after count=1 the fault should be gone: %+v", rr)
	}
	var counters struct {
		ResolveCalls int64
		ReplicaHits  map[string]int64
	}
	h.getJSONRaw("/_fake/counters", &counters)
	if counters.ReplicaHits[itoa(inst.ID)] != 2 || counters.ResolveCalls != 0 {
		t.Errorf("counters %+v", counters)
	}
	var state struct {
		Nodes    []NodeState
		Services []struct {
			Name       string
			Partitions []PartitionState
		}
	}
	h.getJSONRaw("/_fake/state", &state)
	if len(state.Nodes) != 5 || len(state.Services) != 4 {
		t.Errorf("state: %d nodes, %d services", len(state.Nodes), len(state.Services))
	}
}

func (h *harness) getJSONRaw(path string, v any) {
	h.t.Helper()
	resp, err := h.client.Get(h.c.URL() + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		h.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		h.t.Fatal(err)
	}
}
