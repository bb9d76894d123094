package policy

import (
	"bytes"
	"strings"

	"github.com/sfgate/sfgate/gateway/expr"
)

type stmtKind uint8

const (
	kBase stmtKind = iota
	kSetBackend
	kChoose
	kSetVariable
	kSetQuery
	kSetHeader
	kRewriteURI
	kReturnResponse
	kForward
	kRetry
	kLimit       // rate-limit, rate-limit-by-key, quota-by-key (limits.go)
	kConcurrency // limit-concurrency (limits.go)
	kCheckHeader
	kIPFilter
	kValidateJWT
	kValidateCert
)

// stmt is one compiled policy statement.
type stmt struct {
	kind    stmtKind
	pos     expr.Pos
	backend *backendStmt
	choose  *chooseStmt
	setVar  *setVarStmt
	param   *paramStmt
	rewrite *rewriteStmt
	ret     *returnStmt
	forward *forwardStmt
	retry   *retryStmt
	limit   *limitStmt
	conc    *concurrencyStmt
	check   *checkHeaderStmt
	filter  *ipFilterStmt
	jwt     *validateJWTStmt
	cert    *validateCertStmt
}

type backendStmt struct {
	baseURL, backendID                  value
	partitionKey, replicaType, listener value
	serviceName                         value
	resolve                             *expr.Expr
}

type whenClause struct {
	cond boolValue
	body []stmt
}

type chooseStmt struct {
	whens     []whenClause
	otherwise []stmt
}

type setVarStmt struct {
	name string
	val  value
}

type existsAction uint8

const (
	actOverride existsAction = iota
	actSkip
	actAppend
	actDelete
)

var actionNames = []string{"override", "skip", "append", "delete"}

func parseAction(b []byte) (existsAction, bool) {
	for i, n := range actionNames {
		if strings.EqualFold(strings.TrimSpace(string(b)), n) {
			return existsAction(i), true
		}
	}
	return 0, false
}

// paramStmt is set-header or set-query-parameter.
type paramStmt struct {
	name     value
	action   value // literal checked at load time, or an expression
	actLit   existsAction
	values   []value
	response bool // set-header on the response (outbound, on-error)
}

type rewriteStmt struct {
	template      value
	copyUnmatched boolValue
}

type returnStmt struct {
	status  intValue
	reason  value
	headers []*paramStmt
	body    value
}

type forwardStmt struct {
	timeout intValue
}

type retryStmt struct {
	cond        boolValue
	count       intValue
	interval    intValue
	maxInterval intValue
	delta       intValue
	firstFast   boolValue
	body        []stmt
}

// sections each policy may appear in (absent: all).
var policySections = map[string][]sectionKind{
	"set-backend-service":         {inbound, backend},
	"forward-request":             {backend},
	"rewrite-uri":                 {inbound},
	"check-header":                {inbound},
	"ip-filter":                   {inbound},
	"validate-jwt":                {inbound},
	"validate-client-certificate": {inbound},
	"set-query-parameter":         {inbound, backend},
	// retry waits between attempts; only Backend has a context to cancel the wait with
	"retry": {backend},
	// rate and quota limits (limits.go)
	"rate-limit":        {inbound},
	"rate-limit-by-key": {inbound},
	"quota-by-key":      {inbound},
}

var supportedPolicies = []string{"base", "check-header", "choose", "forward-request", "ip-filter", "retry", "validate-client-certificate", "validate-jwt", "return-response", "rewrite-uri", "set-backend-service", "set-header", "set-query-parameter", "set-variable",
	"rate-limit", "rate-limit-by-key", "quota-by-key", "limit-concurrency"}

// knownAPIMPolicies are APIM policies sfgate does not implement; they get a clearer error.
var knownAPIMPolicies = map[string]bool{
	"quota":                true,
	"authentication-basic": true, "authentication-certificate": true, "authentication-managed-identity": true,
	"cors": true, "cross-domain": true, "send-request": true,
	"send-one-way-request": true, "cache-lookup": true, "cache-store": true, "cache-lookup-value": true,
	"cache-store-value": true, "cache-remove-value": true, "include-fragment": true, "mock-response": true,
	"set-body": true, "set-status": true, "set-method": true, "find-and-replace": true, "json-to-xml": true,
	"xml-to-json": true, "log-to-eventhub": true, "trace": true, "emit-metric": true, "wait": true,
	"redirect-content-urls": true, "set-backend-pool": true, "validate-content": true,
	"validate-parameters": true, "validate-headers": true, "validate-status-code": true, "proxy": true,
	"llm-token-limit": true, "azure-openai-token-limit": true, "publish-to-dapr": true, "invoke-dapr-binding": true,
}

// stmts compiles the child policies of el.
func (b *builder) stmts(el *element, top bool) ([]stmt, error) {
	var out []stmt
	for _, ch := range el.children {
		s, err := b.stmt(ch, top)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (b *builder) stmt(el *element, top bool) (stmt, error) {
	pos := b.loc.pos(el.off)
	if secs, ok := policySections[el.name]; ok {
		allowed := false
		names := make([]string, len(secs))
		for i, s := range secs {
			names[i] = sectionNames[s]
			if s == b.sec {
				allowed = true
			}
		}
		if !allowed {
			return stmt{}, errorAt(pos, "<"+el.name+"> is not allowed in <"+sectionNames[b.sec]+"> (allowed in: "+strings.Join(names, ", ")+")")
		}
	}
	s := stmt{pos: pos}
	var err error
	switch el.name {
	case "base":
		if !top {
			return stmt{}, errorAt(pos, "<base/> must be a direct child of a section")
		}
		s.kind = kBase
		err = b.noChildren(el)
		if err == nil {
			err = b.checkAttrs(el)
		}
	case "set-backend-service":
		s.kind = kSetBackend
		s.backend, err = b.setBackend(el)
	case "choose":
		s.kind = kChoose
		s.choose, err = b.chooseStmt(el)
	case "set-variable":
		s.kind = kSetVariable
		s.setVar, err = b.setVariable(el)
	case "set-query-parameter":
		s.kind = kSetQuery
		s.param, err = b.paramStmt(el, false)
	case "set-header":
		s.kind = kSetHeader
		s.param, err = b.paramStmt(el, b.sec == outbound || b.sec == onError)
	case "rewrite-uri":
		s.kind = kRewriteURI
		s.rewrite, err = b.rewriteURI(el)
	case "return-response":
		s.kind = kReturnResponse
		s.ret, err = b.returnResponse(el)
	case "forward-request":
		s.kind = kForward
		s.forward, err = b.forwardRequest(el)
	case "retry":
		s.kind = kRetry
		s.retry, err = b.retryStmt(el)
	case "rate-limit", "rate-limit-by-key", "quota-by-key":
		s.kind = kLimit
		s.limit, err = b.limitStmt(el, limitKinds[el.name])
	case "limit-concurrency":
		s.kind = kConcurrency
		s.conc, err = b.concurrencyStmt(el)
	case "check-header":
		s.kind = kCheckHeader
		s.check, err = b.checkHeader(el)
	case "ip-filter":
		s.kind = kIPFilter
		s.filter, err = b.ipFilter(el)
	case "validate-jwt":
		s.kind = kValidateJWT
		s.jwt, err = b.validateJWT(el)
	case "validate-client-certificate":
		s.kind = kValidateCert
		s.cert, err = b.validateClientCertificate(el)
	default:
		if knownAPIMPolicies[el.name] {
			return stmt{}, errorAt(pos, "policy <"+el.name+"> is not supported by sfgate (supported: "+strings.Join(supportedPolicies, ", ")+")")
		}
		return stmt{}, errorAt(pos, "unknown policy <"+el.name+"> (supported: "+strings.Join(supportedPolicies, ", ")+")")
	}
	return s, err
}

func (b *builder) setBackend(el *element) (*backendStmt, error) {
	if err := b.checkAttrs(el, "base-url", "backend-id", "sf-partition-key", "sf-replica-type", "sf-listener-name", "sf-service-instance-name", "sf-resolve-condition"); err != nil {
		return nil, err
	}
	if err := b.noChildren(el); err != nil {
		return nil, err
	}
	hasBase, hasID := attr(el, "base-url") != nil, attr(el, "backend-id") != nil
	if hasBase == hasID {
		return nil, b.errorf(el.off, "<set-backend-service> needs exactly one of \"base-url\" and \"backend-id\"")
	}
	if hasBase {
		for _, n := range []string{"sf-partition-key", "sf-replica-type", "sf-listener-name", "sf-service-instance-name", "sf-resolve-condition"} {
			if a := attr(el, n); a != nil {
				return nil, b.errorf(a.off, "<set-backend-service> \""+n+"\" applies to Service Fabric backends, which are named with \"backend-id\", not \"base-url\"")
			}
		}
	}
	s := &backendStmt{}
	var err error
	if s.baseURL, err = b.attrValue(el, "base-url", expr.TypeAny); err != nil {
		return nil, err
	}
	if s.backendID, err = b.attrValue(el, "backend-id", expr.TypeAny); err != nil {
		return nil, err
	}
	if s.backendID.set && s.backendID.e == nil {
		b.backendIDs = append(b.backendIDs, BackendRef{ID: string(s.backendID.lit), Pos: b.loc.pos(attr(el, "backend-id").valOff)})
	}
	for _, n := range []string{"base-url", "backend-id"} {
		if a := attr(el, n); a != nil && strings.TrimSpace(a.value) == "" {
			return nil, b.errorf(a.valOff, "<set-backend-service> "+n+" is empty")
		}
	}
	if s.partitionKey, err = b.attrValue(el, "sf-partition-key", expr.TypeAny); err != nil {
		return nil, err
	}
	if s.replicaType, err = b.attrValue(el, "sf-replica-type", expr.TypeAny); err != nil {
		return nil, err
	}
	if s.replicaType.set && s.replicaType.e == nil {
		switch strings.ToLower(string(s.replicaType.lit)) {
		case "primary", "secondary", "any":
		default:
			a := attr(el, "sf-replica-type")
			return nil, b.errorf(a.valOff, "<set-backend-service> sf-replica-type \""+string(s.replicaType.lit)+"\" is not a replica type (expected primary, secondary or any)")
		}
	}
	if s.listener, err = b.attrValue(el, "sf-listener-name", expr.TypeAny); err != nil {
		return nil, err
	}
	if s.serviceName, err = b.attrValue(el, "sf-service-instance-name", expr.TypeAny); err != nil {
		return nil, err
	}
	if a := attr(el, "sf-resolve-condition"); a != nil {
		v, err := b.compileText("set-backend-service sf-resolve-condition", a.value, a.valOff, expr.TypeBool)
		if err != nil {
			return nil, err
		}
		if v.e == nil {
			return nil, b.errorf(a.valOff, "<set-backend-service> sf-resolve-condition must be an expression such as @(context.LastError?.Reason == \"BackendConnectionFailure\")")
		}
		s.resolve = v.e
	}
	return s, nil
}

func (b *builder) chooseStmt(el *element) (*chooseStmt, error) {
	if err := b.checkAttrs(el); err != nil {
		return nil, err
	}
	if err := b.noText(el); err != nil {
		return nil, err
	}
	s := &chooseStmt{}
	seenOtherwise := false
	for _, ch := range el.children {
		switch ch.name {
		case "when":
			if seenOtherwise {
				return nil, b.errorf(ch.off, "<when> after <otherwise> in <choose> (otherwise must be last)")
			}
			if err := b.checkAttrs(ch, "condition"); err != nil {
				return nil, err
			}
			if err := b.require(ch, "condition"); err != nil {
				return nil, err
			}
			if err := b.noText(ch); err != nil {
				return nil, err
			}
			cond, err := b.boolAttr(ch, "condition")
			if err != nil {
				return nil, err
			}
			body, err := b.stmts(ch, false)
			if err != nil {
				return nil, err
			}
			s.whens = append(s.whens, whenClause{cond: cond, body: body})
		case "otherwise":
			if seenOtherwise {
				return nil, b.errorf(ch.off, "<choose> has more than one <otherwise>")
			}
			seenOtherwise = true
			if err := b.checkAttrs(ch); err != nil {
				return nil, err
			}
			if err := b.noText(ch); err != nil {
				return nil, err
			}
			body, err := b.stmts(ch, false)
			if err != nil {
				return nil, err
			}
			s.otherwise = body
		default:
			return nil, b.errorf(ch.off, "<choose> may contain only <when> and <otherwise>, found <"+ch.name+">")
		}
	}
	if len(s.whens) == 0 {
		return nil, b.errorf(el.off, "<choose> needs at least one <when>")
	}
	return s, nil
}

func (b *builder) setVariable(el *element) (*setVarStmt, error) {
	if err := b.checkAttrs(el, "name", "value"); err != nil {
		return nil, err
	}
	if err := b.require(el, "name", "value"); err != nil {
		return nil, err
	}
	if err := b.noChildren(el); err != nil {
		return nil, err
	}
	a := attr(el, "name")
	name, _, err := b.loc.substitute(a.value, a.valOff, b.named)
	if err != nil {
		return nil, err
	}
	if expr.IsExpression(name) || strings.TrimSpace(name) == "" {
		return nil, b.errorf(a.valOff, "<set-variable> name must be a non-empty literal (expressions are not allowed)")
	}
	v, err := b.attrValue(el, "value", expr.TypeAny)
	if err != nil {
		return nil, err
	}
	return &setVarStmt{name: name, val: v}, nil
}

// headersFixed cannot be changed by set-header (APIM).
var headersFixed = []string{"connection", "content-length", "keep-alive", "transfer-encoding"}

func (b *builder) paramStmt(el *element, response bool) (*paramStmt, error) {
	if err := b.checkAttrs(el, "name", "exists-action"); err != nil {
		return nil, err
	}
	if err := b.require(el, "name"); err != nil {
		return nil, err
	}
	if err := b.noText(el); err != nil {
		return nil, err
	}
	s := &paramStmt{response: response}
	var err error
	if s.name, err = b.attrValue(el, "name", expr.TypeString); err != nil {
		return nil, err
	}
	if s.name.e == nil {
		if len(bytes.TrimSpace(s.name.lit)) == 0 {
			return nil, b.errorf(attr(el, "name").valOff, "<"+el.name+"> name is empty")
		}
		if el.name == "set-header" {
			for _, h := range headersFixed {
				if strings.EqualFold(string(s.name.lit), h) {
					return nil, b.errorf(attr(el, "name").valOff, "<set-header> cannot change the "+string(s.name.lit)+" header")
				}
			}
		}
	}
	if s.action, err = b.attrValue(el, "exists-action", expr.TypeString); err != nil {
		return nil, err
	}
	if s.action.set && s.action.e == nil {
		act, ok := parseAction(s.action.lit)
		if !ok {
			return nil, b.errorf(attr(el, "exists-action").valOff, "<"+el.name+"> exists-action \""+string(s.action.lit)+"\" is not one of override, skip, append, delete")
		}
		s.actLit = act
	}
	for _, ch := range el.children {
		if ch.name != "value" {
			return nil, b.errorf(ch.off, "<"+el.name+"> may contain only <value> elements, found <"+ch.name+">")
		}
		if err := b.checkAttrs(ch); err != nil {
			return nil, err
		}
		v, err := b.textContent(ch, el.name+" value")
		if err != nil {
			return nil, err
		}
		s.values = append(s.values, v)
	}
	if el.name == "set-query-parameter" && len(s.values) == 0 && s.action.e == nil && s.actLit != actDelete {
		return nil, b.errorf(el.off, "<set-query-parameter> needs at least one <value> unless exists-action=\"delete\"")
	}
	return s, nil
}

// textContent compiles the text of el (<value>, <set-body>), which holds text or an expression
// and no elements; what names it in errors.
func (b *builder) textContent(el *element, what string) (value, error) {
	if len(el.children) > 0 {
		return value{}, b.errorf(el.children[0].off, "<"+el.name+"> holds text or an expression, found <"+el.children[0].name+">")
	}
	return b.compileText(what, strings.TrimSpace(el.text), el.textOff, expr.TypeAny)
}

func (b *builder) rewriteURI(el *element) (*rewriteStmt, error) {
	if err := b.checkAttrs(el, "template", "copy-unmatched-params"); err != nil {
		return nil, err
	}
	if err := b.require(el, "template"); err != nil {
		return nil, err
	}
	if err := b.noChildren(el); err != nil {
		return nil, err
	}
	s := &rewriteStmt{}
	var err error
	if s.template, err = b.attrValue(el, "template", expr.TypeString); err != nil {
		return nil, err
	}
	if s.copyUnmatched, err = b.boolAttr(el, "copy-unmatched-params"); err != nil {
		return nil, err
	}
	return s, nil
}

func (b *builder) returnResponse(el *element) (*returnStmt, error) {
	if a := attr(el, "response-variable-name"); a != nil {
		return nil, b.errorf(a.off, "<return-response> response-variable-name is not supported by sfgate")
	}
	if err := b.checkAttrs(el); err != nil {
		return nil, err
	}
	if err := b.noText(el); err != nil {
		return nil, err
	}
	s := &returnStmt{}
	saved := b.sec
	defer func() { b.sec = saved }()
	for _, ch := range el.children {
		switch ch.name {
		case "set-status":
			if err := b.checkAttrs(ch, "code", "reason"); err != nil {
				return nil, err
			}
			if err := b.require(ch, "code"); err != nil {
				return nil, err
			}
			if s.status.set {
				return nil, b.errorf(ch.off, "<return-response> has more than one <set-status>")
			}
			if err := b.noChildren(ch); err != nil {
				return nil, err
			}
			var err error
			if s.status, err = b.intAttr(ch, "code", 100, 599); err != nil {
				return nil, err
			}
			if s.reason, err = b.attrValue(ch, "reason", expr.TypeAny); err != nil {
				return nil, err
			}
		case "set-header":
			p, err := b.paramStmt(ch, true)
			if err != nil {
				return nil, err
			}
			s.headers = append(s.headers, p)
		case "set-body":
			if err := b.checkAttrs(ch); err != nil {
				return nil, err
			}
			if s.body.set {
				return nil, b.errorf(ch.off, "<return-response> has more than one <set-body>")
			}
			v, err := b.textContent(ch, "set-body")
			if err != nil {
				return nil, err
			}
			s.body = v
		default:
			return nil, b.errorf(ch.off, "<return-response> may contain set-status, set-header and set-body, found <"+ch.name+">")
		}
	}
	return s, nil
}

func (b *builder) forwardRequest(el *element) (*forwardStmt, error) {
	if err := b.checkAttrs(el, "timeout", "buffer-request-body", "buffer-response", "follow-redirects", "fail-on-error-status-code"); err != nil {
		return nil, err
	}
	if err := b.noChildren(el); err != nil {
		return nil, err
	}
	for _, n := range []string{"follow-redirects", "fail-on-error-status-code"} {
		v, err := b.boolAttr(el, n)
		if err != nil {
			return nil, err
		}
		if v.set && (v.e != nil || v.lit) {
			return nil, b.errorf(attr(el, n).off, "<forward-request> "+n+"=\"true\" is not supported by sfgate")
		}
	}
	for _, n := range []string{"buffer-request-body", "buffer-response"} {
		if _, err := b.boolAttr(el, n); err != nil { // sfgate always buffers the request body
			return nil, err
		}
	}
	s := &forwardStmt{}
	var err error
	if s.timeout, err = b.intAttr(el, "timeout", 1, 3600); err != nil {
		return nil, err
	}
	return s, nil
}

func (b *builder) retryStmt(el *element) (*retryStmt, error) {
	if err := b.checkAttrs(el, "condition", "count", "interval", "max-interval", "delta", "first-fast-retry"); err != nil {
		return nil, err
	}
	if err := b.require(el, "condition", "count", "interval"); err != nil {
		return nil, err
	}
	if err := b.noText(el); err != nil {
		return nil, err
	}
	s := &retryStmt{}
	var err error
	if s.cond, err = b.boolAttr(el, "condition"); err != nil {
		return nil, err
	}
	if s.count, err = b.intAttr(el, "count", 1, 50); err != nil {
		return nil, err
	}
	if s.interval, err = b.intAttr(el, "interval", 0, 3600); err != nil {
		return nil, err
	}
	if s.maxInterval, err = b.intAttr(el, "max-interval", 0, 3600); err != nil {
		return nil, err
	}
	if s.delta, err = b.intAttr(el, "delta", 0, 3600); err != nil {
		return nil, err
	}
	if s.firstFast, err = b.boolAttr(el, "first-fast-retry"); err != nil {
		return nil, err
	}
	if s.body, err = b.stmts(el, false); err != nil {
		return nil, err
	}
	return s, nil
}

// walk calls f for every statement in list, nested ones included.
func walk(list []stmt, f func(*stmt)) {
	for i := range list {
		s := &list[i]
		f(s)
		switch s.kind {
		case kChoose:
			for _, w := range s.choose.whens {
				walk(w.body, f)
			}
			walk(s.choose.otherwise, f)
		case kRetry:
			walk(s.retry.body, f)
		case kConcurrency:
			walk(s.conc.body, f)
		}
	}
}
