package config

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sfgate/sfgate/partition"
)

// Defaults applied by Load to fields left out of the file.
const (
	DefaultListen                        = "127.0.0.1:8080"
	DefaultDrainDelay                    = 5 * time.Second
	DefaultShutdownTimeout               = 30 * time.Second
	DefaultMaxHeaderBytes                = 16 << 10
	DefaultMaxBodyBytes                  = 10 << 20
	DefaultMaxResponseBodyBytes          = 100 << 20
	DefaultBufferBodyBytes               = 10 << 20 // with maxBodyBytes: 0; otherwise maxBodyBytes
	DefaultMaxConcurrentRequests         = 10000
	DefaultRequestTimeout                = 120 * time.Second
	DefaultReadTimeout                   = 30 * time.Second
	DefaultWriteTimeout                  = 30 * time.Second
	DefaultIdleTimeout                   = 90 * time.Second
	DefaultBackendTimeout                = 60 * time.Second
	DefaultConnectTimeout                = 5 * time.Second
	DefaultMaxConnectionsPerEndpoint     = 512
	DefaultIdleConnectionTimeout         = 10 * time.Second
	DefaultConnectionWaitTimeout         = time.Second
	DefaultMaxBufferedBodyBytes          = 256 << 20
	DefaultMaxAttemptsPerRequest         = 50
	DefaultMaxPartitionResolutionRetries = 5
	MaxPartitionResolutionRetriesLimit   = 10
	DefaultResolveTimeout                = 5 * time.Second // the resolver's defaults (gateway tests check)
	DefaultNamingCallTimeout             = 2 * time.Second
	MaxCallAttemptsLimit                 = 100
	maxConfigBytes                       = 8 << 20
)

// Load reads, decodes and checks the configuration file at path. Policy files it names are read too
// (relative paths are relative to the configuration file's directory), and named values are resolved (env:,
// file:, keyVault:). A non-nil error is an Errors listing every problem with its file:line, or a plain error
// when the file cannot be read. It is a fresh Loader's Load: a gateway that reloads uses one Loader throughout.
func Load(path string) (*Config, error) {
	return new(Loader).Load(context.Background(), path)
}

// Parse decodes and checks a configuration held in memory; file names it in errors and anchors relative
// policy file paths. It is a fresh Loader's Parse.
func Parse(data []byte, file string) (*Config, error) {
	return new(Loader).Parse(context.Background(), data, file)
}

// Load is the package's Load with this Loader's Key Vault client (ctx bounds the Key Vault fetches).
func (ld *Loader) Load(ctx context.Context, path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return ld.Parse(ctx, data, path)
}

// Parse is the package's Parse with this Loader's Key Vault client (ctx bounds the Key Vault fetches).
func (ld *Loader) Parse(ctx context.Context, data []byte, file string) (cfg *Config, err error) {
	l := &errorList{file: file, data: data}
	if len(data) > maxConfigBytes {
		return nil, Errors{{Pos: Pos{File: file, Line: 1}, Msg: fmt.Sprintf("the file is %d bytes, more than the %d allowed", len(data), maxConfigBytes)}}
	}
	defer func() {
		// yaml.v3 has panicked on hostile input; a parser of outside bytes returns an error instead.
		if r := recover(); r != nil {
			cfg, err = nil, Errors{{Pos: Pos{File: file, Line: 1}, Msg: fmt.Sprintf("YAML syntax: %v", r)}}
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{syntaxError(file, err)}
	}
	cfg = &Config{File: file}
	root := &doc
	if root.Kind == 0 || root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			l.add(Pos{File: file, Line: 1}, "", "the configuration is empty; it needs at least apis:")
			return nil, l.errs
		}
		root = root.Content[0]
	}
	l.decode(root, reflect.ValueOf(cfg).Elem(), "")
	loadPolicyFiles(l, cfg)
	ld.resolveNamedValues(ctx, l, cfg)
	applyDefaults(l, cfg)
	check(l, cfg)
	if len(l.errs) > 0 {
		sort.SliceStable(l.errs, func(i, j int) bool { return l.errs[i].Pos.Line < l.errs[j].Pos.Line })
		return nil, l.errs
	}
	return cfg, nil
}

// syntaxError turns a yaml.v3 parse error ("yaml: line 7: ...") into a positioned Error.
func syntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, tail, ok := strings.Cut(rest, ":"); ok {
			if _, e := fmt.Sscanf(n, "%d", &line); e == nil {
				msg = strings.TrimSpace(tail)
			}
		}
	}
	return &Error{Pos: Pos{File: file, Line: line}, Msg: "YAML syntax: " + msg}
}

// decodeNode reads a named value: a plain string, or a mapping {value|env|file, secret}.
func (nv *NamedValue) decodeNode(l *errorList, n *yaml.Node, field string) {
	if n.Kind == yaml.MappingNode {
		l.decodeStruct(n, reflect.ValueOf(nv).Elem(), field)
		return
	}
	if !l.scalar(n, field, "a string, or a mapping such as {env: NAME, secret: true}") {
		return
	}
	nv.Pos, nv.Value = l.pos(n), n.Value
}

// resolveNamedValues reads the values given by env:, file: and keyVault:. Errors name the variable, file or
// secret, never a value.
func (ld *Loader) resolveNamedValues(ctx context.Context, l *errorList, cfg *Config) {
	for _, name := range slices.Sorted(maps.Keys(cfg.NamedValues)) {
		nv := cfg.NamedValues[name]
		field := "namedValues." + name
		if nv == nil {
			continue
		}
		sources := 0
		for _, s := range []string{nv.Value, nv.Env, nv.File} {
			if s != "" {
				sources++
			}
		}
		if nv.KeyVault != nil {
			sources++
		}
		if sources > 1 {
			l.bad(field, "give one of value, env, file and keyVault")
			continue
		}
		switch {
		case nv.KeyVault != nil:
			ld.resolveKeyVault(ctx, l, name, nv)
		case nv.Env != "":
			v, ok := os.LookupEnv(nv.Env)
			if !ok {
				l.bad(field, "the environment variable %s is not set", nv.Env)
				l.broken = append(l.broken, field) // not "empty" as well
				continue
			}
			nv.Value = v
		case nv.File != "":
			data, err := os.ReadFile(cfg.Path(nv.File))
			if err != nil {
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				l.bad(field, "cannot read %s: %v", cfg.Path(nv.File), err)
				l.broken = append(l.broken, field)
				continue
			}
			v := strings.TrimSuffix(string(data), "\n")
			nv.Value = strings.TrimSuffix(v, "\r")
		}
	}
}

// decodeNode reads a `policies` value: inline XML (starts with '<') or a file path.
func (p *Policy) decodeNode(l *errorList, n *yaml.Node, field string) {
	if !l.scalar(n, field, "inline policy XML or a file path") {
		return
	}
	p.Pos = l.pos(n)
	text := strings.TrimSpace(n.Value)
	if strings.HasPrefix(text, "<") {
		p.XML = n.Value
		p.Origin = Pos{File: l.file, Line: n.Line}
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			p.Origin.Line++ // block scalar text starts on the next line, indented
			p.Indent = l.indentOf(p.Origin.Line)
		}
		return
	}
	if text == "" {
		l.at(n, field, "empty; give inline policy XML or a file path")
		return
	}
	p.File = text
}

func loadPolicyFiles(l *errorList, cfg *Config) {
	dir := filepath.Dir(cfg.File)
	load := func(p *Policy, field string) {
		if p == nil || p.File == "" {
			return
		}
		path := p.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			l.add(p.Pos, field, "cannot read policy file %s: %v", path, err)
			return
		}
		p.File = path
		p.XML = string(data)
		p.Origin = Pos{File: path, Line: 1}
	}
	load(cfg.Policies, "policies")
	for i, api := range cfg.APIs {
		if api == nil {
			continue
		}
		load(api.Policies, fmt.Sprintf("apis[%d].policies", i))
		for j, op := range api.Operations {
			if op != nil {
				load(op.Policies, fmt.Sprintf("apis[%d].operations[%d].policies", i, j))
			}
		}
	}
}

func applyDefaults(l *errorList, cfg *Config) {
	setStr(&cfg.Listen, DefaultListen)
	if cfg.DrainDelay == nil {
		d := DefaultDrainDelay
		cfg.DrainDelay = &d
	}
	setDur(&cfg.ShutdownTimeout, DefaultShutdownTimeout)
	setDur(&cfg.KeyVaultRefresh, DefaultKeyVaultRefresh)
	lim := &cfg.Limits
	setInt(&lim.MaxHeaderBytes, DefaultMaxHeaderBytes)
	// The body limits take 0 as written (no limit); only a limit left out gets its default.
	if _, written := l.fields["limits.maxBodyBytes"]; !written {
		lim.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if _, written := l.fields["limits.maxResponseBodyBytes"]; !written {
		lim.MaxResponseBodyBytes = DefaultMaxResponseBodyBytes
	}
	if lim.MaxBodyBytes == 0 {
		setInt(&lim.BufferBodyBytes, DefaultBufferBodyBytes)
	}
	setInt(&lim.BufferBodyBytes, lim.MaxBodyBytes)
	setInt(&lim.MaxConcurrentRequests, DefaultMaxConcurrentRequests)
	setDur(&lim.RequestTimeout, DefaultRequestTimeout)
	setDur(&lim.ReadTimeout, DefaultReadTimeout)
	setDur(&lim.WriteTimeout, DefaultWriteTimeout)
	setDur(&lim.IdleTimeout, DefaultIdleTimeout)
	if lim.MaxBufferedBodyBytes == 0 {
		lim.MaxBufferedBodyBytes = DefaultMaxBufferedBodyBytes
	}
	setInt(&lim.MaxAttemptsPerRequest, DefaultMaxAttemptsPerRequest)
	for id, b := range cfg.Backends {
		if b == nil {
			continue
		}
		b.ID = id
		setDur(&b.Timeout, DefaultBackendTimeout)
		setDur(&b.ConnectTimeout, DefaultConnectTimeout)
		setInt(&b.MaxConnectionsPerEndpoint, DefaultMaxConnectionsPerEndpoint)
		setDur(&b.IdleConnectionTimeout, DefaultIdleConnectionTimeout)
		setDur(&b.ConnectionWaitTimeout, DefaultConnectionWaitTimeout)
		applyCircuitBreakerDefaults(b.CircuitBreaker)
		if sf := b.ServiceFabricCluster; sf != nil {
			applyClusterDefaults(sf)
		}
	}
	applyReverseProxyDefaults(cfg.ReverseProxy)
}

func applyClusterDefaults(sf *ServiceFabricCluster) {
	if sf.MaxPartitionResolutionRetries == nil {
		n := DefaultMaxPartitionResolutionRetries
		sf.MaxPartitionResolutionRetries = &n
	}
	setDur(&sf.ResolveTimeout, DefaultResolveTimeout)
	setDur(&sf.CallTimeout, DefaultNamingCallTimeout)
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}

// MinSecretLen is the shortest value a secret named value may have, in bytes. The gateway masks a secret by
// replacing its text wherever it occurs in a log line, so a shorter one ("on", "1") would also mask every
// status code, duration and word that holds those characters, and the lines would be garbled; not masking it
// would break the promise that a secret never shows.
const MinSecretLen = 4

var shortSecret = fmt.Sprintf("a secret named value must be at least %d bytes long: the gateway masks a secret wherever its text occurs in a log line, and a shorter one would mask the same characters in every other field as well", MinSecretLen)

// check validates values the decoder cannot: required fields, URLs, names, cross references.
func check(l *errorList, cfg *Config) {
	checkAddr(l, "listen", cfg.Listen)
	if cfg.Admin != "" {
		checkAddr(l, "admin", cfg.Admin)
	}
	if cfg.Health != "" {
		checkAddr(l, "health", cfg.Health)
	}
	if cfg.TLS != nil {
		checkListenerTLS(l, cfg.TLS)
	}
	if a := cfg.AdminAuth; a != nil {
		if a.BearerToken == "" {
			l.bad("adminAuth.bearerToken", "required: the token callers of /metrics and /debug/* send as Authorization: Bearer <token>, such as \"{{admin-token}}\" with admin-token a secret named value")
		}
		for _, m := range NamedRef.FindAllStringSubmatch(a.BearerToken, -1) {
			if _, ok := cfg.NamedValues[m[1]]; !ok {
				l.bad("adminAuth.bearerToken", "unknown named value {{%s}}; define it under namedValues:", m[1])
			}
		}
		if a.BearerToken != "" && !NamedRef.MatchString(a.BearerToken) && len(a.BearerToken) < MinSecretLen {
			l.bad("adminAuth.bearerToken", "a token shorter than %d bytes cannot be kept out of the logs (and is guessable): use a longer one, better through a secret named value such as \"{{admin-token}}\"", MinSecretLen)
		}
	}
	for i, p := range cfg.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			l.bad(fmt.Sprintf("trustedProxies[%d]", i), "%q is not a network (CIDR such as 10.0.0.0/8 or fd00::/8) or an IP address", p)
		}
	}
	checkReverseProxy(l, cfg.ReverseProxy)
	if cfg.KeyVaultRefresh < MinKeyVaultRefresh {
		l.bad("keyVaultRefresh", "%s is shorter than %s: Key Vault values need not be fetched that often (default %s)", cfg.KeyVaultRefresh, MinKeyVaultRefresh, DefaultKeyVaultRefresh)
	}
	if cfg.GOMAXPROCS < 0 {
		l.bad("gomaxprocs", "must be 0 (Go's default) or more, not %d", cfg.GOMAXPROCS)
	}
	switch strings.ToLower(cfg.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		l.bad("log.level", "%q is not one of debug, info, warn, error", cfg.Log.Level)
	}
	switch strings.ToLower(cfg.Log.Format) {
	case "", "text", "json":
	default:
		l.bad("log.format", "%q is not one of text, json", cfg.Log.Format)
	}
	if m := cfg.Limits.MaxBodyBytes; m < 0 {
		l.bad("limits.maxBodyBytes", "%d is negative: give the largest request body in bytes, or 0 for no limit", m)
	} else if b := cfg.Limits.BufferBodyBytes; b < 0 || m > 0 && b > m {
		l.bad("limits.bufferBodyBytes", "%d is outside 0..maxBodyBytes (%d): bodies up to it are buffered, larger ones stream", b, m)
	}
	if m := cfg.Limits.MaxResponseBodyBytes; m < 0 {
		l.bad("limits.maxResponseBodyBytes", "%d is negative: give the largest response body in bytes, or 0 for no limit", m)
	}
	if cfg.Limits.MaxBufferedBodyBytes < 0 {
		l.bad("limits.maxBufferedBodyBytes", "must be positive (bytes all buffered request bodies may hold at once)")
	}
	if cfg.Limits.MaxAttemptsPerRequest < 0 {
		l.bad("limits.maxAttemptsPerRequest", "must be positive (sends to backends per client request)")
	}
	for name, nv := range cfg.NamedValues {
		if !validNamedValueName(name) {
			l.bad("namedValues."+name, "a named value's name may hold only letters, digits, '.', '-' and '_' (1-256 characters)")
		}
		if nv == nil || strings.TrimSpace(nv.Value) == "" {
			what := "a named value may not be empty"
			if nv != nil && nv.Env != "" {
				what += " (the environment variable " + nv.Env + " is empty)"
			} else if nv != nil && nv.File != "" {
				what += " (the file " + cfg.Path(nv.File) + " is empty)"
			}
			l.bad("namedValues."+name, "%s", what)
		} else if nv.Secret && len(nv.Value) < MinSecretLen {
			l.bad("namedValues."+name, "%s", shortSecret)
		}
	}
	ids := make([]string, 0, len(cfg.Backends))
	for id := range cfg.Backends {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	checkBackends(l, cfg, ids)
	if len(cfg.APIs) == 0 && cfg.ReverseProxy == nil {
		l.bad("apis", "no APIs: add at least one under apis: (name, path, serviceUrl or a policy that sets the backend), or a reverseProxy:")
	}
	names := map[string]Pos{}
	paths := map[string]string{}
	for i, api := range cfg.APIs {
		field := fmt.Sprintf("apis[%d]", i)
		if api == nil {
			l.bad(field, "empty API entry")
			continue
		}
		if api.Name == "" {
			l.bad(field+".name", "required")
		} else if p, dup := names[api.Name]; dup {
			l.bad(field+".name", "API name %q already used at %s", api.Name, p)
		} else {
			names[api.Name] = api.Pos
		}
		norm := strings.Trim(api.Path, "/")
		if strings.ContainsAny(norm, "?#{}* ") {
			l.bad(field+".path", "%q: an API path is literal segments without query, templates or spaces", api.Path)
		}
		if other, dup := paths[norm]; dup {
			l.bad(field+".path", "path %q is already used by API %q", api.Path, other)
		} else {
			paths[norm] = api.Name
		}
		if api.ServiceURL != "" {
			checkHTTPURL(l, field+".serviceUrl", api.ServiceURL)
		}
		opNames := map[string]bool{}
		for j, op := range api.Operations {
			ofield := fmt.Sprintf("%s.operations[%d]", field, j)
			if op == nil {
				l.bad(ofield, "empty operation entry")
				continue
			}
			if op.Name != "" {
				if opNames[op.Name] {
					l.bad(ofield+".name", "operation name %q already used in API %q", op.Name, api.Name)
				}
				opNames[op.Name] = true
			}
			if op.Method == "" {
				l.bad(ofield+".method", "required (GET, POST, ... or * for any)")
			} else if op.Method != "*" && !isToken(op.Method) {
				l.bad(ofield+".method", "%q is not an HTTP method", op.Method)
			}
			if op.URLTemplate == "" {
				l.bad(ofield+".urlTemplate", "required (for example /orders/{id})")
			} else if !strings.HasPrefix(op.URLTemplate, "/") {
				l.bad(ofield+".urlTemplate", "%q must start with /", op.URLTemplate)
			}
		}
	}
}

func checkBackend(l *errorList, id string, b *Backend) {
	field := "backends." + id
	if b == nil {
		l.bad(field, "empty backend entry")
		return
	}
	if len(id) == 0 || len(id) > 80 {
		l.bad(field, "a backend-id has 1 to 80 characters")
	}
	switch strings.ToLower(b.Protocol) {
	case "", "http", "soap":
	default:
		l.bad(field+".protocol", "%q is not http or soap", b.Protocol)
	}
	if b.MaxConnectionsPerEndpoint < 0 {
		l.bad(field+".maxConnectionsPerEndpoint", "must be positive")
	}
	switch b.WriteConnections {
	case "", "pooled", "fresh":
	default:
		l.bad(field+".writeConnections", "%q is not pooled or fresh", b.WriteConnections)
	}
	if b.ConnectionWaitTimeout < 0 {
		l.bad(field+".connectionWaitTimeout", "must be positive (how long a request waits for a free pooled connection)")
	}
	if b.IsPool() {
		// A pool has no url of its own: checkPools checks its members.
	} else if sf := b.ServiceFabricCluster; sf != nil {
		if !strings.HasPrefix(b.URL, "fabric:/") || len(b.URL) <= len("fabric:/") {
			l.bad(field+".url", "a Service Fabric backend's url is the default service name, such as fabric:/App/Service (found %q)", b.URL)
		}
		checkCluster(l, field+".serviceFabricCluster", sf)
	} else {
		if b.URL == "" {
			l.bad(field+".url", "required: the backend's base URL (or, with serviceFabricCluster, a fabric:/ service name)")
		} else {
			checkHTTPURL(l, field+".url", b.URL)
		}
	}
	if b.PartitionKeyHash != "" {
		if _, err := partition.ParseKeyHash(b.PartitionKeyHash); err != nil {
			l.bad(field+".partitionKeyHash", "%v", err)
		} else if b.ServiceFabricCluster == nil {
			l.bad(field+".partitionKeyHash", "only a Service Fabric backend (with serviceFabricCluster) has partition keys to hash")
		}
	}
	if c := b.Credentials; c != nil {
		if a := c.Authorization; a != nil && (a.Scheme == "" || a.Parameter == "") {
			l.bad(field+".credentials.authorization", "needs both scheme and parameter")
		}
		checkCertFiles(l, field+".credentials.clientCertificate", c.ClientCertificate)
	}
	if t := b.TLS; t != nil {
		checkThumbprints(l, field+".tls.serverCertificateThumbprints", t.ServerCertificateThumbprints)
	}
	checkCircuitBreaker(l, field+".circuitBreaker", b.CircuitBreaker)
	checkRetryBudget(l, field+".retryBudget", b.RetryBudget)
}

// checkBackends checks each backend and, once all are known, the members of pools.
func checkBackends(l *errorList, cfg *Config, ids []string) {
	for _, id := range ids {
		checkBackend(l, id, cfg.Backends[id])
	}
	checkPools(l, cfg, ids)
}

func checkCluster(l *errorList, field string, sf *ServiceFabricCluster) {
	if len(sf.ManagementEndpoints) == 0 {
		l.bad(field+".managementEndpoints", "required: at least one cluster management endpoint, such as http://127.0.0.1:19080")
	}
	for i, ep := range sf.ManagementEndpoints {
		checkHTTPURL(l, fmt.Sprintf("%s.managementEndpoints[%d]", field, i), ep)
	}
	if n := *sf.MaxPartitionResolutionRetries; n < 0 || n > MaxPartitionResolutionRetriesLimit {
		l.bad(field+".maxPartitionResolutionRetries", "%d is outside 0..%d", n, MaxPartitionResolutionRetriesLimit)
	}
	if sf.CallTimeout > sf.ResolveTimeout {
		at := field + ".callTimeout"
		if _, written := l.fields[at]; !written {
			at = field + ".resolveTimeout"
		}
		l.bad(at, "callTimeout %s is longer than resolveTimeout %s: a management endpoint that never answers would use up the whole lookup and leave no time to fail over; make callTimeout shorter or resolveTimeout longer (defaults %s and %s)",
			sf.CallTimeout, sf.ResolveTimeout, DefaultNamingCallTimeout, DefaultResolveTimeout)
	}
	if p := sf.MaxCallAttempts; p != nil && (*p < 1 || *p > MaxCallAttemptsLimit) {
		l.bad(field+".maxCallAttempts", "%d is outside 1..%d", *p, MaxCallAttemptsLimit)
	}
	checkCertFiles(l, field+".clientCertificate", sf.ClientCertificate)
	checkThumbprints(l, field+".serverCertificateThumbprints", sf.ServerCertificateThumbprints)
	for i, n := range sf.ServerX509Names {
		if n.Name == "" {
			l.bad(fmt.Sprintf("%s.serverX509Names[%d].name", field, i), "required")
		}
		if n.IssuerCertificateThumbprint != "" {
			checkThumbprints(l, fmt.Sprintf("%s.serverX509Names[%d].issuerCertificateThumbprint", field, i), []string{n.IssuerCertificateThumbprint})
		}
	}
	if aad := sf.AzureActiveDirectory; aad != nil {
		if aad.ClusterApplication == "" {
			l.bad(field+".azureActiveDirectory.clusterApplication", "required: the cluster's server application ID")
		}
		switch aad.CredentialKind() {
		case "default", "managed", "workload", "cli":
		case "secret":
			if aad.TenantID == "" || aad.ClientID == "" || aad.ClientSecret == "" {
				l.bad(field+".azureActiveDirectory", "a client secret credential needs tenantId, clientId and clientSecret")
			}
		default:
			l.bad(field+".azureActiveDirectory.credential", "%q is not one of default, secret, managed, workload, cli", aad.Credential)
		}
	}
}

// NamedRef finds {{name}} references to named values (submatch 1 is the name): here to check them, in the
// gateway to substitute them.
var NamedRef = regexp.MustCompile(`\{\{([A-Za-z0-9._-]+)\}\}`)

// ParsePrefix parses one trustedProxies entry: a CIDR network, or a single IPv4 or IPv6 address.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("an address with a zone")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func checkListenerTLS(l *errorList, t *ListenerTLS) {
	if len(t.Certificates) == 0 {
		l.bad("tls.certificates", "required: at least one {certFile, keyFile} (PEM); the first is served when no other matches the client's SNI name")
	}
	for i := range t.Certificates {
		checkCertFiles(l, fmt.Sprintf("tls.certificates[%d]", i), &t.Certificates[i])
	}
	switch t.MinVersion {
	case "", "1.2", "1.3":
	default:
		l.bad("tls.minVersion", `%q is not "1.2" or "1.3"`, t.MinVersion)
	}
	switch t.ClientCertificate {
	case "", "none":
	case "optional", "required":
		if t.ClientCAFile == "" {
			l.bad("tls.clientCaFile", "required with clientCertificate: %s: a PEM bundle of the CAs client certificates must chain to", t.ClientCertificate)
		}
	default:
		l.bad("tls.clientCertificate", "%q is not one of none, optional, required", t.ClientCertificate)
	}
}

func checkCertFiles(l *errorList, field string, c *CertificateFiles) {
	if c == nil {
		return
	}
	if c.CertFile == "" || c.KeyFile == "" {
		l.bad(field, "needs certFile and keyFile (PEM)")
	}
}

func checkThumbprints(l *errorList, field string, tps []string) {
	for _, tp := range tps {
		h := strings.ReplaceAll(strings.ReplaceAll(tp, ":", ""), " ", "")
		if (len(h) != 40 && len(h) != 64) || strings.Trim(strings.ToLower(h), "0123456789abcdef") != "" {
			l.bad(field, "%q is not a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) thumbprint", tp)
		}
	}
}

func checkAddr(l *errorList, field, addr string) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		l.bad(field, "%q is not host:port (for example 127.0.0.1:8080 or :8080)", addr)
	}
}

func checkHTTPURL(l *errorList, field, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.bad(field, "%q is not an absolute http:// or https:// URL", s)
		return
	}
	if u.RawQuery != "" || u.Fragment != "" {
		l.bad(field, "%q: a base URL may not have a query or fragment", s)
	}
}

func validNamedValueName(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isToken(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return s != ""
}

// CredentialKind is the azidentity credential kind to use (Credential, or the one implied by the fields).
func (a *AzureActiveDirectory) CredentialKind() string {
	switch {
	case a.Credential != "":
		return strings.ToLower(a.Credential)
	case a.ClientSecret != "":
		return "secret"
	case a.ManagedIdentity:
		return "managed"
	}
	return "default"
}

// Path resolves a file path written in the configuration: relative paths are relative to the directory
// of the configuration file.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}
