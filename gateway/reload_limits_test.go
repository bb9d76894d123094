package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
)

// reloadLimitsConfig is one API in front of backend with the limits given.
func reloadLimitsConfig(backend, limits string) string {
	return fmt.Sprintf("limits: {%s}\napis:\n  - {name: web, path: web, serviceUrl: \"http://%s/\"}\n", limits, backend)
}

// A reload (SIGHUP, a Key Vault refresh) applies the limits the compiled configuration holds to the requests
// that start after it, and leaves those the client listener's server read at start; docs/configuration.md
// lists them, and config.Limits.RestartOnly names the second kind for the reload's warning.
func TestLimitsOnReload(t *testing.T) {
	be := startEcho(t, nil)
	g := startGateway(t, reloadLimitsConfig(be, "maxBodyBytes: 1000"), nil)
	reload := func(limits string) {
		t.Helper()
		cfg, err := config.Parse([]byte(reloadLimitsConfig(be, limits)), "test.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Reload(cfg); err != nil {
			t.Fatal(err)
		}
	}
	post := func(n int) int { return do(t, g.addr, "POST", "/web/x", nil, strings.Repeat("x", n)).status }
	if st := post(600); st != http.StatusOK {
		t.Fatalf("600 bytes under maxBodyBytes 1000: %d", st)
	}
	reload("maxBodyBytes: 100")
	if st := post(600); st != http.StatusRequestEntityTooLarge {
		t.Errorf("600 bytes after a reload to maxBodyBytes 100: %d, want 413", st)
	}
	reload("maxBodyBytes: 5000")
	if st := post(3000); st != http.StatusOK {
		t.Errorf("3000 bytes after a reload to maxBodyBytes 5000 (the server started with 1000): %d, want 200", st)
	}

	type serverLimits struct { // the client listener's settings, read at start
		readBuffer, concurrency int
		read, write, idle       time.Duration
	}
	serverOf := func() serverLimits {
		s := g.server
		return serverLimits{s.ReadBufferSize, s.Concurrency, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout}
	}
	server := serverOf()
	reload(`maxBodyBytes: 5000, maxHeaderBytes: 8192, bufferBodyBytes: 2000, maxResponseBodyBytes: 3000,
  maxConcurrentRequests: 7, requestTimeout: 7s, readTimeout: 7s, writeTimeout: 7s, idleTimeout: 7s,
  maxBufferedBodyBytes: 7000, maxAttemptsPerRequest: 7, tunnelMaxLifetime: 7s`)
	rt, now := g.rt.Load(), serverOf()
	ps := rt.basePool.settings
	for _, c := range []struct {
		field     string
		got, want any
	}{
		{"maxBodyBytes", rt.maxBody, 5000},
		{"bufferBodyBytes", rt.bufferBody, 2000},
		{"maxHeaderBytes (backend response heads)", ps.maxHeaderBytes, 8192},
		{"maxResponseBodyBytes", ps.maxResponseBody, 3000},
		{"requestTimeout", rt.requestTimeout, 7 * time.Second},
		{"maxBufferedBodyBytes", rt.maxBuffered, int64(7000)},
		{"maxAttemptsPerRequest", rt.maxAttempts, 7},
		{"tunnelMaxLifetime", rt.tunnelLife, 7 * time.Second},
		{"idleTimeout (tunnels)", rt.tunnelIdle, 7 * time.Second},
		{"writeTimeout (streamed responses)", rt.writeTimeout, 7 * time.Second},
		// Read by the server at start: unchanged.
		{"maxHeaderBytes (client request heads)", now.readBuffer, server.readBuffer},
		{"maxConcurrentRequests", now.concurrency, server.concurrency},
		{"readTimeout", now.read, server.read},
		{"writeTimeout (buffered responses)", now.write, server.write},
		{"idleTimeout (keep-alive connections)", now.idle, server.idle},
	} {
		if c.got != c.want {
			t.Errorf("limits.%s after a reload: %v, want %v", c.field, c.got, c.want)
		}
	}
	if server.concurrency == 7 || server.read == 7*time.Second {
		t.Fatal("the server started with the reloaded values: the test proves nothing")
	}

	before, after := config.Limits{MaxBodyBytes: 1, RequestTimeout: time.Second}, config.Limits{MaxBodyBytes: 2, RequestTimeout: 2 * time.Second,
		MaxHeaderBytes: 1, MaxConcurrentRequests: 1, ReadTimeout: 1, WriteTimeout: 1, IdleTimeout: 1}
	want := "limits.maxHeaderBytes limits.maxConcurrentRequests limits.readTimeout limits.writeTimeout limits.idleTimeout"
	if got := strings.Join(before.RestartOnly(after), " "); got != want {
		t.Errorf("RestartOnly = %q, want %q", got, want)
	}
	if got := before.RestartOnly(config.Limits{MaxBodyBytes: 9, RequestTimeout: 9, MaxAttemptsPerRequest: 9, TunnelMaxLifetime: 9}); got != nil {
		t.Errorf("RestartOnly of limits a reload applies = %q, want none", got)
	}
}
