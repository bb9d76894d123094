package gateway

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/testcert"
)

func TestBackendCredentials(t *testing.T) {
	be := startEcho(t, nil)
	g := startGateway(t, fmt.Sprintf(`
namedValues:
  api-key: s3cret
backends:
  partner:
    url: http://%s/v1/
    credentials:
      header: {X-Api-Key: ["{{api-key}}"]}
      query: {sv: ["2024-01-01"], "a b": ["c&d"]}
      authorization: {scheme: Basic, parameter: dXNlcjpwYXNz}
apis:
  - name: a
    path: a
    policies: |
      <policies><inbound><base /><set-backend-service backend-id="partner" /></inbound></policies>
`, be), nil)
	e := decodeEcho(t, do(t, g.addr, "GET", "/a/items?x=1", nil, ""))
	if e.RequestURI != "/v1/items?x=1&a+b=c%26d&sv=2024-01-01" {
		t.Errorf("backend URI %q", e.RequestURI)
	}
	if got := e.Header["X-Api-Key"]; len(got) != 1 || got[0] != "s3cret" {
		t.Errorf("X-Api-Key = %v", got)
	}
	if got := e.Header["Authorization"]; len(got) != 1 || got[0] != "Basic dXNlcjpwYXNz" {
		t.Errorf("Authorization = %v", got)
	}
	if e := decodeEcho(t, do(t, g.addr, "GET", "/a/items", nil, "")); e.RequestURI != "/v1/items?a+b=c%26d&sv=2024-01-01" {
		t.Errorf("backend URI without a client query: %q", e.RequestURI)
	}
}

// https backends: the chain is checked against caFile; thumbprints pin a certificate; validation can be off.
func TestHTTPSBackend(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls %s", r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	cert := srv.Certificate()
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(cert.Raw)
	thumb := strings.ToUpper(hex.EncodeToString(sum[:]))
	wrong := strings.Repeat("AB", 20)
	yamlText := fmt.Sprintf(`
backends:
  ca:       {url: "%[1]s/", tls: {caFile: "%[2]s"}}
  system:   {url: "%[1]s/"}
  pinned:   {url: "%[1]s/", tls: {serverCertificateThumbprints: ["%[3]s"]}}
  badpin:   {url: "%[1]s/", tls: {serverCertificateThumbprints: ["%[4]s"]}}
  insecure: {url: "%[1]s/", tls: {validateCertificateChain: false, validateCertificateName: false}}
apis:
`, srv.URL, ca, thumb, wrong)
	for _, id := range []string{"ca", "system", "pinned", "badpin", "insecure"} {
		yamlText += fmt.Sprintf("  - name: %[1]s\n    path: %[1]s\n    policies: '<policies><inbound><set-backend-service backend-id=\"%[1]s\" /></inbound></policies>'\n", id)
	}
	g := startGateway(t, yamlText, nil)
	for id, wantOK := range map[string]bool{"ca": true, "system": false, "pinned": true, "badpin": false, "insecure": true} {
		r := do(t, g.addr, "GET", "/"+id+"/x", nil, "")
		if wantOK && (r.status != 200 || string(r.body) != "tls /x") {
			t.Errorf("%s: %d %s", id, r.status, r.body)
		}
		if !wantOK && r.status != 502 {
			t.Errorf("%s: %d %s, want 502 (certificate rejected)", id, r.status, r.body)
		}
	}
}

// validateCertificateChain and validateCertificateName each apply on their own, to an endpoint published as
// an IP address as much as to one published as a DNS name. Go sends no server name (SNI) for an IP address;
// the name check compares the certificate with the address then, not with an empty name.
func TestBackendTLSFlagsOnIPAndDNSEndpoints(t *testing.T) {
	ca := testcert.CA(t, "Backend CA")
	caFile, _ := ca.WritePEM(t)
	type server struct {
		name    string
		cert    *testcert.Cert
		trusted bool            // signed by the CA in caFile
		names   map[string]bool // endpoint kind → the certificate names that host
	}
	servers := []server{
		{"ca-both", ca.IssueFor(t, "localhost", "127.0.0.1"), true, map[string]bool{"ip": true, "dns": true}},
		{"ca-ip", ca.IssueFor(t, "127.0.0.1"), true, map[string]bool{"ip": true}},
		{"ca-dns", ca.IssueFor(t, "localhost"), true, map[string]bool{"dns": true}},
		{"ca-other", ca.IssueFor(t, "other.example"), true, map[string]bool{}},
		{"self-both", testcert.SelfSignedFor(t, "localhost", "127.0.0.1"), false, map[string]bool{"ip": true, "dns": true}},
		{"self-other", testcert.SelfSignedFor(t, "other.example"), false, map[string]bool{}},
	}
	type backendCase struct {
		id          string
		wantOK      bool
		chain, name bool
	}
	var cases []backendCase
	var conf strings.Builder
	conf.WriteString("backends:\n")
	for _, sv := range servers {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "tls %s", r.URL.Path)
		}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{sv.cert.TLS}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
		for kind, host := range map[string]string{"ip": "127.0.0.1", "dns": "localhost"} {
			for _, chain := range []bool{true, false} {
				for _, name := range []bool{true, false} {
					id := fmt.Sprintf("%s-%s-chain-%t-name-%t", sv.name, kind, chain, name)
					cases = append(cases, backendCase{id: id, chain: chain, name: name,
						wantOK: (!chain || sv.trusted) && (!name || sv.names[kind])})
					fmt.Fprintf(&conf, "  %s: {url: \"https://%s:%s/\", tls: {caFile: %q, validateCertificateChain: %t, validateCertificateName: %t}}\n",
						id, host, port, caFile, chain, name)
				}
			}
		}
	}
	conf.WriteString("apis:\n")
	for _, c := range cases {
		fmt.Fprintf(&conf, "  - {name: %[1]s, path: %[1]s, policies: '<policies><inbound><set-backend-service backend-id=\"%[1]s\" /></inbound></policies>'}\n", c.id)
	}
	g := startGateway(t, conf.String(), nil)
	for _, c := range cases {
		r := do(t, g.addr, "GET", "/"+c.id+"/x", nil, "")
		switch {
		case c.wantOK && (r.status != 200 || string(r.body) != "tls /x"):
			t.Errorf("%s: %d %s, want 200", c.id, r.status, r.body)
		case !c.wantOK && r.status != 502:
			t.Errorf("%s: %d %s, want 502 (certificate rejected)", c.id, r.status, r.body)
		}
	}
}

// Backends naming the same cluster share one resolver; a different credential is another cluster.
func TestBackendsShareACluster(t *testing.T) {
	cfg, err := config.Parse([]byte(`
backends:
  a: {url: "fabric:/A/One", serviceFabricCluster: {managementEndpoints: ["http://127.0.0.1:1"]}}
  b: {url: "fabric:/A/Two", serviceFabricCluster: {managementEndpoints: ["http://127.0.0.1:1"], maxPartitionResolutionRetries: 2}}
  c: {url: "fabric:/B/One", serviceFabricCluster: {managementEndpoints: ["http://127.0.0.1:2"]}}
apis:
  - {name: x, path: x, serviceUrl: "http://127.0.0.1:3/"}
`), "share.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	rt := g.rt.Load()
	if len(rt.clusters) != 2 || rt.backends["a"].sf.cluster != rt.backends["b"].sf.cluster || rt.backends["a"].sf.cluster == rt.backends["c"].sf.cluster {
		t.Errorf("clusters: %d; a=%p b=%p c=%p", len(rt.clusters), rt.backends["a"].sf.cluster, rt.backends["b"].sf.cluster, rt.backends["c"].sf.cluster)
	}
	if rt.backends["b"].sf.maxRetries != 2 || rt.backends["a"].sf.maxRetries != config.DefaultMaxPartitionResolutionRetries {
		t.Errorf("retries: a=%d b=%d", rt.backends["a"].sf.maxRetries, rt.backends["b"].sf.maxRetries)
	}
}

// Shutdown lets a request in flight finish before it returns.
func TestGracefulShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	be := startEcho(t, func(http.ResponseWriter) {
		close(entered)
		<-release
	})
	cfg, err := config.Parse([]byte(fmt.Sprintf("apis:\n  - {name: a, path: a, serviceUrl: \"http://%s/\"}\n", be)), "s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- g.Serve(ln) }()
	result := make(chan rawResponse, 1)
	go func() {
		r, err := tryDo(ln.Addr().String(), "GET", "/a/slow", nil, "")
		if err != nil {
			r.status = -1
			r.body = []byte(err.Error())
		}
		result <- r
	}()
	<-entered
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- g.Shutdown(ctx)
	}()
	// New connections are refused once shutdown began; the request in flight still completes.
	waitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(release)
	if r := <-result; r.status != 200 {
		t.Errorf("in-flight request: %d %s", r.status, r.body)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestHeadRequest(t *testing.T) {
	be := startEcho(t, nil)
	g := startGateway(t, fmt.Sprintf("apis:\n  - {name: a, path: a, serviceUrl: \"http://%s/\"}\n", be), nil)
	r := do(t, g.addr, "HEAD", "/a/x", nil, "")
	if r.status != 200 || len(r.body) != 0 {
		t.Errorf("HEAD: %d %q", r.status, r.body)
	}
	if decodeEcho(t, do(t, g.addr, "GET", "/a/after-head", nil, "")).RequestURI != "/after-head" {
		t.Error("GET after HEAD")
	}
}

// Serve and ServeAdmin called after (or racing) Shutdown return instead of serving forever: a test harness or
// a main that shuts down early must not hang on them.
func TestServeAfterShutdownReturns(t *testing.T) {
	cfg, err := config.Parse([]byte("apis:\n  - {name: a, path: a, serviceUrl: \"http://127.0.0.1:9/\"}\n"), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, serve := range map[string]func(net.Listener) error{"Serve": g.Serve, "ServeAdmin": g.ServeAdmin} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- serve(ln) }()
		// A bound so that a hang is reported as this test's failure rather than the package's timeout.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s after Shutdown: %v, want nil", name, err)
			}
		case <-ctx.Done():
			t.Fatalf("%s after Shutdown did not return", name)
		}
		cancel()
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			t.Errorf("%s after Shutdown left its listener open", name)
		}
	}
}
