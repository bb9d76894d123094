package gateway

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
		newNamer: watchingNamer(reloads),
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

	b.WritePEMTo(t, certFile, keyFile)
	cfg, calls := reloadKeepsCache(t, g, strings.ReplaceAll(text, "CLUSTER_URL", c.URL()), seen)
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

// reloadKeepsCache reloads g with the configuration text (Gateway.Reload, as SIGHUP does) and checks that the
// cluster's resolver and its cache stay: customer 7, asked before, is a cache hit without a naming call. It
// returns the configuration and the number of naming calls seen before the hit.
func reloadKeepsCache(t *testing.T, g *testGateway, text string, seen *namingLog) (*config.Config, int) {
	t.Helper()
	cl := g.rt.Load().clusters[0]
	cfg, err := config.Parse([]byte(text), "test.yaml")
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
	return cfg, calls
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

// securedOrdersCAConfig is securedOrdersConfig with the cluster validated by a CA bundle (serverCaFile).
var securedOrdersCAConfig = strings.Replace(securedOrdersConfig, "serverCertificateThumbprints: [%s]", "serverCaFile: %q", 1)

// watchingNamer makes resolvers that check their TLS files every 5ms and send each outcome to reloads (after
// the gateway's log).
func watchingNamer(reloads chan<- error) func(resolver.Options) (namer, error) {
	return func(o resolver.Options) (namer, error) {
		o.CertPollInterval = 5 * time.Millisecond
		logIt := o.OnTLSFilesReload
		o.OnTLSFilesReload = func(err error) { logIt(err); reloads <- err }
		return resolver.New(o)
	}
}

// serverCAFixture is a cluster whose certificate is issued by CA a, and a gateway that trusts the CA bundle
// in caFile (a's certificate to begin with), presenting client.
type serverCAFixture struct {
	cluster        *fakesf.Cluster
	a, b           *testcert.Cert // CAs
	caFile, config string         // the configuration, with CLUSTER_URL replaced
	seen           *namingLog
}

func newServerCAFixture(t *testing.T) *serverCAFixture {
	f := &serverCAFixture{a: testcert.CA(t, "Cluster CA a"), b: testcert.CA(t, "Cluster CA b"), seen: &namingLog{}}
	client := testcert.SelfSigned(t, "gateway")
	f.cluster = fakesftest.Start(t, fakesf.WithTLS(f.a.Issue(t, "cluster").TLS), fakesf.WithClientCertThumbprints(client.Thumbprint()),
		fakesf.WithManagementObserver(f.seen.observe))
	certFile, keyFile := client.WritePEM(t)
	f.caFile = filepath.Join(t.TempDir(), "cluster-ca.pem")
	f.writeCA(t, f.a)
	f.config = strings.ReplaceAll(fmt.Sprintf(securedOrdersCAConfig, certFile, keyFile, f.caFile), "CLUSTER_URL", f.cluster.URL())
	return f
}

// writeCA replaces the bundle in place with ca's certificate.
func (f *serverCAFixture) writeCA(t *testing.T, ca *testcert.Cert) {
	ca.WritePEMTo(t, f.caFile, filepath.Join(t.TempDir(), "unused-key.pem"))
}

// rollTo gives the cluster a certificate issued by ca (closing the connections made with the old one).
func (f *serverCAFixture) rollTo(t *testing.T, ca *testcert.Cert) {
	if err := f.cluster.SetServerCertificate(ca.Issue(t, "cluster").TLS); err != nil {
		t.Fatal(err)
	}
}

// Reload (SIGHUP) reads serverCaFile again: after the cluster moves to a certificate of another CA and the
// bundle names that CA, new naming connections validate against it, while the resolver and its cache stay;
// a bundle that does not load fails the reload, naming the file, and the last good one keeps serving.
func TestClusterServerCAFileReloadOnSIGHUP(t *testing.T) {
	f := newServerCAFixture(t)
	g := startGatewayWith(t, f.config, nil, Options{newNamer: func(o resolver.Options) (namer, error) {
		o.CertPollInterval = time.Hour // only Reload reads the files
		return resolver.New(o)
	}})
	askOrders(t, g, 7)

	f.writeCA(t, f.b)
	f.rollTo(t, f.b)
	cfg, calls := reloadKeepsCache(t, g, f.config, f.seen)
	askOrders(t, g, 300) // a naming call on a new connection, to a certificate only CA b vouches for
	if f.seen.len() == calls {
		t.Error("no naming call after Reload: the test did not exercise the new bundle")
	}

	if err := os.WriteFile(f.caFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.Reload(cfg); err == nil || !strings.Contains(err.Error(), f.caFile) {
		t.Errorf("Reload with a broken serverCaFile = %v, want an error naming %s", err, f.caFile)
	}
	if err := f.cluster.SetServerCertificate(f.b.Issue(t, "cluster").TLS); err != nil { // new connections only
		t.Fatal(err)
	}
	askOrders(t, g, 600) // the last good bundle (CA b) keeps serving
}

// serverCaFile replaced on disk is picked up by the watcher, like the client certificate files: the next
// naming connection validates against the new bundle; a broken bundle keeps the last good one, with a
// warning naming the file.
func TestClusterServerCAFileRotation(t *testing.T) {
	f := newServerCAFixture(t)
	reloads := make(chan error, 16)
	logs := &lockedBuffer{}
	g := startGatewayWith(t, f.config, nil, Options{
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
		newNamer: watchingNamer(reloads),
	})
	askOrders(t, g, 7)

	f.writeCA(t, f.b)
	waitReload(t, reloads)
	f.rollTo(t, f.b)
	calls := f.seen.len()
	askOrders(t, g, 300)
	if f.seen.len() == calls {
		t.Error("no naming call after the rotation: the test did not exercise the new bundle")
	}

	if err := os.WriteFile(f.caFile, []byte("-----BEGIN CERTIFICATE-----\nMIIB"), 0o600); err != nil { // half-written
		t.Fatal(err)
	}
	if err := waitReloadFailure(t, reloads); !strings.Contains(err.Error(), f.caFile) {
		t.Errorf("a broken serverCaFile: %v, want an error naming %s", err, f.caFile)
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), f.caFile) {
		t.Errorf("no warning naming %s in the log:\n%s", f.caFile, logs.String())
	}
	f.rollTo(t, f.b) // closes the idle naming connections
	askOrders(t, g, 600)
}

// A cluster certificate that the serverCaFile bundle does not vouch for is refused as one outside the
// configured thumbprints is: the client gets 502 ClusterCertificateRejected (it used to be 503
// NamingUnavailable, as if the cluster were down), and the log says why.
func TestClusterServerCAFileRefusesAnotherCA(t *testing.T) {
	f := newServerCAFixture(t)
	f.rollTo(t, f.b) // the bundle names only CA a
	logs := &lockedBuffer{}
	g := startGatewayWith(t, f.config, nil, Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	r := do(t, g.addr, "GET", "/q/x?customer=7", nil, "")
	e := decodeError(t, r)
	if r.status != 502 || e.Error.Code != CodeClusterCertificate || e.Error.RequestID == "" || strings.Contains(string(r.body), f.cluster.URL()) {
		t.Errorf("a cluster certificate of a CA outside serverCaFile: %d %s, want 502 %s", r.status, r.body, CodeClusterCertificate)
	}
	if want := "certificate signed by unknown authority"; !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), e.Error.RequestID) {
		t.Errorf("the log does not say %q for request %s:\n%s", want, e.Error.RequestID, logs.String())
	}
}
