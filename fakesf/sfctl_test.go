package fakesf

import "testing"

// sdkHeaders are the headers SF's Python SDK (under sfctl) sends with every call.
var sdkHeaders = map[string]string{"Accept": "application/json", "Content-Type": "application/json; charset=utf-8",
	"User-Agent": "python/3.11 requests/2.31 msrest/0.7.1 azure-servicefabric/8.2.0.0 sfctl/11.2.1"}

// TestSfctlSession replays the calls of an sfctl session (cluster select, listings, service resolve, a partition
// restart with its progress, a primary move, cluster health, a health report) with the SDK's exact query strings
// and headers, and checks each answer's status and shape.
func TestSfctlSession(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	pid := h.parts("fabric:/Shop/Orders")[0].ID
	const op = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"
	for _, call := range []struct {
		method, tmpl, path, body string
		status                   int
	}{
		{"GET", "", "/", "", 200}, // cluster select
		{"GET", "/$/GetClusterVersion", "/$/GetClusterVersion?api-version=6.4&timeout=60", "", 200},
		{"GET", "/Applications", "/Applications?api-version=6.1&ExcludeApplicationParameters=false&ApplicationDefinitionKindFilter=0&MaxResults=0&timeout=60", "", 200},
		{"GET", "/Services/{serviceId}/$/GetPartitions", "/Services/Shop~Orders/$/GetPartitions?api-version=6.4&timeout=60", "", 200},
		{"GET", resolveTmpl, "/Services/Shop~Orders/$/ResolvePartition?api-version=6.0&PartitionKeyType=2&PartitionKeyValue=42&timeout=60", "", 200},
		{"POST", startRestartTmpl, "/Faults/Services/Shop~Orders/$/GetPartitions/" + pid + "/$/StartRestart?api-version=6.0&OperationId=" + op + "&RestartPartitionMode=AllReplicasOrInstances&timeout=60", "", 202},
		{"GET", restartProgressTmpl, "/Faults/Services/Shop~Orders/$/GetPartitions/" + pid + "/$/GetRestartProgress?api-version=6.0&OperationId=" + op + "&timeout=60", "", 200},
		{"POST", moveTmpl, "/Partitions/" + pid + "/$/MovePrimaryReplica?api-version=6.5&IgnoreConstraints=false&timeout=60", "", 200},
		{"GET", clusterHealthTmpl, "/$/GetClusterHealth?api-version=6.0&NodesHealthStateFilter=0&ApplicationsHealthStateFilter=0&EventsHealthStateFilter=0&ExcludeHealthStatistics=false&IncludeSystemApplicationHealthStatistics=false&timeout=60", "", 200},
		{"POST", "/Nodes/{nodeName}/$/ReportHealth", "/Nodes/_Node_0/$/ReportHealth?api-version=6.0&Immediate=false&timeout=60",
			`{"SourceId": "ci", "Property": "Disk", "HealthState": "Warning", "TimeToLiveInMilliSeconds": "PT5M", "Description": "", "SequenceNumber": "1", "RemoveWhenExpired": false}`, 200},
		{"GET", nodeHealthTmpl, "/Nodes/_Node_0/$/GetHealth?api-version=6.0&EventsHealthStateFilter=0&timeout=60", "", 200},
		{"GET", "/Faults/", "/Faults/?api-version=6.0&TypeFilter=65535&StateFilter=65535&timeout=60", "", 200},
	} {
		if r := h.sendWith(call.method, call.tmpl, call.path, call.body, sdkHeaders); r.status != call.status {
			t.Errorf("%s %s: %d %s, want %d", call.method, call.path, r.status, r.body, call.status)
		}
	}
}
