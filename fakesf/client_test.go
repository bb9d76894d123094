package fakesf_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/fakesf"
)

// sfClient is an independent SF REST client: net/http, encoding/json and the swagger's paths only, no fakesf
// internals. What it does works against a real cluster's HTTP gateway the same way.
type sfClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func (c *sfClient) get(pathAndQuery string, v any) {
	c.t.Helper()
	resp, err := c.http.Get(c.base + pathAndQuery)
	if err != nil {
		c.t.Fatalf("GET %s: %v", pathAndQuery, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		c.t.Fatalf("GET %s: %d %s %s", pathAndQuery, resp.StatusCode, e.Error.Code, e.Error.Message)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		c.t.Fatalf("GET %s: decode: %v", pathAndQuery, err)
	}
}

// list follows ContinuationToken (sent back raw) with a small page size.
func list[T any](c *sfClient, path, apiVersion string) []T {
	c.t.Helper()
	var all []T
	token := ""
	for range 1000 {
		q := path + "?api-version=" + apiVersion + "&MaxResults=2"
		if token != "" {
			q += "&ContinuationToken=" + token
		}
		var page struct {
			ContinuationToken string
			Items             []T
		}
		c.get(q, &page)
		all = append(all, page.Items...)
		if page.ContinuationToken == "" {
			return all
		}
		token = page.ContinuationToken
	}
	c.t.Fatalf("%s: paging does not end", path)
	return nil
}

// serviceID derives the ID from the name, as a client should ("fabric:/A/B" → "A~B").
func serviceID(name string) string {
	return strings.ReplaceAll(strings.TrimPrefix(name, "fabric:/"), "/", "~")
}

func TestIndependentClientWalk(t *testing.T) {
	cluster, err := fakesf.Start(t.Context(), fakesf.DefaultTopology())
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &sfClient{t: t, base: cluster.URL(), http: &http.Client{Transport: tr}}

	type partitionInformation struct {
		ServicePartitionKind string
		ID                   string `json:"Id"`
		LowKey, HighKey      string
		Name                 string
	}
	apps := list[struct{ Name string }](c, "/Applications", "6.1")
	if len(apps) != 2 {
		t.Fatalf("%d applications", len(apps))
	}
	resolved, hits := 0, 0
	for _, a := range apps {
		services := list[struct{ Name, ServiceKind string }](c, "/Applications/"+serviceID(a.Name)+"/$/GetServices", "6.4")
		for _, s := range services {
			id := serviceID(s.Name)
			partitions := list[struct {
				PartitionInformation partitionInformation
			}](c, "/Services/"+id+"/$/GetPartitions", "6.4")
			for _, p := range partitions {
				info := p.PartitionInformation
				replicas := list[struct {
					ReplicaID, InstanceID, ReplicaRole, ReplicaStatus, Address, NodeName string
				}](c, "/Partitions/"+info.ID+"/$/GetReplicas", "6.0")
				query := ""
				switch info.ServicePartitionKind {
				case "Singleton":
					query = "&PartitionKeyType=1"
				case "Int64Range":
					query = "&PartitionKeyType=2&PartitionKeyValue=" + info.HighKey
				case "Named":
					query = "&PartitionKeyType=3&PartitionKeyValue=" + info.Name
				default:
					t.Fatalf("partition kind %q", info.ServicePartitionKind)
				}
				var rsp struct {
					Name                 string
					PartitionInformation partitionInformation
					Endpoints            []struct{ Kind, Address string }
					Version              string
				}
				c.get("/Services/"+id+"/$/ResolvePartition?api-version=6.0"+query, &rsp)
				resolved++
				if rsp.Name != s.Name || rsp.PartitionInformation.ID != info.ID || rsp.Version == "" {
					t.Errorf("%s %s: resolved %s %s", s.Name, info.ID, rsp.Name, rsp.PartitionInformation.ID)
				}
				if len(rsp.Endpoints) != len(replicas) {
					t.Errorf("%s: %d endpoints for %d replicas", info.ID, len(rsp.Endpoints), len(replicas))
				}
				for i, e := range rsp.Endpoints {
					if s.ServiceKind == "Stateful" && (i == 0) != (e.Kind == "StatefulPrimary") {
						t.Errorf("%s: endpoint %d is %s (primary must come first)", info.ID, i, e.Kind)
					}
					if e.Address == "" {
						continue
					}
					var addr struct{ Endpoints map[string]string }
					if err := json.Unmarshal([]byte(e.Address), &addr); err != nil {
						t.Fatalf("Address %q: %v", e.Address, err)
					}
					for listener, u := range addr.Endpoints {
						resp, err := c.http.Get(u + "/probe")
						if err != nil {
							t.Fatalf("%s listener %q: %v", u, listener, err)
						}
						var echo map[string]any
						err = json.NewDecoder(resp.Body).Decode(&echo)
						resp.Body.Close()
						if err != nil || echo["partitionId"] != info.ID || echo["listener"] != listener || echo["service"] != s.Name {
							t.Errorf("%s answered %v (%v)", u, echo, err)
						}
						wantRole := map[string]string{"StatefulPrimary": "primary", "StatefulSecondary": "secondary", "Stateless": "stateless"}[e.Kind]
						if echo["role"] != wantRole {
							t.Errorf("%s: role %v, endpoint kind %s", u, echo["role"], e.Kind)
						}
						hits++
					}
				}
			}
		}
	}
	if resolved != 4+3+1+1 || hits < 4+9+6+1 {
		t.Errorf("resolved %d partitions and hit %d listeners", resolved, hits)
	}
	t.Logf("resolved %d partitions, %d listeners answered", resolved, hits)
}
