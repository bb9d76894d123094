package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

// served is a gateway started by startServe.
type served struct {
	gw, admin, health string      // bound addresses
	log               *syncBuffer // everything serve logged
	done              chan error  // serve's result
	stop              context.CancelFunc
}

// startServe runs serve for the configuration file text (written to a temporary file, so that reloads
// re-read it; loaded with ctl.loader when set) with ctl until the test ends, and waits until it listens.
func startServe(t *testing.T, text string, ctl control) (*served, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sfgate.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	loader := ctl.loader
	if loader == nil {
		loader = new(config.Loader)
	}
	cfg, err := loader.Load(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{log: &syncBuffer{}, done: make(chan error, 1), stop: cancel}
	listening := make(chan struct{})
	ctl.onListen = func(gw, admin, health string) {
		s.gw, s.admin, s.health = gw, admin, health
		close(listening)
	}
	go func() { s.done <- serve(ctx, cfg, ctl, io.Discard, s.log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	select {
	case <-listening:
	case err := <-s.done:
		s.done <- err // for the cleanup
		t.Fatalf("serve: %v\n%s", err, s.log.String())
	}
	return s, path
}

// get sends GET url on a new connection and returns the status, the body and the X-Request-Id header.
func get(t *testing.T, url string) (int, string, string) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header.Get("X-Request-Id")
}

// On stop, /readyz answers 503 at once on the admin and health listeners while the client listener still
// accepts new connections for drainDelay; then it closes, and a request in flight since before the stop
// still gets its answer.
func TestDrainKeepsAcceptingThenFinishesInFlight(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	backend := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-release
		}
		io.WriteString(w, "answer for "+r.URL.Path)
	})}
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go backend.Serve(bl)
	defer backend.Close()

	hurry := make(chan struct{})
	s, _ := startServe(t, fmt.Sprintf(`listen: 127.0.0.1:0
admin: 127.0.0.1:0
health: 127.0.0.1:0
drainDelay: 1h
shutdownTimeout: 1h
apis: [{name: a, path: a, serviceUrl: "http://%s/"}]
`, bl.Addr()), control{hurry: hurry})
	for _, addr := range []string{s.admin, s.health} {
		if code, body, _ := get(t, "http://"+addr+"/readyz"); code != 200 {
			t.Fatalf("readyz on %s before the stop: %d %s", addr, code, body)
		}
	}
	if code, _, _ := get(t, "http://"+s.health+"/metrics"); code != 404 {
		t.Errorf("the health listener serves /metrics: %d", code)
	}

	type result struct {
		code int
		body string
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + s.gw + "/a/slow")
		if err != nil {
			inflight <- result{body: err.Error()}
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- result{resp.StatusCode, string(body)}
	}()
	<-arrived

	s.stop()
	waitOutput(t, s.done, s.log, func(out string) bool { return strings.Contains(out, "draining") })
	for _, addr := range []string{s.admin, s.health} {
		code, body, _ := get(t, "http://"+addr+"/readyz")
		var ready struct{ Ready, Draining bool }
		if code != 503 || json.Unmarshal([]byte(body), &ready) != nil || ready.Ready || !ready.Draining {
			t.Errorf("readyz on %s while draining: %d %s", addr, code, body)
		}
	}
	if code, body, _ := get(t, "http://"+s.gw+"/a/fast"); code != 200 || body != "answer for /fast" {
		t.Errorf("a new connection while draining: %d %s", code, body)
	}

	close(hurry) // ends the drain delay: the listener closes
	waitOutput(t, s.done, s.log, func(out string) bool { return strings.Contains(out, "shutting down") })
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", s.gw)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the client listener still accepts after the drain delay")
		}
		select {
		case res := <-s.done:
			t.Fatalf("serve returned %v with a request in flight", res)
		case <-time.After(10 * time.Millisecond):
		}
	}
	select {
	case r := <-inflight:
		t.Fatalf("the in-flight request ended before its backend answered: %+v", r)
	default:
	}
	close(release)
	if r := <-inflight; r.code != 200 || r.body != "answer for /slow" {
		t.Errorf("the in-flight request: %d %s", r.code, r.body)
	}
	if err := <-s.done; err != nil {
		t.Errorf("serve: %v", err)
	}
	s.done <- nil // for the cleanup
}

// logLines returns the JSON log lines whose msg is msg.
func logLines(t *testing.T, log, msg string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			lines = append(lines, m)
		}
	}
	return lines
}

// The access log has one info line per request with the client, the route, the status, the duration in
// seconds, the backend, partition and replica, the attempts and the request ID; a failed request's warn
// line names the cause once. A reload applies the log: section (format, access).
func TestAccessLogAndLogReload(t *testing.T) {
	cluster := fakesftest.Start(t)
	conf := func(logSection string) string {
		return logSection + `
listen: 127.0.0.1:0
drainDelay: 0s
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster: {managementEndpoints: ["` + cluster.URL() + `"]}
apis:
  - name: shop
    path: shop
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("customer",""))" />
      </inbound></policies>
  - {name: down, path: down, serviceUrl: "http://127.0.0.1:1/"}
`
	}
	reload := make(chan struct{}, 1)
	s, path := startServe(t, conf("log: {format: json}"), control{reload: reload})

	code, body, id := get(t, "http://"+s.gw+"/shop/orders/7?customer=42&token=query-secret")
	if code != 200 {
		t.Fatalf("GET: %d %s", code, body)
	}
	parts, err := cluster.Partitions("fabric:/Shop/Orders")
	if err != nil {
		t.Fatal(err)
	}
	var partition, replica string
	for _, p := range parts {
		if p.LowKey <= 42 && 42 <= p.HighKey {
			primary, _ := p.Primary()
			partition, replica = p.ID, primary.Endpoints[""]
		}
	}
	lines := logLines(t, s.log.String(), "request")
	if len(lines) != 1 {
		t.Fatalf("%d request lines, want 1:\n%s", len(lines), s.log.String())
	}
	l := lines[0]
	for k, want := range map[string]any{"level": "INFO", "client": "127.0.0.1", "method": "GET", "path": "/shop/orders/7",
		"status": 200.0, "backend": "orders", "partition": partition, "replica": replica, "attempts": 1.0, "requestId": id} {
		if l[k] != want {
			t.Errorf("access line %s = %v, want %v", k, l[k], want)
		}
	}
	if d, ok := l["duration"].(float64); !ok || d <= 0 || d > 30 {
		t.Errorf("duration %v (%T), want seconds", l["duration"], l["duration"])
	}
	if strings.Contains(s.log.String(), "query-secret") {
		t.Errorf("the query string reached the log:\n%s", s.log.String())
	}

	if code, body, _ := get(t, "http://"+s.gw+"/down/x"); code != 502 {
		t.Fatalf("GET /down/x: %d %s", code, body)
	}
	lines = logLines(t, s.log.String(), "request")
	warn := lines[len(lines)-1]
	detail, _ := warn["error"].(string)
	if warn["level"] != "WARN" || warn["code"] != "BackendConnectionFailure" || strings.Count(detail, "connection refused") != 1 {
		t.Errorf("the failure's line: %v", warn)
	}

	if err := os.WriteFile(path, []byte(conf("log: {format: text, access: false}")), 0o644); err != nil {
		t.Fatal(err)
	}
	reload <- struct{}{}
	waitOutput(t, s.done, s.log, func(out string) bool { return strings.Contains(out, "log settings applied") })
	before := len(s.log.String())
	if code, body, _ := get(t, "http://"+s.gw+"/shop/orders/7?customer=42"); code != 200 {
		t.Fatalf("GET after the reload: %d %s", code, body)
	}
	if code, body, _ := get(t, "http://"+s.gw+"/down/x"); code != 502 {
		t.Fatalf("GET /down/x after the reload: %d %s", code, body)
	}
	after := s.log.String()[before:]
	if strings.Contains(after, "path=/shop/") || !strings.Contains(after, "level=WARN msg=request") || strings.Contains(after, `"msg"`) {
		t.Errorf("after switching to text without the access log:\n%s", after)
	}
	if !regexpDuration.MatchString(after) {
		t.Errorf("no duration in seconds in the text line:\n%s", after)
	}
}

// regexpDuration matches a duration in seconds in a text log line (0.0012 or 1.2e-05, never "1.2ms").
var regexpDuration = regexp.MustCompile(`\bduration=[0-9.]+(e-[0-9]+)? `)
