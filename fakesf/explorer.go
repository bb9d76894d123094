package fakesf

import (
	"fmt"
	"net/http"
	"time"
)

// A real cluster's HTTP gateway serves Service Fabric Explorer at the root of its management port, and clients
// rely on that: `sfctl cluster select` sends GET / and saves the endpoint only if the answer is 2xx. fakesf
// serves a small live page there instead: the topology (nodes, services, partitions with their keys, replicas
// with role, node and endpoints) and the recent faults, refreshed from /_fake/state every second.

// maxEvents bounds the recent-faults log.
const maxEvents = 50

// Event is one entry of the recent-faults log: a fault or lifecycle change applied to the cluster.
type Event struct {
	Time time.Time `json:"time"`
	Text string    `json:"text"`
}

// logEvent appends to the recent-faults log, dropping the oldest entry beyond maxEvents. Caller holds mu.
func (c *Cluster) logEvent(format string, args ...any) {
	c.events = append(c.events, Event{Time: time.Now().UTC(), Text: fmt.Sprintf(format, args...)})
	if len(c.events) > maxEvents {
		c.events = append(c.events[:0], c.events[len(c.events)-maxEvents:]...)
	}
}

// Events returns the recent-faults log, oldest first (at most the last 50 entries).
func (c *Cluster) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// isExplorerPath reports whether an escaped path is one of the explorer page's: "/" or SF Explorer's own
// "/Explorer" and "/Explorer/index.html".
func isExplorerPath(path string) bool {
	return path == "/" || path == "/Explorer" || path == "/Explorer/" || path == "/Explorer/index.html"
}

// serveExplorer answers GET and HEAD with the live page (credentials are checked as for any management call, so
// a secured fakesf refuses a client without them, as a secured cluster's gateway does); any other method is 400
// E_INVALIDARG, as for the API's other URLs.
func (c *Cluster) serveExplorer(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, invalidArg("%s is not supported on %s", r.Method, r.URL.EscapedPath()))
		return
	}
	if !c.authorized(r) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte(explorerPage))
	}
}

// explorerPage renders /_fake/state with textContent only (names never become markup).
const explorerPage = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>fakesf explorer</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.down{color:#b00}.primary{font-weight:bold}#status{color:#777}
</style></head>
<body>
<h1>fakesf explorer</h1>
<p id="status">loading…</p>
<h2>Nodes</h2><table id="nodes"><tr><th>name</th><th>ip</th><th>state</th><th>health</th><th>instance</th></tr></table>
<h2>Partitions</h2><table id="partitions"><tr><th>service</th><th>partition</th><th>keys</th><th>health</th><th>replica</th><th>role</th><th>node</th><th>endpoints</th></tr></table>
<h2>Recent faults</h2><table id="events"><tr><th>time (UTC)</th><th>what</th></tr></table>
<script>
"use strict";
function row(table, cells, cls) {
  const tr = table.insertRow();
  if (cls) tr.className = cls;
  for (const c of cells) tr.insertCell().textContent = c;
}
function clear(table) { while (table.rows.length > 1) table.deleteRow(1); }
function keys(p) {
  if (p.kind === "Int64Range") return p.lowKey + ".." + p.highKey;
  if (p.kind === "Named") return JSON.stringify(p.name);
  return p.kind;
}
async function refresh() {
  try {
    const r = await fetch("/_fake/state", {cache: "no-store"});
    const s = await r.json();
    const nodes = document.getElementById("nodes"), parts = document.getElementById("partitions"), ev = document.getElementById("events");
    clear(nodes); clear(parts); clear(ev);
    for (const n of s.nodes) row(nodes, [n.name, n.ip, n.up ? "Up" : "Down", n.health, String(n.instanceId)], n.up ? "" : "down");
    for (const svc of s.services || []) for (const p of svc.partitions) for (const rep of p.replicas) {
      const eps = Object.entries(rep.endpoints || {}).map(([k, v]) => (k === "" ? "\"\"" : k) + " " + v).join("\n");
      row(parts, [svc.name, p.id, keys(p), p.health, String(rep.id), rep.role + (rep.up ? "" : " (down)"), rep.node, eps],
        rep.up ? (rep.role === "primary" ? "primary" : "") : "down");
    }
    for (const e of (s.events || []).slice().reverse()) row(ev, [e.time, e.text]);
    document.getElementById("status").textContent = "updated " + new Date().toISOString();
  } catch (e) {
    document.getElementById("status").textContent = "cannot reach fakesf: " + e;
  }
}
refresh();
setInterval(refresh, 1000);
</script>
</body></html>
`
