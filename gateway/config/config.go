package config

import (
	"time"

	"github.com/sfgate/sfgate/internal/keyvault"
)

// Config is one sfgate configuration file, decoded. Field names follow Azure API Management where APIM has
// the concept (backends, serviceFabricCluster, apis[].path, serviceUrl, operations[].urlTemplate, namedValues).
type Config struct {
	// File is the path the configuration was read from ("" when parsed from bytes without a name).
	File string `yaml:"-"`

	// Listen is the client-facing address (host:port). Default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// Admin is the address of the admin listener (/healthz /readyz /metrics /debug/resolve /debug/cache
	// /debug/pprof/). Empty (the default) disables it. It listens where the address says: "127.0.0.1:9901" on
	// loopback only, ":9901" (no host) on every interface. It is for operators: keep it on loopback or a
	// management network.
	Admin string `yaml:"admin"`
	// TLS, when present, makes the client listener serve HTTPS (certificates by SNI, minimum version, mutual TLS).
	TLS *ListenerTLS `yaml:"tls"`
	// TrustedProxies are the networks (CIDR, or single addresses) of proxies in front of the gateway: their
	// X-Forwarded-For, -Proto and -Host are kept (the peer appended to X-Forwarded-For) and
	// context.Request.IpAddress is the client they name. From any other peer those headers are replaced by what
	// the gateway saw. Empty: no peer is trusted.
	TrustedProxies []string `yaml:"trustedProxies"`
	// AdminAuth, when set, guards the admin listener's /metrics and /debug/* with a bearer token; /healthz and
	// /readyz stay open for probes.
	AdminAuth *AdminAuth `yaml:"adminAuth"`
	// AdminPprof serves Go's runtime profiles under /debug/pprof/ on the admin listener. Default false.
	AdminPprof bool `yaml:"adminPprof"`
	// Health is the address of a listener that serves only /healthz and /readyz, for probes that cannot
	// reach a loopback admin listener (the kubelet). Empty disables it.
	Health string `yaml:"health"`
	// GOMAXPROCS, when above 0, sets runtime.GOMAXPROCS at start (1 often gives the best tail latency on
	// small machines shared with the backend). 0 keeps Go's default.
	GOMAXPROCS int `yaml:"gomaxprocs"`
	// DrainDelay is how long, after SIGINT/SIGTERM, the gateway keeps accepting connections while /readyz
	// answers 503, so that load balancers stop sending before the listener closes. Default 5s; 0 closes at once.
	DrainDelay *time.Duration `yaml:"drainDelay"`
	// ShutdownTimeout bounds how long in-flight requests may finish once the listener closed (after
	// DrainDelay). Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
	// Log selects the structured log output.
	Log Log `yaml:"log"`
	// Limits bounds sizes, times and concurrency of client requests.
	Limits Limits `yaml:"limits"`
	// NamedValues are substituted for {{name}} in every policy document and backend credential before it is
	// compiled (APIM named values). Names: letters, digits, '.', '-', '_'. A value is a plain string, or a
	// mapping that takes it from the file (value), an environment variable (env), a file (file) or an Azure Key
	// Vault secret (keyVault), optionally marked secret. Values() gives the resolved strings.
	NamedValues map[string]*NamedValue `yaml:"namedValues"`
	// KeyVaultRefresh is how often the Key Vault named values without a version are fetched again (a changed
	// value applies to new requests without a restart). Default 4h, as APIM; at least 1m.
	KeyVaultRefresh time.Duration `yaml:"keyVaultRefresh"`
	// Backends are APIM Backend entities by backend-id.
	Backends map[string]*Backend `yaml:"backends"`
	// APIs are matched by the longest path prefix.
	APIs []*API `yaml:"apis"`
	// Policies is the global-scope policy document: inline XML or a file path relative to this file. Without
	// it APIM's default global policy applies (its backend section forwards the request).
	Policies *Policy `yaml:"policies"`

	// ReverseProxy, when present, serves SF Reverse Proxy URLs (/<App>/<Service>/...) that no API matches.
	ReverseProxy *ReverseProxy `yaml:"reverseProxy"`
}

// ListenerTLS configures HTTPS on the client listener. The certificate, key and CA files are read at start,
// on SIGHUP and whenever they change on disk; new connections get the new files, open ones are kept.
type ListenerTLS struct {
	Pos Pos
	// Certificates are the server certificates (PEM chain and key). The one whose DNS names match the name the
	// client asks for (SNI) is served; the first is the default. At least one.
	Certificates []CertificateFiles `yaml:"certificates"`
	// MinVersion is the lowest TLS version accepted: "1.2" (default) or "1.3".
	MinVersion string `yaml:"minVersion"`
	// ClientCertificate asks clients for a certificate: none (default), optional (verified when given) or
	// required (mutual TLS: a client without a valid one cannot connect).
	ClientCertificate string `yaml:"clientCertificate"`
	// ClientCAFile is a PEM bundle of the CAs client certificates must chain to; needed with optional and
	// required.
	ClientCAFile string `yaml:"clientCaFile"`
}

// AdminAuth guards the admin endpoints that show the gateway's insides.
type AdminAuth struct {
	Pos Pos
	// BearerToken is the token a caller sends as "Authorization: Bearer <token>"; usually a secret named value
	// ("{{admin-token}}"). It is masked in logs like a credential.
	BearerToken string `yaml:"bearerToken"`
}

// NamedValue is one APIM named value. Load resolves it: Value holds the text whatever the source.
type NamedValue struct {
	Pos Pos
	// Value is the text: written in the file, or read from Env or File when Load ran.
	Value string `yaml:"value"`
	// Env names an environment variable to read the value from (at start and on SIGHUP).
	Env string `yaml:"env"`
	// File is a file to read the value from (relative to the configuration file; one trailing line break is
	// dropped), such as a mounted Kubernetes secret; read at start and on SIGHUP.
	File string `yaml:"file"`
	// KeyVault takes the value from an Azure Key Vault secret (APIM's Key Vault named values): fetched at start
	// and on SIGHUP, and a versionless one again every keyVaultRefresh. Such a value is always secret.
	KeyVault *KeyVaultRef `yaml:"keyVault"`
	// Secret keeps the value out of log lines, /debug answers, error bodies and metric labels.
	Secret bool `yaml:"secret"`
}

// KeyVaultRef names the Key Vault secret a named value holds, as APIM's keyVault property does.
type KeyVaultRef struct {
	Pos Pos
	// SecretIdentifier is the secret's URL: https://<vault>.vault.azure.net/secrets/<name> for the latest
	// version (refreshed), or .../secrets/<name>/<version> for one version.
	SecretIdentifier string `yaml:"secretIdentifier"`
	// IdentityClientID is the client ID of the user-assigned managed identity that reads the secret; without it
	// azidentity's DefaultAzureCredential does (environment, workload identity, managed identity, Azure CLI).
	IdentityClientID string `yaml:"identityClientId"`

	ref keyvault.Ref // parsed by Load
}

// Values returns the named values' resolved text by name, for {{name}} substitution.
func (c *Config) Values() map[string]string {
	out := make(map[string]string, len(c.NamedValues))
	for name, nv := range c.NamedValues {
		if nv != nil {
			out[name] = nv.Value
		}
	}
	return out
}

// Log configures log/slog output on stderr. SIGHUP applies changes.
type Log struct {
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
	Format string `yaml:"format"` // text (default) | json
	// Access writes one info line per request (client IP, method, path, status, duration, backend,
	// partition, replica, attempts, request ID). Default true. Failed requests (5xx) are logged at warn
	// either way.
	Access *bool `yaml:"access"`
}

// AccessLog reports whether the access log is on (Access, default true).
func (l Log) AccessLog() bool { return l.Access == nil || *l.Access }

// Limits bounds what one client may send and how long a request may take.
type Limits struct {
	// MaxHeaderBytes is the largest request head (request line plus headers) accepted; larger → 431.
	// Default 16384.
	MaxHeaderBytes int `yaml:"maxHeaderBytes"`
	// MaxBodyBytes is the largest request body accepted; larger → 413. Default 10485760 (10 MiB); 0 written in
	// the file means no limit (bodies larger than BufferBodyBytes stream, so memory stays flat).
	MaxBodyBytes int `yaml:"maxBodyBytes"`
	// BufferBodyBytes is how much of a body is held in memory, in both directions. A request body up to it is
	// buffered (and so can be sent again on a resend); the rest of a larger one streams to the backend as it
	// arrives, and such a request is not sent again once a byte of that rest left. A response body whose
	// Content-Length is up to it is buffered; a larger one, or one of unknown length (chunked, server-sent
	// events), streams to the client as the backend writes it. At most MaxBodyBytes (when that is not 0);
	// default MaxBodyBytes (every request body is buffered), or 10485760 when MaxBodyBytes is 0.
	BufferBodyBytes int `yaml:"bufferBodyBytes"`
	// MaxResponseBodyBytes is the largest backend response body accepted: a larger declared Content-Length →
	// 502; a streamed body that grows past it is cut off. Default 104857600; 0 written in the file means no limit.
	MaxResponseBodyBytes int `yaml:"maxResponseBodyBytes"`
	// MaxConcurrentRequests bounds requests served at once; more → 503. Default 10000.
	MaxConcurrentRequests int `yaml:"maxConcurrentRequests"`
	// RequestTimeout bounds one client request end to end, resolutions and retries included; → 504.
	// Default 120s.
	RequestTimeout time.Duration `yaml:"requestTimeout"`
	// ReadTimeout bounds reading one request from the client (slow clients are cut off). Default 30s.
	ReadTimeout time.Duration `yaml:"readTimeout"`
	// WriteTimeout bounds writing one response to the client. Default 30s.
	WriteTimeout time.Duration `yaml:"writeTimeout"`
	// IdleTimeout closes client keep-alive connections idle that long, and upgraded (WebSocket) connections
	// that no byte crossed in either direction for that long. Default 90s.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// MaxBufferedBodyBytes bounds the memory all request bodies being buffered hold at once, across all
	// connections. A body that would go past it gets 503 (Retry-After) instead of memory. Default 256 MiB.
	MaxBufferedBodyBytes int64 `yaml:"maxBufferedBodyBytes"`
	// MaxAttemptsPerRequest bounds how many times one client request is sent to backends, whatever the
	// policy nests (<retry> in <retry>) and however many re-resolutions run. Default 50.
	MaxAttemptsPerRequest int `yaml:"maxAttemptsPerRequest"`
	// TunnelMaxLifetime closes an upgraded (WebSocket) connection this long after it switched protocols,
	// however busy it is (IdleTimeout closes an idle one earlier). Default 0: no limit.
	TunnelMaxLifetime time.Duration `yaml:"tunnelMaxLifetime"`
}

// RestartOnly names, as "limits.<field>", the limits that differ between l and next and that a reload
// (SIGHUP, a Key Vault refresh) does not apply: the client listener's HTTP server reads them once, at start.
// The others apply to the requests that start after the reload. Two are split: limits.maxHeaderBytes bounds
// client request heads (at start) and backend response heads (on reload); limits.writeTimeout bounds a whole
// buffered response (at start) and each write of a streamed one (on reload); limits.idleTimeout closes idle
// keep-alive connections (at start) and idle tunnels (on reload). They are named when they change.
func (l Limits) RestartOnly(next Limits) []string {
	var out []string
	for _, f := range []struct {
		name    string
		changed bool
	}{
		{"limits.maxHeaderBytes", l.MaxHeaderBytes != next.MaxHeaderBytes},
		{"limits.maxConcurrentRequests", l.MaxConcurrentRequests != next.MaxConcurrentRequests},
		{"limits.readTimeout", l.ReadTimeout != next.ReadTimeout},
		{"limits.writeTimeout", l.WriteTimeout != next.WriteTimeout},
		{"limits.idleTimeout", l.IdleTimeout != next.IdleTimeout},
	} {
		if f.changed {
			out = append(out, f.name)
		}
	}
	return out
}

// Backend is an APIM Backend entity: a plain HTTP(S) base URL, or a Service Fabric service on a cluster.
type Backend struct {
	Pos Pos
	// ID is the backend-id (the key under backends:).
	ID string `yaml:"-"`
	// URL is the base URL of an HTTP backend, or for a Service Fabric backend the default service name
	// (fabric:/App/Service), used when the policy gives no sf-service-instance-name.
	URL         string `yaml:"url"`
	Protocol    string `yaml:"protocol"` // http (default) or soap; accepted for APIM compatibility
	Title       string `yaml:"title"`
	Description string `yaml:"description"`
	// ServiceFabricCluster makes this a Service Fabric backend.
	ServiceFabricCluster *ServiceFabricCluster `yaml:"serviceFabricCluster"`
	// PartitionKeyHash maps a string sf-partition-key to the int64 key of an Int64Range service:
	// md5-int64 or fnv1a-64, each equal to stated .NET code (docs/policies.md, "String partition keys").
	// Only with serviceFabricCluster. Default: the key is used as it is.
	PartitionKeyHash string `yaml:"partitionKeyHash"`
	// Credentials are added to every request sent to this backend.
	Credentials *Credentials `yaml:"credentials"`
	// TLS configures https connections to this backend (or to the replicas of a Service Fabric backend).
	TLS *BackendTLS `yaml:"tls"`
	// Timeout bounds one attempt (connect, send, response headers and body). Default 60s.
	Timeout time.Duration `yaml:"timeout"`
	// ConnectTimeout bounds dialling one endpoint. Default 5s.
	ConnectTimeout time.Duration `yaml:"connectTimeout"`
	// MaxConnectionsPerEndpoint bounds pooled connections to one endpoint host. Default 512.
	MaxConnectionsPerEndpoint int `yaml:"maxConnectionsPerEndpoint"`
	// IdleConnectionTimeout closes pooled connections idle that long. Default 10s (below common
	// keep-alive timeouts of backends, so the gateway closes first).
	IdleConnectionTimeout time.Duration `yaml:"idleConnectionTimeout"`
	// ConnectionWaitTimeout is how long a request waits for a pooled connection when all
	// maxConnectionsPerEndpoint are busy; then it gets 503. Default 1s.
	ConnectionWaitTimeout time.Duration `yaml:"connectionWaitTimeout"`
	// WriteConnections is where non-idempotent requests (POST, PATCH) go: "pooled" (default) reuses keep-alive
	// connections like every other request; "fresh" opens a new connection for each and closes it after the
	// answer, so a write is never lost or left in doubt because the replica closed an idle connection just as
	// the gateway wrote into it (docs/policies.md, "Retries and re-resolution"). It costs one connect per write.
	WriteConnections string `yaml:"writeConnections"`

	// Resilience (types in resilience.go).

	// CircuitBreaker stops sending requests to a failing backend, partition or replica for a while.
	CircuitBreaker *CircuitBreaker `yaml:"circuitBreaker"`
	// RetryBudget bounds re-resolutions and resends across all requests to this backend.
	RetryBudget *RetryBudget `yaml:"retryBudget"`
	// Type is Single (the default: url, or serviceFabricCluster) or Pool (Pool's members take the requests).
	Type string `yaml:"type"`
	// Pool lists the members of a Pool backend.
	Pool *Pool `yaml:"pool"`

	_ Unsupported `unsupported:"proxy=outbound HTTP proxies are not supported|resourceId=not needed: serviceFabricCluster.managementEndpoints names the cluster|properties=write serviceFabricCluster directly under the backend, without properties:"`
}

// ServiceFabricCluster is APIM's BackendServiceFabricClusterProperties plus the PEM and Azure AD settings a
// self-hosted gateway needs.
type ServiceFabricCluster struct {
	Pos Pos
	// ManagementEndpoints are the cluster's HTTP management endpoints (http(s)://host:19080); tried in turn.
	ManagementEndpoints []string `yaml:"managementEndpoints"`
	// MaxPartitionResolutionRetries bounds re-resolutions per request when sf-resolve-condition holds
	// (APIM range 0–10). Default 5.
	MaxPartitionResolutionRetries *int `yaml:"maxPartitionResolutionRetries"`
	// ResolveTimeout bounds a whole naming lookup of an uncached partition (the service's partition list and
	// ResolvePartition, every attempt and failover included); past it the request gets 503. Default 5s.
	ResolveTimeout time.Duration `yaml:"resolveTimeout"`
	// CallTimeout bounds one naming call to one management endpoint; one that has not answered by then is
	// given up for the next. At most resolveTimeout. Default 2s.
	CallTimeout time.Duration `yaml:"callTimeout"`
	// MaxCallAttempts bounds the naming calls of one lookup across the endpoints (1..100). Default
	// max(3, 2 × the number of managementEndpoints).
	MaxCallAttempts *int `yaml:"maxCallAttempts"`
	// ClientCertificate authenticates the gateway to the management endpoint (PEM files).
	ClientCertificate *CertificateFiles `yaml:"clientCertificate"`
	// ServerCertificateThumbprints are accepted SHA-1 (or SHA-256) thumbprints of the cluster certificate.
	ServerCertificateThumbprints []string `yaml:"serverCertificateThumbprints"`
	// ServerX509Names accept a cluster certificate by subject name, optionally pinned to an issuer.
	ServerX509Names []X509Name `yaml:"serverX509Names"`
	// ServerCAFile is a PEM bundle of CAs for the cluster certificate (default: system roots), read again when
	// it changes and on SIGHUP (resolver.Auth.RootCAFile).
	ServerCAFile string `yaml:"serverCaFile"`
	// AzureActiveDirectory authenticates with Azure AD (Microsoft Entra ID) bearer tokens.
	AzureActiveDirectory *AzureActiveDirectory `yaml:"azureActiveDirectory"`

	_ Unsupported `unsupported:"clientCertificateId=APIM certificate resources do not exist here; give clientCertificate: {certFile, keyFile} (PEM)|clientCertificatethumbprint=a certificate store is not read; give clientCertificate: {certFile, keyFile} (PEM)|clientCertificateThumbprint=a certificate store is not read; give clientCertificate: {certFile, keyFile} (PEM)"`
}

// CertificateFiles names a PEM certificate chain and its private key.
type CertificateFiles struct {
	Pos      Pos
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
}

// X509Name is APIM's X509CertificateName: a subject common name and the issuer's thumbprint.
type X509Name struct {
	Pos                         Pos
	Name                        string `yaml:"name"`
	IssuerCertificateThumbprint string `yaml:"issuerCertificateThumbprint"`
}

// AzureActiveDirectory selects how the gateway obtains Azure AD (Microsoft Entra ID) tokens for the cluster.
type AzureActiveDirectory struct {
	Pos Pos
	// ClusterApplication is the cluster's server application ID; the token scope is "<clusterApplication>/.default".
	ClusterApplication string `yaml:"clusterApplication"`
	// Credential is the azidentity credential kind: default, secret, managed, workload or cli. When empty it is
	// "secret" if clientSecret is given, "managed" if managedIdentity is true, else "default".
	Credential   string `yaml:"credential"`
	TenantID     string `yaml:"tenantId"`
	ClientID     string `yaml:"clientId"`
	ClientSecret string `yaml:"clientSecret"` // may be a {{named value}}
	// ManagedIdentity uses the host's managed identity (clientId selects a user-assigned one).
	ManagedIdentity bool `yaml:"managedIdentity"`
	// AllowBearerOverHTTP lets the token travel over plain http: only for a local fake cluster.
	AllowBearerOverHTTP bool `yaml:"allowBearerOverHttp"`
}

// Credentials are APIM's BackendCredentialsContract: query parameters and headers added to each request.
type Credentials struct {
	Pos           Pos
	Header        map[string][]string `yaml:"header"`
	Query         map[string][]string `yaml:"query"`
	Authorization *Authorization      `yaml:"authorization"`
	// ClientCertificate presents a client certificate to an https backend (PEM files).
	ClientCertificate *CertificateFiles `yaml:"clientCertificate"`

	_ Unsupported `unsupported:"certificate=APIM certificate thumbprints refer to a certificate store; give clientCertificate: {certFile, keyFile} (PEM)|certificateIds=APIM certificate resources do not exist here; give clientCertificate: {certFile, keyFile} (PEM)"`
}

// Authorization is an Authorization header value: "<scheme> <parameter>".
type Authorization struct {
	Pos       Pos
	Scheme    string `yaml:"scheme"`
	Parameter string `yaml:"parameter"`
}

// BackendTLS configures validation of a backend's certificate.
type BackendTLS struct {
	Pos Pos
	// ValidateCertificateChain (default true) checks the chain against CAFile or the system roots.
	ValidateCertificateChain *bool `yaml:"validateCertificateChain"`
	// ValidateCertificateName (default true) checks the certificate's name against the endpoint's host (or
	// ServerName): a DNS name against its DNS names, an IP address against its IP addresses. Each flag
	// applies without the other.
	ValidateCertificateName *bool `yaml:"validateCertificateName"`
	// CAFile is a PEM bundle of trusted CAs (default: system roots).
	CAFile string `yaml:"caFile"`
	// ServerCertificateThumbprints, when set, accept exactly these certificates (SHA-1 or SHA-256 hex).
	ServerCertificateThumbprints []string `yaml:"serverCertificateThumbprints"`
	// ServerName overrides the name sent in SNI and checked in the certificate.
	ServerName string `yaml:"serverName"`
}

// API is one APIM API: a path prefix (the API URL suffix), a default backend URL and policies.
type API struct {
	Pos  Pos
	Name string `yaml:"name"`
	// Path is the API URL suffix ("shop" matches /shop and /shop/...; "" matches everything).
	Path string `yaml:"path"`
	// ServiceURL is the API's web service URL: the backend base URL unless a policy sets another.
	ServiceURL string `yaml:"serviceUrl"`
	// PreserveHost sends the client's Host header to the backend instead of the backend's host.
	PreserveHost bool `yaml:"preserveHost"`
	// Policies is the API-scope policy document (inline XML or a file path).
	Policies *Policy `yaml:"policies"`
	// Operations, when present, are the only requests the API accepts (by method and URL template).
	// Without operations every method and path under the API matches.
	Operations []*Operation `yaml:"operations"`
}

// Operation is one APIM operation: a method and a URL template relative to the API path.
type Operation struct {
	Pos  Pos
	Name string `yaml:"name"`
	// Method is an HTTP method, or "*" for any.
	Method string `yaml:"method"`
	// URLTemplate is the path after the API path: literal segments, {param} segments and a final "*" or
	// {*param} that matches the rest.
	URLTemplate string `yaml:"urlTemplate"`
	// Policies is the operation-scope policy document (inline XML or a file path).
	Policies *Policy `yaml:"policies"`
}

// Policy is a policy document given in the configuration, inline or as a file.
type Policy struct {
	// Pos is where the `policies` value is written in the configuration file.
	Pos Pos
	// File is the XML file's path when the value named one; "" when the XML is inline.
	File string
	// XML is the document text.
	XML string
	// Origin is the position of the document's first line: line 1 of File, or the line in the
	// configuration file where inline XML starts. Add (line-1) of an XML error to Origin.Line.
	Origin Pos
	// Indent is how many columns the inline XML's lines are indented in the configuration file (a YAML block
	// scalar strips them); add it to a column in the XML to get the column in the file.
	Indent int
}
