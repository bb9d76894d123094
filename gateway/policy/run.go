package policy

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/valyala/fasthttp"
)

// runner executes statements for one request.
type runner struct {
	c   *expr.Context
	r   *Result
	sec sectionKind
	ctx context.Context
	f   Forwarder
}

func (rn *runner) exec(list []stmt) error {
	for i := range list {
		s := &list[i]
		var err error
		switch s.kind {
		case kBase:
		case kSetBackend:
			err = rn.setBackend(s.backend)
		case kChoose:
			err = rn.choose(s.choose)
		case kSetVariable:
			var v expr.Value
			v, err = s.setVar.val.eval(rn.c)
			if err == nil {
				rn.c.SetVariable(s.setVar.name, v)
			}
		case kSetQuery:
			err = rn.setQuery(s.param)
		case kSetHeader:
			err = rn.setHeader(s.param)
		case kRewriteURI:
			err = rn.rewriteURI(s.rewrite)
		case kReturnResponse:
			err = rn.returnResponse(s.ret)
		case kForward:
			err = rn.forward(s.forward)
		case kRetry:
			err = rn.retry(s.retry)
		case kLimit:
			err = rn.limit(s.limit)
		case kConcurrency:
			err = rn.concurrency(s.conc)
		case kCheckHeader:
			err = rn.checkHeader(s.check)
		case kIPFilter:
			err = rn.ipFilter(s.filter)
		case kValidateJWT:
			err = rn.validateJWT(s.jwt)
		case kValidateCert:
			err = rn.validateClientCertificate(s.cert)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// keep returns the text of an attribute: literals as they are, expression results copied so
// that later edits of the request cannot change them.
func (rn *runner) keep(v *value) ([]byte, error) {
	if !v.set {
		return nil, nil
	}
	if v.e == nil {
		return v.lit, nil
	}
	r, err := v.e.Eval(rn.c)
	if err != nil {
		return nil, err
	}
	if r.Kind == expr.Null {
		return nil, nil
	}
	return rn.c.KeepBytes(rn.c.Text(r)), nil
}

func nullAttr(v *value, what string) error {
	return &expr.EvalError{Pos: v.e.Pos(), Expr: v.e.Source(), Msg: what + " evaluated to null"}
}

func (rn *runner) setBackend(s *backendStmt) error {
	t := &rn.r.Target
	*t = Target{Set: true, resolve: s.resolve}
	var err error
	if s.baseURL.set {
		if t.BaseURL, err = rn.keep(&s.baseURL); err != nil {
			return err
		}
		if t.BaseURL == nil {
			return nullAttr(&s.baseURL, "base-url")
		}
		rn.c.SetBaseURL(t.BaseURL)
	} else {
		if t.BackendID, err = rn.keep(&s.backendID); err != nil {
			return err
		}
		if t.BackendID == nil {
			return nullAttr(&s.backendID, "backend-id")
		}
		rn.c.SetBaseURL(nil)
	}
	if s.partitionKey.set {
		t.HasPartitionKey = true
		if t.PartitionKey, err = rn.keep(&s.partitionKey); err != nil {
			return err
		}
	}
	if t.ReplicaType, err = rn.keep(&s.replicaType); err != nil {
		return err
	}
	if t.ListenerName, err = rn.keep(&s.listener); err != nil {
		return err
	}
	if t.ServiceInstanceName, err = rn.keep(&s.serviceName); err != nil {
		return err
	}
	return nil
}

func (rn *runner) choose(s *chooseStmt) error {
	for i := range s.whens {
		w := &s.whens[i]
		ok, err := w.cond.eval(rn.c, false)
		if err != nil {
			return err
		}
		if ok {
			return rn.exec(w.body)
		}
	}
	return rn.exec(s.otherwise)
}

// paramInput evaluates the name, the action and the values of set-header/set-query-parameter.
func (rn *runner) action(s *paramStmt) (existsAction, error) {
	if s.action.e == nil {
		return s.actLit, nil
	}
	b, err := s.action.bytes(rn.c)
	if err != nil {
		return 0, err
	}
	act, ok := parseAction(b)
	if !ok {
		return 0, &expr.EvalError{Pos: s.action.e.Pos(), Expr: s.action.e.Source(), Msg: "exists-action \"" + string(b) + "\" is not one of override, skip, append, delete"}
	}
	return act, nil
}

func (rn *runner) name(s *paramStmt) ([]byte, error) {
	b, err := s.name.bytes(rn.c)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, &expr.EvalError{Pos: s.name.e.Pos(), Expr: s.name.e.Source(), Msg: "name evaluated to an empty string"}
	}
	return b, nil
}

func (rn *runner) setQuery(s *paramStmt) error {
	if rn.c.Request == nil {
		return errors.New("policy: set-query-parameter without a request")
	}
	name, err := rn.name(s)
	if err != nil {
		return err
	}
	act, err := rn.action(s)
	if err != nil {
		return err
	}
	if act == actSkip && rn.c.Request.URI().QueryArgs().HasBytes(name) {
		return nil
	}
	args := rn.c.EditQuery()
	switch act {
	case actDelete:
		args.DelBytes(name)
		return nil
	case actOverride:
		args.DelBytes(name)
	}
	for i := range s.values {
		v, err := s.values[i].bytes(rn.c)
		if err != nil {
			return err
		}
		args.AddBytesKV(name, v)
	}
	return nil
}

// multiLineHeaders are sent as separate header lines rather than comma-joined (APIM).
var multiLineHeaders = []string{"user-agent", "www-authenticate", "proxy-authenticate", "cookie", "set-cookie", "warning",
	"date", "expires", "if-modified-since", "if-unmodified-since", "last-modified", "retry-after"}

func isMultiLine(name []byte) bool {
	for _, h := range multiLineHeaders {
		if bytes.EqualFold(name, []byte(h)) {
			return true
		}
	}
	return false
}

// headerSink is the set of headers set-header edits.
type headerSink interface {
	PeekBytes(key []byte) []byte
	PeekAll(key string) [][]byte
	DelBytes(key []byte)
	AddBytesKV(key, value []byte)
}

func (rn *runner) setHeader(s *paramStmt) error {
	name, err := rn.name(s)
	if err != nil {
		return err
	}
	for _, h := range headersFixed {
		if bytes.EqualFold(name, []byte(h)) {
			return &expr.EvalError{Pos: s.name.e.Pos(), Expr: s.name.e.Source(), Msg: "set-header cannot change the " + string(name) + " header"}
		}
	}
	act, err := rn.action(s)
	if err != nil {
		return err
	}
	var h headerSink
	if s.response {
		if rn.c.Response == nil || rn.c.Response.Header == nil {
			return errors.New("policy: set-header in " + sectionNames[rn.sec] + " needs context.Response with headers")
		}
		h = rn.c.Response.Header
	} else {
		if rn.c.Request == nil {
			return errors.New("policy: set-header without a request")
		}
		h = &rn.c.Request.Header
	}
	return rn.applyHeader(h, s, name, act)
}

func (rn *runner) applyHeader(h headerSink, s *paramStmt, name []byte, act existsAction) error {
	switch act {
	case actDelete:
		h.DelBytes(name)
		return nil
	case actSkip:
		if h.PeekBytes(name) != nil {
			return nil
		}
	case actOverride:
		h.DelBytes(name)
	}
	multiLine := isMultiLine(name)
	var joined []byte
	if act == actAppend && !multiLine {
		// append to a list header by rewriting it as one comma-joined line, so the order of the
		// values survives fasthttp's unordered header deletes
		for i, v := range h.PeekAll(string(name)) {
			if i > 0 {
				joined = append(joined, ',')
			}
			joined = append(joined, v...)
		}
		if joined != nil {
			h.DelBytes(name)
		}
	}
	if joined == nil && (len(s.values) == 1 || multiLine) {
		for i := range s.values {
			v, err := s.values[i].bytes(rn.c)
			if err != nil {
				return err
			}
			h.AddBytesKV(name, v)
		}
		return nil
	}
	for i := range s.values {
		v, err := s.values[i].bytes(rn.c)
		if err != nil {
			return err
		}
		if len(joined) > 0 || i > 0 {
			joined = append(joined, ',')
		}
		joined = append(joined, v...)
	}
	if len(joined) > 0 || len(s.values) > 0 {
		h.AddBytesKV(name, joined)
	}
	return nil
}

// rewriteURI replaces the path after the API suffix and, with a query in the template, the
// query; copy-unmatched-params (default true) keeps query parameters the operation's URL
// template does not consume.
func (rn *runner) rewriteURI(s *rewriteStmt) error {
	c := rn.c
	if c.Request == nil {
		return errors.New("policy: rewrite-uri without a request")
	}
	tpl, err := s.template.bytes(c)
	if err != nil {
		return err
	}
	copyUnmatched, err := s.copyUnmatched.eval(c, true)
	if err != nil {
		return err
	}
	pathTpl, queryTpl, _ := bytes.Cut(tpl, []byte("?"))
	path := rn.expand(nil, pathTpl)
	if len(path) == 0 || path[0] != '/' {
		path = append([]byte{'/'}, path...)
	}
	next := fasthttp.AcquireArgs()
	defer fasthttp.ReleaseArgs(next)
	if len(queryTpl) > 0 {
		for _, pair := range bytes.Split(queryTpl, []byte("&")) {
			k, v, _ := bytes.Cut(pair, []byte("="))
			if len(k) == 0 {
				continue
			}
			next.AddBytesKV(rn.expand(nil, k), rn.expand(nil, v))
		}
	}
	args := c.EditQuery()
	if copyUnmatched {
		consumed := templateQueryNames(c.Operation.URLTemplate)
		fromTemplate := next.Len() // the template's own parameters replace incoming ones of the same name
		for k, v := range args.All() {
			if containsName(consumed, k) || hasKeyBefore(next, k, fromTemplate) {
				continue
			}
			next.AddBytesKV(k, v)
		}
	}
	args.Reset()
	for k, v := range next.All() {
		args.AddBytesKV(k, v)
	}
	c.SetPathAfterSuffix(path)
	return nil
}

// expand replaces {name} with the matched parameter (empty when absent).
func (rn *runner) expand(dst, tpl []byte) []byte {
	for len(tpl) > 0 {
		i := bytes.IndexByte(tpl, '{')
		if i < 0 {
			return append(dst, tpl...)
		}
		j := bytes.IndexByte(tpl[i:], '}')
		if j < 0 {
			return append(dst, tpl...)
		}
		dst = append(dst, tpl[:i]...)
		name := tpl[i+1 : i+j]
		name = bytes.TrimPrefix(name, []byte("*"))
		for _, p := range rn.c.MatchedParameters {
			if p.Name == string(name) {
				dst = append(dst, p.Value...)
				break
			}
		}
		tpl = tpl[i+j+1:]
	}
	return dst
}

// templateQueryNames returns the query parameter names of an operation URL template
// ("/get?a={b}&c={d}" gives a, c).
func templateQueryNames(tpl string) []string {
	_, q, ok := strings.Cut(tpl, "?")
	if !ok {
		return nil
	}
	var names []string
	for _, pair := range strings.Split(q, "&") {
		k, _, _ := strings.Cut(pair, "=")
		if k != "" {
			names = append(names, k)
		}
	}
	return names
}

// hasKeyBefore reports whether one of the first n arguments of a is named k.
func hasKeyBefore(a *fasthttp.Args, k []byte, n int) bool {
	i := 0
	for key := range a.All() {
		if i == n {
			return false
		}
		if string(key) == string(k) {
			return true
		}
		i++
	}
	return false
}

func containsName(names []string, k []byte) bool {
	for _, n := range names {
		if n == string(k) {
			return true
		}
	}
	return false
}

// sliceSink collects return-response headers.
type sliceSink struct{ h *[]Header }

func (s sliceSink) PeekBytes(key []byte) []byte {
	for _, h := range *s.h {
		if bytes.EqualFold(h.Name, key) {
			return h.Value
		}
	}
	return nil
}

func (s sliceSink) PeekAll(key string) [][]byte {
	var out [][]byte
	for _, h := range *s.h {
		if bytes.EqualFold(h.Name, []byte(key)) {
			out = append(out, h.Value)
		}
	}
	return out
}

func (s sliceSink) DelBytes(key []byte) {
	out := (*s.h)[:0]
	for _, h := range *s.h {
		if !bytes.EqualFold(h.Name, key) {
			out = append(out, h)
		}
	}
	*s.h = out
}

func (s sliceSink) AddBytesKV(key, value []byte) {
	*s.h = append(*s.h, Header{Name: key, Value: value})
}

func (rn *runner) returnResponse(s *returnStmt) error {
	rr := &rn.r.Return
	rr.Set = true
	rr.StatusCode = 200
	rr.Reason = nil
	rr.Headers = rr.Headers[:0]
	rr.Body = nil
	code, err := s.status.eval(rn.c, 200)
	if err != nil {
		return err
	}
	rr.StatusCode = int(code)
	if rr.Reason, err = rn.keep(&s.reason); err != nil {
		return err
	}
	for _, p := range s.headers {
		name, err := rn.name(p)
		if err != nil {
			return err
		}
		act, err := rn.action(p)
		if err != nil {
			return err
		}
		if err := rn.applyHeader(sliceSink{&rr.Headers}, p, rn.c.KeepBytes(name), act); err != nil {
			return err
		}
	}
	for i := range rr.Headers {
		rr.Headers[i].Value = rn.c.KeepBytes(rr.Headers[i].Value)
	}
	if rr.Body, err = rn.keep(&s.body); err != nil {
		return err
	}
	return errReturned
}

// defaultForwardTimeout is APIM's forward-request default.
const defaultForwardTimeout = 300

func (rn *runner) forward(s *forwardStmt) error {
	if rn.f == nil {
		return ErrNoForwarder
	}
	secs, err := s.timeout.eval(rn.c, defaultForwardTimeout)
	if err != nil {
		return err
	}
	return rn.f.Forward(rn.context(), rn.c, rn.r, time.Duration(secs)*time.Second)
}

// context is the request's context for work a statement waits on: the backend section's, or Background in the
// sections that run without one.
func (rn *runner) context() context.Context {
	if rn.ctx == nil {
		return context.Background()
	}
	return rn.ctx
}

// retry runs its body, then repeats while the condition holds and count allows (up to count+1
// runs). A failed attempt is visible to the condition as context.LastError; expression
// failures are not retried.
func (rn *runner) retry(s *retryStmt) error {
	c := rn.c
	count, err := s.count.eval(c, 1)
	if err != nil {
		return err
	}
	interval, err := s.interval.eval(c, 0)
	if err != nil {
		return err
	}
	maxInterval, err := s.maxInterval.eval(c, 0)
	if err != nil {
		return err
	}
	delta, err := s.delta.eval(c, 0)
	if err != nil {
		return err
	}
	firstFast, err := s.firstFast.eval(c, false)
	if err != nil {
		return err
	}
	before := c.LastError
	for attempt := int64(0); ; attempt++ {
		err := rn.exec(s.body)
		var ee *expr.EvalError
		if err == errReturned || errors.As(err, &ee) || errors.Is(err, ErrAttemptLimit) {
			return err
		}
		if err != nil {
			c.LastError = expr.AsLastError(err)
		} else {
			c.LastError = before
		}
		if attempt >= count {
			return err
		}
		again, cerr := s.cond.eval(c, false)
		if cerr != nil {
			return cerr
		}
		if !again {
			return err
		}
		wait := retryWait(attempt+1, interval, delta, maxInterval, firstFast)
		if werr := Wait(rn.ctx, wait); werr != nil {
			if err != nil {
				return err
			}
			return werr
		}
	}
}

// retryWait is APIM's retry schedule for retry n (1-based): fixed interval; linear with delta;
// exponential with delta and max-interval; first-fast-retry makes the first retry immediate.
func retryWait(n, interval, delta, maxInterval int64, firstFast bool) time.Duration {
	if firstFast && n == 1 {
		return 0
	}
	sec := float64(interval)
	switch {
	case delta > 0 && maxInterval > 0:
		jitter := float64(delta) * (0.8 + 0.4*rand.Float64())
		sec = float64(interval) + float64(int64(1)<<min(n, 30)-1)*jitter
		if sec > float64(maxInterval) {
			sec = float64(maxInterval)
		}
	case delta > 0:
		sec = float64(interval) + float64(n-1)*float64(delta)
	}
	return time.Duration(sec * float64(time.Second))
}

// Wait is the one wait between retries, for <retry> and for the gateway's re-resolution loop: it returns nil
// after d, or the context's error as soon as ctx ends. A zero or negative d does not wait but still reports an
// ended context, so that retries with interval="0" stop with the request.
func Wait(ctx context.Context, d time.Duration) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := ctx.Err(); err != nil || d <= 0 {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
