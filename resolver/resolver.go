package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"

	"github.com/sfgate/sfgate/internal/certfile"
	"github.com/sfgate/sfgate/listener"
	"github.com/sfgate/sfgate/partition"
)

// Snapshot is the resolution of one partition: immutable once published, shared by every caller that
// receives it. Never modify it.
type Snapshot struct {
	Service   string         // fabric:/App/Svc, as passed to Resolve
	Partition partition.Info // the partition the key mapped to
	Version   string         // SF Version string, verbatim; pass it to Invalidate as seenVersion
	Replicas  *listener.Set  // the replicas SF returned (never nil; may be empty)
	Resolved  time.Time      // when the answer arrived

	stale     atomic.Bool // set by a timer RefreshAfter after Resolved: hits then trigger a refresh
	stopTimer func() bool // cancels that timer (noTimer until the snapshot is installed in a slot)
	expireAt  time.Time   // Resolved + RefreshAfter + StaleGrace: past this the snapshot is not served
	version   version     // Version decoded for ordering (never re-encoded)
}

func noTimer() bool { return false }

// newerThan reports whether s is known to be newer than the answer with Version raw (decoded v): by
// (Generation, FMVersion) when both decode as versions of one partition, else by the strings differing (an
// opaque version the cache no longer holds was replaced by a later answer).
func (s *Snapshot) newerThan(raw string, v version) bool {
	if order, ok := s.version.compare(v); ok {
		return order > 0
	}
	return s.Version != raw
}

// Clock is the resolver's time source; the default is the real clock. Tests inject a fake one to move time.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed; the returned stop cancels it and reports
	// whether it did.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// Options configure a Resolver. Zero values take the documented defaults.
type Options struct {
	// ManagementEndpoints are the cluster's HTTP gateway base URLs, e.g. "https://node0:19080" (required).
	// A call starts at the endpoint that answered last and fails over in order.
	ManagementEndpoints []string
	// Auth configures client authentication and server certificate validation; zero = none.
	Auth Auth
	// ResolveTimeout bounds every lookup that waits for naming: the whole resolution of an uncached
	// partition (GetPartitions for the scheme and ResolvePartition, every attempt, failover and backoff
	// included), a complaint's re-resolution, a Scheme listing and a background refresh. A caller never
	// waits longer than this or its own context; past it the lookup fails with ErrTimeout. Default 5s.
	ResolveTimeout time.Duration
	// CallTimeout bounds one naming HTTP attempt (also sent to SF as "timeout", rounded up to seconds): an
	// endpoint that has not answered by then is given up and the next one is tried. At most
	// ResolveTimeout. Default 2s.
	CallTimeout time.Duration
	// MaxAttempts bounds the attempts of one naming operation across endpoints, with jittered exponential
	// backoff (50 ms doubling, 2 s cap) between them. Default max(3, 2×len(ManagementEndpoints)).
	MaxAttempts int
	// RefreshAfter is the age after which a hit still returns the snapshot but starts one background
	// refresh. Default 5m.
	RefreshAfter time.Duration
	// StaleGrace is how long past RefreshAfter a snapshot keeps being served while naming fails; after it,
	// Resolve waits for naming and fails with ErrUnavailable if naming still fails. Default 2m.
	StaleGrace time.Duration
	// NegativeTTL is how long "service does not exist" is remembered. Default 5s; negative disables.
	NegativeTTL time.Duration
	// MaxServices bounds the partition-scheme cache. Default 1024.
	MaxServices int
	// MaxPartitions bounds the snapshot cache. Default 65536.
	MaxPartitions int
	// OnNamingCall, if set, is called after every naming HTTP attempt (for logs and traces). It must not block.
	OnNamingCall func(NamingCall)
	// Transport replaces the built-in HTTP client (and then Auth's TLS settings are not applied).
	Transport policy.Transporter
	// CertPollInterval is how often Auth's client certificate files and RootCAFile are checked for changes;
	// files that changed and load are used by the next new naming connection (idle connections are closed),
	// ones that do not leave the previous certificate and CAs in use. Default certfile.PollInterval (5s).
	CertPollInterval time.Duration
	// OnTLSFilesReload, if set, is called after each check that found the client certificate files or
	// RootCAFile changed: nil when the new files are in use, else why they are not (the error names the
	// file). For logs.
	OnTLSFilesReload func(error)
	// Clock is the time source for snapshot ages; default the real clock.
	Clock Clock
}

// Defaults applied by New.
const (
	DefaultResolveTimeout = 5 * time.Second
	DefaultCallTimeout    = 2 * time.Second
	DefaultRefreshAfter   = 5 * time.Minute
	DefaultStaleGrace     = 2 * time.Minute
	DefaultNegativeTTL    = 5 * time.Second
	DefaultMaxServices    = 1024
	DefaultMaxPartitions  = 65536
)

// refreshRetryInterval spaces background refreshes of one partition while naming keeps failing.
const refreshRetryInterval = time.Second

// secondChanceScan bounds how many recently used entries an eviction may skip (CLOCK-style second chance:
// hits set a flag instead of reordering the LRU, so the hot path never takes the lock).
const secondChanceScan = 16

// Resolver resolves (service, partition key) to partition snapshots of one cluster, with caches in front of
// the naming client. It is safe for concurrent use and must not be copied. Close stops its background work.
type Resolver struct {
	client         *namingClient
	clock          Clock
	resolveTimeout time.Duration
	refreshAfter   time.Duration
	staleGrace     time.Duration
	negativeTTL    time.Duration
	maxServices    int
	maxPartitions  int

	services atomic.Pointer[map[string]*serviceEntry] // copy-on-write read side of the scheme cache

	mu        sync.Mutex // guards writes to services and the three LRUs
	schemeLRU *simplelru.LRU[string, *serviceEntry]
	snapLRU   *simplelru.LRU[string, *slot]
	negative  *simplelru.LRU[string, negativeEntry]
	removing  bool // set while entries are removed on purpose (not evicted for capacity)

	flights singleflight.Group
	stats   *counters // separate allocation: its hit stripes share no cache line with the read-mostly fields above

	tls            *tlsClient             // nil without client certificate files or RootCAFile
	testHookJoined func(flightKey string) // tests only: called after a caller joined (or started) a flight

	ctx     context.Context // cancelled by Close; parent of naming calls shared by several callers
	cancel  context.CancelFunc
	life    sync.RWMutex // orders flight and refresh starts against Close
	closed  atomic.Bool
	workers sync.WaitGroup // running flights and background refreshes; Close waits for them
}

// serviceEntry is one cached partition scheme with a snapshot slot per partition.
type serviceEntry struct {
	service string
	id      string // REST path ID (App~Svc)
	scheme  *partition.Scheme
	slots   []slot // by partition index
	used    atomic.Bool
}

// slot holds the current snapshot of one partition.
type slot struct {
	snap       atomic.Pointer[Snapshot]
	used       atomic.Bool  // second-chance flag, set by hits
	refreshing atomic.Bool  // a background refresh is running
	retryAt    atomic.Int64 // unix nanos before which no new background refresh starts
}

type negativeEntry struct {
	err   error
	until time.Time
}

// New validates opts and returns a Resolver. It does not contact the cluster.
func New(opts Options) (*Resolver, error) {
	if len(opts.ManagementEndpoints) == 0 {
		return nil, errors.New("resolver: no management endpoints (want e.g. http://localhost:19080)")
	}
	endpoints := make([]string, len(opts.ManagementEndpoints))
	for i, e := range opts.ManagementEndpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.RawQuery != "" || u.Fragment != "") {
			return nil, fmt.Errorf("resolver: management endpoint %q is not an http(s)://host:port URL", e)
		}
		if u.Scheme == "http" && opts.Auth.Credential != nil && !opts.Auth.AllowBearerOverHTTP {
			return nil, fmt.Errorf("resolver: management endpoint %q is plain http: an Azure AD token would travel in clear text (use https, or Auth.AllowBearerOverHTTP for a local test cluster)", e)
		}
		endpoints[i] = strings.TrimRight(e, "/")
	}
	o := opts
	if o.ResolveTimeout < 0 || o.CallTimeout < 0 || o.MaxAttempts < 0 {
		return nil, fmt.Errorf("resolver: ResolveTimeout %s, CallTimeout %s and MaxAttempts %d may not be negative (0 takes the default)",
			o.ResolveTimeout, o.CallTimeout, o.MaxAttempts)
	}
	setDefault(&o.ResolveTimeout, DefaultResolveTimeout)
	setDefault(&o.CallTimeout, DefaultCallTimeout)
	if o.CallTimeout > o.ResolveTimeout {
		return nil, fmt.Errorf("resolver: CallTimeout %s exceeds ResolveTimeout %s: one silent endpoint would use up the whole resolution and no failover would happen (lower CallTimeout or raise ResolveTimeout)",
			o.CallTimeout, o.ResolveTimeout)
	}
	setDefault(&o.RefreshAfter, DefaultRefreshAfter)
	setDefault(&o.StaleGrace, DefaultStaleGrace)
	setDefault(&o.NegativeTTL, DefaultNegativeTTL)
	setDefault(&o.MaxServices, DefaultMaxServices)
	setDefault(&o.MaxPartitions, DefaultMaxPartitions)
	setDefault(&o.MaxAttempts, max(3, 2*len(endpoints)))
	if o.Clock == nil {
		o.Clock = realClock{}
	}

	var perRetry []policy.Policy
	bearer, err := o.Auth.bearerPolicy()
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	if bearer != nil {
		perRetry = append(perRetry, bearer)
	}
	transport := o.Transport
	var tc *tlsClient
	if transport == nil {
		files, err := o.Auth.watchFiles()
		if err != nil {
			return nil, fmt.Errorf("resolver: %w", err)
		}
		cfg, err := o.Auth.tlsConfig(files)
		if err != nil {
			return nil, fmt.Errorf("resolver: %w", err)
		}
		tc = &tlsClient{auth: o.Auth, files: files}
		tc.client.Store(newTransport(cfg))
		transport = tc
	}

	r := &Resolver{
		clock:          o.Clock,
		resolveTimeout: o.ResolveTimeout,
		refreshAfter:   o.RefreshAfter,
		staleGrace:     o.StaleGrace,
		negativeTTL:    o.NegativeTTL,
		maxServices:    o.MaxServices,
		maxPartitions:  o.MaxPartitions,
		stats:          new(counters),
	}
	r.client = &namingClient{
		endpoints:   endpoints,
		pipeline:    newPipeline(transport, perRetry),
		callTimeout: o.CallTimeout,
		maxAttempts: o.MaxAttempts,
		backoff:     newBackoff,
		onCall:      o.OnNamingCall,
		stats:       r.stats,
	}
	empty := map[string]*serviceEntry{}
	r.services.Store(&empty)
	r.schemeLRU, _ = simplelru.NewLRU(o.MaxServices, r.onSchemeEvicted)
	r.snapLRU, _ = simplelru.NewLRU(o.MaxPartitions, r.onSnapshotEvicted)
	r.negative, _ = simplelru.NewLRU[string, negativeEntry](o.MaxServices, nil)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if tc != nil && tc.files != nil {
		r.tls = tc
		r.workers.Add(1)
		go func() {
			defer r.workers.Done()
			tc.files.Watch(r.ctx.Done(), o.CertPollInterval, func(err error) {
				if err == nil {
					err = tc.renew()
				}
				if o.OnTLSFilesReload != nil {
					o.OnTLSFilesReload(err)
				}
			})
		}()
	}
	return r, nil
}

// tlsClient is the built-in HTTP client toward the management endpoints, made anew when Auth's files
// change: the client certificate is read at each handshake, but a CA bundle is part of the TLS
// configuration, so new files take a new client (its connections are new naming connections).
type tlsClient struct {
	auth   Auth
	files  *certfile.Watched[*tlsFiles] // nil without files
	client atomic.Pointer[http.Client]
}

// Do sends req with the current client (policy.Transporter).
func (t *tlsClient) Do(req *http.Request) (*http.Response, error) { return t.client.Load().Do(req) }

// renew makes a client with what the files hold now and closes the idle connections of the previous one
// (busy ones finish their call there).
func (t *tlsClient) renew() error {
	cfg, err := t.auth.tlsConfig(t.files)
	if err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	t.client.Swap(newTransport(cfg)).CloseIdleConnections()
	return nil
}

// ReloadTLSFiles reads Auth's client certificate files and RootCAFile again now (on SIGHUP) rather than at
// the next check. When they changed and load, new naming connections present the new certificate and
// validate against the new CAs, and idle ones are closed; when they do not load, the error names the file
// and the previous certificate and CAs stay in use. The caches are untouched. Without files it does nothing.
func (r *Resolver) ReloadTLSFiles() error {
	if r.tls == nil {
		return nil
	}
	changed, err := r.tls.files.Reload()
	if err != nil {
		return fmt.Errorf("resolver: %w", err)
	}
	if changed {
		return r.tls.renew()
	}
	return nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Resolve returns the current snapshot of the partition of service that holds key (the key is parsed per
// the service's scheme: decimal int64, partition name, or ignored for Singleton). A cache hit takes no
// lock and allocates nothing. On a miss, concurrent callers for one partition share one naming call, and
// each returns at its context's end or ResolveTimeout after it called, whichever comes first.
//
// Errors: ErrInvalidPartitionKey (with a *partition.KeyError), ErrServiceNotFound, ErrUnavailable,
// ErrTimeout, ErrNotReady, ErrUnauthorized, other *FabricError, the context's error, ErrClosed.
func (r *Resolver) Resolve(ctx context.Context, service string, key []byte) (*Snapshot, error) {
	if e := (*r.services.Load())[service]; e != nil {
		if i, err := e.scheme.Find(key); err == nil {
			sl := &e.slots[i]
			if s := sl.snap.Load(); s != nil && !s.stale.Load() {
				if !e.used.Load() {
					e.used.Store(true)
				}
				if !sl.used.Load() {
					sl.used.Store(true)
				}
				r.stats.hit()
				return s, nil
			}
		}
	}
	return r.resolveSlow(ctx, r.deadline(), service, key, true)
}

// deadline is when a lookup starting now stops waiting for naming.
func (r *Resolver) deadline() time.Time { return time.Now().Add(r.resolveTimeout) }

// resolveSlow handles everything but a fresh hit; naming waits end at deadline. retry allows one restart
// when the service turns out to have been re-created with other partitions.
func (r *Resolver) resolveSlow(ctx context.Context, deadline time.Time, service string, key []byte, retry bool) (*Snapshot, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	e, err := r.entry(ctx, deadline, service)
	if err != nil {
		return nil, err
	}
	i, err := e.scheme.Find(key)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w: %w", service, ErrInvalidPartitionKey, err)
	}
	sl := &e.slots[i]
	old := sl.snap.Load()
	now := r.clock.Now()
	if old != nil {
		if !old.stale.Load() {
			sl.used.Store(true)
			r.stats.hit()
			return old, nil
		}
		if now.Before(old.expireAt) {
			r.stats.hit()
			r.stats.staleHits.Add(1)
			r.refreshInBackground(e, i, now)
			return old, nil
		}
	}
	r.stats.misses.Add(1)
	s, err := r.fetch(ctx, deadline, e, i, "")
	if errors.Is(err, errSchemeChanged) && retry {
		return r.resolveSlow(ctx, deadline, service, key, false)
	}
	if err != nil && old != nil && !errors.Is(err, ErrServiceNotFound) && ctx.Err() == nil {
		return nil, fmt.Errorf("%w: %s partition %s: the last good snapshot is %s old, past RefreshAfter %s + StaleGrace %s: %w",
			ErrUnavailable, service, old.Partition.ID, now.Sub(old.Resolved).Round(time.Millisecond), r.refreshAfter, r.staleGrace, err)
	}
	return s, err
}

// Invalidate is a complaint: the endpoint taken from the snapshot with seenVersion did not work. If the cache
// already holds a newer version, that one is returned without a naming call ("newer" by (Generation,
// FMVersion) when both versions decode as SF versions of the partition, else simply another version).
// Otherwise one ResolvePartition with PreviousRspVersion=seenVersion is made (concurrent complaints about the
// same version share it) and its answer returned; SF may return the same version when it knows nothing newer
// (e.g. the partition still has no primary: complain again after a backoff).
func (r *Resolver) Invalidate(ctx context.Context, service string, key []byte, seenVersion string) (*Snapshot, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	r.stats.invalidations.Add(1)
	deadline := r.deadline()
	e, err := r.entry(ctx, deadline, service)
	if err != nil {
		return nil, err
	}
	i, err := e.scheme.Find(key)
	if err != nil {
		return nil, fmt.Errorf("invalidate %s: %w: %w", service, ErrInvalidPartitionKey, err)
	}
	if cur := e.slots[i].snap.Load(); cur != nil && cur.newerThan(seenVersion, parseVersion(seenVersion)) {
		r.stats.invalidationsNewer.Add(1)
		return cur, nil
	}
	s, err := r.fetch(ctx, deadline, e, i, seenVersion)
	if errors.Is(err, errSchemeChanged) {
		return r.resolveSlow(ctx, deadline, service, key, false)
	}
	return s, err
}

// Scheme returns the partition scheme of service (from the cache, or one GetPartitions listing).
func (r *Resolver) Scheme(ctx context.Context, service string) (*partition.Scheme, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	e, err := r.entry(ctx, r.deadline(), service)
	if err != nil {
		return nil, err
	}
	return e.scheme, nil
}

// Stats returns a copy of the counters. It does not allocate.
func (r *Resolver) Stats() Stats {
	s := r.stats.snapshot()
	r.mu.Lock()
	s.Services, s.Partitions = r.schemeLRU.Len(), r.snapLRU.Len()
	r.mu.Unlock()
	return s
}

// Close cancels in-flight naming calls and background refreshes and waits for them. Later calls fail with
// ErrClosed. Close is idempotent.
func (r *Resolver) Close() error {
	r.life.Lock()
	r.closed.Store(true)
	r.life.Unlock()
	r.cancel()
	r.workers.Wait()
	r.mu.Lock()
	r.removing = true
	r.schemeLRU.Purge() // empties the services map and the snapshot slots of every service
	r.snapLRU.Purge()   // stops the refresh timers
	r.negative.Purge()
	r.removing = false
	r.mu.Unlock()
	return nil
}

// startWorker registers a flight or background refresh with Close; false once the Resolver is closed.
func (r *Resolver) startWorker() bool {
	r.life.RLock()
	defer r.life.RUnlock()
	if r.closed.Load() {
		return false
	}
	r.workers.Add(1)
	return true
}

// errSchemeChanged: ResolvePartition showed that the cached scheme is out of date (an answer for another
// partition ID, FABRIC_E_PARTITION_NOT_FOUND, or FABRIC_E_INVALID_PARTITION_KEY for a key the scheme holds),
// so the service was deleted and re-created or repartitioned; the scheme entry has been dropped.
var errSchemeChanged = errors.New("resolver: the cached partition scheme no longer matches the service")

// entry returns the cached scheme entry of service, loading it (once, for concurrent callers) on a miss.
func (r *Resolver) entry(ctx context.Context, deadline time.Time, service string) (*serviceEntry, error) {
	if e := (*r.services.Load())[service]; e != nil {
		e.used.Store(true)
		return e, nil
	}
	r.mu.Lock()
	neg, ok := r.negative.Get(service)
	if ok && !r.clock.Now().Before(neg.until) {
		r.negative.Remove(service)
		ok = false
	}
	r.mu.Unlock()
	if ok {
		r.stats.negativeHits.Add(1)
		return nil, neg.err
	}
	id, err := serviceID(service)
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	v, err := r.wait(ctx, deadline, "S\x00"+service, func(flight context.Context) (any, error) {
		if e := (*r.services.Load())[service]; e != nil {
			return e, nil
		}
		infos, err := r.client.getPartitions(flight, id)
		if err != nil {
			if errors.Is(err, ErrServiceNotFound) {
				r.remember(service, fmt.Errorf("service %s: %w", service, err))
			}
			return nil, err
		}
		if len(infos) == 0 {
			return nil, fmt.Errorf("GetPartitions: service has no partitions")
		}
		scheme, err := partition.NewScheme(infos[0].Kind, infos)
		if err != nil {
			return nil, fmt.Errorf("GetPartitions: %w", err)
		}
		e := &serviceEntry{service: service, id: id, scheme: scheme, slots: make([]slot, scheme.Len())}
		r.addService(e)
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", service, err)
	}
	return v.(*serviceEntry), nil
}

// fetch resolves partition i of e through one shared naming call and installs the answer, unless a newer
// snapshot was installed meanwhile (then that one is returned). prev is sent as PreviousRspVersion.
//
// SF answers that mean the cached scheme no longer matches the service (FABRIC_E_PARTITION_NOT_FOUND, or
// FABRIC_E_INVALID_PARTITION_KEY for a representative key of the cached scheme, or an answer for another
// partition ID) drop the scheme and return errSchemeChanged, so the caller reads the scheme again once.
func (r *Resolver) fetch(ctx context.Context, deadline time.Time, e *serviceEntry, i int, prev string) (*Snapshot, error) {
	sl := &e.slots[i]
	pid := e.scheme.Partition(i).ID
	v, err := r.wait(ctx, deadline, "P\x00"+pid+"\x00"+prev, func(flight context.Context) (any, error) {
		before := sl.snap.Load()
		switch {
		case before != nil && prev != "" && before.newerThan(prev, parseVersion(prev)):
			return before, nil // a complaint about an older version: someone already got a newer one
		case before != nil && prev == "" && !before.stale.Load():
			return before, nil // a flight that ended just before this one started already answered
		}
		if prev != "" {
			r.stats.reresolves.Add(1)
		}
		key := e.scheme.Representative(i)
		s, err := r.client.resolvePartition(flight, e.id, key, prev)
		if prev != "" && hasCode(err, "FABRIC_E_SERVICE_METADATA_MISMATCH") {
			// The complained-about version no longer fits the service (docs/servicefabric.md §6): ask again
			// without it.
			s, err = r.client.resolvePartition(flight, e.id, key, "")
		}
		switch {
		case err == nil:
		case errors.Is(err, ErrServiceNotFound):
			r.dropService(e)
			r.remember(e.service, fmt.Errorf("service %s: %w", e.service, err))
			return nil, err
		case hasCode(err, "FABRIC_E_PARTITION_NOT_FOUND") || errors.Is(err, ErrInvalidPartitionKey):
			r.dropService(e)
			return nil, fmt.Errorf("%w: %w", errSchemeChanged, err)
		default:
			return nil, err
		}
		if !strings.EqualFold(s.Partition.ID, pid) {
			r.dropService(e)
			return nil, fmt.Errorf("%w: partition %s of %s is now %s", errSchemeChanged, pid, e.service, s.Partition.ID)
		}
		s.Service = e.service
		s.Resolved = r.clock.Now()
		s.expireAt = s.Resolved.Add(r.refreshAfter + r.staleGrace)
		return r.install(e, i, before, s), nil
	})
	if err != nil {
		return nil, fmt.Errorf("resolve %s partition %s: %w", e.service, pid, err)
	}
	return v.(*Snapshot), nil
}

// hasCode reports whether err carries an SF error answer with the given code.
func hasCode(err error, code string) bool {
	var fe *FabricError
	return errors.As(err, &fe) && fe.Code == code
}

// install makes s the snapshot of partition i of e and returns it, with two exceptions. If the slot holds a
// newer version (a complaint was answered while this call was under way, or this answer came from a gateway
// node with an older cache), the slot is kept and its snapshot returned: versions never go backwards. If e
// is no longer the cached entry of its service (dropped or evicted during the call), s is returned uncached,
// so the snapshot cache only ever holds slots of cached services.
//
// Versions are ordered by (Generation, FMVersion). When they cannot be decoded, the slot's snapshot is kept
// only if it was installed after before was read and differs from both before and s.
func (r *Resolver) install(e *serviceEntry, i int, before, s *Snapshot) *Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.schemeLRU.Peek(e.service); !ok || cur != e {
		return s
	}
	sl := &e.slots[i]
	if cur := sl.snap.Load(); cur != nil {
		order, ok := cur.version.compare(s.version)
		newer := ok && order > 0
		opaqueNewer := !ok && cur != before && (before == nil || cur.Version != before.Version) && cur.Version != s.Version
		if newer || opaqueNewer {
			return cur
		}
		cur.stopTimer()
	}
	s.stopTimer = r.clock.AfterFunc(r.refreshAfter, func() { s.stale.Store(true) })
	sl.snap.Store(s)
	pid := e.scheme.Partition(i).ID
	if held, ok := r.snapLRU.Peek(pid); ok && held == sl {
		r.snapLRU.Get(pid) // refresh recency
		return s
	}
	makeRoom(r.snapLRU, r.maxPartitions, func(x *slot) *atomic.Bool { return &x.used })
	r.snapLRU.Add(pid, sl)
	return s
}

// wait runs fn once per key for concurrent callers (a flight). The flight's context is the Resolver's, which
// Close cancels, bounded by the deadline of the caller that started it: a caller whose own context ends
// never cancels the flight for the others. Each caller stops waiting at the first of the flight's answer,
// the end of its ctx (returning ctx's error) and its own deadline (returning a *resolveTimeoutError). A
// flight runs as a worker that Close waits for; none starts after Close.
func (r *Resolver) wait(ctx context.Context, deadline time.Time, key string, fn func(flight context.Context) (any, error)) (any, error) {
	ch := r.flights.DoChan(key, func() (any, error) {
		if !r.startWorker() {
			return nil, ErrClosed
		}
		defer r.workers.Done()
		flight, cancel := context.WithDeadline(r.ctx, deadline)
		defer cancel()
		v, err := fn(flight)
		if errors.Is(err, context.DeadlineExceeded) && errors.Is(flight.Err(), context.DeadlineExceeded) {
			err = r.timeoutError(err)
		}
		return v, err
	})
	if r.testHookJoined != nil {
		r.testHookJoined(key)
	}
	var expired <-chan time.Time
	if d, ok := ctx.Deadline(); !ok || d.After(deadline) {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		expired = t.C
	}
	select {
	case res := <-ch:
		return r.flightResult(res)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-expired:
		select {
		case res := <-ch: // the flight this caller started ends at the same deadline: prefer its own error
			return r.flightResult(res)
		default:
			r.stats.resolveTimeouts.Add(1)
			return nil, r.timeoutError(nil)
		}
	}
}

// flightResult is a caller's view of a flight's answer.
func (r *Resolver) flightResult(res singleflight.Result) (any, error) {
	switch {
	case res.Err == nil:
		return res.Val, nil
	case r.closed.Load() && errors.Is(res.Err, context.Canceled):
		return nil, ErrClosed
	case errors.As(res.Err, new(*resolveTimeoutError)):
		r.stats.resolveTimeouts.Add(1)
	}
	return nil, res.Err
}

// timeoutError reports a lookup that reached ResolveTimeout; last is the flight's error, if known.
func (r *Resolver) timeoutError(last error) error {
	return &resolveTimeoutError{timeout: r.resolveTimeout, endpoints: r.client.endpoints, last: last}
}

// refreshInBackground starts one refresh of partition i unless one is running or naming failed just now.
func (r *Resolver) refreshInBackground(e *serviceEntry, i int, now time.Time) {
	sl := &e.slots[i]
	if now.UnixNano() < sl.retryAt.Load() || !sl.refreshing.CompareAndSwap(false, true) {
		return
	}
	if !r.startWorker() {
		sl.refreshing.Store(false)
		return
	}
	r.stats.refreshes.Add(1)
	go func() {
		defer r.workers.Done()
		defer sl.refreshing.Store(false)
		// A failure, or an answer older than the cached one (a gateway node with an older cache), leaves the
		// snapshot stale: wait a little before the next attempt instead of refreshing on every hit.
		if s, err := r.fetch(r.ctx, r.deadline(), e, i, ""); err != nil || s.stale.Load() {
			sl.retryAt.Store(r.clock.Now().Add(refreshRetryInterval).UnixNano())
		}
	}()
}

// remember puts a "service does not exist" answer into the negative cache.
func (r *Resolver) remember(service string, err error) {
	if r.negativeTTL < 0 {
		return
	}
	r.mu.Lock()
	r.negative.Add(service, negativeEntry{err: err, until: r.clock.Now().Add(r.negativeTTL)})
	r.mu.Unlock()
}

// addService publishes a new scheme entry (copy-on-write map) and makes room in the scheme LRU.
func (r *Resolver) addService(e *serviceEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.negative.Remove(e.service)
	if _, ok := r.schemeLRU.Peek(e.service); ok { // replaced, not evicted: drop the old entry's snapshots too
		r.removing = true
		r.schemeLRU.Remove(e.service)
		r.removing = false
	}
	makeRoom(r.schemeLRU, r.maxServices, func(x *serviceEntry) *atomic.Bool { return &x.used })
	r.schemeLRU.Add(e.service, e)
	r.storeServices(func(m map[string]*serviceEntry) { m[e.service] = e })
}

// dropService removes e (if still current) and its snapshots.
func (r *Resolver) dropService(e *serviceEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.schemeLRU.Peek(e.service); ok && cur == e {
		r.removing = true
		r.schemeLRU.Remove(e.service)
		r.removing = false
	}
}

// onSchemeEvicted runs under r.mu when an entry leaves the scheme LRU (capacity or dropService).
func (r *Resolver) onSchemeEvicted(service string, e *serviceEntry) {
	if !r.removing {
		r.stats.schemeEvictions.Add(1)
	}
	r.storeServices(func(m map[string]*serviceEntry) {
		if m[service] == e {
			delete(m, service)
		}
	})
	removing := r.removing
	r.removing = true
	for i := range e.slots {
		pid := e.scheme.Partition(i).ID
		if sl, ok := r.snapLRU.Peek(pid); ok && sl == &e.slots[i] {
			r.snapLRU.Remove(pid)
		}
	}
	r.removing = removing
}

// onSnapshotEvicted runs under r.mu when a partition leaves the snapshot LRU.
func (r *Resolver) onSnapshotEvicted(_ string, sl *slot) {
	if !r.removing {
		r.stats.snapshotEviction.Add(1)
	}
	if old := sl.snap.Swap(nil); old != nil {
		old.stopTimer()
	}
}

// storeServices publishes a modified copy of the services map. Called with r.mu held.
func (r *Resolver) storeServices(edit func(map[string]*serviceEntry)) {
	old := *r.services.Load()
	m := make(map[string]*serviceEntry, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	edit(m)
	r.services.Store(&m)
}

// makeRoom gives recently used entries at the cold end of a full LRU a second chance (their used flag is
// cleared and they move to the warm end), so the next Add evicts an entry that was not used since its last
// pass. Called with r.mu held.
func makeRoom[V any](l *simplelru.LRU[string, V], capacity int, used func(V) *atomic.Bool) {
	if l.Len() < capacity {
		return
	}
	for range secondChanceScan {
		k, v, ok := l.GetOldest()
		if !ok || !used(v).Load() {
			return
		}
		used(v).Store(false)
		l.Get(k)
	}
}
