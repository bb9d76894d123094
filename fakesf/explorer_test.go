package fakesf

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestExplorerRoot: GET / answers 2xx (what `sfctl cluster select` requires before it saves an endpoint) with the
// live page; HEAD too; other methods are 400 E_INVALIDARG like any other unparseable call.
func TestExplorerRoot(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	for _, path := range []string{"/", "/Explorer", "/Explorer/index.html"} {
		resp, err := h.client.Get(h.c.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !strings.Contains(string(body), `fetch("/_fake/state"`) || !strings.Contains(string(body), "setInterval(refresh") {
			t.Errorf("GET %s: the page does not poll /_fake/state:\n%s", path, body)
		}
	}
	resp, err := h.client.Head(h.c.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HEAD /: %d", resp.StatusCode)
	}
	h.wantError("POST", "", "/", 400, "E_INVALIDARG")
	h.wantError("DELETE", "", "/Explorer/index.html", 400, "E_INVALIDARG")
}

// TestExplorerRootSecured: a secured fakesf answers / only with credentials, as `sfctl cluster select --pem`
// expects: 403 without, 200 with.
func TestExplorerRootSecured(t *testing.T) {
	h := newHarness(t, DefaultTopology(), WithBearerToken(func(tok string) error {
		if tok != "good" {
			return errors.New("bad token")
		}
		return nil
	}))
	if code, _ := status(t, h.client, h.c.URL()+"/", nil); code != 403 {
		t.Errorf("GET / without a token: %d, want 403", code)
	}
	if code, _ := status(t, h.client, h.c.URL()+"/", map[string]string{"Authorization": "Bearer good"}); code != 200 {
		t.Errorf("GET / with a token: %d, want 200", code)
	}
}

// TestRecentFaultsLog: faults show up in /_fake/state's events (what the page lists), newest last, bounded.
func TestRecentFaultsLog(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	pid := h.parts("fabric:/Shop/Orders")[0].ID
	if err := h.c.MovePrimary(pid, ""); err != nil {
		t.Fatal(err)
	}
	if err := h.c.StopNode("_Node_4"); err != nil {
		t.Fatal(err)
	}
	var state struct {
		Events []Event
		Nodes  []NodeState
	}
	h.getJSONRaw("/_fake/state", &state)
	if n := state.Nodes[4]; n.Name != "_Node_4" || n.Health != "Error" || state.Nodes[0].Health != "Ok" {
		t.Errorf("node health in the state: %+v", state.Nodes)
	}
	if len(state.Events) != 2 || !strings.Contains(state.Events[0].Text, "MovePrimaryReplica: partition "+pid) ||
		state.Events[1].Text != "node _Node_4 stopped" || state.Events[0].Time.IsZero() {
		t.Fatalf("events %+v", state.Events)
	}
	for i := range maxEvents + 10 {
		h.c.mu.Lock()
		h.c.logEvent("e%d", i)
		h.c.mu.Unlock()
	}
	ev := h.c.Events()
	if len(ev) != maxEvents || ev[len(ev)-1].Text != fmt.Sprintf("e%d", maxEvents+9) || ev[0].Text != "e10" {
		t.Errorf("log not bounded to the newest %d: first %q last %q len %d", maxEvents, ev[0].Text, ev[len(ev)-1].Text, len(ev))
	}
}
