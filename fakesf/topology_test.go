package fakesf

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// defaultYAML is DefaultTopology written as YAML.
const defaultYAML = `
nodes:
  - {name: _Node_0, ip: 127.0.0.2, type: NodeType0}
  - {name: _Node_1, ip: 127.0.0.3}
  - {name: _Node_2, ip: 127.0.0.4}
  - {name: _Node_3, ip: 127.0.0.5}
  - {name: _Node_4, ip: 127.0.0.6}
applications:
  - name: fabric:/Shop
    typeName: ShopType
    typeVersion: 1.0.0
    parameters: {Web_InstanceCount: "3"}
    services:
      - name: fabric:/Shop/Orders
        typeName: OrdersType
        kind: Stateful
        scheme: Int64Range
        partitions: 4
        lowKey: 0
        highKey: 1023
        replicas: 3
        hasPersistedState: true
      - name: fabric:/Shop/Carts
        typeName: CartsType
        kind: Stateful
        scheme: Named
        names: [eu, us, asia]
        replicas: 3
        listenOnSecondary: true
        hasPersistedState: true
      - name: fabric:/Shop/Web
        typeName: WebType
        kind: Stateless
        scheme: Singleton
        instances: 3
        listeners: ["", Admin]
  - name: fabric:/Catalog
    typeName: CatalogType
    typeVersion: 2.1.0
    services:
      - name: fabric:/Catalog/Products
        typeName: ProductsType
        kind: Stateful
        scheme: Singleton
        replicas: 3
        hasPersistedState: true
`

func TestParseTopologyDefault(t *testing.T) {
	got, err := ParseTopology([]byte(defaultYAML))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultTopology()
	if err := want.validate(nil); err != nil { // fills defaults the same way
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed YAML differs from DefaultTopology:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseTopologyErrors(t *testing.T) {
	base := "nodes:\n  - name: n0\napplications:\n  - name: fabric:/A\n    services:\n      - name: fabric:/A/S\n        kind: Stateful\n        scheme: Singleton\n        replicas: 1\n"
	if _, err := ParseTopology([]byte(base)); err != nil {
		t.Fatalf("base topology: %v", err)
	}
	for _, tc := range []struct {
		name, yaml string
		line       int
		field, msg string
	}{
		{"unknown top field", base + "extra: 1\n", 10, "extra", "unknown field"},
		{"unknown service field", strings.Replace(base, "replicas: 1", "replicas: 1\n        replica: 2", 1), 10, "applications[0].services[0].replica", "unknown field"},
		{"wrong type", strings.Replace(base, "replicas: 1", "replicas: three", 1), 9, "applications[0].services[0].replicas", "expected an integer"},
		{"bad kind", strings.Replace(base, "kind: Stateful", "kind: Stateful2", 1), 7, "applications[0].services[0].kind", "Stateful or Stateless"},
		{"bad scheme", strings.Replace(base, "scheme: Singleton", "scheme: Hash", 1), 8, "applications[0].services[0].scheme", "Singleton, Int64Range or Named"},
		{"too many replicas", strings.Replace(base, "replicas: 1", "replicas: 2", 1), 9, "applications[0].services[0].replicas", "1..1 replicas"},
		{"service outside app", strings.Replace(base, "fabric:/A/S", "fabric:/B/S", 1), 6, "applications[0].services[0].name", "below its application"},
		{"tilde in name", strings.Replace(base, "fabric:/A/S", "fabric:/A/S~x", 1), 6, "applications[0].services[0].name", "no '~'"},
		{"no fabric prefix", strings.Replace(base, "name: fabric:/A\n", "name: A\n", 1), 4, "applications[0].name", "fabric:/"},
		{"non-loopback ip", strings.Replace(base, "name: n0", "name: n0\n    ip: 10.0.0.1", 1), 3, "nodes[0].ip", "loopback"},
		{"duplicate node", strings.Replace(base, "  - name: n0\n", "  - name: n0\n  - name: n0\n", 1), 3, "nodes[1].name", "used twice"},
		{"duplicate key", strings.Replace(base, "replicas: 1", "replicas: 1\n        replicas: 1", 1), 10, "applications[0].services[0].replicas", "twice"},
		{"not a list", "nodes: n0\napplications: []\n", 1, "nodes", "expected a list"},
		{"alias", "nodes: &x\n  - name: n0\napplications: *x\n", 1, "nodes", "anchors"},
		{"int64 range too small", strings.Replace(base, "scheme: Singleton", "scheme: Int64Range\n        partitions: 5\n        lowKey: 0\n        highKey: 3", 1), 9, "applications[0].services[0].partitions", "do not fit"},
		{"range inverted", strings.Replace(base, "scheme: Singleton", "scheme: Int64Range\n        partitions: 1\n        lowKey: 5\n        highKey: 3", 1), 10, "applications[0].services[0].lowKey", "above highKey"},
		{"int64 overflow", strings.Replace(base, "scheme: Singleton", "scheme: Int64Range\n        partitions: 1\n        highKey: 9223372036854775808", 1), 10, "applications[0].services[0].highKey", "not an int64"},
		{"named dup", strings.Replace(base, "scheme: Singleton", "scheme: Named\n        names: [a, a]", 1), 9, "applications[0].services[0].names[1]", "unique"},
		{"names on singleton", strings.Replace(base, "scheme: Singleton", "scheme: Singleton\n        names: [a]", 1), 9, "applications[0].services[0].names", "Named scheme only"},
		{"listener dup", strings.Replace(base, "replicas: 1", "replicas: 1\n        listeners: [a, a]", 1), 10, "applications[0].services[0].listeners[1]", "twice"},
		{"stateless with persisted", strings.Replace(strings.Replace(base, "kind: Stateful", "kind: Stateless", 1), "replicas: 1", "instances: 1\n        hasPersistedState: true", 1), 7, "applications[0].services[0].kind", "Stateful services only"},
		{"bool typo", strings.Replace(base, "replicas: 1", "replicas: 1\n        listenOnSecondary: yes please", 1), 10, "applications[0].services[0].listenOnSecondary", "true or false"},
		{"null string", strings.Replace(base, "kind: Stateful", "kind: ~", 1), 7, "applications[0].services[0].kind", "expected a string"},
		{"empty", "", 0, "", "empty document"},
		{"two documents", base + "---\nnodes: []\n", 10, "", "exactly one YAML document"},
		{"instances on stateful", strings.Replace(base, "replicas: 1", "instances: 1", 1), 9, "applications[0].services[0].instances", "has replicas, not instances"},
		{"replicas on stateless", strings.Replace(base, "kind: Stateful", "kind: Stateless", 1), 9, "applications[0].services[0].replicas", "has instances, not replicas"},
		{"both counts", strings.Replace(base, "replicas: 1", "replicas: 1\n        instances: 1", 1), 10, "applications[0].services[0].instances", "not both"},
		{"not yaml", "nodes: [", 0, "", "invalid YAML"},
		{"no apps", "nodes:\n  - name: n0\n", 0, "applications", "at least one application"},
		{"extensions not a mapping", strings.Replace(base, "replicas: 1", "replicas: 1\n        extensions: [sfgate]", 1), 10, "applications[0].services[0].extensions", "mapping of extension names"},
		{"labels not strings", strings.Replace(base, "replicas: 1", "replicas: 1\n        extensions: {sfgate: {sfgate.enable: [true]}}", 1), 10, "applications[0].services[0].extensions.sfgate", "plain key: value"},
		{"label without key", strings.Replace(base, "replicas: 1", "replicas: 1\n        extensions: {sfgate: {'': x}}", 1), 10, "applications[0].services[0].extensions.sfgate", "needs a key"},
		{"one type, two extension sets", strings.Replace(base, "        replicas: 1\n", "        replicas: 1\n        extensions: {sfgate: {sfgate.enable: 'true'}}\n      - {name: fabric:/A/T, typeName: SType, kind: Stateful, scheme: Singleton, replicas: 1}\n", 1), 11, "applications[0].services[1].typeName", "different kinds, listeners or extensions"},
	} {
		_, err := ParseTopology([]byte(tc.yaml))
		var te *TopologyError
		if !errors.As(err, &te) {
			t.Errorf("%s: error %v is not a *TopologyError", tc.name, err)
			continue
		}
		if te.Line != tc.line || te.Field != tc.field || !strings.Contains(te.Msg, tc.msg) {
			t.Errorf("%s: got line %d field %q msg %q; want line %d field %q msg containing %q", tc.name, te.Line, te.Field, te.Msg, tc.line, tc.field, tc.msg)
		}
		if tc.line > 0 && !strings.Contains(err.Error(), "line ") {
			t.Errorf("%s: message %q lacks the line", tc.name, err)
		}
	}
}

// TestInt64Ranges: the splits SF documents for its UniformInt64RangePartitionScheme
// (PartitionedServiceDescriptor::TryGetPartitionRange's examples), plus a few more worked out by its rule.
func TestInt64Ranges(t *testing.T) {
	for _, tc := range []struct {
		low, high int64
		n         int
		want      [][2]int64
	}{
		// SF's own examples.
		{-1, 1, 2, [][2]int64{{-1, 0}, {1, 1}}},
		{-1, 0, 2, [][2]int64{{-1, -1}, {0, 0}}},
		{0, 1, 2, [][2]int64{{0, 0}, {1, 1}}},
		{0, 33, 4, [][2]int64{{0, 8}, {9, 17}, {18, 25}, {26, 33}}},
		{math.MinInt64, math.MaxInt64, 2, [][2]int64{{math.MinInt64, -1}, {0, math.MaxInt64}}},
		{math.MinInt64, math.MaxInt64, 5, [][2]int64{
			{math.MinInt64, -5534023222112865485}, {-5534023222112865484, -1844674407370955162},
			{-1844674407370955161, 1844674407370955161}, {1844674407370955162, 5534023222112865484},
			{5534023222112865485, math.MaxInt64}}},
		// More by the same rule.
		{0, 1023, 4, [][2]int64{{0, 255}, {256, 511}, {512, 767}, {768, 1023}}},
		{0, 9, 3, [][2]int64{{0, 3}, {4, 6}, {7, 9}}},
		{-10, -1, 3, [][2]int64{{-10, -7}, {-6, -4}, {-3, -1}}},
		{-5, 5, 4, [][2]int64{{-5, -3}, {-2, 0}, {1, 3}, {4, 5}}},
		{5, 5, 1, [][2]int64{{5, 5}}},
		{1, 3, 3, [][2]int64{{1, 1}, {2, 2}, {3, 3}}},
		{math.MaxInt64 - 2, math.MaxInt64, 2, [][2]int64{{math.MaxInt64 - 2, math.MaxInt64 - 1}, {math.MaxInt64, math.MaxInt64}}},
		{math.MinInt64, math.MinInt64 + 2, 2, [][2]int64{{math.MinInt64, math.MinInt64 + 1}, {math.MinInt64 + 2, math.MinInt64 + 2}}},
		{math.MinInt64, math.MaxInt64, 1, [][2]int64{{math.MinInt64, math.MaxInt64}}},
		{math.MinInt64, math.MaxInt64, 4, [][2]int64{{math.MinInt64, -4611686018427387905}, {-4611686018427387904, -1}, {0, 4611686018427387903}, {4611686018427387904, math.MaxInt64}}},
	} {
		if got := int64Ranges(tc.low, tc.high, tc.n); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("int64Ranges(%d, %d, %d) = %v, want %v", tc.low, tc.high, tc.n, got, tc.want)
		}
	}
	// Any split covers the range exactly, without gaps or overlaps; sizes differ by at most one key, larger first.
	for _, rg := range [][2]int64{{math.MinInt64, math.MaxInt64}, {-1000, 999}, {-7, 1 << 40}, {math.MinInt64, 0}, {0, math.MaxInt64}, {-3, 996}} {
		for _, n := range []int{1, 2, 3, 7, 999, 1000} {
			r := int64Ranges(rg[0], rg[1], n)
			if len(r) != n || r[0][0] != rg[0] || r[n-1][1] != rg[1] {
				t.Fatalf("%v in %d: ends %v", rg, n, r)
			}
			size := func(i int) uint64 { return uint64(r[i][1]) - uint64(r[i][0]) }
			for i := 1; i < n; i++ {
				if r[i][0] != r[i-1][1]+1 || r[i][0] > r[i][1] {
					t.Fatalf("%v in %d: gap or overlap at %d: %v %v", rg, n, i, r[i-1], r[i])
				}
				if size(i) > size(i-1) || size(i-1)-size(i) > 1 {
					t.Fatalf("%v in %d: partition %d has %d keys after %d", rg, n, i, size(i)+1, size(i-1)+1)
				}
			}
		}
	}
}

func TestStartFromParsedTopology(t *testing.T) {
	topo, err := ParseTopology([]byte(`
nodes: [{name: a, ip: 127.0.0.20}, {name: b, ip: 127.0.0.21}]
applications:
  - name: fabric:/X/Y
    services:
      - {name: fabric:/X/Y/Full, kind: Stateful, scheme: Int64Range, partitions: 2, lowKey: -9223372036854775808, highKey: 9223372036854775807, replicas: 2}
      - {name: fabric:/X/Y/All, kind: Stateless, scheme: Named, names: [one], instances: -1}
`))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, topo)
	walkAll(h)
	rsp := h.resolve("X~Y~Full", "&PartitionKeyType=2&PartitionKeyValue=-9223372036854775808")
	if rsp.PartitionInformation.LowKey != "-9223372036854775808" || rsp.PartitionInformation.HighKey != "-1" {
		t.Errorf("full range partition %+v", rsp.PartitionInformation)
	}
	all := h.resolve("X/Y/All", "&PartitionKeyType=3&PartitionKeyValue=one")
	if len(all.Endpoints) != 2 {
		t.Errorf("instances: -1 gave %d instances on 2 nodes", len(all.Endpoints))
	}
	var apps pagedList[applicationInfoJSON]
	h.getJSON("/Applications", "/Applications?api-version=6.1", &apps)
	if apps.Items[0].ID != "X~Y" || apps.Items[0].TypeName != "YType" {
		t.Errorf("hierarchical app %+v", apps.Items[0])
	}
}

// TestUnevenSplitOverHTTP: GetPartitions and ResolvePartition follow SF's split of an uneven range (the extra
// keys go to the first partitions).
func TestUnevenSplitOverHTTP(t *testing.T) {
	topo, err := ParseTopology([]byte(`
nodes: [{name: a}]
applications:
  - name: fabric:/U
    services:
      - {name: fabric:/U/S, kind: Stateless, scheme: Int64Range, partitions: 4, lowKey: 0, highKey: 33, instances: 1}
`))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, topo)
	var parts pagedList[partitionInfoJSON]
	h.getJSON("/Services/{serviceId}/$/GetPartitions", "/Services/U~S/$/GetPartitions?api-version=6.4", &parts)
	var got []string
	for _, p := range parts.Items {
		got = append(got, p.PartitionInformation.LowKey+".."+p.PartitionInformation.HighKey)
	}
	if want := []string{"0..8", "9..17", "18..25", "26..33"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("GetPartitions ranges %v, want %v", got, want)
	}
	for key, want := range map[string]string{"8": "0", "9": "9", "17": "9", "18": "18", "25": "18", "26": "26", "33": "26"} {
		if rsp := h.resolve("U~S", "&PartitionKeyType=2&PartitionKeyValue="+key); rsp.PartitionInformation.LowKey != want {
			t.Errorf("key %s resolved to the partition starting at %s, want %s", key, rsp.PartitionInformation.LowKey, want)
		}
	}
}

func FuzzParseTopology(f *testing.F) {
	f.Add([]byte(defaultYAML))
	f.Add([]byte("nodes:\n  - name: n0\napplications:\n  - name: fabric:/A\n    services:\n      - {name: fabric:/A/S, kind: Stateless, scheme: Singleton, instances: 1}\n"))
	f.Add([]byte("nodes: &a [*a]"))
	f.Add([]byte("a: b\n---\nc: d"))
	f.Add([]byte("nodes: [{name: x, ip: 127.0.0.2}]\napplications: [{name: 'fabric:/A', services: [{name: 'fabric:/A/B', kind: Stateful, scheme: Int64Range, partitions: 3, lowKey: 0x10, highKey: 1_000, replicas: 1}]}]"))
	f.Add([]byte("{"))
	f.Add([]byte("nodes: [{name: n}]\napplicationTypes: [{name: T, serviceTypes: [{name: S, kind: Stateless, listeners: ['', A]}]}]\napplications: [{name: 'fabric:/A', typeName: T, services: [{name: 'fabric:/A/S', typeName: S, kind: Stateless, scheme: Singleton, instances: 1}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := ParseTopology(data)
		if err != nil {
			var te *TopologyError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *TopologyError", err)
			}
			return
		}
		// Whatever parses is a valid topology: validating it again succeeds and the partition split is sound.
		if err := topo.validate(nil); err != nil {
			t.Fatalf("parsed topology fails validation: %v", err)
		}
		for _, a := range topo.Applications {
			for _, s := range a.Services {
				if s.Scheme == Int64Range {
					r := int64Ranges(s.LowKey, s.HighKey, s.Partitions)
					if r[0][0] != s.LowKey || r[len(r)-1][1] != s.HighKey {
						t.Fatalf("split of [%d,%d] into %d: %v", s.LowKey, s.HighKey, s.Partitions, r)
					}
				}
			}
		}
	})
}
