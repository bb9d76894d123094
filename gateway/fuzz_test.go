package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// FuzzEndpointKey: replica listener URLs come from the cluster (outside bytes).
func FuzzEndpointKey(f *testing.F) {
	for _, s := range []string{"http://127.0.0.2:20001/pid/rid", "https://[::1]:443", "HTTP://h", "http://u:p@h:1/x?y#z", "ftp://x", "http://", "https://h:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		key, auth, isTLS, err := endpointKey([]byte(u))
		if err != nil {
			return
		}
		if addr := dialAddr(auth, isTLS); !bytes.HasPrefix([]byte(u), key) || len(auth) == 0 || !hasPort([]byte(addr)) {
			t.Fatalf("endpointKey(%q) = %q, %q (dial %q)", u, key, auth, addr)
		}
	})
}

// FuzzServe sends arbitrary request targets, methods and header values through the whole handler (routing,
// policies, the SF target with a key from the query, forwarding): never a panic, always a status.
func FuzzServe(f *testing.F) {
	g, _ := allocGateway(f)
	f.Add("GET", "/shop/orders/7?customer=42", "x")
	f.Add("POST", "/api/partners/15?version=2013-05&subscription-key=abcdef", "")
	f.Add("GET", "/shop/x?customer=%zz&customer=", "\x00")
	f.Add("DELETE", "http://h/shop//..//x?customer=-9223372036854775809", "a, b")
	f.Add("GET", "*", "")
	f.Fuzz(func(t *testing.T, method, target, header string) {
		// Only what the server would accept reaches the handler: parse the request as the server does.
		raw := method + " " + target + " HTTP/1.1\r\nHost: gw\r\nX-Forwarded-For: " + header +
			"\r\nX-Request-Id: " + header + "\r\nContent-Length: 0\r\n\r\n"
		var req fasthttp.Request
		if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return
		}
		ctx := newTestCtx("/")
		req.CopyTo(&ctx.Request)
		g.serveHTTP(ctx)
		if code := ctx.Response.StatusCode(); code < 100 || code > 599 {
			t.Fatalf("%s %q: status %d", method, target, code)
		}
	})
}

// FuzzRetryAfter: a backend's Retry-After header (outside bytes) sets a circuit breaker's trip with
// acceptRetryAfter; it never gives a negative wait.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "Wed, 21 Oct 2015 07:28:00 GMT", " 5 ", "-1", "99999999999", "soon", ""} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d, ok := retryAfter([]byte(v), now); ok && d < 0 {
			t.Fatalf("retryAfter(%q) = %v", v, d)
		}
	})
}

// FuzzStreamedChunkedBody: a backend's chunked body (outside bytes) read as a streamed response (backendBody):
// never a panic, never more than the limit, and a body read to its end holds what net/http reads from the same
// bytes.
func FuzzStreamedChunkedBody(f *testing.F) {
	for _, s := range []string{"5\r\nhello\r\n0\r\n\r\n", "3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n", "0\r\n\r\n",
		"ffffffffffffffffff\r\n", "2\r\nabc\r\n", "4\r\ndata", "1\r\nx\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, data []byte, limit int) {
		limit = max(limit, 0)
		br := bufio.NewReader(bytes.NewReader(data))
		b := &backendBody{r: httputil.NewChunkedReader(br), br: br, conn: deadlineOnlyConn{}, chunked: true,
			limit: int64(limit), keep: true, release: func(bool) {}}
		got, err := io.ReadAll(b)
		if len(got) > limit {
			t.Fatalf("%d bytes read past the limit %d", len(got), limit)
		}
		resp, rerr := http.ReadResponse(bufio.NewReader(io.MultiReader(
			strings.NewReader("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), bytes.NewReader(data))), nil)
		if rerr != nil {
			return
		}
		want, werr := io.ReadAll(resp.Body)
		if err == nil && werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("streamed %q, net/http read %q", got, want)
		}
		if err == nil && len(want) > limit {
			t.Fatalf("a %d-byte body passed the limit %d without an error", len(want), limit)
		}
	})
}

// deadlineOnlyConn is the backend connection of a backendBody read from memory: only its deadlines are set.
type deadlineOnlyConn struct{ net.Conn }

func (deadlineOnlyConn) SetReadDeadline(time.Time) error { return nil }
