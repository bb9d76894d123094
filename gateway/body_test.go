package gateway

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vmRSS is the process's resident set size from /proc/self/status; ok is false where there is no /proc.
func vmRSS(t *testing.T) (bytes int64, ok bool) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, found := strings.CutPrefix(line, "VmRSS:"); found {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS line %q: %v", line, err)
			}
			return kb << 10, true
		}
	}
	return 0, false
}

// Memory for a request body follows the bytes that arrived, not the Content-Length declared: 80 connections
// that declare 10 MB and send one byte cost the gateway little, and other requests keep being answered.
func TestDeclaredBodiesDoNotReserveMemory(t *testing.T) {
	be := startEcho(t, nil)
	g := startGateway(t, fmt.Sprintf(`
apis:
  - {name: web, path: web, serviceUrl: "http://%s/"}
`, be), nil)
	runtime.GC()
	rssBefore, haveRSS := vmRSS(t)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse

	const conns = 80
	var open []net.Conn
	t.Cleanup(func() {
		for _, c := range open {
			c.Close()
		}
	})
	for range conns {
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
		if _, err := fmt.Fprintf(c, "POST /web/x HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\na"); err != nil {
			t.Fatal(err)
		}
	}
	// The server reads the head of each and waits for the body (fasthttp reads ahead at most 8 KB of it).
	waitFor(t, "all 80 connections to be open", func() bool { return g.server.GetOpenConnectionsCount() >= conns })

	e := decodeEcho(t, do(t, g.addr, "POST", "/web/y", nil, "a normal order"))
	if e.Body != "a normal order" {
		t.Errorf("normal request during the flood: body %q", e.Body)
	}
	runtime.ReadMemStats(&ms)
	heapGrowth := int64(ms.HeapInuse) - int64(heapBefore)
	const ceiling = 64 << 20
	if heapGrowth > ceiling {
		t.Errorf("heap grew by %d MiB for %d declared 10 MB bodies, want < 64 MiB", heapGrowth>>20, conns)
	}
	if rssAfter, ok := vmRSS(t); haveRSS && ok {
		t.Logf("RSS grew by %d MiB, heap by %d MiB, for %d connections declaring 10 MB", (rssAfter-rssBefore)>>20, heapGrowth>>20, conns)
		if rssAfter-rssBefore > ceiling {
			t.Errorf("RSS grew by %d MiB, want < 64 MiB", (rssAfter-rssBefore)>>20)
		}
	} else {
		t.Log("RSS not checked: no /proc/self/status on this system (the heap was)")
	}
}

// Past limits.maxBufferedBodyBytes a body gets 503 ServerBusy with Retry-After, and the budget comes back when
// requests end.
func TestBufferedBodyBudget(t *testing.T) {
	be := startEcho(t, nil)
	g := startGateway(t, fmt.Sprintf(`
limits: {maxBufferedBodyBytes: 65536}
apis:
  - {name: web, path: web, serviceUrl: "http://%s/"}
`, be), nil)
	big := strings.Repeat("x", 100<<10)
	r := do(t, g.addr, "POST", "/web/x", nil, big)
	if e := decodeError(t, r); r.status != 503 || e.Error.Code != CodeBodyBudget || r.header.Get("Retry-After") == "" {
		t.Errorf("body over the budget: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	for i := range 3 { // the budget is returned after every request, refused or not
		body := strings.Repeat("y", 40<<10)
		if e := decodeEcho(t, do(t, g.addr, "POST", "/web/x", nil, body)); len(e.Body) != len(body) {
			t.Fatalf("request %d within the budget: echoed %d bytes", i, len(e.Body))
		}
	}
	if used := g.bodies.used.Load(); used != 0 {
		t.Errorf("%d body bytes still counted after every request ended", used)
	}
}

// A chunked body is read to its end and forwarded whole; one past limits.maxBodyBytes gets 413.
func TestChunkedBodyLimits(t *testing.T) {
	be := startEcho(t, nil)
	g := startGateway(t, fmt.Sprintf(`
limits: {maxBodyBytes: 1000}
apis:
  - {name: web, path: web, serviceUrl: "http://%s/"}
`, be), nil)
	send := func(chunks ...string) *http.Response {
		t.Helper()
		c, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var b strings.Builder
		b.WriteString("POST /web/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
		for _, ch := range chunks {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(ch), ch)
		}
		b.WriteString("0\r\n\r\n")
		if _, err := c.Write([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := send("hello ", "chunked ", "world"); resp.StatusCode != 200 {
		t.Errorf("small chunked body: %d", resp.StatusCode)
	}
	if resp := send(strings.Repeat("a", 600), strings.Repeat("b", 600)); resp.StatusCode != 413 {
		t.Errorf("chunked body past maxBodyBytes: %d, want 413", resp.StatusCode)
	}
}
