package policy

import (
	"context"
	"strings"
	"time"

	"github.com/sfgate/sfgate/gateway/expr"
)

// Chain lists the documents of the scopes that apply to one operation, broadest first.
// A nil document is an absent scope; a nil Global means APIM's default global policy.
type Chain struct {
	Global    *Document
	Product   *Document
	API       *Document
	Operation *Document
}

// Program is the effective policy of one operation: the scopes merged at <base/>. It is
// immutable and safe for concurrent use; per-request state lives in expr.Context and Result.
type Program struct {
	sections [numSections][]stmt
}

// Compile merges the scopes of ch section by section: a section replaces its parent's, with
// the parent's statements spliced in at <base/>; a missing section inherits the parent's (a
// section missing from the global document is APIM's default, so a global policy without
// <backend> still forwards; write <backend></backend> to stop forwarding). A
// set-backend-service with base-url placed after an inherited backend-id one is a load error
// (APIM only lets backend-id override an inherited backend-id).
func Compile(ch Chain) (*Program, error) {
	global := ch.Global
	if global == nil {
		global = DefaultGlobal()
	}
	p := &Program{}
	for k := sectionKind(0); k < numSections; k++ {
		s := global.sections[k]
		if s == nil { // a global document without this section keeps APIM's default one
			s = DefaultGlobal().sections[k]
		}
		if s != nil {
			p.sections[k] = withoutBase(s.stmts)
		}
	}
	for _, d := range []*Document{ch.Product, ch.API, ch.Operation} {
		if d == nil {
			continue
		}
		// a backend-id inherited in inbound is still in force in this scope's backend section
		// unless the scope's own inbound chose a backend after <base/>
		var pinned *stmt
		for k := sectionKind(0); k < numSections; k++ {
			sec := d.sections[k]
			if sec == nil {
				continue
			}
			var earlier *stmt
			if k == backend {
				earlier = pinned
			}
			merged, inherited, err := mergeSection(p.sections[k], sec.stmts, earlier)
			if err != nil {
				return nil, err
			}
			if k == inbound {
				pinned = inherited
			}
			p.sections[k] = merged
		}
	}
	return p, nil
}

func withoutBase(list []stmt) []stmt {
	out := make([]stmt, 0, len(list))
	for _, s := range list {
		if s.kind != kBase {
			out = append(out, s)
		}
	}
	return out
}

// mergeSection splices parent into child at <base/>. It enforces APIM's rule that an inherited
// backend-id set-backend-service can be overridden only by backend-id: a base-url one after
// <base/> (or anywhere in the section when earlier, a backend-id inherited by an earlier
// section, is given) is an error naming both places. It returns the backend-id this section
// inherits and does not replace.
func mergeSection(parent, child []stmt, earlier *stmt) ([]stmt, *stmt, error) {
	at := -1
	for i, s := range child {
		if s.kind == kBase {
			at = i
		}
	}
	if at < 0 && earlier == nil {
		return append([]stmt(nil), child...), nil, nil
	}
	// check the statements that run after an inherited backend-id: after <base/> for one
	// inherited in this section, the whole section for one inherited by an earlier section
	inherited, scope := earlier, child
	if at >= 0 {
		walk(parent, func(s *stmt) {
			if s.kind == kSetBackend && s.backend.backendID.set {
				inherited, scope = s, child[at+1:]
			}
		})
	}
	if inherited != nil {
		var override *stmt
		replaced := false
		walk(scope, func(s *stmt) {
			if s.kind != kSetBackend {
				return
			}
			if s.backend.baseURL.set && override == nil && !replaced {
				override = s
			}
			if s.backend.backendID.set {
				replaced = true
			}
		})
		if override != nil {
			return nil, nil, errorAt(override.pos, "set-backend-service with base-url cannot override the backend-id set-backend-service at "+
				inherited.pos.String()+", which this scope inherits through <base/> (APIM lets only backend-id override an inherited backend-id; use backend-id here, or place this policy before <base/>)")
		}
		if replaced {
			inherited = nil
		}
	}
	if at < 0 {
		return append([]stmt(nil), child...), inherited, nil
	}
	out := make([]stmt, 0, len(parent)+len(child)-1)
	out = append(out, child[:at]...)
	out = append(out, parent...)
	out = append(out, child[at+1:]...)
	return out, inherited, nil
}

// Forwarder is implemented by the gateway: one execution of <forward-request>. It sends
// c.Request to r.Target (for a Service Fabric target including the resolve loop, which calls
// r.Target.ResolveCondition after each attempt), and sets c.Response; or it returns an error
// (ideally implementing expr.LastErrorer, e.g. reason BackendConnectionFailure or Timeout).
type Forwarder interface {
	Forward(ctx context.Context, c *expr.Context, r *Result, timeout time.Duration) error
}

// Result is what running a program decided, besides its edits of the request in c.Request.
// Byte slices are valid until the expr.Context is reset; never modify them.
type Result struct {
	Target Target         // the last set-backend-service executed
	Return ReturnResponse // set when return-response ran: send it, run nothing else

	limits []limitUse // counters the request passed (FinishLimits)
}

// Reset clears r for reuse, keeping capacity.
func (r *Result) Reset() {
	r.Target = Target{}
	h := r.Return.Headers[:0]
	for i := range r.Return.Headers {
		r.Return.Headers[i] = Header{}
	}
	r.Return = ReturnResponse{Headers: h}
	clear(r.limits)
	r.limits = r.limits[:0]
}

// Target is the backend chosen by set-backend-service.
type Target struct {
	Set                 bool   // a set-backend-service ran; otherwise use the API's service URL
	BaseURL             []byte // base-url (exactly one of BaseURL and BackendID is non-nil when Set)
	BackendID           []byte // backend-id
	PartitionKey        []byte // sf-partition-key; valid when HasPartitionKey
	HasPartitionKey     bool   // false: no key (a Singleton partition)
	ReplicaType         []byte // sf-replica-type, nil when absent
	ListenerName        []byte // sf-listener-name, nil when absent
	ServiceInstanceName []byte // sf-service-instance-name, nil when absent (use the backend's URL)
	// SFRPPath joins the path after the suffix to the replica's address as the reverse proxy does
	// (forwardurl.AppendSFRP: byte for byte, empty segments kept), not with APIM's one '/' at the join.
	SFRPPath bool

	resolve *expr.Expr
}

// SetResolveCondition gives the target an sf-resolve-condition without a policy (the reverse proxy's rule).
func (t *Target) SetResolveCondition(e *expr.Expr) { t.resolve = e }

// HasResolveCondition reports whether the set-backend-service had an sf-resolve-condition.
func (t *Target) HasResolveCondition() bool { return t.resolve != nil }

// ResolveCondition evaluates sf-resolve-condition after a backend attempt (c.Response and
// c.LastError describe the attempt). Without a condition it reports whether the attempt failed
// with BackendConnectionFailure (docs/design.md §4). A failure is an *expr.EvalError.
func (t *Target) ResolveCondition(c *expr.Context) (bool, error) {
	if t.resolve == nil {
		return c.LastError != nil && c.LastError.Reason == expr.ReasonBackendConnectionFailure, nil
	}
	return t.resolve.EvalBool(c)
}

// ReturnResponse is the response built by return-response.
type ReturnResponse struct {
	Set        bool
	StatusCode int
	Reason     []byte
	Headers    []Header
	Body       []byte
}

// Header is one response header line.
type Header struct {
	Name, Value []byte
}

// Inbound runs the inbound section. If r.Return.Set afterwards, send that response and stop.
// An error is the request's error (an *expr.EvalError maps to 500 ExpressionValueEvaluationFailure):
// set c.LastError = expr.AsLastError(err) and run OnError.
func (p *Program) Inbound(c *expr.Context, r *Result) error {
	rn := runner{c: c, r: r, sec: inbound}
	return finish(rn.exec(p.sections[inbound]))
}

// Backend runs the backend section, calling f.Forward at each forward-request (APIM's default
// global backend section is just <forward-request/>). ctx bounds retry waits.
func (p *Program) Backend(ctx context.Context, c *expr.Context, r *Result, f Forwarder) error {
	rn := runner{c: c, r: r, sec: backend, ctx: ctx, f: f}
	return finish(rn.exec(p.sections[backend]))
}

// Outbound runs the outbound section; set-header edits c.Response.Header.
func (p *Program) Outbound(c *expr.Context, r *Result) error {
	rn := runner{c: c, r: r, sec: outbound}
	return finish(rn.exec(p.sections[outbound]))
}

// OnError runs the on-error section (set c.LastError first).
func (p *Program) OnError(c *expr.Context, r *Result) error {
	rn := runner{c: c, r: r, sec: onError}
	return finish(rn.exec(p.sections[onError]))
}

// Forwards reports whether the backend section contains a forward-request.
func (p *Program) Forwards() bool {
	found := false
	walk(p.sections[backend], func(s *stmt) { found = found || s.kind == kForward })
	return found
}

func finish(err error) error {
	if err == errReturned {
		return nil
	}
	return err
}

// String lists the merged program, one policy per line (for `sfgate validate` and debugging).
func (p *Program) String() string {
	var b strings.Builder
	for k := sectionKind(0); k < numSections; k++ {
		b.WriteString(sectionNames[k])
		b.WriteString(":")
		walk(p.sections[k], func(s *stmt) {
			b.WriteString(" ")
			b.WriteString(stmtNames[s.kind])
			b.WriteString("@")
			b.WriteString(s.pos.String())
		})
		b.WriteString("\n")
	}
	return b.String()
}

var stmtNames = [...]string{kBase: "base", kSetBackend: "set-backend-service", kChoose: "choose", kSetVariable: "set-variable",
	kSetQuery: "set-query-parameter", kSetHeader: "set-header", kRewriteURI: "rewrite-uri", kReturnResponse: "return-response",
	kForward: "forward-request", kRetry: "retry", kLimit: "rate-limit", kConcurrency: "limit-concurrency",
	kCheckHeader: "check-header", kIPFilter: "ip-filter", kValidateJWT: "validate-jwt",
	kValidateCert: "validate-client-certificate"}
