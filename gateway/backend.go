package gateway

import (
	"fmt"
	"github.com/sfgate/sfgate/partition"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/gateway/forwardurl"
	"github.com/valyala/fasthttp"
)

// backend is one configured backend entity, compiled.
type backend struct {
	id      string
	url     []byte // base URL, or the default SF service name
	urlStr  string
	pool    *pool
	writes  *pool // writeConnections: fresh: a connection per non-idempotent request; nil: they use pool
	timeout time.Duration
	sf      *sfBackend  // nil for a plain HTTP backend
	headers [][2][]byte // credential headers (name, value)
	query   []byte      // credential query "name=value&...", already encoded, appended to every URL
	metrics *backendMetrics
	breaker *circuitBreaker // nil without circuitBreaker
	budget  *retryBudget    // nil without retryBudget
	members *backendPool    // a Pool backend's members (linked once every backend is compiled); nil otherwise
}

// sfBackend is the Service Fabric part of a backend.
type sfBackend struct {
	cluster    *cluster
	maxRetries int
	keyHash    partition.KeyHash // partitionKeyHash
}

func compileBackend(cfg *config.Config, bc *config.Backend, clusters clusterSource, m *metrics) (*backend, error) {
	tlsCfg, err := backendTLS(cfg, bc)
	if err != nil {
		return nil, err
	}
	b := &backend{
		id:      bc.ID,
		url:     []byte(bc.URL),
		urlStr:  bc.URL,
		timeout: bc.Timeout,
		metrics: m.backend(bc.ID),
	}
	settings := poolSettings{
		tls: tlsCfg, connectTimeout: bc.ConnectTimeout, maxConns: bc.MaxConnectionsPerEndpoint, connWait: bc.ConnectionWaitTimeout,
		idleTimeout: bc.IdleConnectionTimeout, maxResponseBody: orNoLimit(cfg.Limits.MaxResponseBodyBytes),
		bufferBody: bufferBodyOf(cfg.Limits), maxHeaderBytes: cfg.Limits.MaxHeaderBytes,
	}
	b.pool = newPool(settings)
	if bc.WriteConnections == "fresh" {
		b.writes = newPool(settings) // its requests carry Connection: close, so it never holds an idle connection
	}
	b.breaker = compileCircuitBreaker(bc.ID, bc.CircuitBreaker, b.metrics)
	b.budget = compileRetryBudget(bc.RetryBudget, b.metrics)
	if c := bc.Credentials; c != nil {
		names := make([]string, 0, len(c.Header))
		for n := range c.Header {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			for _, v := range c.Header[n] {
				b.headers = append(b.headers, [2][]byte{[]byte(n), []byte(substituteNamed(v, cfg.Values()))})
			}
		}
		if a := c.Authorization; a != nil {
			b.headers = append(b.headers, [2][]byte{hdrAuthorization, []byte(a.Scheme + " " + substituteNamed(a.Parameter, cfg.Values()))})
		}
		names = names[:0]
		for n := range c.Query {
			names = append(names, n)
		}
		sort.Strings(names)
		var q []string
		for _, n := range names {
			for _, v := range c.Query[n] {
				q = append(q, url.QueryEscape(n)+"="+url.QueryEscape(substituteNamed(v, cfg.Values())))
			}
		}
		b.query = []byte(strings.Join(q, "&"))
	}
	if sc := bc.ServiceFabricCluster; sc != nil {
		opts, key, err := resolverOptions(cfg, sc)
		if err != nil {
			return nil, fmt.Errorf("serviceFabricCluster: %w", err)
		}
		cl, err := clusters.cluster(key, sc.ManagementEndpoints[0], opts)
		if err != nil {
			return nil, fmt.Errorf("serviceFabricCluster: %w", err)
		}
		b.sf = &sfBackend{cluster: cl, maxRetries: *sc.MaxPartitionResolutionRetries}
		b.sf.keyHash, _ = partition.ParseKeyHash(bc.PartitionKeyHash) // checked when the configuration loaded
	}
	return b, nil
}

// setCredentialHeaders adds the backend's credential headers to an outgoing request.
func (b *backend) setCredentialHeaders(h *fasthttp.RequestHeader) {
	for _, kv := range b.headers {
		h.SetBytesKV(kv[0], kv[1])
	}
}

// appendCredentialQuery appends the backend's credential query parameters to a URL.
func (b *backend) appendCredentialQuery(u []byte) []byte { return forwardurl.AppendQuery(u, b.query) }
