package fakesf

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Conformance tests for the rules docs/servicefabric.md §8 lists, as the SF runtime's gateway code implements them
// (GatewayUri::ParseQueryString, StringUtility::Split, RequestHandlerBase::HandlerAsyncOperation::OnStart).

func TestParseQueryLikeSF(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want map[string]string
	}{
		{"a=1&b=2", map[string]string{"a": "1", "b": "2"}},
		{"a=1&a=2", map[string]string{"a": "1"}},   // first occurrence wins
		{"a&b=2", map[string]string{"b": "2"}},     // no '=': dropped
		{"a=1=2&b=2", map[string]string{"b": "2"}}, // three tokens: dropped
		{"a==1", map[string]string{"a": "1"}},      // empty tokens are skipped: a=1
		{"a=1=", map[string]string{"a": "1"}},
		{"a=&b=2", map[string]string{"b": "2"}},            // empty value: dropped
		{"=1&b=2", map[string]string{"b": "2"}},            // empty name: dropped
		{"a=&a=2", map[string]string{"a": "2"}},            // a dropped piece does not claim the name
		{"&&a=1&&", map[string]string{"a": "1"}},           // empty pieces skipped
		{"A=1&a=2", map[string]string{"A": "1", "a": "2"}}, // names are case-sensitive
		{"k=%41%2F+x", map[string]string{"k": "%41%2F+x"}}, // values are not decoded
		{"k%3D=v", map[string]string{"k%3D": "v"}},         // nor are names
		{"", map[string]string{}},
	} {
		got := parseQuery(tc.raw)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("parseQuery(%q) = %v, want %v", tc.raw, got, tc.want)
		}
	}
	// timeout is lower-case and a uint; Timeout and garbage leave the 60 s default.
	for raw, want := range map[string]time.Duration{
		"timeout=5": 5 * time.Second, "Timeout=5": time.Minute, "timeout=abc": time.Minute,
		"timeout=-1": time.Minute, "timeout=4294967296": time.Minute, "Timeout=1&timeout=7": 7 * time.Second,
	} {
		if got := (&request{query: parseQuery(raw)}).timeout(); got != want {
			t.Errorf("timeout of %q = %v, want %v", raw, got, want)
		}
	}
}

func TestQueryRulesOverHTTP(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	carts := h.parts("fabric:/Shop/Carts")
	const base = "/Services/Shop~Carts/$/ResolvePartition?api-version=6.0&PartitionKeyType=3"
	for _, tc := range []struct {
		query  string
		status int
		code   string
		wantID string
	}{
		{"&PartitionKeyValue=us", 200, "", carts[1].ID},
		{"&PartitionKeyValue=us&PartitionKeyValue=eu", 200, "", carts[1].ID}, // first wins
		{"&PartitionKeyValue==us", 200, "", carts[1].ID},                     // empty token skipped
		{"&PartitionKeyValue=", 400, "E_INVALIDARG", ""},                     // dropped → value missing
		{"&PartitionKeyValue=us=eu", 400, "E_INVALIDARG", ""},                // dropped → value missing
		{"&PartitionKeyValue", 400, "E_INVALIDARG", ""},
		{"&partitionkeyvalue=us", 400, "E_INVALIDARG", ""}, // names are case-sensitive
		{"&PartitionKeyValue=%75s", 400, "FABRIC_E_INVALID_PARTITION_KEY", ""},
		{"&PartitionKeyValue=asia&Timeout=1&timeout=x", 200, "", carts[2].ID},
	} {
		r := h.call("GET", resolveTmpl, base+tc.query)
		if r.status != tc.status || r.code() != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.query, r.status, r.body, tc.status, tc.code)
			continue
		}
		if tc.wantID != "" {
			var rsp rspJSON
			if err := json.Unmarshal(r.body, &rsp); err != nil || rsp.PartitionInformation.ID != tc.wantID {
				t.Errorf("%s: partition %s, want %s (%v)", tc.query, rsp.PartitionInformation.ID, tc.wantID, err)
			}
		}
	}
	// api-version obeys the same piece rules.
	h.get(resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version==6.0", 200)
	h.get(resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version=6.0=", 200) // trailing empty token skipped
	h.wantError("GET", resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version=6.0=7.0", 400, "E_INVALIDARG")
	h.wantError("GET", resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version", 400, "E_INVALIDARG")
}

// swaggerMinimums reads, for every operation of the swagger, the api-version its ApiVersion_X-Y parameter pins.
func swaggerMinimums(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile("testdata/servicefabric.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Ref string `json:"$ref"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`ApiVersion_(\d+)-(\d+)_RequiredQueryParam$`)
	out := map[string]string{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			for _, p := range op.Parameters {
				if m := re.FindStringSubmatch(p.Ref); m != nil {
					out[strings.ToUpper(method)+" "+path] = m[1] + "." + m[2]
				}
			}
		}
	}
	return out
}

// swaggerTemplate turns a route template into the swagger's path key.
func swaggerTemplate(r route) string {
	names := map[string]string{"{app*}": "{applicationId}", "{svc*}": "{serviceId}", "{pid}": "{partitionId}",
		"{rid}": "{replicaId}", "{node}": "{nodeName}", "{type}": "{applicationTypeName}", "{stype}": "{serviceTypeName}"}
	segs := make([]string, len(r.tmpl))
	for i, s := range r.tmpl {
		if n, ok := names[s]; ok {
			s = n
		}
		segs[i] = s
	}
	return "/" + strings.Join(segs, "/")
}

// TestRouteMinimumsMatchSwagger checks every route's lowest api-version against the value the 8.2 swagger pins
// for that operation (aliases the swagger lacks must use the minimum of the operation they alias), and that the
// running cluster enforces it: one step below the minimum and one above the runtime are 400 E_INVALIDARG, the
// minimum itself and its -preview form pass the version check.
func TestRouteMinimumsMatchSwagger(t *testing.T) {
	pinned := swaggerMinimums(t)
	aliasOf := map[string]string{
		"GET /Applications/{applicationId}/$/GetServices/{serviceId}/$/GetPartitions":    "GET /Services/{serviceId}/$/GetPartitions",
		"GET /Applications/{applicationId}/$/GetServices/{serviceId}/$/ResolvePartition": "GET /Services/{serviceId}/$/ResolvePartition",
	}
	h := newHarness(t, DefaultTopology())
	orders := h.parts("fabric:/Shop/Orders")[0]
	prim, _ := orders.Primary()
	values := map[string]string{"{app*}": "Shop", "{svc*}": "Shop~Orders", "{pid}": orders.ID,
		"{rid}": itoa(prim.ID), "{node}": prim.Node, "{type}": "ShopType", "{stype}": "OrdersType"}
	for _, r := range routes {
		key := r.method + " " + swaggerTemplate(r)
		if a, ok := aliasOf[key]; ok {
			key = a
		}
		want, ok := pinned[key]
		if !ok {
			want, ok = pinned[key+"/"] // StartTransition/ is written with a trailing slash
		}
		if !ok {
			t.Errorf("%s: not in the swagger", key)
			continue
		}
		if got := fmt.Sprintf("%.1f", r.min); got != want {
			t.Errorf("%s: route minimum %s, swagger pins %s", key, got, want)
		}
		segs := make([]string, len(r.tmpl))
		for i, s := range r.tmpl {
			if v, ok := values[s]; ok {
				s = v
			}
			segs[i] = s
		}
		path := "/" + strings.Join(segs, "/") + "?api-version="
		below := fmt.Sprintf("%.1f", r.min-0.1)
		for _, v := range []string{below, below + "-preview", "8.3", "9.0-preview", "abc", ""} {
			rr := h.call(r.method, "", path+v)
			if rr.status != 400 || rr.code() != "E_INVALIDARG" || !strings.Contains(string(rr.body), "api-version") {
				t.Errorf("%s api-version=%q: %d %s, want 400 E_INVALIDARG about api-version", key, v, rr.status, rr.body)
			}
		}
		if r.method != "GET" {
			continue // the fault calls would change the cluster; their minimum passing is covered in faults_test.go
		}
		for _, v := range []string{want, want + "-preview", "8.2"} {
			rr := h.call(r.method, "", path+v)
			if rr.status == 400 && strings.Contains(string(rr.body), "api-version") {
				t.Errorf("%s api-version=%s rejected: %s", key, v, rr.body)
			}
		}
	}
}

func TestAPIVersionForms(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	const path = "/Services/Shop~Web/$/ResolvePartition?api-version="
	for v, status := range map[string]int{
		"6.0": 200, "6.0-preview": 200, "6": 200, "6.00": 200, "8.2": 200, "8.2-preview": 200, "7.10": 200,
		"abc": 400, "8.3": 400, "5.9": 400, "5.9-preview": 400, "6.0-PREVIEW": 400, "6.0-preview-preview": 400,
		"8.2.1": 400, "-6.0": 400, "6.0 ": 400, "%36.0": 400, "1e1": 400, "6.0%2Dpreview": 400, "preview": 400,
	} {
		r := h.call("GET", resolveTmpl, path+strings.ReplaceAll(v, " ", "%20"))
		if r.status != status || (status == 400 && r.code() != "E_INVALIDARG") {
			t.Errorf("api-version=%q: %d %s, want %d", v, r.status, r.body, status)
		}
	}
}

// TestWireBytes checks the exact bytes SF's JSON writer produces: '/' written as '\/' (also inside the
// JSON-in-JSON Address, as captured from real clusters: "http:\\\/\\\/host"), int64 values as strings, 32-bit
// values as numbers, enums as strings, and Version escaped with exactly SF's character set.
func TestWireBytes(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	r := h.get(resolveTmpl, "/Services/Shop~Orders/$/ResolvePartition?api-version=6.0&PartitionKeyType=2&PartitionKeyValue=300", 200)
	body := string(r.body)
	if regexp.MustCompile(`[^\\]/`).MatchString(body) {
		t.Errorf("a '/' not written as '\\/': %s", body)
	}
	for _, want := range []string{
		`"Name":"fabric:\/Shop\/Orders"`,
		`"ServicePartitionKind":"Int64Range"`,
		`"LowKey":"256","HighKey":"511"`,
		`{"Kind":"StatefulPrimary","Address":"{\"Endpoints\":{\"\":\"http:\\\/\\\/127.0.0.`,
		`{"Kind":"StatefulSecondary","Address":""}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("resolve body lacks %s:\n%s", want, body)
		}
	}
	var rsp rspJSON
	if err := json.Unmarshal(r.body, &rsp); err != nil {
		t.Fatal(err)
	}
	// Version: only [A-Za-z0-9-:,] and %XX, where XX is one of the escapes of SF's set.
	escaped := map[string]bool{}
	for _, ch := range []byte(versionEscapes) {
		escaped[fmt.Sprintf("%02X", ch)] = true
	}
	for i := 0; i < len(rsp.Version); i++ {
		ch := rsp.Version[i]
		switch {
		case ch == '%':
			if i+2 >= len(rsp.Version) || !escaped[rsp.Version[i+1:i+3]] {
				t.Fatalf("Version %s: %%-escape at %d is not of SF's set", rsp.Version, i)
			}
			i += 2
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-', ch == ':', ch == ',':
		default:
			t.Fatalf("Version %s: byte %q at %d should not be there", rsp.Version, ch, i)
		}
	}
	if !strings.HasPrefix(rsp.Version, "%7B%22PartitionId%22:%22"+rsp.PartitionInformation.ID+"%22,%22FMVersion%22:%22") {
		t.Errorf("Version %s does not start like SF's", rsp.Version)
	}
	// The Address decodes twice into the listener URL.
	var addr struct{ Endpoints map[string]string }
	if err := json.Unmarshal([]byte(rsp.Endpoints[0].Address), &addr); err != nil || !strings.HasPrefix(addr.Endpoints[""], "http://127.0.0.") {
		t.Errorf("Address %q: %v", rsp.Endpoints[0].Address, err)
	}

	// Lists: int64 as strings, 32-bit numbers as numbers.
	parts := string(h.get("/Services/{serviceId}/$/GetPartitions", "/Services/Shop~Orders/$/GetPartitions?api-version=6.4", 200).body)
	for _, re := range []string{`"TargetReplicaSetSize":3,`, `"MinReplicaSetSize":2,`, `"LastQuorumLossDurationInSeconds":"0"`,
		`"ConfigurationVersion":"\d+"`, `"DataLossVersion":"\d+"`, `"PartitionStatus":"Ready"`, `"ServiceKind":"Stateful"`} {
		if !regexp.MustCompile(re).MatchString(parts) {
			t.Errorf("GetPartitions lacks %s: %s", re, parts)
		}
	}
	reps := string(h.get("/Partitions/{partitionId}/$/GetReplicas", "/Partitions/"+rsp.PartitionInformation.ID+"/$/GetReplicas?api-version=6.0", 200).body)
	for _, re := range []string{`"ReplicaId":"\d{18}"`, `"ReplicaRole":"Primary"`, `"ReplicaRole":"ActiveSecondary"`, `"ReplicaStatus":"Ready"`,
		`"LastInBuildDurationInSeconds":"0"`, `"HealthState":"Ok"`} {
		if !regexp.MustCompile(re).MatchString(reps) {
			t.Errorf("GetReplicas lacks %s: %s", re, reps)
		}
	}
	web := string(h.get("/Services/{serviceId}/$/GetPartitions", "/Services/Shop~Web/$/GetPartitions?api-version=6.4", 200).body)
	if !strings.Contains(web, `"InstanceCount":3,`) || !strings.Contains(web, `"ServiceKind":"Stateless"`) {
		t.Errorf("stateless partition: %s", web)
	}
	svcs := string(h.get("/Applications/{applicationId}/$/GetServices", "/Applications/Shop/$/GetServices?api-version=6.0", 200).body)
	if !strings.Contains(svcs, `"Id":"Shop~Orders"`) || !strings.Contains(svcs, `"HasPersistedState":true`) || !strings.Contains(svcs, `"ServiceStatus":"Active"`) {
		t.Errorf("services: %s", svcs)
	}
}

// TestContinuationTokenVerbatim: tokens are compared exactly as sent, never percent-decoded; a token is the last
// key of the previous page (the application name for applications, with its ':' and '/').
func TestContinuationTokenVerbatim(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	names := func(query string) string {
		t.Helper()
		var page pagedList[applicationInfoJSON]
		h.getJSON("/Applications", "/Applications?api-version=6.1"+query, &page)
		var n []string
		for _, a := range page.Items {
			n = append(n, a.Name)
		}
		return strings.Join(n, " ") + " | " + page.ContinuationToken
	}
	for query, want := range map[string]string{
		"":                                     "fabric:/Catalog fabric:/Shop | ",
		"&MaxResults=1":                        "fabric:/Catalog | fabric:/Catalog",
		"&ContinuationToken=fabric:/Catalog":   "fabric:/Shop | ",
		"&ContinuationToken=fabric:%2FCatalog": "fabric:/Catalog fabric:/Shop | ", // not decoded: sorts before every name
		"&ContinuationToken=fabric%3A%2F%2FCatalog": "fabric:/Catalog fabric:/Shop | ",
		"&ContinuationToken=fabric:/Catalog%":       "fabric:/Shop | ",
		"&ContinuationToken=%ZZ":                    "fabric:/Catalog fabric:/Shop | ",
		"&ContinuationToken=fabric:/Shop":           " | ",
		"&ContinuationToken=fabric:/Catalog=x":      "fabric:/Catalog fabric:/Shop | ", // two '=': the piece is dropped
		"&ContinuationToken=&MaxResults=1":          "fabric:/Catalog | fabric:/Catalog",
	} {
		if got := names(query); got != want {
			t.Errorf("%s: %q, want %q", query, got, want)
		}
	}
	// A token taken from a response and sent back raw walks every page; the same token re-encoded does not.
	var first pagedList[applicationInfoJSON]
	h.getJSON("/Applications", "/Applications?api-version=6.1&MaxResults=1", &first)
	if got := names("&MaxResults=1&ContinuationToken=" + first.ContinuationToken); got != "fabric:/Shop | " {
		t.Errorf("raw token: %q", got)
	}
	if got := names("&MaxResults=1&ContinuationToken=" + url.QueryEscape(first.ContinuationToken)); got == "fabric:/Shop | " {
		t.Errorf("re-encoded token %q was decoded", url.QueryEscape(first.ContinuationToken))
	}
}

// TestPreviousRspVersionRules covers docs/servicefabric.md §3 on an uncached gateway: an unchanged partition
// answers its current (equal) version at once, a changed one its newer version, a version of another partition
// just the current data, a malformed version 400 E_INVALIDARG, and a deleted service 404 even with a version.
func TestPreviousRspVersionRules(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	const q = "&PartitionKeyType=2&PartitionKeyValue=900"
	v1 := h.resolve("Shop~Orders", q)
	same := h.resolve("Shop~Orders", q+"&PreviousRspVersion="+v1.Version)
	if same.Version != v1.Version {
		t.Errorf("unchanged partition: %s, want the same %s", same.Version, v1.Version)
	}
	if err := h.c.MovePrimary(v1.PartitionInformation.ID, ""); err != nil {
		t.Fatal(err)
	}
	v2 := h.resolve("Shop~Orders", q+"&PreviousRspVersion="+v1.Version)
	if !newer(t, v2.Version, v1.Version) || v2.primaryURL(t) == v1.primaryURL(t) {
		t.Errorf("after a move: %s, want newer than %s with another primary", v2.Version, v1.Version)
	}
	// A complaint with a version newer than anything the cluster has still answers current data.
	future := strings.Replace(v2.Version, "%22FMVersion%22:%22", "%22FMVersion%22:%2299999", 1)
	if got := h.resolve("Shop~Orders", q+"&PreviousRspVersion="+future); got.Version != v2.Version {
		t.Errorf("complaint from the future: %s, want current %s", got.Version, v2.Version)
	}
	other := h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=0")
	if got := h.resolve("Shop~Orders", q+"&PreviousRspVersion="+other.Version); got.Version != v2.Version {
		t.Errorf("version of another partition: %s, want current %s", got.Version, v2.Version)
	}
	for _, bad := range []string{"", "x", "%7B%7D", "%7B%22PartitionId%22:%22a%22%7D", "%ZZ", v2.Version + "x",
		url.QueryEscape(v2.Version), strings.ReplaceAll(v2.Version, "%22", "%27")} {
		query := q + "&PreviousRspVersion=" + bad
		if bad == "" {
			continue // an empty value is no parameter at all
		}
		h.wantError("GET", resolveTmpl, "/Services/Shop~Orders/$/ResolvePartition?api-version=6.0"+query, 400, "E_INVALIDARG")
	}

	// Deleting the service (SF's DeleteService call): every later resolve is 404, with or without a version.
	web := h.resolve("Shop~Web", "")
	inst := listenerURL(t, web.Endpoints[0].Address, "")
	if r := h.call("POST", "/Services/{serviceId}/$/Delete", "/Services/Shop~Web/$/Delete?api-version=6.0"); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("DeleteService: %d %s", r.status, r.body)
	}
	h.wantError("GET", resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version=6.0&PreviousRspVersion="+web.Version, 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	h.wantError("GET", resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version=6.0", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	h.wantError("GET", "/Services/{serviceId}/$/GetPartitions", "/Services/Shop~Web/$/GetPartitions?api-version=6.4", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	h.get("/Partitions/{partitionId}", "/Partitions/"+web.PartitionInformation.ID+"?api-version=6.0", 204)
	h.wantError("POST", "/Services/{serviceId}/$/Delete", "/Services/Shop~Web/$/Delete?api-version=6.0", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	h.wantError("POST", "/Services/{serviceId}/$/Delete", "/Services/Shop~Orders/$/Delete?api-version=6.0&ForceRemove=maybe", 400, "E_INVALIDARG")
	refused(t, inst)
	for _, s := range h.c.Services() {
		if s == "fabric:/Shop/Web" {
			t.Error("deleted service still listed")
		}
	}
	walkAll(h)
	// The rest of the cluster keeps working, faults included.
	for _, n := range h.c.Nodes() {
		if err := h.c.StopNode(n.Name); err != nil {
			t.Fatal(err)
		}
		if err := h.c.StartNode(n.Name); err != nil {
			t.Fatal(err)
		}
	}
	walkAll(h)
	var fe *FabricError
	if err := h.c.DeleteService("fabric:/Shop/Web"); !errors.As(err, &fe) || fe.Status != 404 || fe.Code != "FABRIC_E_SERVICE_DOES_NOT_EXIST" {
		t.Errorf("second DeleteService: %v", err)
	}
}

// TestMethodsAndGarbageURLs: SF answers any URL it cannot parse, wrong method included, with 400 E_INVALIDARG;
// it parses the URL before checking credentials.
func TestMethodsAndGarbageURLs(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	pid := h.parts("fabric:/Shop/Orders")[0].ID
	for _, tc := range []struct{ method, path string }{
		{"PUT", "/Applications?api-version=6.1"},
		{"DELETE", "/Services/Shop~Orders/$/ResolvePartition?api-version=6.0"},
		{"PATCH", "/Partitions/" + pid + "?api-version=6.0"},
		{"OPTIONS", "/$/GetClusterVersion?api-version=6.4"},
		{"POST", "/Services/Shop~Orders/$/ResolvePartition?api-version=6.0"},
		{"GET", "/Partitions/" + pid + "/$/MovePrimaryReplica?api-version=6.5"},
		{"GET", "/Services/Shop~Orders/$/Delete?api-version=6.0"},
		{"POST", "/"},
		{"GET", "/Services"},
		{"GET", "/Services/$/ResolvePartition?api-version=6.0"},
		{"GET", "/Services/Shop~Orders/$/?api-version=6.0"},
		{"GET", "/Services/Shop~Orders/$/$/ResolvePartition?api-version=6.0"},
	} {
		h.wantError(tc.method, "", tc.path, 400, "E_INVALIDARG")
	}
	// HEAD gets the same status (and, being HEAD, no body).
	resp, err := h.client.Head(h.c.URL() + "/Applications?api-version=6.1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("HEAD: %d", resp.StatusCode)
	}
	// Empty segments are skipped as SF's splitter does.
	h.get(resolveTmpl, "//Services//Shop~Web///$/ResolvePartition/?api-version=6.0", 200)
	// Non-GUID partition IDs, percent-escaped or not.
	for _, id := range []string{"not-a-guid", "00000000-0000-0000-0000-00000000000", "00000000-0000-0000-0000-00000000000g",
		"%7B00000000-0000-0000-0000-000000000001", strings.Repeat("a", 10000)} {
		h.wantError("GET", "/Partitions/{partitionId}/$/GetReplicas", "/Partitions/"+id+"/$/GetReplicas?api-version=6.0", 400, "E_INVALIDARG")
	}
	h.get("/Partitions/{partitionId}", "/Partitions/%7B"+pid+"%7D?api-version=6.0", 200) // {GUID} form
	// IDs: percent-escapes are undone once, a '~' escaped as %7E still separates, an escaped '/' too.
	h.get("/Services/{serviceId}/$/GetDescription", "/Services/Shop%2FOrders/$/GetDescription?api-version=6.0", 200)
	h.get("/Services/{serviceId}/$/GetDescription", "/Services/%53hop%7eOrders/$/GetDescription?api-version=6.0", 200)
	h.wantError("GET", "/Services/{serviceId}/$/GetDescription", "/Services/Shop%257EOrders/$/GetDescription?api-version=6.0", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	h.wantError("GET", "/Services/{serviceId}/$/GetDescription", "/Services/Shop%FF/$/GetDescription?api-version=6.0", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	// A very long, well-formed ID is just an unknown service.
	h.wantError("GET", resolveTmpl, "/Services/"+strings.Repeat("a", 200<<10)+"/$/ResolvePartition?api-version=6.0", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")

	// Invalid percent-escapes in the path never reach the handler: Go's server rejects the request line with a
	// plain 400, as http.sys rejects a malformed URL before SF's gateway sees it.
	for _, p := range []string{"/Services/Shop%ZZ/$/ResolvePartition?api-version=6.0", "/Services/Shop%7/$/ResolvePartition?api-version=6.0"} {
		resp, body := rawRequest(t, h.c.URL(), "GET "+p+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 400 || !strings.HasPrefix(string(body), "400 Bad Request") {
			t.Errorf("%s: %d %q, want Go's plain 400", p, resp.StatusCode, body)
		}
	}
	// The same escape inside a query value is no problem: values are not decoded.
	h.get(resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version=6.0&x=%ZZ", 200)
	// A request line beyond the server's header limit (1 MiB) is refused with 431, and the server keeps serving.
	if status := rawStatus(t, h.c.URL(), "GET /Services/"+strings.Repeat("a", 2<<20)+"/$/ResolvePartition?api-version=6.0 HTTP/1.1"); status != 431 {
		t.Errorf("2 MiB URL: status %d, want 431", status)
	}
	h.resolve("Shop~Web", "")
}

// TestParseBeforeAuth: with credentials required, an unparseable URL is still 400 E_INVALIDARG (SF parses first),
// a parseable one without credentials is 403 with an empty body.
func TestParseBeforeAuth(t *testing.T) {
	h := newHarness(t, DefaultTopology(), WithBearerToken(func(string) error { return fmt.Errorf("no token is good") }))
	h.wantError("GET", resolveTmpl, "/Services/Shop~Web/$/ResolvePartition?api-version=9.9", 400, "E_INVALIDARG")
	h.wantError("PUT", "", "/Applications?api-version=6.1", 400, "E_INVALIDARG")
	if code, body := status(t, h.client, h.c.URL()+"/Services/Shop~Web/$/ResolvePartition?api-version=6.0", nil); code != 403 || len(body) != 0 {
		t.Errorf("no credentials: %d %q, want 403 with an empty body", code, body)
	}
	h.get("/$/GetAadMetadata", "/$/GetAadMetadata?api-version=6.0", 200)
}

// rawStatus sends one raw request line on a fresh connection and returns the response status.
func rawStatus(t *testing.T, base, line string) int {
	t.Helper()
	resp, _ := rawRequest(t, base, line+"\r\nHost: x\r\nConnection: close\r\n\r\n")
	return resp.StatusCode
}

// rawRequest writes raw bytes to the server at base (a URL) on a fresh connection and reads one response. The
// write runs concurrently, so a server answering before it has read everything cannot block the test.
func rawRequest(t *testing.T, base, raw string) (*http.Response, []byte) {
	t.Helper()
	return rawExchange(t, base, raw, false)
}

// rawExchange is rawRequest; closeWrite also half-closes the connection after the bytes, so the server sees the
// client's end of input (a body shorter than its Content-Length ends instead of waiting for more).
func rawExchange(t *testing.T, base, raw string, closeWrite bool) (*http.Response, []byte) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	written := make(chan struct{})
	go func() {
		defer close(written)
		if _, err := io.WriteString(conn, raw); err == nil && closeWrite {
			_ = conn.(*net.TCPConn).CloseWrite()
		}
	}()
	defer func() { conn.Close(); <-written }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response to %.80q: %v", raw, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, body
}

// FuzzManagementGET sends arbitrary paths and queries to the management handler: it must answer (never panic)
// with an SF status, valid JSON, and a FabricError body on errors.
func FuzzManagementGET(f *testing.F) {
	c, err := Start(f.Context(), DefaultTopology())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close() })
	pid := mustPartitionsF(f, c, "fabric:/Shop/Orders")[0].ID
	for _, seed := range [][2]string{
		{"/Services/Shop~Orders/$/ResolvePartition", "api-version=6.0&PartitionKeyType=2&PartitionKeyValue=5"},
		{"/Services/Shop~Carts/$/ResolvePartition", "api-version=6.0-preview&PartitionKeyType=3&PartitionKeyValue=eu&PreviousRspVersion=%7B%7D"},
		{"/Services/Shop/Web/$/ResolvePartition", "api-version==6.0&timeout=99999999999"},
		{"/Applications", "api-version=6.1&MaxResults=1&ContinuationToken=fabric:/Catalog"},
		{"/Applications/Shop/$/GetServices/Shop~Carts/$/GetPartitions", "api-version=6.4&MaxResults=-1"},
		{"/Partitions/" + pid + "/$/GetReplicas", "api-version=6.0&ContinuationToken=%ZZ"},
		{"/Partitions/{" + pid + "}", "api-version=8.2"},
		{"/Nodes", "api-version=6.3&NodeStatusFilter=up"},
		{"/Faults/Nodes/_Node_0/$/GetTransitionProgress", "api-version=6.0&OperationId=x"},
		{"/$/GetAadMetadata", "api-version=6.0"},
		{"//$/$/", "a=b=c&&="},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, path, query string) {
		target := path + "?" + query
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(path, "/") {
			return // Go's server rejects such a request line before any handler runs
		}
		req := (&http.Request{Method: "GET", URL: u, RequestURI: target, Header: http.Header{}, Body: http.NoBody,
			Host: "fakesf", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}).WithContext(t.Context())
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 204, 400, 404, 504:
		default:
			t.Fatalf("GET %q: status %d", target, rec.Code)
		}
		body := rec.Body.Bytes()
		if len(body) > 0 && !json.Valid(body) {
			t.Fatalf("GET %q: invalid JSON %q", target, body)
		}
		if rec.Code >= 400 {
			var e fabricErrorJSON
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("GET %q: %d without a FabricError: %q", target, rec.Code, body)
			}
		}
	})
}

func mustPartitionsF(f *testing.F, c *Cluster, service string) []PartitionState {
	f.Helper()
	p, err := c.Partitions(service)
	if err != nil {
		f.Fatal(err)
	}
	return p
}

// FuzzParseVersion: parseVersion never panics, and every Version encodeVersion writes for a GUID-like
// PartitionId parses back to the same (PartitionId, Generation, FMVersion).
func FuzzParseVersion(f *testing.F) {
	f.Add("%7B%22PartitionId%22:%22ad1bb036-bacb-5156-9160-bd79d60b12f3%22,%22FMVersion%22:%221%22,%22StoreVersion%22:%221%22,%22GenerationNumber%22:%7B%22Generation%22:%22134398290811271720%22,%22NodeId%22:%7B%22Id%22:%22d7%22%7D%7D%7D",
		"AD1BB036-bacb-5156-9160-bd79d60b12f3", int64(7), int64(-3))
	f.Add("%7B%7D", "x", int64(0), int64(0))
	f.Add("%ZZ", "a b\"c", int64(1)<<62, int64(-1)<<63)
	f.Add(`{"PartitionId":"p","FMVersion":"1","GenerationNumber":{"Generation":"2"}}x`, "p", int64(1), int64(2))
	f.Fuzz(func(t *testing.T, raw, pid string, fm, gen int64) {
		if v, err := parseVersion(raw); err == nil && v.partitionID == "" {
			t.Fatalf("parseVersion(%q) accepted an empty PartitionId", raw)
		}
		if pid == "" || strings.Contains(pid, "%") || !utf8.ValidString(pid) {
			return // SF's PartitionId is a GUID: never empty, never with '%', always UTF-8
		}
		enc := encodeVersion(versionJSON{PartitionID: pid, FMVersion: strconv.FormatInt(fm, 10), StoreVersion: "1",
			Generation: generationJSON{Generation: strconv.FormatInt(gen, 10), NodeID: nodeIDJSON{ID: "ff"}}})
		if strings.ContainsAny(enc, versionEscapes) {
			t.Fatalf("encodeVersion left an escapable byte: %q", enc)
		}
		v, err := parseVersion(enc)
		if err != nil || v.partitionID != strings.ToLower(pid) || v.fmVersion != fm || v.generation != gen {
			t.Fatalf("round trip of %q (fm %d gen %d): %+v %v", pid, fm, gen, v, err)
		}
	})
}

// FuzzParseQuery: the parser never panics and yields only non-empty names and values free of '&' and '='.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"a=1&a=2", "a==b&c", "=&=&", "api-version=6.0&PreviousRspVersion=%7B%22x%22%7D", "a=b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for k, v := range parseQuery(raw) {
			if k == "" || v == "" || strings.ContainsAny(k+v, "&=") {
				t.Fatalf("parseQuery(%q) gave %q=%q", raw, k, v)
			}
			if !strings.Contains(raw, k) || !strings.Contains(raw, v) {
				t.Fatalf("parseQuery(%q) invented %q=%q", raw, k, v)
			}
		}
	})
}

// TestStaleCacheComplaints: with the simulated naming-gateway cache, answers stay stale without a complaint; a
// complaint naming the stale version, or a version of another partition, gets fresh data (primary first); a
// malformed complaint is 400 and a deleted service 404, cache or not.
func TestStaleCacheComplaints(t *testing.T) {
	h := newHarness(t, DefaultTopology(), WithNamingCache(NamingCache{Stale: true}))
	const q = "&PartitionKeyType=2&PartitionKeyValue=600"
	v1 := h.resolve("Shop~Orders", q)
	other := h.resolve("Shop~Orders", "&PartitionKeyType=2&PartitionKeyValue=0")
	pid := v1.PartitionInformation.ID
	for range 2 {
		if err := h.c.MovePrimary(pid, ""); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if got := h.resolve("Shop~Orders", q); got.Version != v1.Version {
			t.Fatalf("without a complaint the answer must stay stale: %s, want %s", got.Version, v1.Version)
		}
	}
	fresh := h.resolve("Shop~Orders", q+"&PreviousRspVersion="+other.Version)
	current := h.parts("fabric:/Shop/Orders")[2]
	if fresh.Version != current.Version || !newer(t, fresh.Version, v1.Version) {
		t.Errorf("complaint with another partition's version: %s, want current %s", fresh.Version, current.Version)
	}
	prim, _ := current.Primary()
	if fresh.Endpoints[0].Kind != "StatefulPrimary" || listenerURL(t, fresh.Endpoints[0].Address, "") != prim.Endpoints[""] {
		t.Errorf("fresh answer does not list the current primary first: %+v", fresh.Endpoints)
	}
	for _, e := range fresh.Endpoints[1:] {
		if e.Kind != "StatefulSecondary" {
			t.Errorf("second primary in %+v", fresh.Endpoints)
		}
	}
	h.wantError("GET", resolveTmpl, "/Services/Shop~Orders/$/ResolvePartition?api-version=6.0"+q+"&PreviousRspVersion=%7B", 400, "E_INVALIDARG")
	if err := h.c.DeleteService("fabric:/Shop/Orders"); err != nil {
		t.Fatal(err)
	}
	h.wantError("GET", resolveTmpl, "/Services/Shop~Orders/$/ResolvePartition?api-version=6.0"+q, 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	h.wantError("GET", resolveTmpl, "/Services/Shop~Orders/$/ResolvePartition?api-version=6.0"+q+"&PreviousRspVersion="+fresh.Version, 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
}
