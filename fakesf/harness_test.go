package fakesf

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// realCodesMissingFromSwagger are FabricError codes the runtime uses that the 8.2 swagger's FabricErrorCodes
// enum lacks; error bodies carrying them are checked for shape, with this list standing in for the enum.
var realCodesMissingFromSwagger = map[string]bool{
	"FABRIC_E_TEST_COMMAND_OPERATION_ID_ALREADY_EXISTS":    true,
	"FABRIC_E_INVALID_TEST_COMMAND_STATE":                  true,
	"FABRIC_E_NODE_IS_DOWN":                                true,
	"FABRIC_E_CONSTRAINT_NOT_SATISFIED":                    true,
	"FABRIC_E_INVALID_REPLICA_OPERATION":                   true,
	"FABRIC_E_INVALID_FOR_STATEFUL_SERVICES":               true,
	"FABRIC_E_ONLY_VALID_FOR_STATEFUL_PERSISTENT_SERVICES": true,
	"FABRIC_E_PRIMARY_ALREADY_EXISTS":                      true,
	"FABRIC_E_SECONDARY_ALREADY_EXISTS":                    true,
	"FABRIC_E_INSTANCE_ALREADY_EXISTS":                     true,
}

// harness runs a cluster and checks every management answer against the swagger.
type harness struct {
	t      *testing.T
	c      *Cluster
	sw     *swagger
	client *http.Client
}

func newHarness(t *testing.T, topo Topology, opts ...Option) *harness {
	t.Helper()
	c, err := Start(t.Context(), topo, opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	tr := &http.Transport{}
	h := &harness{t: t, c: c, sw: loadSwagger(t), client: &http.Client{Transport: tr}}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// code returns the FabricError code of an error answer.
func (r response) code() string {
	var e fabricErrorJSON
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// call sends method path (path includes the query) and validates the answer against the swagger operation tmpl
// (a key of the swagger's paths; "" skips the schema check for routes the swagger does not list).
func (h *harness) call(method, tmpl, path string) response {
	h.t.Helper()
	return h.send(method, tmpl, path, "")
}

// send is call with a request body (JSON, as SF's clients send it; "" sends none).
func (h *harness) send(method, tmpl, path, body string) response {
	h.t.Helper()
	return h.sendWith(method, tmpl, path, body, nil)
}

// sendWith is send with request headers.
func (h *harness) sendWith(method, tmpl, path, body string, header map[string]string) response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.c.URL()+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: got}
	h.checkShape(method, tmpl, path, r)
	return r
}

func (h *harness) checkShape(method, tmpl, path string, r response) {
	h.t.Helper()
	if strings.HasPrefix(path, "/_fake") || (path == "/" && r.status == http.StatusOK) {
		return // the fake-only control API has its own plain JSON shapes; / is the explorer's HTML page
	}
	if r.status == http.StatusNoContent || r.status == http.StatusAccepted || r.status == http.StatusCreated || (r.status == http.StatusOK && len(r.body) == 0) {
		if len(r.body) != 0 {
			h.t.Errorf("%s %s: %d with a body %q", method, path, r.status, r.body)
		}
		if r.status == http.StatusOK && tmpl != "" {
			if def, err := h.sw.responseDef(method, tmpl, 200); err != nil || def != "" {
				h.t.Errorf("%s %s: empty 200 but swagger expects %q (%v)", method, path, def, err)
			}
		}
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		h.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		h.t.Errorf("%s %s: X-Content-Type-Options missing", method, path)
	}
	def := "FabricError"
	if r.status < 400 {
		if tmpl == "" {
			return
		}
		var err error
		if def, err = h.sw.responseDef(method, tmpl, r.status); err != nil {
			h.t.Errorf("%s %s: %v", method, path, err)
			return
		}
	} else if realCodesMissingFromSwagger[r.code()] {
		var e fabricErrorJSON
		if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Message == "" {
			h.t.Errorf("%s %s: malformed error body %s", method, path, r.body)
		}
		return
	}
	if err := h.sw.validate(def, r.body); err != nil {
		h.t.Errorf("%s %s: %d body does not match swagger %s: %v\n%s", method, path, r.status, def, err, r.body)
	}
}

// get calls GET and requires status.
func (h *harness) get(tmpl, path string, status int) response {
	h.t.Helper()
	r := h.call("GET", tmpl, path)
	if r.status != status {
		h.t.Fatalf("GET %s: status %d, want %d: %s", path, r.status, status, r.body)
	}
	return r
}

// getJSON calls GET, requires 200 and decodes.
func (h *harness) getJSON(tmpl, path string, v any) {
	h.t.Helper()
	r := h.get(tmpl, path, http.StatusOK)
	if err := json.Unmarshal(r.body, v); err != nil {
		h.t.Fatalf("GET %s: decode: %v", path, err)
	}
}

// wantError calls and requires an SF error answer.
func (h *harness) wantError(method, tmpl, path string, status int, code string) response {
	h.t.Helper()
	r := h.call(method, tmpl, path)
	if r.status != status || r.code() != code {
		h.t.Fatalf("%s %s: got %d %q, want %d %s: %s", method, path, r.status, r.code(), status, code, r.body)
	}
	return r
}

type rspJSON struct {
	Name                 string
	PartitionInformation partitionInformationJSON
	Endpoints            []endpointJSON
	Version              string
}

const resolveTmpl = "/Services/{serviceId}/$/ResolvePartition"

func (h *harness) resolve(serviceID, query string) rspJSON {
	h.t.Helper()
	var rsp rspJSON
	h.getJSON(resolveTmpl, "/Services/"+serviceID+"/$/ResolvePartition?api-version=6.0"+query, &rsp)
	return rsp
}

// primaryURL returns the "" listener URL of the StatefulPrimary endpoint.
func (rsp rspJSON) primaryURL(t *testing.T) string {
	t.Helper()
	for _, e := range rsp.Endpoints {
		if e.Kind == "StatefulPrimary" {
			return listenerURL(t, e.Address, "")
		}
	}
	t.Fatalf("no StatefulPrimary in %+v", rsp.Endpoints)
	return ""
}

// listenerURL parses an Address {"Endpoints":{...}} and returns one listener's URL.
func listenerURL(t *testing.T, address, listener string) string {
	t.Helper()
	var a struct{ Endpoints map[string]string }
	if err := json.Unmarshal([]byte(address), &a); err != nil {
		t.Fatalf("Address %q: %v", address, err)
	}
	u, ok := a.Endpoints[listener]
	if !ok {
		t.Fatalf("Address %q has no listener %q", address, listener)
	}
	return u
}

// versionOf decodes a Version string into (Generation, FMVersion).
func versionOf(t *testing.T, v string) (gen, fm int64) {
	t.Helper()
	p, err := parseVersion(v)
	if err != nil {
		t.Fatalf("Version %q: %v", v, err)
	}
	return p.generation, p.fmVersion
}

func newer(t *testing.T, a, b string) bool {
	ga, fa := versionOf(t, a)
	gb, fb := versionOf(t, b)
	return ga > gb || (ga == gb && fa > fb)
}

// hitReplica sends a GET to a replica URL with a fresh connection and decodes the echo.
func hitReplica(t *testing.T, u string) ReplicaResponse {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(u + "/hello?x=1")
	if err != nil {
		t.Fatalf("GET replica %s: %v", u, err)
	}
	defer resp.Body.Close()
	var rr ReplicaResponse
	if err := json.NewDecoder(resp.Body).Decode(&rr); err != nil {
		t.Fatalf("replica %s: decode: %v", u, err)
	}
	return rr
}

// refused asserts that nothing accepts connections at u's host:port.
func refused(t *testing.T, u string) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", pu.Host)
	if err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections", pu.Host)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s: %v, want connection refused", pu.Host, err)
	}
}

func portOf(t *testing.T, u string) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return pu.Port()
}

// waitGoroutines waits (bounded) until the goroutine count is back to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, want <= %d\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// parts returns a service's partitions in scheme order.
func (h *harness) parts(service string) []PartitionState {
	h.t.Helper()
	p, err := h.c.Partitions(service)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}
