package gateway

import (
	"bufio"
	"bytes"
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
