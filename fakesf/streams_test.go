package fakesf

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/websocket"
)

// TestReplicaStreams: a replica's three streams, driven through the Go API and the /_fake controls: a download of
// the pattern (and one cut by a fault), server-sent events sent and ended on demand, and a WebSocket echo whose
// first message names the replica.
func TestReplicaStreams(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	web := h.parts("fabric:/Shop/Web")[0]
	inst := web.Replicas[1]
	url := inst.Endpoints[""]

	download := func() ([]byte, error) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set(HeaderBodyBytes, "100000")
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ContentLength != 100000 || resp.Header.Get("X-Fakesf-Replica") != itoa(inst.ID) {
			t.Errorf("download head: %d %v", resp.ContentLength, resp.Header)
		}
		return io.ReadAll(resp.Body)
	}
	body, err := download()
	if err != nil || len(body) != 100000 || string(body) != strings.Repeat(BodyPattern, 6250) {
		t.Errorf("download: %d bytes, %v", len(body), err)
	}
	if r := h.call("POST", "", "/_fake/replicas/"+itoa(inst.ID)+"/fault?cutAnswerAfter=1000&count=1"); r.status != 200 {
		t.Fatalf("cutAnswerAfter via /_fake: %d %s", r.status, r.body)
	}
	if body, err := download(); err == nil || len(body) > 1000 {
		t.Errorf("cut download: %d bytes, %v; want at most 1000 and an error", len(body), err)
	}

	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	line := func() string {
		s, err := events.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		return strings.TrimRight(s, "\n")
	}
	var rr ReplicaResponse
	if ev, data := line(), line(); ev != "event: replica" || json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &rr) != nil || rr.ReplicaID != itoa(inst.ID) {
		t.Fatalf("first event %q %q", ev, data)
	}
	line()
	if r := h.call("POST", "", "/_fake/replicas/"+itoa(inst.ID)+"/events?data=hello"); r.status != 200 || !strings.Contains(string(r.body), `"streams": 1`) {
		t.Fatalf("event via /_fake: %d %s", r.status, r.body)
	}
	if d := line(); d != "data: hello" {
		t.Errorf("event %q", d)
	}
	line()
	if r := h.call("DELETE", "", "/_fake/replicas/"+itoa(inst.ID)+"/events"); r.status != 200 {
		t.Fatalf("end via /_fake: %d %s", r.status, r.body)
	}
	if rest, err := io.ReadAll(events); err != nil || len(rest) != 0 {
		t.Errorf("after EndEvents: %q %v", rest, err)
	}
	if _, err := h.c.SendEvent(inst.ID, "two\nlines"); err == nil {
		t.Error("an event with a line break was sent")
	}

	ws, err := websocket.Dial(strings.Replace(url, "http://", "ws://", 1), "", "http://localhost/")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var first, echo string
	if err := websocket.Message.Receive(ws, &first); err != nil || !strings.Contains(first, `"replicaId":"`+itoa(inst.ID)+`"`) {
		t.Fatalf("first message %q, %v", first, err)
	}
	if err := websocket.Message.Send(ws, "ping"); err != nil {
		t.Fatal(err)
	}
	if err := websocket.Message.Receive(ws, &echo); err != nil || echo != "ping" {
		t.Errorf("echo %q, %v", echo, err)
	}
}
