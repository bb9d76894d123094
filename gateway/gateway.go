package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/certfile"
	"github.com/sfgate/sfgate/resolver"
	"github.com/valyala/fasthttp"
)

// Options are process-level settings that are not part of the configuration file.
type Options struct {
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger

	// newNamer creates a cluster's resolver; nil means resolver.New. Tests in this package set it to
	// answer from a fixed snapshot or to adjust the resolver options, without touching shared state.
	newNamer func(resolver.Options) (namer, error)
	// certPoll is how often the client listener's TLS files are checked for changes (0: certfile.PollInterval);
	// onCertReload, when set, hears the outcome of each reload a change triggered. For tests.
	certPoll     time.Duration
	onCertReload func(error)
}

// Gateway serves client requests per a compiled configuration and can swap configurations at run time.
type Gateway struct {
	log     *slog.Logger
	lines   LineWriter // the logger's handler, when it takes ready-made request lines (accessline.go); else nil
	opts    Options
	metrics *metrics
	rt      atomic.Pointer[compiled]

	mu        sync.Mutex          // guards clusters, reloads and shutdown
	clusters  map[string]*cluster // by cluster key, shared across reloads
	server    *fasthttp.Server
	tls       *listenerTLS // nil: the client listener serves plain HTTP
	admin     *http.Server
	health    *http.Server
	listeners []net.Listener // given to Serve, ServeAdmin and ServeHealth
	probes    context.CancelFunc
	closed    bool

	bodies     bodyBudget                       // request-body bytes held by all requests (limits.maxBufferedBodyBytes)
	accessLog  atomic.Bool                      // log.access of the current configuration
	secrets    atomic.Pointer[strings.Replacer] // masks the configuration's credentials in log lines (redact.go)
	shown      []string                         // configSecrets of the current configuration; guarded by mu
	adminGuard atomic.Pointer[adminGuard]       // adminAuth and adminPprof of the current configuration
	draining   atomic.Bool                      // Drain was called: /readyz answers 503
	tunnels    liveSet[*joined]                 // open upgraded connections, closed by Shutdown
	streams    liveSet[*backendBody]            // response bodies streaming to clients, cut by Shutdown
}

// Validate compiles a configuration without creating resolvers or listening: every policy is parsed and
// compiled and every reference checked. The error is config.Errors with file:line positions.
func Validate(cfg *config.Config) error {
	_, err := compile(cfg, cfg.TLS, validationClusters{}, newMetrics())
	if cfg.TLS != nil {
		if _, terr := prepareListenerTLS(cfg); terr != nil {
			var errs config.Errors
			errors.As(err, &errs)
			if err == nil || errs != nil {
				return append(errs, terr.(*config.Error))
			}
		}
	}
	return err
}

// validationClusters checks resolver options (certificate files, credentials) by creating and at once
// closing each resolver; nothing is sent to the cluster.
type validationClusters struct{}

func (validationClusters) cluster(key, label string, opts resolver.Options) (*cluster, error) {
	r, err := resolver.New(opts)
	if err != nil {
		return nil, err
	}
	r.Close()
	return newCluster(key, label), nil
}

// newResolver is the default Options.newNamer.
func newResolver(opts resolver.Options) (namer, error) { return resolver.New(opts) }

// New compiles cfg and creates one resolver per distinct cluster. It does not listen; call Serve (and
// ServeAdmin) or Run.
func New(cfg *config.Config, opts Options) (*Gateway, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.newNamer == nil {
		opts.newNamer = newResolver
	}
	g := &Gateway{opts: opts, metrics: newMetrics(), clusters: map[string]*cluster{}}
	g.log = slog.New(redactingHandler{next: opts.Logger.Handler(), r: &g.secrets})
	g.lines, _ = opts.Logger.Handler().(LineWriter)
	g.shown = configSecrets(cfg)
	g.secrets.Store(newRedactor(g.shown))
	g.adminGuard.Store(newAdminGuard(cfg))
	lt, err := newListenerTLS(cfg, g.log, opts.certPoll, opts.onCertReload)
	if err != nil {
		return nil, config.Errors{err.(*config.Error)}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	rt, err := compile(cfg, cfg.TLS, g, g.metrics)
	if err != nil {
		g.dropUnusedClusters()
		return nil, err
	}
	g.use(rt, nil)
	g.accessLog.Store(cfg.Log.AccessLog())
	g.server = g.newServer(cfg)
	if lt != nil {
		g.tls = lt
		go lt.watch()
	}
	return g, nil
}

// cluster implements clusterSource: it reuses the resolver of a cluster already known (same endpoints and
// credentials) so its cache survives reloads; a reload reads its client certificate files and serverCaFile
// again. Called with
// g.mu held.
func (g *Gateway) cluster(key, label string, opts resolver.Options) (*cluster, error) {
	if c := g.clusters[key]; c != nil {
		if err := c.resolver.ReloadTLSFiles(); err != nil {
			return nil, err
		}
		return c, nil
	}
	c := newCluster(key, label)
	opts.OnTLSFilesReload = func(err error) {
		if err != nil {
			g.log.Warn("cluster TLS files (client certificate, serverCaFile) changed but do not load; the previous ones stay in use",
				"cluster", label, "error", err)
		} else {
			g.log.Info("cluster TLS files (client certificate, serverCaFile) reloaded", "cluster", label)
		}
	}
	user := opts.OnNamingCall
	opts.OnNamingCall = func(call resolver.NamingCall) {
		if call.Status != 0 {
			c.markReady()
		}
		if call.Err != nil {
			g.log.Debug("naming call failed", "cluster", label, "op", call.Op, "endpoint", call.Endpoint,
				"status", call.Status, "duration", call.Duration, "error", call.Err)
		}
		if user != nil {
			user(call)
		}
	}
	r, err := g.opts.newNamer(opts)
	if err != nil {
		return nil, err
	}
	c.resolver = r
	g.clusters[key] = c
	return c, nil
}

// use makes rt current, counts cluster users, and closes what the previous configuration alone used.
// Called with g.mu held.
func (g *Gateway) use(rt, old *compiled) {
	for _, c := range rt.clusters {
		c.users++
	}
	g.rt.Store(rt)
	if old != nil {
		for _, c := range old.clusters {
			c.users--
		}
		old.basePool.closeIdle()
		for _, b := range old.backends {
			b.pool.closeIdle()
		}
	}
	g.dropUnusedClusters()
	g.startProbes(rt)
}

// dropUnusedClusters closes resolvers no configuration uses. Called with g.mu held.
func (g *Gateway) dropUnusedClusters() {
	for k, c := range g.clusters {
		if c.users <= 0 {
			if c.resolver != nil {
				c.resolver.Close()
			}
			delete(g.clusters, k)
		}
	}
}

// Reload compiles cfg and, only if that succeeds, makes it serve new requests; requests in flight finish on
// the configuration they started with. A bad configuration leaves the current one serving. Listener
// addresses and the limits the client listener's server reads at start need a restart
// (config.Limits.RestartOnly); the other limits apply to the requests that start after the reload.
func (g *Gateway) Reload(cfg *config.Config) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return errors.New("gateway is shut down")
	}
	var nextTLS *certfile.Loaded[*tls.Config]
	if cfg.TLS != nil && g.tls != nil {
		var err error
		if nextTLS, err = prepareListenerTLS(cfg); err != nil { // the files are re-read on every reload
			g.metrics.reloadsFailed.Add(1)
			return config.Errors{err.(*config.Error)}
		}
	}
	served := cfg.TLS
	if (cfg.TLS != nil) != (g.tls != nil) { // the listener keeps its protocol, and its settings, until a restart
		served = nil
		if g.tls != nil {
			served = g.tls.settings
		}
	}
	rt, err := compile(cfg, served, g, g.metrics)
	if err != nil {
		g.dropUnusedClusters()
		g.metrics.reloadsFailed.Add(1)
		return err
	}
	old := g.rt.Load()
	// The previous configuration's secrets stay masked until the next reload: requests in flight on it may still
	// log a value that was just replaced (a refreshed Key Vault secret, a changed env: or file: value).
	next := configSecrets(cfg)
	g.secrets.Store(newRedactor(append(next, g.shown...)))
	g.shown = next
	g.adminGuard.Store(newAdminGuard(cfg))
	g.use(rt, old)
	if nextTLS != nil {
		g.tls.commit(nextTLS, cfg.TLS)
	} else if (cfg.TLS != nil) != (g.tls != nil) {
		g.log.Warn("adding or removing tls: takes effect after a restart; the client listener keeps its protocol")
	}
	g.accessLog.Store(cfg.Log.AccessLog())
	g.metrics.reloadsOK.Add(1)
	g.log.Info("configuration reloaded", "file", cfg.File, "apis", len(cfg.APIs), "backends", len(cfg.Backends))
	return nil
}

// startProbes asks each cluster of rt for the partitions of one of its services until naming answers once,
// so that /readyz turns ready before the first request. Called with g.mu held.
func (g *Gateway) startProbes(rt *compiled) {
	if g.probes != nil {
		g.probes()
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.probes = cancel
	for _, c := range rt.clusters {
		if c.ready.Load() {
			continue
		}
		var service string
		for _, b := range rt.backends {
			if b.sf != nil && b.sf.cluster == c {
				service = b.urlStr
				break
			}
		}
		go g.probe(ctx, c, service)
	}
}

func (g *Gateway) probe(ctx context.Context, c *cluster, service string) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.MaxElapsedTime = 100*time.Millisecond, 5*time.Second, 0
	for !c.ready.Load() {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.resolver.Scheme(pctx, service)
		cancel()
		if err == nil || errors.Is(err, resolver.ErrServiceNotFound) {
			c.markReady()
			return
		}
		if ctx.Err() != nil || errors.Is(err, resolver.ErrClosed) {
			return
		}
		g.log.Debug("cluster not answering yet", "cluster", c.label, "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(bo.NextBackOff()):
		}
	}
}

// Ready reports whether the gateway is not draining, the configuration is loaded and every cluster it uses
// has answered once.
func (g *Gateway) Ready() bool {
	rt := g.rt.Load()
	if rt == nil || g.draining.Load() {
		return false
	}
	for _, c := range rt.clusters {
		if !c.ready.Load() {
			return false
		}
	}
	return true
}

// WaitReady blocks until Ready or ctx ends.
func (g *Gateway) WaitReady(ctx context.Context) error {
	rt := g.rt.Load()
	for _, c := range rt.clusters {
		select {
		case <-c.readyCh:
		case <-ctx.Done():
			return fmt.Errorf("cluster %s not ready: %w", c.label, ctx.Err())
		}
	}
	return nil
}

// Handler returns the client-facing request handler (for embedding in another fasthttp server).
func (g *Gateway) Handler() fasthttp.RequestHandler { return g.serveHTTP }

// Serve serves client requests on ln until Shutdown; its connections apply deadlines lazily
// (lazyDeadlineConn).
func (g *Gateway) Serve(ln net.Listener) error {
	if !g.track(ln) {
		return nil
	}
	var served net.Listener = lazyDeadlineListener{ln}
	if g.tls != nil {
		// The TLS conn wraps the lazy-deadline conn, so that fasthttp sees a *tls.Conn (IsTLS, hence
		// X-Forwarded-Proto: https) and the record layer's deadlines still go through lazyDeadlineConn.
		served = tls.NewListener(served, g.tls.serverConfig())
	}
	err := g.server.Serve(served)
	if err != nil && !g.isClosed() {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	return nil
}

// ServeAdmin serves the admin endpoints (/healthz /readyz /metrics /debug/resolve /debug/cache
// /debug/pprof/) on ln until Shutdown.
func (g *Gateway) ServeAdmin(ln net.Listener) error {
	if !g.track(ln) {
		return nil
	}
	return g.serveHTTPServer(ln, &g.admin, g.AdminHandler, "admin")
}

// ServeHealth serves only /healthz and /readyz on ln until Shutdown: a listener for probes that must not
// reach the admin endpoints (config "health").
func (g *Gateway) ServeHealth(ln net.Listener) error {
	if !g.track(ln) {
		return nil
	}
	return g.serveHTTPServer(ln, &g.health, g.HealthHandler, "health")
}

// serveHTTPServer serves ln with the http.Server *srv, created with handler on first use.
func (g *Gateway) serveHTTPServer(ln net.Listener, srv **http.Server, handler func() http.Handler, name string) error {
	g.mu.Lock()
	if *srv == nil {
		*srv = &http.Server{Handler: handler(), ReadHeaderTimeout: 10 * time.Second}
	}
	s := *srv
	g.mu.Unlock()
	if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !g.isClosed() {
		return fmt.Errorf("serve %s %s: %w", name, ln.Addr(), err)
	}
	return nil
}

// track records a listener that Shutdown must close; false (and ln closed) when Shutdown already ran, so
// that a Serve racing a Shutdown returns instead of serving forever.
func (g *Gateway) track(ln net.Listener) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		ln.Close()
		return false
	}
	g.listeners = append(g.listeners, ln)
	return true
}

func (g *Gateway) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// Drain marks the gateway as going away: from now on /readyz answers 503 so that load balancers stop
// sending, while Serve goes on accepting and serving until Shutdown.
func (g *Gateway) Drain() { g.draining.Store(true) }

// Shutdown stops accepting connections, waits for in-flight requests (streamed responses too) to finish or ctx
// to end, then cuts the streams still running and closes the upgraded (WebSocket) tunnels, the admin and health
// listeners, the connection pools and the resolvers.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	if g.tls != nil {
		g.tls.close()
	}
	if g.probes != nil {
		g.probes()
	}
	servers := []*http.Server{g.admin, g.health}
	g.mu.Unlock()

	err := g.server.ShutdownWithContext(ctx)
	// The requests are done, or ctx ended: streams still running are cut (the server waited for them until
	// ctx ended), and the tunnels end (hijacked connections are not the server's, it waits for none).
	g.streams.abortAll()
	g.tunnels.abortAll()
	for _, srv := range servers {
		if srv == nil {
			continue
		}
		if serr := srv.Shutdown(ctx); serr != nil && err == nil {
			err = serr
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, ln := range g.listeners {
		ln.Close() // also one a racing Serve call had not yet handed to its server
	}
	if rt := g.rt.Load(); rt != nil {
		rt.basePool.closeIdle()
		for _, b := range rt.backends {
			b.pool.closeIdle()
		}
	}
	for k, c := range g.clusters {
		c.resolver.Close()
		delete(g.clusters, k)
	}
	return err
}

// newServer builds the client-facing fasthttp server from the configuration's limits.
func (g *Gateway) newServer(cfg *config.Config) *fasthttp.Server {
	lim := cfg.Limits
	return &fasthttp.Server{
		Handler:                      g.serveHTTP,
		ErrorHandler:                 g.serverError,
		Concurrency:                  lim.MaxConcurrentRequests,
		ReadBufferSize:               lim.MaxHeaderBytes,
		MaxRequestBodySize:           orNoLimit(lim.MaxBodyBytes),
		StreamRequestBody:            true, // readBody buffers bodies as they arrive, within limits.maxBufferedBodyBytes
		ReadTimeout:                  lim.ReadTimeout,
		WriteTimeout:                 lim.WriteTimeout,
		IdleTimeout:                  lim.IdleTimeout,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       slogPrinter{g.log},
	}
}

// serverError answers requests fasthttp could not read (too large, malformed, too slow) with a JSON error.
func (g *Gateway) serverError(ctx *fasthttp.RequestCtx, err error) {
	re := &requestError{Status: fasthttp.StatusBadRequest, Code: CodeBadRequest, Message: "malformed HTTP request", Err: err}
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		re.Status, re.Code = fasthttp.StatusRequestHeaderFieldsTooLarge, CodeRequestHeaderTooLarge
		re.Message = "the request head is larger than limits.maxHeaderBytes"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		re.Status, re.Code = fasthttp.StatusRequestEntityTooLarge, CodeRequestEntityTooLarge
		re.Message = "the request body is larger than limits.maxBodyBytes"
	case isTimeout(err):
		re.Status, re.Code = fasthttp.StatusRequestTimeout, CodeRequestTimeout
		re.Message = "the request was not received within limits.readTimeout"
	}
	g.metrics.unrouted.count(re.Status, 0, 0, false)
	writeError(ctx, re, nil, nil)
	ctx.SetConnectionClose()
}

// slogPrinter adapts slog to fasthttp's Logger.
type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Printf(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "fasthttp")
}
