package gateway

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/sfgate/sfgate/gateway/policy"
	"github.com/sfgate/sfgate/gateway/route"
)

// compiled is one compiled configuration: immutable once built, swapped atomically on reload.
type compiled struct {
	table          *route.Table
	apis           []*api
	backends       map[string]*backend
	clusters       []*cluster // distinct clusters used by this configuration
	basePool       *pool      // endpoints named by base-url or an API's serviceUrl
	requestTimeout time.Duration
	defaultTimeout time.Duration
	maxAttempts    int           // limits.maxAttemptsPerRequest
	maxBody        int           // limits.maxBodyBytes (noLimit for 0)
	maxBuffered    int64         // limits.maxBufferedBodyBytes
	rp             *reverseProxy // reverseProxy:, nil without
	tunnelIdle     time.Duration // limits.idleTimeout: an upgraded connection idle this long (both ways) is closed
	tunnelLife     time.Duration // limits.tunnelMaxLifetime: an upgraded connection is closed this long after it opened (0: never)
	writeTimeout   time.Duration // limits.writeTimeout: a streamed response's write to the client waits at most this
	bufferBody     int           // limits.bufferBodyBytes: the rest of a larger body streams
	states         sync.Pool     // *reqState
	proxies        trustedProxies
}

// api is one configured API, compiled.
type api struct {
	name         string
	info         expr.API
	serviceURL   []byte
	prefix       []byte // "/" + API path, sent as X-Forwarded-Prefix; empty for the root API
	preserveHost bool
	all          *operation   // used when the API has no operations
	ops          []*operation // by index in the configuration
	metrics      *apiMetrics
}

// operation is the unit of policy: the merged global → API → operation program.
type operation struct {
	info    expr.Operation
	program *policy.Program
}

// compile builds a compiled configuration from a checked configuration. Every problem is reported, with positions, as
// config.Errors. served is the tls: section the client listener serves with cfg (nil: plain HTTP): cfg.TLS, but
// for a reload that adds or removes tls:, which the listener takes only at a restart.
func compile(cfg *config.Config, served *config.ListenerTLS, clusters clusterSource, m *metrics) (*compiled, error) {
	var errs config.Errors
	fail := func(p config.Pos, field, format string, args ...any) {
		errs = append(errs, &config.Error{Pos: p, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	rt := &compiled{
		backends:       map[string]*backend{},
		requestTimeout: cfg.Limits.RequestTimeout,
		defaultTimeout: config.DefaultBackendTimeout,
		maxAttempts:    cfg.Limits.MaxAttemptsPerRequest,
		maxBody:        cfg.Limits.MaxBodyBytes,
		maxBuffered:    cfg.Limits.MaxBufferedBodyBytes,
		proxies:        trustedProxiesOf(cfg.TrustedProxies),
		tunnelIdle:     cfg.Limits.IdleTimeout,
		tunnelLife:     cfg.Limits.TunnelMaxLifetime,
		writeTimeout:   cfg.Limits.WriteTimeout,
	}
	if rt.tunnelIdle <= 0 {
		rt.tunnelIdle = config.DefaultIdleTimeout
	}
	if rt.maxAttempts <= 0 { // a Config built in code rather than loaded
		rt.maxAttempts = config.DefaultMaxAttemptsPerRequest
	}
	rt.maxBody, rt.bufferBody = orNoLimit(rt.maxBody), bufferBodyOf(cfg.Limits)
	if rt.maxBuffered <= 0 {
		rt.maxBuffered = config.DefaultMaxBufferedBodyBytes
	}
	rt.basePool = newPool(poolSettings{
		connectTimeout: config.DefaultConnectTimeout, maxConns: config.DefaultMaxConnectionsPerEndpoint,
		connWait:    config.DefaultConnectionWaitTimeout,
		idleTimeout: config.DefaultIdleConnectionTimeout, maxResponseBody: orNoLimit(cfg.Limits.MaxResponseBodyBytes),
		bufferBody: rt.bufferBody, maxHeaderBytes: cfg.Limits.MaxHeaderBytes,
	})
	named := policy.NamedValues(cfg.Values())

	// Backends and clusters.
	ids := make([]string, 0, len(cfg.Backends))
	for id := range cfg.Backends {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	seenClusters := map[*cluster]bool{}
	for _, id := range ids {
		b, err := compileBackend(cfg, cfg.Backends[id], clusters, m)
		if err != nil {
			fail(cfg.Backends[id].Pos, "backends."+id, "%v", err)
			continue
		}
		rt.backends[id] = b
		if b.sf != nil && !seenClusters[b.sf.cluster] {
			seenClusters[b.sf.cluster] = true
			rt.clusters = append(rt.clusters, b.sf.cluster)
		}
	}
	for _, id := range ids {
		if bc, b := cfg.Backends[id], rt.backends[id]; b != nil && bc.IsPool() {
			b.members = compilePool(bc, rt.backends)
		}
	}

	// Policies.
	parse := func(p *config.Policy, field string) *policy.Document {
		if p == nil {
			return nil
		}
		doc, err := policy.Parse(policy.Source{File: p.Origin.File, Line: p.Origin.Line, Text: []byte(p.XML)}, named)
		if err != nil {
			policyErrors(&errs, p, field, err)
			return nil
		}
		checkBackendIDs(&errs, p, field, doc, cfg)
		checkClientCertificateAsked(&errs, p, field, doc, cfg, served)
		return doc
	}
	global := parse(cfg.Policies, "policies")
	specs := make([]route.APISpec, len(cfg.APIs))
	for i, ac := range cfg.APIs {
		field := fmt.Sprintf("apis[%d]", i)
		a := &api{
			name:         ac.Name,
			info:         expr.API{Name: ac.Name, Path: strings.Trim(ac.Path, "/"), ServiceURL: ac.ServiceURL},
			serviceURL:   []byte(ac.ServiceURL),
			prefix:       apiPrefix(ac.Path),
			preserveHost: ac.PreserveHost,
			metrics:      m.api(ac.Name),
		}
		apiDoc := parse(ac.Policies, field+".policies")
		specs[i].Path = ac.Path
		build := func(opDoc *policy.Document, p config.Pos, field string) *policy.Program {
			prog, err := policy.Compile(policy.Chain{Global: global, API: apiDoc, Operation: opDoc})
			if err != nil {
				fail(p, field, "policy: %v", err)
			}
			return prog
		}
		if len(ac.Operations) == 0 {
			a.all = &operation{info: expr.Operation{Name: ac.Name, Method: "*", URLTemplate: "/*"}, program: build(nil, ac.Pos, field)}
		}
		for j, oc := range ac.Operations {
			ofield := fmt.Sprintf("%s.operations[%d]", field, j)
			if _, err := route.ParseTemplate(oc.URLTemplate); err != nil {
				fail(oc.Pos, ofield+".urlTemplate", "%v", err)
			}
			specs[i].Operations = append(specs[i].Operations, route.OperationSpec{Method: oc.Method, URLTemplate: oc.URLTemplate})
			opDoc := parse(oc.Policies, ofield+".policies")
			name := oc.Name
			if name == "" {
				name = oc.Method + " " + oc.URLTemplate
			}
			a.ops = append(a.ops, &operation{
				info:    expr.Operation{Name: name, Method: oc.Method, URLTemplate: oc.URLTemplate},
				program: build(opDoc, oc.Pos, ofield),
			})
		}
		rt.apis = append(rt.apis, a)
	}
	if rpc := cfg.ReverseProxy; rpc != nil {
		if rp, err := compileReverseProxy(cfg, rpc, clusters, m); err != nil {
			fail(rpc.Pos, "reverseProxy", "%v", err)
		} else {
			rt.rp = rp
			if !seenClusters[rp.backend.sf.cluster] {
				rt.clusters = append(rt.clusters, rp.backend.sf.cluster)
			}
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool {
			if errs[i].Pos.File != errs[j].Pos.File {
				return errs[i].Pos.File < errs[j].Pos.File
			}
			return errs[i].Pos.Line < errs[j].Pos.Line
		})
		return nil, errs
	}
	table, err := route.NewTable(specs)
	if err != nil {
		return nil, config.Errors{{Pos: config.Pos{File: cfg.File, Line: 1}, Msg: err.Error()}}
	}
	rt.table = table
	rt.states.New = func() any { return newReqState() }
	return rt, nil
}

// policyPos turns a position in a policy document into one in the configuration file: inline XML's columns
// include the YAML indentation.
func policyPos(p *config.Policy, file string, line, col int) config.Pos {
	if p.File == "" && file == p.Origin.File && col > 0 {
		col += p.Indent
	}
	return config.Pos{File: file, Line: line, Col: col}
}

// policyErrors converts a policy load error into positioned configuration errors.
func policyErrors(errs *config.Errors, p *config.Policy, field string, err error) {
	var list interface{ Unwrap() []error }
	if errors.As(err, &list) {
		for _, e := range list.Unwrap() {
			policyErrors(errs, p, field, e)
		}
		return
	}
	at := func(file string, line, col int) config.Pos { return policyPos(p, file, line, col) }
	var pe *policy.Error
	if errors.As(err, &pe) {
		*errs = append(*errs, &config.Error{Pos: at(pe.File, pe.Line, pe.Col), Field: field, Msg: pe.Msg})
		return
	}
	var ce *expr.CompileError
	if errors.As(err, &ce) {
		*errs = append(*errs, &config.Error{Pos: at(ce.Pos.File, ce.Pos.Line, ce.Pos.Col), Field: field, Msg: ce.Msg})
		return
	}
	*errs = append(*errs, &config.Error{Pos: p.Origin, Field: field, Msg: err.Error()})
}

// checkBackendIDs reports a literal backend-id that names no configured backend: a load error, not a 500
// on the first request. Expression values (@(...)) are checked per request.
func checkBackendIDs(errs *config.Errors, p *config.Policy, field string, doc *policy.Document, cfg *config.Config) {
	for _, ref := range doc.BackendIDs() {
		if _, ok := cfg.Backends[ref.ID]; ok {
			continue
		}
		known := make([]string, 0, len(cfg.Backends))
		for k := range cfg.Backends {
			known = append(known, k)
		}
		sort.Strings(known)
		*errs = append(*errs, &config.Error{Pos: policyPos(p, ref.Pos.File, ref.Pos.Line, ref.Pos.Col), Field: field,
			Msg: fmt.Sprintf("set-backend-service backend-id %q names no backend (configured: %s)", ref.ID, strings.Join(known, ", "))})
	}
}

// checkClientCertificateAsked reports a validate-client-certificate on a client listener that asks for no
// certificate (served: no tls:, or tls.clientCertificate none): no request could carry one, so the policy would
// refuse every request it runs for with ClientCertificateNotPresent. One with ignore-error="true" refuses nothing
// and passes.
func checkClientCertificateAsked(errs *config.Errors, p *config.Policy, field string, doc *policy.Document, cfg *config.Config, served *config.ListenerTLS) {
	why := ""
	switch {
	case served == nil && cfg.TLS != nil:
		why = "the client listener serves plain HTTP until a restart (tls: was added after it started)"
	case served == nil:
		why = "the client listener serves plain HTTP (no tls:)"
	case served.ClientCertificate == "" || served.ClientCertificate == "none":
		why = "the client listener asks clients for no certificate (tls.clientCertificate: none)"
	default:
		return
	}
	for _, at := range doc.ClientCertificateChecks() {
		*errs = append(*errs, &config.Error{Pos: policyPos(p, at.File, at.Line, at.Col), Field: field,
			Msg: "<validate-client-certificate> would refuse every request with ClientCertificateNotPresent: " + why +
				"; set tls.clientCertificate to optional or required (with tls.clientCaFile), or remove the policy"})
	}
}

func substituteNamed(s string, named map[string]string) string {
	return config.NamedRef.ReplaceAllStringFunc(s, func(ref string) string {
		if v, ok := named[ref[2:len(ref)-2]]; ok {
			return v
		}
		return ref
	})
}

func apiPrefix(path string) []byte {
	p := strings.Trim(path, "/")
	if p == "" {
		return nil
	}
	return []byte("/" + p)
}
