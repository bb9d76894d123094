package gateway

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/certfile"
	"github.com/sfgate/sfgate/partition"
	"github.com/sfgate/sfgate/resolver"
)

// cluster is one Service Fabric cluster (a distinct set of management endpoints and credentials) with its
// resolver. Backends that name the same cluster share it, and it survives reloads that keep it.
type cluster struct {
	key       string
	label     string // first management endpoint, for metrics and logs
	resolver  namer
	ready     atomic.Bool   // the naming service answered at least once
	readyCh   chan struct{} // closed when ready turns true
	readyOnce sync.Once
	names     interner // service and listener names seen in policies
	users     int      // compiled configurations using it (guarded by Gateway.mu)
}

func newCluster(key, label string) *cluster {
	return &cluster{key: key, label: label, readyCh: make(chan struct{})}
}

// markReady records that the cluster's naming service answered.
func (c *cluster) markReady() {
	if !c.ready.Load() {
		c.readyOnce.Do(func() {
			c.ready.Store(true)
			close(c.readyCh)
		})
	}
}

// namer is what the gateway needs from a cluster's resolver (*resolver.Resolver).
type namer interface {
	Resolve(ctx context.Context, service string, key []byte) (*resolver.Snapshot, error)
	Invalidate(ctx context.Context, service string, key []byte, seenVersion string) (*resolver.Snapshot, error)
	Scheme(ctx context.Context, service string) (*partition.Scheme, error)
	Stats() resolver.Stats
	ReloadTLSFiles() error
	Close() error
}

func (c *cluster) serviceName(b []byte) string { return c.names.intern(b) }

// interner turns byte slices from policies into strings without allocating for names seen before.
type interner struct {
	m  atomic.Pointer[map[string]string]
	mu sync.Mutex
}

const maxInterned = 10000

func (in *interner) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if m := in.m.Load(); m != nil {
		if s, ok := (*m)[string(b)]; ok {
			return s
		}
	}
	s := string(b)
	in.mu.Lock()
	defer in.mu.Unlock()
	old := in.m.Load()
	n := 0
	if old != nil {
		n = len(*old)
	}
	if n >= maxInterned {
		return s
	}
	m := make(map[string]string, n+1)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[s] = s
	in.m.Store(&m)
	return s
}

// clusterSource finds or creates the resolver of a cluster; the Gateway implements it so resolvers (and
// their caches) survive reloads, and validation implements it without creating resolvers.
type clusterSource interface {
	cluster(key, label string, opts resolver.Options) (*cluster, error)
}

// resolverOptions maps a serviceFabricCluster block onto resolver.Options; key identifies the cluster
// (endpoints, naming bounds and credentials) so that backends naming the same cluster share one resolver.
func resolverOptions(cfg *config.Config, sc *config.ServiceFabricCluster) (resolver.Options, string, error) {
	opts := resolver.Options{ManagementEndpoints: append([]string(nil), sc.ManagementEndpoints...),
		ResolveTimeout: sc.ResolveTimeout, CallTimeout: sc.CallTimeout}
	if sc.MaxCallAttempts != nil {
		opts.MaxAttempts = *sc.MaxCallAttempts
	}
	a := &opts.Auth
	var key strings.Builder
	key.WriteString(strings.Join(sc.ManagementEndpoints, ","))
	fmt.Fprintf(&key, "|bounds=%s,%s,%d", opts.ResolveTimeout, opts.CallTimeout, opts.MaxAttempts)
	if cc := sc.ClientCertificate; cc != nil {
		a.ClientCertFile, a.ClientKeyFile = cfg.Path(cc.CertFile), cfg.Path(cc.KeyFile)
		fmt.Fprintf(&key, "|cert=%s,%s", a.ClientCertFile, a.ClientKeyFile)
	}
	a.ServerCertThumbprints = append([]string(nil), sc.ServerCertificateThumbprints...)
	fmt.Fprintf(&key, "|tp=%s", strings.Join(sc.ServerCertificateThumbprints, ","))
	for _, n := range sc.ServerX509Names {
		xn := resolver.X509Name{Name: n.Name}
		if n.IssuerCertificateThumbprint != "" {
			xn.IssuerThumbprints = []string{n.IssuerCertificateThumbprint}
		}
		a.ServerX509Names = append(a.ServerX509Names, xn)
		fmt.Fprintf(&key, "|x509=%s/%s", n.Name, n.IssuerCertificateThumbprint)
	}
	if sc.ServerCAFile != "" {
		// Checked here so that a configuration naming a bundle that does not load is refused (validate too);
		// the resolver reads it again, and again when it changes or on a reload (Resolver.ReloadTLSFiles).
		if _, err := certfile.LoadCAs(cfg.Path(sc.ServerCAFile)); err != nil {
			return opts, "", fmt.Errorf("serverCaFile: %w", err)
		}
		a.RootCAFile = cfg.Path(sc.ServerCAFile)
		fmt.Fprintf(&key, "|ca=%s", a.RootCAFile)
	}
	if aad := sc.AzureActiveDirectory; aad != nil {
		cred, err := resolver.NewCredential(resolver.CredentialOptions{
			Kind: aad.CredentialKind(), TenantID: aad.TenantID, ClientID: aad.ClientID,
			ClientSecret: substituteNamed(aad.ClientSecret, cfg.Values()),
		})
		if err != nil {
			return opts, "", fmt.Errorf("azureActiveDirectory: %w", err)
		}
		a.Credential, a.ClusterAppID, a.AllowBearerOverHTTP = cred, aad.ClusterApplication, aad.AllowBearerOverHTTP
		fmt.Fprintf(&key, "|aad=%s,%s,%s,%s,%t", aad.CredentialKind(), aad.TenantID, aad.ClientID, aad.ClusterApplication, aad.AllowBearerOverHTTP)
	}
	return opts, key.String(), nil
}
