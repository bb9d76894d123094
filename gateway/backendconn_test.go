package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// closingBackend answers every request on a connection with keep-alive and then closes the connection: the
// next request a client writes into that pooled connection would be lost. It counts the requests it read and the
// connections it has closed.
func closingBackend(t *testing.T) (addr string, requests, closed *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	requests, closed = &atomic.Int64{}, &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer closed.Add(1)
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				body, _ := io.ReadAll(req.Body)
				requests.Add(1)
				answer := fmt.Sprintf("%s %d", req.Method, len(body))
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n%s", len(answer), answer)
			}()
		}
	}()
	return ln.Addr().String(), requests, closed
}

// A POST written into a pooled connection the backend has closed would be lost; the gateway sees the close before
// writing and sends the POST on a fresh connection instead, exactly once.
func TestPostOnClosedPooledConnectionIsSentOnAFreshOne(t *testing.T) {
	addr, requests, closed := closingBackend(t)
	g := startGateway(t, fmt.Sprintf(`
apis:
  - {name: plain, path: plain, serviceUrl: "http://%s/"}
`, addr), nil)
	for i := range 5 {
		body := strings.Repeat("x", 10+i)
		r := do(t, g.addr, "POST", "/plain/orders", nil, body)
		if r.status != 200 || string(r.body) != fmt.Sprintf("POST %d", len(body)) {
			t.Fatalf("POST %d: %d %s", i, r.status, r.body)
		}
		// The backend closed the connection after answering; wait until it has, so the next POST finds it closed.
		waitFor(t, "the backend to close", func() bool { return closed.Load() == int64(i+1) })
	}
	if n := requests.Load(); n != 5 {
		t.Errorf("the backend read %d requests for 5 POSTs", n)
	}
}

func TestStartsIdempotentRequest(t *testing.T) {
	for in, want := range map[string]bool{
		"GET / HTTP/1.1\r\n": true, "PUT /x HTTP/1.1": true, "DELETE /": true, "HEAD /": true, "OPTIONS *": true,
		"POST / HTTP/1.1": false, "PATCH /": false, "GE": false, "": false, "\x16\x03\x01": false, "GETX /": false,
	} {
		if got := startsIdempotentRequest([]byte(in)); got != want {
			t.Errorf("startsIdempotentRequest(%q) = %v, want %v", in, got, want)
		}
	}
}
