package fakesf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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

// explorerHarnessJS stands in for the browser: a DOM of tables whose cells keep their textContent, fetch answering
// with the state the test passes on stdin, no timer; after the first refresh it prints the rendered tables.
const explorerHarnessJS = `
const state = JSON.parse(require("fs").readFileSync(0, "utf8"));
const els = {};
function table() {
  return {rows: [{}], insertRow() {
      const r = {className: "", cells: [], insertCell() { const c = {textContent: ""}; this.cells.push(c); return c; }};
      this.rows.push(r); return r; },
    deleteRow(i) { this.rows.splice(i, 1); }};
}
globalThis.document = {getElementById(id) { return els[id] ||= (id === "status" ? {textContent: ""} : table()); }};
globalThis.fetch = async () => ({json: async () => state});
globalThis.setInterval = () => 0;
`

const explorerPrintJS = `
setTimeout(() => {
  const rows = id => els[id].rows.slice(1).map(r => ({cls: r.className, cells: r.cells.map(c => c.textContent)}));
  console.log(JSON.stringify({nodes: rows("nodes"), partitions: rows("partitions"), events: rows("events"), status: els.status.textContent}));
}, 0); // after the fetch promises settle (microtasks run before any timer)
`

// TestExplorerScriptRenders runs the page's script under Node.js against the live /_fake/state: every node, every
// replica and every recent fault becomes a row, a stopped node is marked down. Skipped without node.
func TestExplorerScriptRenders(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("skipped, because Node.js (node) is not installed to run the page's script")
	}
	h := newHarness(t, DefaultTopology())
	if err := h.c.StopNode("_Node_2"); err != nil {
		t.Fatal(err)
	}
	resp, err := h.client.Get(h.c.URL() + "/_fake/state")
	if err != nil {
		t.Fatal(err)
	}
	state, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, script, _ := strings.Cut(explorerPage, "<script>")
	script, _, _ = strings.Cut(script, "</script>")
	file := filepath.Join(t.TempDir(), "page.js")
	if err := os.WriteFile(file, []byte(explorerHarnessJS+script+explorerPrintJS), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), nodeBin, file)
	cmd.Stdin = bytes.NewReader(state)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	type row struct {
		Cls   string
		Cells []string
	}
	var page struct {
		Nodes, Partitions, Events []row
		Status                    string
	}
	if err := json.Unmarshal(out, &page); err != nil {
		t.Fatalf("page output %q: %v", out, err)
	}
	replicas := 0
	for _, s := range h.c.Services() {
		for _, p := range h.parts(s) {
			replicas += len(p.Replicas)
		}
	}
	if len(page.Nodes) != 5 || len(page.Partitions) != replicas || len(page.Events) != 1 || !strings.HasPrefix(page.Status, "updated ") {
		t.Fatalf("rendered %d nodes, %d replica rows (want %d), %d events, status %q", len(page.Nodes), len(page.Partitions), replicas, len(page.Events), page.Status)
	}
	if n := page.Nodes[2]; n.Cls != "down" || n.Cells[0] != "_Node_2" || n.Cells[2] != "Down" || n.Cells[3] != "Error" {
		t.Errorf("stopped node row %+v", n)
	}
	if e := page.Events[0].Cells[1]; e != "node _Node_2 stopped" {
		t.Errorf("event row %q", e)
	}
	for _, p := range page.Partitions {
		if p.Cells[0] == "fabric:/Shop/Orders" && p.Cells[2] == "0..255" {
			return
		}
	}
	t.Errorf("no Orders row with keys 0..255 in %+v", page.Partitions)
}
