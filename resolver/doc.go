// Package resolver is the cached Service Fabric naming client: it turns (service, partition key) into an
// immutable Snapshot of the partition's replicas and their parsed listeners.
//
// Place in the data flow (docs/design.md §1, step 3): the gateway maps a request to an SF service name and a key,
// calls Resolver.Resolve, picks an endpoint with Snapshot.Replicas.Select, forwards, and on a failure that
// means "the endpoint moved" calls Resolver.Invalidate with the snapshot's Version before trying again.
//
//	gateway ─▶ Resolve(service, key) ─▶ scheme cache ─▶ partition.Scheme.Find(key) ─▶ snapshot slot (atomic)
//	                                        │ miss: GetPartitions (all pages)           │ miss / stale / complaint:
//	                                        ▼                                           ▼ ResolvePartition
//	                               SF HTTP gateway (azcore pipeline: request IDs, auth, failover across endpoints)
//
// Caching. A service's partition scheme (GetPartitions → partition.NewScheme) is cached per service; each of
// its partitions has a slot holding an atomic pointer to the current Snapshot. A key is mapped to its
// partition locally and resolved with a representative key of that partition, so any number of distinct
// keys costs one naming call per partition. A hit is a copy-on-write map lookup, Scheme.Find, one atomic
// load of the snapshot and of its "stale" flag (set by a timer RefreshAfter after the answer, so the hit path
// never reads the clock), and a striped hit counter: no lock, no allocation. Both caches are bounded golang-lru lists updated only on
// misses; hits set a "used" flag that gives an entry a second chance at eviction time (CLOCK), so the hot
// path never takes the LRU's lock.
//
// Consistency. Concurrent misses for one partition share one naming call (singleflight); so do concurrent
// complaints about one version. A complaint (Invalidate) about a version the cache no longer holds returns the
// newer snapshot without a call; otherwise it re-resolves with PreviousRspVersion, sent verbatim, which makes
// SF's gateway refresh its own naming cache. Versions never go backwards: an answer is installed only if it
// is not older, by (Generation, FMVersion) decoded from the Version string (which itself is always sent back
// verbatim), than the cached one, so a late plain answer, or one from a gateway node with an older cache,
// never replaces a complaint's newer answer. Answers for a service whose scheme was dropped or evicted
// during the call are returned but not cached. Complaint answers SF rejects with 409
// FABRIC_E_SERVICE_METADATA_MISMATCH are asked again once without PreviousRspVersion; 404
// FABRIC_E_PARTITION_NOT_FOUND or FABRIC_E_INVALID_PARTITION_KEY for a key of the cached scheme drop the
// scheme, which is read again once. Close cancels every naming call and background refresh and waits for
// them.
//
// Staleness. A snapshot older than RefreshAfter is still served while one background refresh runs; while
// naming fails it keeps being served for StaleGrace more, after which Resolve waits for naming and fails
// with ErrUnavailable. "Service does not exist" is remembered for NegativeTTL. A ResolvePartition answer for
// a partition ID the scheme does not know means the service was re-created: the scheme is dropped and read
// again.
//
// Deadlines. ResolveTimeout (default 5s) bounds every lookup that waits for naming, from its start: the
// scheme listing and ResolvePartition of an uncached partition together, with every attempt, failover and
// backoff; likewise a complaint, a Scheme call and a background refresh. A naming operation shared by
// several callers runs on the Resolver's own context (Close cancels it) with the deadline of the caller that
// started it, so a caller whose context ends returns at once without cancelling the operation for the
// others, and each caller returns at the latest at its own deadline with ErrTimeout naming the management
// endpoints. CallTimeout (default 2s, at most ResolveTimeout) bounds one attempt: an endpoint that has not
// answered by then (a hung node that accepts TCP and never answers) is given up and the next one tried.
//
// Naming client. Calls go through an azcore pipeline (azcore's retries off) with a per-attempt timeout, an
// X-ServiceFabricRequestId per attempt, the OnNamingCall hook, and the auth policy. Failover: connection
// failures, call timeouts and 5xx move to the next management endpoint after a jittered exponential backoff
// (cenkalti/backoff), up to MaxAttempts attempts, and the endpoint that answered is tried first next time. Auth: none; X.509 client
// certificate (TLS renegotiation allowed, HTTP/1.1 only; its files are re-read when their contents change and
// on ReloadTLSFiles, and new connections present the new certificate while the caches stay, see
// internal/certfile; Auth.RootCAFile, the CA bundle, likewise) with server validation by thumbprint list (several during a rollover) or by
// X.509 name + issuer thumbprints; Azure AD bearer tokens from an azidentity credential with scope
// "<cluster app ID>/.default" through azcore's bearer-token policy (which caches and refreshes the token).
// Decision: a credential with a plain-http endpoint is refused by New unless Auth.AllowBearerOverHTTP is set
// (then azcore's InsecureAllowCredentialWithHTTP is set too) — only for a local fake cluster.
//
// Errors are returned, never logged: sentinels (ErrServiceNotFound, ErrInvalidPartitionKey, ErrTimeout,
// ErrNotReady, ErrUnauthorized, ErrUnavailable, ErrClosed) for errors.Is, and *FabricError with SF's code.
package resolver
