package fakesf

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReplicaEchoFields checks the echo document's field names and values for each role.
func TestReplicaEchoFields(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	carts := h.parts("fabric:/Shop/Carts")[0]
	web := h.parts("fabric:/Shop/Web")[0]
	cases := map[string]struct {
		p PartitionState
		r ReplicaState
	}{}
	for _, r := range carts.Replicas {
		cases[r.Role] = struct {
			p PartitionState
			r ReplicaState
		}{carts, r}
	}
	cases["stateless"] = struct {
		p PartitionState
		r ReplicaState
	}{web, web.Replicas[0]}
	want := []string{"body", "bodyLength", "bodySha256", "headers", "host", "listener", "method", "node", "partitionId",
		"path", "query", "replicaId", "role", "service"}
	for role, tc := range cases {
		u := tc.r.Endpoints[""]
		resp, body := rawRequest(t, u, "POST "+pathOf(t, u)+"/x?y=1 HTTP/1.1\r\nHost: h.example\r\nContent-Length: 3\r\nX-A: 1\r\nConnection: close\r\n\r\nabc")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Fatalf("%s: %d %v", role, resp.StatusCode, resp.Header)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, want) {
			t.Errorf("%s: echo keys %v, want %v", role, keys, want)
		}
		sum := sha256.Sum256([]byte("abc"))
		if m["service"] != tc.p.Service || m["partitionId"] != tc.p.ID || m["replicaId"] != itoa(tc.r.ID) || m["role"] != role ||
			m["node"] != tc.r.Node || m["listener"] != "" || m["method"] != "POST" || m["host"] != "h.example" ||
			m["bodyLength"] != float64(3) || m["body"] != "abc" || m["bodySha256"] != hex.EncodeToString(sum[:]) ||
			m["query"] != "y=1" || !strings.HasSuffix(m["path"].(string), "/x") {
			t.Errorf("%s: echo %s", role, body)
		}
		if hdr, _ := m["headers"].(map[string]any); hdr == nil || hdr["X-A"] == nil {
			t.Errorf("%s: headers %v", role, m["headers"])
		}
	}
}

// TestReplicaRawTarget: path and query come back byte for byte as sent, however they are encoded.
func TestReplicaRawTarget(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	u := h.parts("fabric:/Shop/Web")[0].Replicas[0].Endpoints["Admin"]
	base := pathOf(t, u)
	for _, tc := range []struct{ path, query string }{
		{base + "/a%2Fb/c%20d", "q=%2F%20x&x=a+b"},
		{base + "/%E2%82%AC/%e2%82%ac/%7e/~", "u=%E2%82%AC&l=%e2%82%ac"},
		{base + "/caf\xc3\xa9/{x}/[y]/'z'/!$&()*+,;=:@", "raw=caf\xc3\xa9&b={}&c=%ZZ&d=&&e"},
		{base + "//double//slash/", ""},
		{base + "/%252F/%00/%25", "%25=%252F"},
		{base, "a=1?b=2"},
	} {
		target := tc.path
		if tc.query != "" {
			target += "?" + tc.query
		}
		resp, body := rawRequest(t, u, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		var rr ReplicaResponse
		if err := json.Unmarshal(body, &rr); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%q: %d %s %v", target, resp.StatusCode, body, err)
		}
		if rr.Path != tc.path || rr.Query != tc.query {
			t.Errorf("sent path %q query %q, echo path %q query %q", tc.path, tc.query, rr.Path, rr.Query)
		}
	}
	// The absolute form (a proxy-style request line) reports the path and query of the URL.
	resp, body := rawRequest(t, u, "GET http://x"+base+"/p%2F?q=%20 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	var rr ReplicaResponse
	if err := json.Unmarshal(body, &rr); err != nil || resp.StatusCode != 200 || rr.Path != base+"/p%2F" || rr.Query != "q=%20" {
		t.Errorf("absolute form: %d path %q query %q %v", resp.StatusCode, rr.Path, rr.Query, err)
	}
	// Go's client sends what url.URL holds; the echo returns it unchanged.
	req, _ := http.NewRequest("GET", u+"/a%2Fb%20c/%E2%82%AC?x=%2F&y=%e2%82%ac", nil)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&rr); err != nil {
		t.Fatal(err)
	}
	if rr.Path != base+"/a%2Fb%20c/%E2%82%AC" || rr.Query != "x=%2F&y=%e2%82%ac" {
		t.Errorf("client request: path %q query %q", rr.Path, rr.Query)
	}
}

// TestReplicaBodies: HEAD, bodies past the echo cap, chunked bodies.
func TestReplicaBodies(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	inst := h.parts("fabric:/Shop/Web")[0].Replicas[2]
	u := inst.Endpoints[""]

	resp, err := h.client.Head(u + "/h")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("HEAD: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if h.c.ReplicaHits(inst.ID) != 1 {
		t.Errorf("HEAD not counted: %d hits", h.c.ReplicaHits(inst.ID))
	}

	// Printable bytes, so that the echoed (JSON string) prefix can be compared byte for byte; binary bodies are
	// covered by bodyLength and bodySha256 (TestReplicaEcho).
	random := make([]byte, (3*MaxEchoBody+17)/2+1)
	_, _ = rand.Read(random)
	big := []byte(hex.EncodeToString(random))[:3*MaxEchoBody+17]
	sum := sha256.Sum256(big)
	check := func(name string, rr ReplicaResponse) {
		t.Helper()
		if rr.BodyLength != int64(len(big)) || rr.BodySHA256 != hex.EncodeToString(sum[:]) || rr.Body != string(big[:MaxEchoBody]) {
			t.Errorf("%s: length %d (want %d), sha %s, echoed %d bytes", name, rr.BodyLength, len(big), rr.BodySHA256, len(rr.Body))
		}
	}
	// With a Content-Length.
	resp, err = h.client.Post(u+"/big", "application/octet-stream", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	var rr ReplicaResponse
	if err := json.NewDecoder(resp.Body).Decode(&rr); err != nil || resp.StatusCode != 200 {
		t.Fatalf("big body: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	check("Content-Length body", rr)

	// Chunked: a body of unknown length makes Go's client use Transfer-Encoding: chunked.
	pr, pw := io.Pipe()
	go func() {
		for off := 0; off < len(big); off += 5000 {
			if _, err := pw.Write(big[off:min(off+5000, len(big))]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", u+"/chunked", pr)
	resp, err = h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rr = ReplicaResponse{}
	if err := json.NewDecoder(resp.Body).Decode(&rr); err != nil || resp.StatusCode != 200 {
		t.Fatalf("chunked body: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	check("chunked body", rr)

	// Raw chunked framing with chunk extensions and a trailer.
	raw := "POST " + pathOf(t, u) + "/raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
		"3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
	resp, b := rawRequest(t, u, raw)
	rr = ReplicaResponse{}
	if err := json.Unmarshal(b, &rr); err != nil || resp.StatusCode != 200 || rr.BodyLength != 3 || rr.Body != "abc" {
		t.Errorf("raw chunked: %d %s", resp.StatusCode, b)
	}

	// A replica fault status still reports the whole body.
	if err := h.c.SetReplicaFault(inst.ID, ReplicaFault{Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	resp, err = h.client.Post(u+"/faulty", "application/octet-stream", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	rr = ReplicaResponse{}
	if err := json.NewDecoder(resp.Body).Decode(&rr); err != nil || resp.StatusCode != 503 {
		t.Fatalf("faulty: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	check("body under a fault status", rr)
}

// TestReplicaGarbage: malformed requests get an HTTP error from the server, and the replica keeps serving.
func TestReplicaGarbage(t *testing.T) {
	h := newHarness(t, DefaultTopology())
	inst := h.parts("fabric:/Shop/Web")[0].Replicas[1]
	u := inst.Endpoints[""]
	for _, tc := range []struct {
		raw    string
		status int
	}{
		{"GET /%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400},
		{"GET /" + strings.Repeat("a", 2<<20) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 431},
		{"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 400}, // HTTP/1.1 without Host
		{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\nConnection: close\r\n\r\n", 400},
		{"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n", 400},
		{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc", 400}, // body cut short
		{"GET / HTTP/1.0\r\n\r\n", 200},
	} {
		resp, body := rawExchange(t, u, tc.raw, true)
		if resp.StatusCode != tc.status {
			t.Errorf("%.60q: %d %.100s, want %d", tc.raw, resp.StatusCode, body, tc.status)
		}
	}
	if rr := hitReplica(t, u); rr.ReplicaID != itoa(inst.ID) {
		t.Errorf("replica after garbage: %+v", rr)
	}
}

// TestCloseWithRequestsInFlight: Close returns while a slow resolve and a slow replica are mid-request, the
// clients get an error or an answer (never a hang), and no goroutine outlives the cluster.
func TestCloseWithRequestsInFlight(t *testing.T) {
	base := runtime.NumGoroutine()
	c, err := Start(t.Context(), DefaultTopology())
	if err != nil {
		t.Fatal(err)
	}
	c.SetResolveDelay(time.Hour)
	inst := mustPartitions(t, c, "fabric:/Shop/Web")[0].Replicas[0]
	if err := c.SetReplicaFault(inst.ID, ReplicaFault{Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	done := make(chan error, 3)
	get := func(u string) {
		resp, err := client.Get(u)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- err
	}
	go get(c.URL() + "/Services/Shop~Web/$/ResolvePartition?api-version=6.0")
	go get(inst.Endpoints[""] + "/slow")
	// A request body still being sent while the cluster closes.
	pr, pw := io.Pipe()
	go func() {
		req, _ := http.NewRequest("POST", inst.Endpoints["Admin"]+"/upload", pr)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := pw.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c.ResolveCalls() == 1 && c.ReplicaHits(inst.ID) == 2 })

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Close hangs with requests in flight")
	}
	// Go's transport waits for its body writer before reporting the broken connection; the writer is blocked
	// reading the pipe, so end the upload's body now.
	pw.Close()
	for range 3 {
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatal("a client still waits after Close")
		}
	}
	tr.CloseIdleConnections()
	waitGoroutines(t, base)
}

func mustPartitions(t *testing.T, c *Cluster, service string) []PartitionState {
	t.Helper()
	p, err := c.Partitions(service)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pathOf is the path of a replica URL.
func pathOf(t *testing.T, u string) string {
	t.Helper()
	i := strings.Index(u[len("http://"):], "/")
	if i < 0 {
		t.Fatalf("URL %s has no path", u)
	}
	return u[len("http://")+i:]
}
