package gateway

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sfgate/sfgate/gateway/config"
)

// scriptedBackend answers its n-th request (from 1) with script[n-1]: a status and body, or "drop" to close
// the connection without an answer; requests past the script are dropped.
func scriptedBackend(t *testing.T, script ...string) (addr string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(hits.Add(1))
		if n > len(script) || script[n-1] == "drop" {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		var code int
		var body string
		fmt.Sscanf(script[n-1], "%d %s", &code, &body)
		w.Header().Set("X-Attempt", fmt.Sprint(n))
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), hits
}

// retryGateway re-resolves and resends while the backend answers 503 or the connection fails, up to
// maxPartitionResolutionRetries times.
func retryGateway(t *testing.T, be string, retries int) *Gateway {
	cfg, err := config.Parse([]byte(ordersBackendYAML(retries)+`
apis:
  - name: shop
    path: shop
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("customer",""))"
            sf-resolve-condition="@(context.Response.StatusCode == 503 || context.LastError?.Reason == &quot;BackendConnectionFailure&quot;)" />
      </inbound></policies>
`), "retry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return staticSFGateway(t, cfg, be)
}

// The client gets the last response a backend gave when later attempts fail: whether that response sits in
// the client's own response buffer (first attempt) or in the spare one (a later attempt), a failed resend
// must not overwrite it.
func TestFailedResendKeepsLastResponse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  []string
		retries int
		body    string
		attempt string
	}{
		{"first answer, then drops", []string{"503 first", "drop", "drop"}, 2, "first", "1"},
		{"second answer, then a drop", []string{"503 first", "503 second", "drop"}, 2, "second", "2"},
		{"third answer", []string{"503 first", "503 second", "503 third"}, 2, "third", "3"},
		{"answers alternate with drops", []string{"503 first", "drop", "503 third", "drop"}, 3, "third", "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be, hits := scriptedBackend(t, tc.script...)
			g := retryGateway(t, be, tc.retries)
			const target = "/shop/orders?customer=7"
			ctx := newTestCtx(target)
			g.serveHTTP(ctx)
			if n := hits.Load(); n != int64(tc.retries+1) {
				t.Errorf("the backend saw %d requests, want 1 + %d retries", n, tc.retries)
			}
			if got := ctx.Response.StatusCode(); got != 503 {
				t.Errorf("status %d, want the backend's 503", got)
			}
			if got := string(ctx.Response.Body()); got != tc.body {
				t.Errorf("body %q, want %q (the last answer)", got, tc.body)
			}
			if got := string(ctx.Response.Header.Peek("X-Attempt")); got != tc.attempt {
				t.Errorf("X-Attempt %q, want %q: headers and body must come from the same answer", got, tc.attempt)
			}
			if id := ctx.Response.Header.Peek("X-Request-Id"); len(id) == 0 || strings.Contains(string(id), ",") {
				t.Errorf("X-Request-Id %q, want one request ID", id)
			}
		})
	}
}
