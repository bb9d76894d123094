package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

// streamBothConfig streams bodies past 64 KiB, of any size, both ways; the reverse proxy serves SFRP URLs and
// the API "orders" reaches the same service through a policy.
const streamBothConfig = `
limits:
  bufferBodyBytes: 65536
  maxBodyBytes: 0
  maxResponseBodyBytes: 0
reverseProxy:
  cluster: {managementEndpoints: [CLUSTER_URL]}
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster: {managementEndpoints: [CLUSTER_URL]}
apis:
  - name: orders
    path: orders
    policies: |
      <policies>
        <inbound><base /><set-backend-service backend-id="orders" sf-partition-key="42" /></inbound>
        <backend><base /></backend>
        <outbound><base /><set-header name="X-Outbound" exists-action="override"><value>ran</value></set-header></outbound>
      </policies>
`

// streamTargets are the two ways to a primary of fabric:/Shop/Orders: a policy route (key 42) and an SFRP URL
// (key 900).
var streamTargets = []struct{ mode, target string }{
	{"policy route", "/orders/stream"},
	{"reverse proxy", "/Shop/Orders/stream?PartitionKind=Int64Range&PartitionKey=900"}, // another partition's primary
}

// openStream sends a GET with the header lines given and returns the answer with its body unread.
func openStream(t *testing.T, addr, target, headers string) (*http.Response, net.Conn) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: gw\r\n%sConnection: close\r\n\r\n", target, headers)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, conn
}

// TestServerSentEventsStream: an event stream reaches the client event by event, through a policy route (whose
// outbound policy sets a header) and through the reverse proxy: the first event is read before the test has the
// replica send the second.
func TestServerSentEventsStream(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, streamBothConfig, c)
	for _, tc := range streamTargets {
		resp, _ := openStream(t, g.addr, tc.target, "Accept: text/event-stream\r\n")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("%s: %d %v", tc.mode, resp.StatusCode, resp.Header)
		}
		if tc.mode == "policy route" && resp.Header.Get("X-Outbound") != "ran" {
			t.Errorf("%s: the outbound policy's header is missing: %v", tc.mode, resp.Header)
		}
		events := bufio.NewReader(resp.Body)
		first := readEvent(t, events)
		var rr fakesf.ReplicaResponse
		if err := json.Unmarshal([]byte(strings.TrimPrefix(first, "event: replica\ndata: ")), &rr); err != nil || rr.Role != "primary" {
			t.Fatalf("%s: first event %q (%v)", tc.mode, first, err)
		}
		id, _ := strconv.ParseInt(rr.ReplicaID, 10, 64)
		for _, data := range []string{"second", "third"} {
			if n, err := c.SendEvent(id, data); err != nil || n != 1 {
				t.Fatalf("%s: SendEvent: %d streams, %v", tc.mode, n, err)
			}
			if ev := readEvent(t, events); ev != "data: "+data {
				t.Errorf("%s: event %q, want data: %s", tc.mode, ev, data)
			}
		}
		if n, err := c.EndEvents(id); err != nil || n != 1 {
			t.Fatalf("%s: EndEvents: %d streams, %v", tc.mode, n, err)
		}
		if rest, err := io.ReadAll(events); err != nil || len(rest) != 0 {
			t.Errorf("%s: after the replica ended its answer: %q, %v; want the end of the body", tc.mode, rest, err)
		}
	}
}

// readEvent reads one server-sent event (its lines up to the blank one).
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading an event after %q: %v", lines, err)
		}
		if line = strings.TrimRight(line, "\r\n"); line == "" {
			return strings.Join(lines, "\n")
		}
		lines = append(lines, line)
	}
}

// TestStreamedResponseBeforeBackendEnds: a response larger than bufferBodyBytes, with Content-Length or chunked,
// reaches the client while the backend is still writing it: the client reads the first MiB before the test lets
// the backend write the rest, and then gets every byte.
func TestStreamedResponseBeforeBackendEnds(t *testing.T) {
	const size, head = 8 << 20, 1 << 20
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	release := make(chan struct{}, 1)
	addr := startHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		w.Write(body[:head])
		http.NewResponseController(w).Flush()
		<-release
		w.Write(body[head:])
	})
	g := startGateway(t, fmt.Sprintf("limits: {bufferBodyBytes: 65536}\napis:\n  - {name: dl, path: dl, serviceUrl: 'http://%s/'}\n", addr), nil)
	for _, query := range []string{"", "?chunked=1"} {
		resp, _ := openStream(t, g.addr, "/dl/file"+query, "")
		if query == "" && resp.ContentLength != size || query != "" && resp.ContentLength != -1 {
			t.Errorf("%q: Content-Length %d", query, resp.ContentLength)
		}
		got := make([]byte, size)
		if _, err := io.ReadFull(resp.Body, got[:head]); err != nil {
			t.Fatalf("%q: the first MiB did not arrive before the backend wrote the rest: %v", query, err)
		}
		release <- struct{}{}
		if _, err := io.ReadFull(resp.Body, got[head:]); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("%q: the body arrived different (%v)", query, err)
		}
		if n, _ := resp.Body.Read(make([]byte, 1)); n != 0 {
			t.Errorf("%q: bytes after the body", query)
		}
	}
}

// TestLargeBodiesStreamWithFlatMemory: 64 MiB up and 64 MiB down go through the gateway (both modes) while the
// whole test process allocates less than an eighth of one body (about 1.5 MiB measured): neither is held whole.
// (The 2 GiB version, with the resident memory measured, is TestTwoGiBStreams.)
func TestLargeBodiesStreamWithFlatMemory(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, streamBothConfig, c)
	const size = 64 << 20
	for _, tc := range streamTargets {
		allocated := allocatedDuring(func() {
			rr, sent := streamUpload(t, g.addr, tc.target, size)
			if rr.BodyLength != size || rr.BodySHA256 != sent {
				t.Errorf("%s: the replica read %d bytes (sha %s) of %d", tc.mode, rr.BodyLength, rr.BodySHA256, size)
			}
		})
		t.Logf("%s: uploading %d MiB allocated %d KiB", tc.mode, size>>20, allocated>>10)
		if allocated > size/8 {
			t.Errorf("%s: uploading %d MiB allocated %d MiB", tc.mode, size>>20, allocated>>20)
		}
		allocated = allocatedDuring(func() {
			if n, err := streamDownload(t, g.addr, tc.target, size); err != nil || n != size {
				t.Errorf("%s: downloaded %d of %d bytes: %v", tc.mode, n, size, err)
			}
		})
		t.Logf("%s: downloading %d MiB allocated %d KiB", tc.mode, size>>20, allocated>>10)
		if allocated > size/8 {
			t.Errorf("%s: downloading %d MiB allocated %d MiB", tc.mode, size>>20, allocated>>20)
		}
	}
}

// startHTTPBackend serves h (net/http) on a loopback port until the test ends and returns its address.
func startHTTPBackend(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// allocatedDuring is how many bytes the process allocated while f ran.
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestShutdownCutsStreams: Shutdown waits for a streamed response like any request in flight, until its context
// ends; then the stream is cut, so an endless event stream cannot hold the gateway (or its client) open.
func TestShutdownCutsStreams(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, streamBothConfig, c)
	resp, _ := openStream(t, g.addr, streamTargets[1].target, "Accept: text/event-stream\r\n")
	events := bufio.NewReader(resp.Body)
	readEvent(t, events)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := g.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with an event stream open: %v, want the context's deadline (a request was still running)", err)
	}
	if _, err := io.ReadAll(events); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Error("the event stream was still open 60 s after Shutdown returned")
	}
}

// TestStreamedResponseLimit: limits.maxResponseBodyBytes refuses a larger declared Content-Length with 502
// before anything is sent, and cuts a chunked stream that grows past it (the client sees its body end early).
func TestStreamedResponseLimit(t *testing.T) {
	const size = 4 << 20
	body := bytes.Repeat([]byte("x"), size)
	addr := startHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		w.Write(body)
	})
	g := startGateway(t, fmt.Sprintf("limits: {bufferBodyBytes: 65536, maxResponseBodyBytes: 1048576}\napis:\n  - {name: dl, path: dl, serviceUrl: 'http://%s/'}\n", addr), nil)
	r := do(t, g.addr, "GET", "/dl/file", nil, "")
	if r.status != 502 || !strings.Contains(string(r.body), "maxResponseBodyBytes") {
		t.Errorf("declared %d bytes: %d %s, want 502 naming limits.maxResponseBodyBytes", size, r.status, r.body)
	}
	resp, _ := openStream(t, g.addr, "/dl/file?chunked=1", "")
	got, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || err == nil || len(got) >= size {
		t.Errorf("chunked %d bytes: status %d, %d bytes, %v; want 200 and the body cut short with an error", size, resp.StatusCode, len(got), err)
	}
}

// TestBrokenStreamIsNotResent: the replica fails 1 MiB into a streamed 8 MiB answer to a GET (idempotent, so
// resent after a failed attempt): the client has the head already, so it gets the body cut short, and the
// request is not sent again (one replica hit), through both ways.
func TestBrokenStreamIsNotResent(t *testing.T) {
	c := fakesftest.Start(t)
	g := startGateway(t, streamBothConfig, c)
	const size, cut = 8 << 20, 1 << 20
	for i, tc := range streamTargets {
		key := []string{"42", "900"}[i]
		prim, ok := partitionFor(t, c, "fabric:/Shop/Orders", key).Primary()
		if !ok {
			t.Fatal("no primary")
		}
		c.ResetCounters()
		if err := c.SetReplicaFault(prim.ID, fakesf.ReplicaFault{CutAnswerAfter: cut, Count: 1}); err != nil {
			t.Fatal(err)
		}
		n, err := streamDownload(t, g.addr, tc.target, size)
		if err == nil || n >= size || n > cut {
			t.Errorf("%s: %d bytes, %v; want at most %d and an error (the body cut short)", tc.mode, n, err, cut)
		}
		if hits := c.ReplicaHits(prim.ID); hits != 1 {
			t.Errorf("%s: the replica was hit %d times; a streamed answer already sent must not be resent", tc.mode, hits)
		}
	}
}
