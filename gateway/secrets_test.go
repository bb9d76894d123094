package gateway

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a log sink safe for the gateway's concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Credential values, and the named values they use, never reach a client's error body, a log line (at debug, the
// most verbose level) or an admin answer, down every failure path: a backend's 5xx with query credentials, a
// backend that refuses connections, an expression that fails on a secret, a naming failure, the debug endpoints.
func TestSecretsStayOutOfLogsBodiesAndDebug(t *testing.T) {
	const (
		queryMarker  = "MARKER-QUERY-7f3a9"
		headerMarker = "MARKER-HEADER-c41d"
		authMarker   = "MARKER-AUTH-99e2"
	)
	failing, _ := scriptedBackend(t, "500 broken", "500 broken", "500 broken")
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g := startGatewayWith(t, fmt.Sprintf(`
namedValues:
  api-key: %s
  hdr-key: %s
  auth: %s
backends:
  failing:
    url: http://%s/base/
    credentials:
      query: {code: ["{{api-key}}"]}
      header: {X-Key: ["{{hdr-key}}"]}
      authorization: {scheme: Bearer, parameter: "{{auth}}"}
  refusing:
    url: http://127.0.0.1:1/base/
    credentials: {query: {code: ["{{api-key}}"]}}
  no-naming:
    url: fabric:/Shop/Orders
    serviceFabricCluster: {managementEndpoints: ["http://127.0.0.1:1"], resolveTimeout: 300ms, callTimeout: 100ms}
    credentials: {query: {code: ["{{api-key}}"]}}
apis:
  - name: failing
    path: failing
    policies: <policies><inbound><base /><set-backend-service backend-id="failing" /></inbound></policies>
  - name: refusing
    path: refusing
    policies: <policies><inbound><base /><set-backend-service backend-id="refusing" /></inbound></policies>
  - name: expression
    path: expression
    serviceUrl: http://%s/
    policies: |
      <policies><inbound><base />
        <set-header name="X-N" exists-action="override"><value>@(int.Parse("{{api-key}}").ToString())</value></set-header>
      </inbound></policies>
  - name: naming
    path: naming
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="no-naming" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("k",""))" />
      </inbound></policies>
`, queryMarker, headerMarker, authMarker, failing, failing), nil, Options{Logger: logger})

	var seen []string
	for _, target := range []string{"/failing/x?a=1", "/refusing/x", "/expression/x", "/naming/x?k=42", "/failing/x"} {
		r := do(t, g.addr, "GET", target, nil, "")
		if r.status < 500 {
			t.Errorf("GET %s: %d, want a failure", target, r.status)
		}
		if !strings.HasPrefix(target, "/failing") { // the others are the gateway's own errors
			if e := decodeError(t, r); e.Error.RequestID == "" || e.Error.Code == "" || e.Error.Message == "" {
				t.Errorf("GET %s: error body without code, message or request ID: %s", target, r.body)
			}
		}
		seen = append(seen, fmt.Sprintf("client body of %s: %s %v", target, r.body, r.header))
	}
	for _, path := range []string{"/debug/resolve?backend=no-naming&key=42", "/debug/cache", "/metrics"} {
		_, body := adminGet(t, g, path)
		seen = append(seen, "admin "+path+": "+body)
	}
	seen = append(seen, "logs: "+logs.String())
	if !strings.Contains(logs.String(), "refusing") || !strings.Contains(logs.String(), "expression") {
		t.Fatalf("the log lacks the failures it must describe:\n%s", logs.String())
	}
	for _, text := range seen {
		for _, m := range []string{queryMarker, headerMarker, authMarker} {
			if strings.Contains(text, m) {
				t.Errorf("secret %s leaked in %.2000s", m, text)
			}
		}
	}
	for _, internal := range []string{"127.0.0.1:1", "test.yaml:"} {
		for _, text := range seen[:5] {
			if strings.Contains(text, internal) {
				t.Errorf("client body names the internal %q: %s", internal, text)
			}
		}
	}
}
