package gateway

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/internal/testcert"
	"github.com/sfgate/sfgate/resolver"
)

// namingLog records the client certificate of every management request a fake cluster receives.
type namingLog struct {
	mu     sync.Mutex
	thumbs []string
}

func (l *namingLog) observe(e fakesf.ManagementEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.thumbs = append(l.thumbs, e.ClientCertThumbprint)
}

// since returns the client certificate thumbprints of the requests after the first n.
func (l *namingLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.thumbs[n:]...)
}

func (l *namingLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.thumbs)
}

// allFrom reports whether thumbs is not empty and holds only want.
func allFrom(thumbs []string, want string) bool {
	for _, t := range thumbs {
		if t != want {
			return false
		}
	}
	return len(thumbs) > 0
}

// clusterStats is the resolver statistics of the gateway's only cluster.
func clusterStats(g *testGateway) resolver.Stats { return g.rt.Load().clusters[0].resolver.Stats() }

// askOrders sends a request for customer through the gateway and fails the test unless a replica of
// fabric:/Shop/Orders answers it.
func askOrders(t *testing.T, g *testGateway, customer int) {
	t.Helper()
	rr := replicaAnswer(t, do(t, g.addr, "GET", fmt.Sprintf("/q/x?customer=%d", customer), nil, ""))
	if rr.Service != "fabric:/Shop/Orders" {
		t.Fatalf("customer %d served by %+v", customer, rr)
	}
}

// The cluster client certificate files replaced on disk are picked up by the watcher: the next naming
// connection presents the new certificate (the cluster, which then accepts only the new one, sees it), the
// resolver's cache is kept (a cached partition is answered without a naming call), and a broken replacement
// keeps the last good certificate with a warning that names the file.
func TestClusterClientCertificateRotation(t *testing.T) {
	server := testcert.SelfSigned(t, "cluster")
	a, b := testcert.SelfSigned(t, "gateway-a"), testcert.SelfSigned(t, "gateway-b")
	seen := &namingLog{}
	c := fakesftest.Start(t, fakesf.WithTLS(server.TLS), fakesf.WithClientCertThumbprints(a.Thumbprint()),
		fakesf.WithManagementObserver(seen.observe))
	certFile, keyFile := a.WritePEM(t)
	reloads := make(chan error, 16)
	logs := &lockedBuffer{}
	g := startGatewayWith(t, fmt.Sprintf(securedOrdersConfig, certFile, keyFile, server.Thumbprint()), c, Options{
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		newNamer: func(o resolver.Options) (namer, error) {
			o.CertPollInterval = 5 * time.Millisecond
			logIt := o.OnClientCertReload
			o.OnClientCertReload = func(err error) { logIt(err); reloads <- err }
			return resolver.New(o)
		},
	})

	askOrders(t, g, 7)
	if got := seen.since(0); !allFrom(got, a.Thumbprint()) {
		t.Fatalf("naming calls before the rotation came with %v, want certificate a %s", got, a.Thumbprint())
	}

	b.WritePEMTo(t, certFile, keyFile)
	waitReload(t, reloads)
	if err := c.SetClientCertThumbprints(b.Thumbprint()); err != nil { // the cluster now refuses a
		t.Fatal(err)
	}
	before, calls := clusterStats(g), seen.len()
	askOrders(t, g, 7)
	if after := clusterStats(g); after.Misses != before.Misses || after.Hits != before.Hits+1 || seen.len() != calls {
		t.Errorf("a cached partition after the rotation: misses %d→%d, hits %d→%d, naming calls %d→%d; want a cache hit",
			before.Misses, after.Misses, before.Hits, after.Hits, calls, seen.len())
	}
	askOrders(t, g, 300) // another partition: a naming call on a new connection
	if got := seen.since(calls); !allFrom(got, b.Thumbprint()) {
		t.Errorf("naming calls after the rotation came with %v, want certificate b %s", got, b.Thumbprint())
	}

	if err := os.WriteFile(certFile, []byte("-----BEGIN CERTIFICATE-----\nMIIB"), 0o600); err != nil { // half-written
		t.Fatal(err)
	}
	if err := waitReloadFailure(t, reloads); !strings.Contains(err.Error(), certFile) {
		t.Errorf("a broken certificate file: %v, want an error naming %s", err, certFile)
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), certFile) {
		t.Errorf("no warning naming %s in the log:\n%s", certFile, logs.String())
	}
	if err := c.SetServerCertificate(server.TLS); err != nil { // same certificate: closes the idle naming connections
		t.Fatal(err)
	}
	calls = seen.len()
	askOrders(t, g, 600)
	if got := seen.since(calls); !allFrom(got, b.Thumbprint()) {
		t.Errorf("naming calls after a broken replacement came with %v, want the last good certificate b", got)
	}
}

// Reload (SIGHUP) reads the cluster client certificate files again at once, keeps the resolver and its cache,
// and fails, naming the file, when they do not load.
func TestClusterClientCertificateReloadOnSIGHUP(t *testing.T) {
	server := testcert.SelfSigned(t, "cluster")
	a, b := testcert.SelfSigned(t, "gateway-a"), testcert.SelfSigned(t, "gateway-b")
	seen := &namingLog{}
	c := fakesftest.Start(t, fakesf.WithTLS(server.TLS), fakesf.WithClientCertThumbprints(a.Thumbprint(), b.Thumbprint()),
		fakesf.WithManagementObserver(seen.observe))
	certFile, keyFile := a.WritePEM(t)
	text := fmt.Sprintf(securedOrdersConfig, certFile, keyFile, server.Thumbprint())
	g := startGatewayWith(t, text, c, Options{newNamer: func(o resolver.Options) (namer, error) {
		o.CertPollInterval = time.Hour // only Reload reads the files
		return resolver.New(o)
	}})
	askOrders(t, g, 7)
	cl := g.rt.Load().clusters[0]

	b.WritePEMTo(t, certFile, keyFile)
	cfg, err := config.Parse([]byte(strings.ReplaceAll(text, "CLUSTER_URL", c.URL())), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(cfg); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if g.rt.Load().clusters[0] != cl {
		t.Fatal("Reload replaced the cluster's resolver (and dropped its cache)")
	}
	before, calls := clusterStats(g), seen.len()
	askOrders(t, g, 7)
	if after := clusterStats(g); after.Hits != before.Hits+1 || seen.len() != calls {
		t.Errorf("a cached partition after Reload: hits %d→%d, naming calls %d→%d; want a cache hit", before.Hits, after.Hits, calls, seen.len())
	}
	askOrders(t, g, 300)
	if got := seen.since(calls); !allFrom(got, b.Thumbprint()) {
		t.Errorf("naming calls after Reload came with %v, want certificate b %s", got, b.Thumbprint())
	}

	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(cfg); err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Errorf("Reload with a broken key file = %v, want an error naming %s", err, keyFile)
	}
	askOrders(t, g, 600) // the last good certificate and configuration keep serving
}

// During a server certificate rollover the cluster switches from certificate A to B; a gateway that lists both
// thumbprints keeps resolving (on new connections, which see B), one that lists only A is refused.
func TestClusterServerCertificateRollover(t *testing.T) {
	serverA, serverB := testcert.SelfSigned(t, "cluster-a"), testcert.SelfSigned(t, "cluster-b")
	client := testcert.SelfSigned(t, "gateway")
	seen := &namingLog{}
	c := fakesftest.Start(t, fakesf.WithTLS(serverA.TLS), fakesf.WithClientCertThumbprints(client.Thumbprint()),
		fakesf.WithManagementObserver(seen.observe))
	certFile, keyFile := client.WritePEM(t)
	both := startGateway(t, fmt.Sprintf(securedOrdersConfig, certFile, keyFile, serverA.Thumbprint()+", "+serverB.Thumbprint()), c)
	onlyA := startGateway(t, fmt.Sprintf(securedOrdersConfig, certFile, keyFile, serverA.Thumbprint()), c)
	askOrders(t, both, 7)
	askOrders(t, onlyA, 7)

	if err := c.SetServerCertificate(serverB.TLS); err != nil {
		t.Fatal(err)
	}
	calls := seen.len()
	for _, customer := range []int{7, 300, 600, 900} {
		askOrders(t, both, customer)
	}
	if seen.len() <= calls {
		t.Error("no naming call after the rollover: the test did not exercise certificate B")
	}
	r := do(t, onlyA.addr, "GET", "/q/x?customer=300", nil, "")
	if e := decodeError(t, r); r.status != 502 || e.Error.Code != CodeClusterCertificate {
		t.Errorf("a gateway pinning only A after the rollover: %d %s, want 502 %s", r.status, r.body, CodeClusterCertificate)
	}
}
