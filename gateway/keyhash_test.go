package gateway

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/partition"
)

// startHashedCluster starts fakesf with one stateful Int64Range service spread over all of int64 in 4
// partitions, the layout services keyed by a hash use.
func startHashedCluster(t *testing.T) *fakesf.Cluster {
	t.Helper()
	topo := fakesf.DefaultTopology()
	topo.Applications = append(topo.Applications, fakesf.Application{
		Name: "fabric:/Hash", TypeName: "HashType", TypeVersion: "1.0.0",
		Services: []fakesf.Service{{Name: "fabric:/Hash/Accounts", Kind: fakesf.Stateful, Scheme: fakesf.Int64Range,
			Partitions: 4, LowKey: math.MinInt64, HighKey: math.MaxInt64, Replicas: 3, HasPersistedState: true}},
	})
	c, err := fakesf.Start(context.Background(), topo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestPartitionKeyHash: a backend's partitionKeyHash sends a string key to the partition the .NET code it
// names would choose, and the APIM policy that runs that code (md5-int64) or the decimal key a client
// computed reaches the same partition.
func TestPartitionKeyHash(t *testing.T) {
	c := startHashedCluster(t)
	const backend = `
    url: fabric:/Hash/Accounts
    serviceFabricCluster:
      managementEndpoints: [CLUSTER_URL]`
	api := func(name, backend, key string) string {
		return `
  - name: ` + name + `
    path: ` + name + `
    operations: [{method: GET, urlTemplate: "/{key}"}]
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="` + backend + `" sf-partition-key="` + key + `" />
      </inbound></policies>`
	}
	g := startGateway(t, `
backends:
  md5:`+backend+`
    partitionKeyHash: md5-int64
  fnv:`+backend+`
    partitionKeyHash: fnv1a-64
  plain:`+backend+`
apis:`+
		api("md5", "md5", `@(context.Request.MatchedParameters["key"])`)+
		api("fnv", "fnv", `@(context.Request.MatchedParameters["key"])`)+
		api("policy", "plain", `@{ using (var md5 = System.Security.Cryptography.MD5.Create()) { var h = md5.ComputeHash(System.Text.Encoding.UTF8.GetBytes(context.Request.MatchedParameters[&quot;key&quot;])); return BitConverter.ToInt64(h, 0).ToString(); } }`)+
		api("number", "plain", `@(context.Request.MatchedParameters["key"])`), c)

	seen := map[string]bool{}
	for _, key := range []string{"abc", "a", "customer-4711", "message%20digest", "Z%C3%BCrich", "", "foobar"} {
		if key == "" {
			continue
		}
		decoded := strings.ReplaceAll(strings.ReplaceAll(key, "%20", " "), "%C3%BC", "ü") // the matched parameter is decoded
		byMD5 := replicaAnswer(t, do(t, g.addr, "GET", "/md5/"+key, nil, ""))
		byPolicy := replicaAnswer(t, do(t, g.addr, "GET", "/policy/"+key, nil, ""))
		byNumber := replicaAnswer(t, do(t, g.addr, "GET", "/number/"+strconv.FormatInt(partition.MD5Int64.Sum([]byte(decoded)), 10), nil, ""))
		if byMD5.PartitionID != byPolicy.PartitionID || byMD5.PartitionID != byNumber.PartitionID {
			t.Errorf("%q: partitionKeyHash md5-int64 → %s, the policy's MD5 code → %s, the computed number → %s",
				key, byMD5.PartitionID, byPolicy.PartitionID, byNumber.PartitionID)
		}
		seen[byMD5.PartitionID] = true
		byFNV := replicaAnswer(t, do(t, g.addr, "GET", "/fnv/"+key, nil, ""))
		byFNVNumber := replicaAnswer(t, do(t, g.addr, "GET", "/number/"+strconv.FormatInt(partition.FNV1a64.Sum([]byte(decoded)), 10), nil, ""))
		if byFNV.PartitionID != byFNVNumber.PartitionID {
			t.Errorf("%q: partitionKeyHash fnv1a-64 → %s, the computed number → %s", key, byFNV.PartitionID, byFNVNumber.PartitionID)
		}
	}
	if len(seen) < 2 {
		t.Errorf("every key went to one partition (%v): the test would not notice a hash that ignores the key", seen)
	}
}

func TestPartitionKeyHashConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"backends:\n  b:\n    url: fabric:/A/B\n    partitionKeyHash: sha1\n    serviceFabricCluster: {managementEndpoints: [http://127.0.0.1:1]}\n",
			`backends.b.partitionKeyHash: "sha1" is not a partition key hash: use md5-int64 or fnv1a-64`},
		{"backends:\n  b:\n    url: http://127.0.0.1:1/\n    partitionKeyHash: md5-int64\n",
			"backends.b.partitionKeyHash: only a Service Fabric backend"},
	} {
		err := validateYAML(t, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}
