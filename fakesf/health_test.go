package fakesf

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const (
	clusterHealthTmpl   = "/$/GetClusterHealth"
	nodeHealthTmpl      = "/Nodes/{nodeName}/$/GetHealth"
	partitionHealthTmpl = "/Partitions/{partitionId}/$/GetHealth"
	replicaHealthTmpl   = "/Partitions/{partitionId}/$/GetReplicas/{replicaId}/$/GetHealth"
	replicaReportTmpl   = "/Partitions/{partitionId}/$/GetReplicas/{replicaId}/$/ReportHealth"
)

type healthJSON struct {
	AggregatedHealthState string
	HealthEvents          []healthEventJSON
	UnhealthyEvaluations  []struct{ HealthEvaluation map[string]any }
	HealthStatistics      *struct {
		HealthStateCountList []struct {
			EntityKind       string
			HealthStateCount healthStateCount
		}
	}
	NodeHealthStates        []struct{ Name, AggregatedHealthState string }
	ApplicationHealthStates []struct{ Name, AggregatedHealthState string }
	ReplicaHealthStates     []struct{ ReplicaID, AggregatedHealthState string }
}

func (h *harness) health(tmpl, path string) healthJSON {
	h.t.Helper()
	var out healthJSON
	h.getJSON(tmpl, path, &out)
	return out
}

func (hj healthJSON) count(kind string) healthStateCount {
	if hj.HealthStatistics == nil {
		return healthStateCount{}
	}
	for _, c := range hj.HealthStatistics.HealthStateCountList {
		if c.EntityKind == kind {
			return c.HealthStateCount
		}
	}
	return healthStateCount{}
}

// TestHealthFollowsState: a healthy cluster is Ok everywhere; a stopped node is Error, its replicas Error, their
// partitions' System.FM event Warning (below target) and their aggregated state Error (SF's default policy
// tolerates no unhealthy replica), and the cluster Error with an evaluation naming the node. Filters and
// ExcludeHealthStatistics shape the answer as in SF; every answer is checked against the swagger.
func TestHealthFollowsState(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	const q = "?api-version=6.0&NodesHealthStateFilter=0&ApplicationsHealthStateFilter=0&EventsHealthStateFilter=0&ExcludeHealthStatistics=false&IncludeSystemApplicationHealthStatistics=false&timeout=60"
	ch := h.health(clusterHealthTmpl, "/$/GetClusterHealth"+q)
	if ch.AggregatedHealthState != "Ok" || len(ch.NodeHealthStates) != 5 || len(ch.ApplicationHealthStates) != 2 || len(ch.UnhealthyEvaluations) != 0 {
		t.Fatalf("healthy cluster: %+v", ch)
	}
	if n := ch.count("Replica"); n.OkCount != 4*3+3*3+3+3 || n.ErrorCount != 0 {
		t.Errorf("replica counts %+v", n)
	}

	if err := h.c.StopNode("_Node_1"); err != nil {
		t.Fatal(err)
	}
	ch = h.health(clusterHealthTmpl, "/$/GetClusterHealth"+q)
	if ch.AggregatedHealthState != "Error" || len(ch.UnhealthyEvaluations) == 0 || ch.UnhealthyEvaluations[0].HealthEvaluation["Kind"] != "Nodes" {
		t.Fatalf("cluster with a stopped node: %+v", ch)
	}
	if n := ch.count("Node"); n.ErrorCount != 1 || n.OkCount != 4 {
		t.Errorf("node counts %+v", n)
	}
	onlyErrors := h.health(clusterHealthTmpl, "/$/GetClusterHealth?api-version=6.0&NodesHealthStateFilter=8&ApplicationsHealthStateFilter=1&ExcludeHealthStatistics=true")
	if len(onlyErrors.NodeHealthStates) != 1 || onlyErrors.NodeHealthStates[0].Name != "_Node_1" || len(onlyErrors.ApplicationHealthStates) != 0 || onlyErrors.HealthStatistics != nil {
		t.Errorf("filtered cluster health: %+v", onlyErrors)
	}
	nh := h.health(nodeHealthTmpl, "/Nodes/_Node_1/$/GetHealth?api-version=6.0")
	if nh.AggregatedHealthState != "Error" || len(nh.HealthEvents) != 1 || nh.HealthEvents[0].SourceID != "System.FM" || nh.HealthEvents[0].HealthState != "Error" {
		t.Errorf("stopped node health: %+v", nh)
	}
	if none := h.health(nodeHealthTmpl, "/Nodes/_Node_1/$/GetHealth?api-version=6.0&EventsHealthStateFilter=1"); len(none.HealthEvents) != 0 || none.AggregatedHealthState != "Error" {
		t.Errorf("EventsHealthStateFilter=None: %+v", none)
	}

	// A partition with a replica on the stopped node: its own event Warning, its replica there Error.
	for _, p := range h.parts("fabric:/Shop/Orders") {
		for _, r := range p.Replicas {
			if r.Node != "_Node_1" {
				continue
			}
			ph := h.health(partitionHealthTmpl, "/Partitions/"+p.ID+"/$/GetHealth?api-version=6.0")
			if ph.AggregatedHealthState != "Error" || ph.HealthEvents[0].HealthState != "Warning" || len(ph.UnhealthyEvaluations) != 2 ||
				ph.UnhealthyEvaluations[1].HealthEvaluation["Kind"] != "Replicas" {
				t.Errorf("partition %s with a replica down: %+v", p.ID, ph)
			}
			if c := ph.count("Replica"); c.ErrorCount != 1 || c.OkCount != 2 {
				t.Errorf("partition %s replica counts %+v", p.ID, c)
			}
			rh := h.health(replicaHealthTmpl, "/Partitions/"+p.ID+"/$/GetReplicas/"+itoa(r.ID)+"/$/GetHealth?api-version=6.0")
			if rh.AggregatedHealthState != "Error" {
				t.Errorf("replica on a stopped node: %s", rh.AggregatedHealthState)
			}
			var reps pagedList[replicaInfoJSON]
			h.getJSON("/Partitions/{partitionId}/$/GetReplicas", "/Partitions/"+p.ID+"/$/GetReplicas?api-version=6.0", &reps)
			for _, ri := range reps.Items {
				if ri.ReplicaID == itoa(r.ID) && ri.HealthState != "Error" {
					t.Errorf("GetReplicas HealthState %s for a down replica", ri.HealthState)
				}
			}
		}
	}
	walkAll(h) // every health answer in this state matches the swagger too

	h.wantError("GET", nodeHealthTmpl, "/Nodes/nope/$/GetHealth?api-version=6.0", 404, "FABRIC_E_NODE_NOT_FOUND")
	h.wantError("GET", "/Services/{serviceId}/$/GetHealth", "/Services/Shop~Nope/$/GetHealth?api-version=6.0", 404, "FABRIC_E_SERVICE_DOES_NOT_EXIST")
	h.wantError("GET", "/Applications/{applicationId}/$/GetHealth", "/Applications/Nope/$/GetHealth?api-version=6.0", 404, "FABRIC_E_APPLICATION_NOT_FOUND")
	h.wantError("GET", partitionHealthTmpl, "/Partitions/00000000-0000-0000-0000-000000000001/$/GetHealth?api-version=6.0", 404, "FABRIC_E_PARTITION_NOT_FOUND")
	h.wantError("GET", clusterHealthTmpl, "/$/GetClusterHealth?api-version=6.0&NodesHealthStateFilter=x", 400, "E_INVALIDARG")
	h.wantError("GET", clusterHealthTmpl, "/$/GetClusterHealth?api-version=6.0&ExcludeHealthStatistics=yes", 400, "E_INVALIDARG")
}

func reportBody(source, property, state string, extra string) string {
	return `{"SourceId":"` + source + `","Property":"` + property + `","HealthState":"` + state + `"` + extra + `}`
}

// TestReportHealth: a report raises the entity's and its ancestors' health, shows in GetReplicas, and is replaced
// by a newer report of the same SourceId and Property; stale, malformed and misdirected reports are refused as SF
// refuses them; a report with a time to live expires as SF's do.
func TestReportHealth(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	p := h.parts("fabric:/Shop/Web")[0]
	rid := itoa(p.Replicas[0].ID)
	report := "/Partitions/" + p.ID + "/$/GetReplicas/" + rid + "/$/ReportHealth?api-version=6.0&ServiceKind=Stateless&Immediate=true"
	if r := h.send("POST", replicaReportTmpl, report, reportBody("watchdog", "Latency", "Warning", `,"Description":"slow","SequenceNumber":"10"`)); r.status != 200 {
		t.Fatalf("ReportHealth: %d %s", r.status, r.body)
	}
	rh := h.health(replicaHealthTmpl, "/Partitions/"+p.ID+"/$/GetReplicas/"+rid+"/$/GetHealth?api-version=6.0")
	if rh.AggregatedHealthState != "Warning" || len(rh.HealthEvents) != 2 || rh.HealthEvents[1].Description != "slow" ||
		rh.UnhealthyEvaluations[0].HealthEvaluation["Kind"] != "Event" {
		t.Fatalf("replica after a Warning report: %+v", rh)
	}
	for _, path := range []string{"/Partitions/" + p.ID + "/$/GetHealth", "/Services/Shop~Web/$/GetHealth", "/Applications/Shop/$/GetHealth", "/$/GetClusterHealth"} {
		tmpl := map[string]string{"/Partitions/": partitionHealthTmpl, "/Services/S": "/Services/{serviceId}/$/GetHealth",
			"/Applications": "/Applications/{applicationId}/$/GetHealth", "/$/GetClust": clusterHealthTmpl}[path[:11]]
		if got := h.health(tmpl, path+"?api-version=6.0"); got.AggregatedHealthState != "Warning" {
			t.Errorf("%s after a Warning on a replica: %s", path, got.AggregatedHealthState)
		}
	}
	// The same SourceId and Property with an older SequenceNumber is stale; a newer one replaces the event.
	if r := h.send("POST", replicaReportTmpl, report, reportBody("watchdog", "Latency", "Warning", `,"SequenceNumber":"5"`)); r.status != 400 || r.code() != "FABRIC_E_HEALTH_STALE_REPORT" {
		t.Errorf("stale report: %d %s", r.status, r.body)
	}
	if r := h.send("POST", replicaReportTmpl, report, reportBody("watchdog", "Latency", "Ok", `,"SequenceNumber":"11"`)); r.status != 200 {
		t.Fatalf("Ok report: %d %s", r.status, r.body)
	}
	rh = h.health(replicaHealthTmpl, "/Partitions/"+p.ID+"/$/GetReplicas/"+rid+"/$/GetHealth?api-version=6.0")
	if rh.AggregatedHealthState != "Ok" || len(rh.HealthEvents) != 2 || rh.HealthEvents[1].LastWarningTransitionAt == "0001-01-01T00:00:00.000Z" {
		t.Errorf("replica after an Ok report: %+v", rh)
	}

	// Malformed or misdirected reports.
	nodeReport := "/Nodes/_Node_0/$/ReportHealth?api-version=6.0"
	for _, body := range []string{
		`{"Property":"p","HealthState":"Error"}`,
		`{"SourceId":"s","HealthState":"Error"}`,
		`{"SourceId":"s","Property":"p"}`,
		reportBody("s", "p", "Bad", ""),
		reportBody("System.FM", "p", "Error", ""),
		reportBody("s", "p", "Error", `,"TimeToLiveInMilliSeconds":"30s"`),
		reportBody("s", "p", "Error", `,"SequenceNumber":"-1"`),
		`[1,2]`,
		`{`,
	} {
		h.wantErrorBody("POST", "/Nodes/{nodeName}/$/ReportHealth", nodeReport, body, 400, "E_INVALIDARG")
	}
	h.wantError("POST", "/Nodes/{nodeName}/$/ReportHealth", nodeReport, 400, "E_INVALIDARG") // no body
	h.wantErrorBody("POST", "/Nodes/{nodeName}/$/ReportHealth", "/Nodes/nope/$/ReportHealth?api-version=6.0", reportBody("s", "p", "Error", ""), 404, "FABRIC_E_NODE_NOT_FOUND")
	h.wantErrorBody("POST", replicaReportTmpl, strings.Replace(report, "Stateless", "Stateful", 1), reportBody("s", "p", "Error", ""), 400, "E_INVALIDARG")

	// Expiry: RemoveWhenExpired false turns the event into an Error, true removes it.
	now := time.Now()
	h.c.mu.Lock()
	h.c.now = func() time.Time { return now }
	h.c.mu.Unlock()
	for _, tc := range []struct{ prop, extra string }{
		{"Stays", `,"TimeToLiveInMilliSeconds":"PT30S","RemoveWhenExpired":false`},
		{"Goes", `,"TimeToLiveInMilliSeconds":"PT1M","RemoveWhenExpired":true`},
	} {
		if r := h.send("POST", "/Nodes/{nodeName}/$/ReportHealth", nodeReport, reportBody("ttl", tc.prop, "Ok", tc.extra)); r.status != 200 {
			t.Fatalf("%s: %d %s", tc.prop, r.status, r.body)
		}
	}
	nh := h.health(nodeHealthTmpl, "/Nodes/_Node_0/$/GetHealth?api-version=6.0")
	if nh.AggregatedHealthState != "Ok" || len(nh.HealthEvents) != 3 || nh.HealthEvents[1].TimeToLiveInMilliSeconds != "PT30S" {
		t.Fatalf("node with two live reports: %+v", nh)
	}
	h.c.mu.Lock()
	h.c.now = func() time.Time { return now.Add(2 * time.Minute) }
	h.c.mu.Unlock()
	nh = h.health(nodeHealthTmpl, "/Nodes/_Node_0/$/GetHealth?api-version=6.0")
	if nh.AggregatedHealthState != "Error" || len(nh.HealthEvents) != 2 || !nh.HealthEvents[1].IsExpired || nh.HealthEvents[1].Property != "Stays" {
		t.Errorf("node after expiry: %+v", nh)
	}
	if ev := h.c.Events(); !strings.Contains(ev[len(ev)-1].Text, "ReportHealth: Ok on node _Node_0") {
		t.Errorf("recent faults lack the report: %+v", ev[len(ev)-1])
	}
}

// wantErrorBody is wantError for a call with a body.
func (h *harness) wantErrorBody(method, tmpl, path, body string, status int, code string) {
	h.t.Helper()
	r := h.send(method, tmpl, path, body)
	if r.status != status || r.code() != code {
		h.t.Errorf("%s %s %s: got %d %q, want %d %s: %s", method, path, body, r.status, r.code(), status, code, r.body)
	}
}

func TestISODuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"PT30S", 30 * time.Second}, {"PT0.5S", 500 * time.Millisecond}, {"P1DT2H3M4S", 26*time.Hour + 3*time.Minute + 4*time.Second},
		{"PT2H", 2 * time.Hour}, {"P2D", 48 * time.Hour}, {maxTTL, 1<<63 - 1},
	} {
		got, err := parseISODuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseISODuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if tc.in != maxTTL && isoDuration(tc.want) != tc.in {
			t.Errorf("isoDuration(%v) = %q, want %q", tc.want, isoDuration(tc.want), tc.in)
		}
	}
	for _, bad := range []string{"", "P", "PT", "30", "PT30", "P1Y", "-PT1S", "PT1.S", "P99999999D"} {
		if _, err := parseISODuration(bad); err == nil {
			t.Errorf("parseISODuration(%q) accepted", bad)
		}
	}
}

// FuzzParseHealthReport: any body either parses into a report SF would accept or is refused with E_INVALIDARG.
func FuzzParseHealthReport(f *testing.F) {
	f.Add([]byte(reportBody("s", "p", "Warning", `,"TimeToLiveInMilliSeconds":"PT1M","SequenceNumber":"3"`)))
	f.Add([]byte(`{"SourceId":"s","Property":"p","HealthState":"Ok","Description":"` + strings.Repeat("x", 5000) + `"}`))
	f.Add([]byte(`{"SourceId":null}`))
	f.Add([]byte(`{"TimeToLiveInMilliSeconds":"P1DT"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseHealthReport(data, 1, time.Unix(0, 0))
		if err != nil {
			if err.Code != "E_INVALIDARG" || err.Status != 400 {
				t.Fatalf("error %+v", err)
			}
			return
		}
		if r.source == "" || r.property == "" || healthRank(r.state) == 1 && r.state != "Ok" || len(r.description) > 4096 || r.ttl < 0 {
			t.Fatalf("accepted a bad report %+v from %q", r, data)
		}
		if _, err := json.Marshal(r.event(time.Unix(0, 0))); err != nil {
			t.Fatal(err)
		}
	})
}
