// Package config reads sfgate's YAML configuration (step 0 of the data flow in docs/design.md §1: what the gateway
// routes, to which backends, with which policies). Field names follow Azure API Management where APIM has the
// concept. Decoding walks yaml.Node trees so that every error carries file:line:col; unknown fields, duplicate
// keys and wrong types are errors, and all of them are reported at once (Errors). Policy documents given as
// file paths are read here, relative to the configuration file; their XML is compiled by package gateway.
//
// Reference (defaults in parentheses):
//
//	listen: 127.0.0.1:8080            client listener (127.0.0.1:8080)
//	tls:                              the client listener serves HTTPS (off: plain HTTP)
//	  certificates:                   PEM chain + key; SNI picks by the certificates' DNS names, the first is the default
//	    - {certFile: server.pem, keyFile: server-key.pem}
//	  minVersion: "1.2"               "1.2" | "1.3"
//	  clientCertificate: none         none | optional | required (mutual TLS), checked against clientCaFile
//	  clientCaFile: clients-ca.pem    PEM bundle of the CAs client certificates must chain to
//	trustedProxies: [10.0.0.0/8]      proxies whose X-Forwarded-For/-Proto/-Host are kept (CIDR or address; none)
//	admin: 127.0.0.1:9901             admin listener: /healthz /readyz /metrics /debug/resolve /debug/cache /debug/breakers /debug/routes /debug/pprof (off)
//	adminAuth:                        when set, /metrics and /debug/* need Authorization: Bearer <token>; /healthz /readyz stay open
//	  bearerToken: "{{admin-token}}"  usually a secret named value
//	adminPprof: false                 serve Go profiles under /debug/pprof/ on the admin listener
//	health: 0.0.0.0:9902              probe listener: /healthz /readyz only (off)
//	gomaxprocs: 0                     runtime.GOMAXPROCS when > 0 (Go's default)
//	drainDelay: 5s                    on SIGINT/SIGTERM: /readyz 503 at once, keep accepting this long (0 allowed)
//	shutdownTimeout: 30s              then close the listener; in-flight requests may finish this long
//	log:                              SIGHUP applies changes to all three
//	  level: info                     debug|info|warn|error (slog on stderr)
//	  format: text                    text|json; durations are seconds in both
//	  access: true                    one info line per request; 5xx are logged at warn either way
//	limits:
//	  maxHeaderBytes: 16384           request head size; larger → 431
//	  maxBodyBytes: 10485760          request body; larger → 413; 0: no limit (bodies past bufferBodyBytes stream)
//	  bufferBodyBytes: 10485760       buffered part of a request body (replayable); the rest streams, not resent. A response
//	                                  up to it is buffered; larger or chunked ones stream (maxBodyBytes, or 10485760 with 0)
//	  maxBufferedBodyBytes: 268435456 all request bodies being buffered at once; past it → 503 ServerBusy
//	  maxAttemptsPerRequest: 50       sends to backends per client request, nested retries included
//	  maxResponseBodyBytes: 104857600 backend response body; declared larger → 502, streamed past it → cut; 0: no limit
//	  maxConcurrentRequests: 10000    connections served at once (fasthttp Concurrency); more → 503
//	  requestTimeout: 120s            whole request incl. resolution and retries
//	  readTimeout: 30s                reading a request (slow clients are cut off)
//	  writeTimeout: 30s               writing a response
//	  idleTimeout: 90s                idle client keep-alive connections; and an upgraded (WebSocket) connection with no byte either way (bytes one way keep it open)
//	  tunnelMaxLifetime: 0            an upgraded (WebSocket) connection is closed this long after it opened; 0: no limit
//	namedValues:                      substituted for {{name}} in policies and backend credentials
//	  plain: value                    a plain string
//	  api-key: {value: s3cret, secret: true}                    secret: never in logs, /debug, error bodies, metrics; 4 bytes or more
//	  admin-token: {env: SFGATE_ADMIN_TOKEN, secret: true}      read at start and on SIGHUP
//	  orders-key: {file: /run/secrets/orders-key, secret: true} relative to this file; one trailing line break dropped
//	  vault-key:                                                an Azure Key Vault secret (always secret): at start, on SIGHUP, every keyVaultRefresh
//	    keyVault: {secretIdentifier: "https://myvault.vault.azure.net/secrets/orders-key"}   latest version; .../orders-key/<version> pins one
//	    secret: true
//	  partner-key: {keyVault: {secretIdentifier: "https://myvault.vault.azure.net/secrets/partner", identityClientId: <client id>}}   a user-assigned managed identity reads it
//	keyVaultRefresh: 4h               how often the Key Vault values without a version are fetched again (4h, as APIM; at least 1m)
//	policies: XML or path             global scope (APIM's default global policy when absent)
//	backends:
//	  <backend-id>:
//	    url: http://host/base/ | fabric:/App/Service   (SF: the default service name)
//	    protocol: http | soap         accepted for APIM compatibility
//	    title, description            free text
//	    timeout: 60s                  one attempt (the shorter of this and forward-request's timeout)
//	    connectTimeout: 5s            dialling one endpoint
//	    maxConnectionsPerEndpoint: 512
//	    connectionWaitTimeout: 1s     wait for a free pooled connection; then 503 BackendBusy
//	    writeConnections: pooled      pooled | fresh: a new connection for each POST/PATCH (see docs/policies.md)
//	    idleConnectionTimeout: 10s    pooled backend connections idle that long are closed
//	    credentials:                  added to every request to this backend
//	      header: {Name: [value, ...]}
//	      query: {name: [value, ...]}
//	      authorization: {scheme: Basic, parameter: "{{secret}}"}
//	      clientCertificate: {certFile: c.pem, keyFile: k.pem}   client certificate for https backends
//	    tls:
//	      validateCertificateChain: true   the chain against caFile (or the system roots)
//	      validateCertificateName: true    the name against the endpoint's host, an IP address too (each flag alone)
//	      caFile: ca.pem
//	      serverCertificateThumbprints: [SHA-1 or SHA-256 hex]   accept exactly these
//	      serverName: name            SNI and name check override
//	    circuitBreaker:               stop sending to a failing backend, partition or replica for a while
//	      rules:                      exactly one rule, as in APIM
//	        - name: orders-breaker
//	          failureCondition:
//	            count: 5                failures within the interval that trip it
//	            percentage: 50          or: failures as a share of the interval's requests (with count: both)
//	            interval: PT1M          ISO 8601 as APIM writes it, or 1m
//	            statusCodeRanges: [{min: 500, max: 599}]               responses that are failures
//	            errorReasons: [BackendConnectionFailure, Timeout]      attempt errors that are failures
//	          tripDuration: PT30S       refused (503 CircuitBreakerOpen, Retry-After) this long, then one probe
//	          acceptRetryAfter: false   a failing response's Retry-After (≤ 1h) replaces tripDuration
//	      scope: backend              backend (APIM's) | partition | replica: one breaker per SF partition or replica
//	    retryBudget: {ratio: 0.2, minPerSecond: 10}   retries of all requests ≤ ratio × requests + minPerSecond (10s window)
//	    partitionKeyHash: md5-int64   SF only: hash a string sf-partition-key to an Int64Range key: md5-int64 | fnv1a-64 (docs/policies.md)
//	    serviceFabricCluster:         makes the backend a Service Fabric service
//	      managementEndpoints: [https://cluster:19080, ...]      required
//	      maxPartitionResolutionRetries: 5                       0..10
//	      resolveTimeout: 5s                                     a whole naming lookup, failovers included; → 503
//	      callTimeout: 2s                                        one naming call; a silent endpoint is left for the next
//	      maxCallAttempts: 3                                     naming calls per lookup, 1..100 (max(3, 2 × endpoints))
//	      clientCertificate: {certFile: c.pem, keyFile: k.pem}   re-read on change and on SIGHUP, cache kept
//	      serverCertificateThumbprints: [SHA-1 or SHA-256 hex]   list old and new during a rollover
//	      serverX509Names: [{name: cluster.example, issuerCertificateThumbprint: SHA-1 hex}]
//	      serverCaFile: ca.pem
//	      azureActiveDirectory:
//	        clusterApplication: <app id>                         token scope <app id>/.default
//	        credential: default|secret|managed|workload|cli      (inferred from the fields)
//	        tenantId, clientId, clientSecret, managedIdentity: false
//	        allowBearerOverHttp: false                           only for a local fake cluster
//	  <pool-id>:
//	    type: Pool                    Single (default) | Pool; a pool has no url, cluster, credentials, tls, breaker, budget
//	    pool:
//	      services:                   1..64 single backends (pools of pools are errors, as in APIM)
//	        - {id: orders-west, priority: 1, weight: 3}               priority 0 (default, best)..100, weight 1 (default)..100
//	        - {id: /backends/orders-east, priority: 1, weight: 1}     APIM's id form too
//	        - {id: orders-dr, priority: 2}                            used only while every priority-1 member is tripped
//	reverseProxy:                     SFRP's URLs, /<App>/<Service>/<suffix>?PartitionKey=..., for paths no API matches (docs/reverse-proxy.md)
//	  path: /                         mount point (/)
//	  cluster: {managementEndpoints: [http://127.0.0.1:19080]}   the fields of a backend's serviceFabricCluster
//	  expose: all                     all | allowlist (all)
//	  allow: ["fabric:/Shop/*"]       with allowlist: service-name patterns (path.Match: '*' stays within a segment)
//	  refresh: 30s                    how often the cluster's services are listed again (30s)
//	apis:
//	  - name: shop                    unique
//	    path: shop                    URL suffix, segment-aware prefix ("" matches everything)
//	    serviceUrl: http://host/base/ default backend base URL
//	    preserveHost: false           send the client's Host instead of the backend's
//	    policies: XML or path         API scope
//	    operations:                   optional; without them every method and path under the API matches
//	      - name: get-order
//	        method: GET               or * for any
//	        urlTemplate: /orders/{id} {param} segments, a final * or {*rest}; literals match case-insensitively
//	        policies: XML or path     operation scope
package config
