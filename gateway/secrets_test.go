package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sfgate/sfgate/gateway/config"
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

// Credential values, the named values they use, and named values marked secret (given as a value, from the
// environment or from a file) never reach a client's error body, a log line (at debug, the most verbose level) or
// an admin answer, down every failure path: a backend's 5xx with query credentials, a backend that refuses
// connections, an expression that fails on a secret, a naming failure for a service named by a secret, the debug
// endpoints asked about it.
func TestSecretsStayOutOfLogsBodiesAndDebug(t *testing.T) {
	const (
		queryMarker  = "MARKER-QUERY-7f3a9"
		headerMarker = "MARKER-HEADER-c41d"
		authMarker   = "MARKER-AUTH-99e2"
		valueMarker  = "MARKER-VALUE-5b0e"
		envMarker    = "MARKER-ENV-a7d3"
		fileMarker   = "MARKER-FILE-e29c"
	)
	t.Setenv("SFGATE_TEST_SECRET", envMarker)
	secretFile := filepath.Join(t.TempDir(), "orders-key")
	if err := os.WriteFile(secretFile, []byte(fileMarker+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	failing, _ := scriptedBackend(t, "500 broken", "500 broken", "500 broken")
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g := startGatewayWith(t, fmt.Sprintf(`
namedValues:
  api-key: %s
  hdr-key: %s
  auth: %s
  svc: {value: %s, secret: true}
  env-key: {env: SFGATE_TEST_SECRET, secret: true}
  file-key: {file: %s, secret: true}
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
  - name: secret-naming
    path: secret-naming
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="no-naming" sf-service-instance-name="fabric:/Shop/{{svc}}" sf-partition-key="7" />
      </inbound></policies>
  - name: secret-expression
    path: secret-expression
    serviceUrl: http://%s/
    policies: |
      <policies><inbound><base />
        <set-header name="X-E" exists-action="override"><value>@(int.Parse("{{env-key}}").ToString())</value></set-header>
      </inbound></policies>
  - name: secret-file
    path: secret-file
    serviceUrl: http://%s/
    policies: |
      <policies><inbound><base />
        <set-header name="X-F" exists-action="override"><value>@(int.Parse("{{file-key}}").ToString())</value></set-header>
      </inbound></policies>
`, queryMarker, headerMarker, authMarker, valueMarker, secretFile, failing, failing, failing, failing), nil, Options{Logger: logger})

	var seen []string
	targets := []string{"/failing/x?a=1", "/refusing/x", "/expression/x", "/naming/x?k=42", "/failing/x", "/secret-naming/x", "/secret-expression/x", "/secret-file/x"}
	for _, target := range targets {
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
	for _, path := range []string{"/debug/resolve?backend=no-naming&key=42", "/debug/cache", "/metrics",
		"/debug/resolve?backend=no-naming&key=7&service=fabric:/Shop/" + valueMarker, "/debug/breakers", "/readyz"} {
		_, body := adminGet(t, g, path)
		endpoint, _, _ := strings.Cut(path, "?") // the query names the secret: the answer must not
		seen = append(seen, "admin "+endpoint+": "+body)
	}
	seen = append(seen, "logs: "+logs.String())
	if !strings.Contains(logs.String(), "refusing") || !strings.Contains(logs.String(), "secret-expression") ||
		!strings.Contains(logs.String(), "fabric:/Shop/"+redacted) {
		t.Fatalf("the log lacks the failures it must describe:\n%s", logs.String())
	}
	for _, text := range seen {
		for _, m := range []string{queryMarker, headerMarker, authMarker, valueMarker, envMarker, fileMarker} {
			if strings.Contains(text, m) {
				t.Errorf("secret %s leaked in %.2000s", m, text)
			}
		}
	}
	for _, internal := range []string{"127.0.0.1:1", "test.yaml:"} {
		for _, text := range seen[:len(targets)] {
			if strings.Contains(text, internal) {
				t.Errorf("client body names the internal %q: %s", internal, text)
			}
		}
	}
}

// A reload that replaces a secret's value (a refreshed Key Vault secret, say) masks the new value, and keeps
// masking the previous one until the next reload: requests still in flight on the previous configuration may
// log it.
func TestReplacedSecretStaysMaskedForOneReload(t *testing.T) {
	const (
		oldMarker = "MARKER-OLD-7c21"
		newMarker = "MARKER-NEW-93ab"
		third     = "MARKER-THIRD-5e0d"
	)
	logs := &lockedBuffer{}
	conf := func(value string) *config.Config {
		cfg, err := config.Parse([]byte("namedValues: {k: {value: "+value+", secret: true}}\napis: [{name: a, path: a, serviceUrl: 'http://127.0.0.1:1/'}]\n"), "test.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	g, err := New(conf(oldMarker), Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	if err := g.Reload(conf(newMarker)); err != nil {
		t.Fatal(err)
	}
	g.log.Info("probe", "old", oldMarker, "new", newMarker)
	if err := g.Reload(conf(third)); err != nil {
		t.Fatal(err)
	}
	g.log.Info("probe", "new", newMarker, "third", third, "old", oldMarker)
	out := logs.String()
	if strings.Contains(out, newMarker) || strings.Contains(out, third) || strings.Count(out, "="+redacted) != 4 {
		t.Fatalf("the current or previous value unmasked:\n%s", out)
	}
	if strings.Count(out, oldMarker) != 1 {
		t.Fatalf("a value two reloads old is still masked (or missing):\n%s", out)
	}
}
