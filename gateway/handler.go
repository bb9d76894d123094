package gateway

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/sfgate/sfgate/gateway/forwardurl"
	"github.com/sfgate/sfgate/gateway/policy"
	"github.com/valyala/fasthttp"
)

// serveHTTP is the client-facing handler: route, inbound policies, backend (forwarding with the SF
// resolve loop), outbound policies, response. Errors become JSON answers after on-error ran.
func (g *Gateway) serveHTTP(ctx *fasthttp.RequestCtx) {
	start := ctx.Time() // read by fasthttp just before calling the handler
	if start.IsZero() {
		start = time.Now()
	}
	rt := g.rt.Load()
	s := rt.states.Get().(*reqState)
	g.metrics.inflight.Add(1)
	s.begin(rt, ctx, start)

	status, am := g.serve(ctx, s, start)
	s.res.FinishLimits(&s.ec, &ctx.Response.Header) // increments that wait for the answer; remaining-calls headers
	elapsed := time.Since(start)
	am.count(status, elapsed, s.upstreamTime, s.attempts > 0)
	if level := g.requestLogLevel(status); g.log.Enabled(context.Background(), level) {
		g.logRequest(ctx, s, level, status, elapsed)
	}
	g.metrics.inflight.Add(-1)
	if s.tunnel != nil {
		g.switchProtocols(ctx, s)
	}
	if b, ok := ctx.Response.BodyStream().(*backendBody); ok && g.streams.add(b) {
		b.live = &g.streams // Close removes it
	}
	g.releaseBody(s)
	s.end()
	rt.states.Put(s)
}

func (g *Gateway) serve(ctx *fasthttp.RequestCtx, s *reqState, start time.Time) (int, *apiMetrics) {
	rt := s.rt
	s.upgrade = append(s.upgrade[:0], upgradeProtocol(&ctx.Request.Header)...) // before its Connection token goes
	s.scratch = dropClientConnectionTokens(&ctx.Request.Header, s.scratch)
	id := ctx.Request.Header.PeekCanonical(hdrXRequestID)
	if validRequestID(id) {
		s.requestID = append(s.requestID[:0], id...)
	} else {
		s.requestID = appendRequestID(s.requestID[:0])
		ctx.Request.Header.SetCanonical(hdrXRequestID, s.requestID) // forwarded with the request
	}

	s.setClientAddress(ctx)
	if re := g.readBody(s); re != nil {
		ctx.SetConnectionClose() // the rest of the body is not read
		return s.refuse(ctx, re), g.metrics.unrouted
	}
	path := forwardurl.RequestPath(ctx.Request.Header.RequestURI())
	if forwardurl.HasDotSegment(path) {
		if path = s.resolveDotSegments(path); path == nil {
			return s.refuse(ctx, &requestError{Status: fasthttp.StatusBadRequest, Code: CodeBadRequest,
				Message: "the request path climbs above the root with '..' segments"}), g.metrics.unrouted
		}
	}
	m, buf, err := rt.table.Match(ctx.Request.Header.Method(), path, s.params, s.paramBuf)
	s.paramBuf, s.params = buf, m.Params
	if err != nil && m.API < 0 && rt.rp != nil && rt.rp.mounted(path) {
		return g.serveReverseProxy(ctx, s, path, start) // reverse-proxy.go: no API matched
	}
	if err != nil {
		re := &requestError{Status: fasthttp.StatusNotFound, Code: CodeRouteNotFound,
			Message: "no API matches the request path", Err: err}
		am := g.metrics.unrouted
		if m.API >= 0 {
			am = rt.apis[m.API].metrics
			re.Code, re.Message = CodeOperationNotFound, "no operation of API "+rt.apis[m.API].name+" matches the request method and path"
		}
		return s.refuse(ctx, re), am
	}
	a := rt.apis[m.API]
	op := a.all
	if m.Operation >= 0 {
		op = a.ops[m.Operation]
	}
	s.api, s.op = a, op

	c := &s.ec
	c.Api = a.info
	c.Operation = op.info
	for _, p := range m.Params {
		c.MatchedParameters = append(c.MatchedParameters, expr.Param{Name: p.Name, Value: p.Value})
	}
	c.Certificate, c.CertificateChain = peerCertificate(ctx)
	c.RequestID = s.requestID
	c.Timestamp = start
	c.BeginTarget(&ctx.Request, ctx.IsTLS())

	r := &s.res
	prog := op.program
	err = prog.Inbound(c, r)
	if err == nil && !r.Return.Set {
		err = prog.Backend(s, c, r, s)
		if err != nil && s.lastGood != nil && errors.Is(err, policy.ErrAttemptLimit) {
			err = nil // a <retry> ran out of attempts: answer with the last response, as when its count runs out
			s.useResponse(s.lastGood)
		}
	}
	if err == nil && !r.Return.Set {
		if s.lastGood == nil {
			// The policies sent nothing to a backend (no forward-request): APIM answers 200 with an empty
			// body, which outbound policies may still shape.
			s.emptyResponse(fasthttp.StatusOK)
		}
		err = prog.Outbound(c, r)
	}
	if err != nil {
		return g.fail(ctx, s, err), a.metrics
	}
	if r.Return.Set {
		writeReturn(ctx, &r.Return)
		return r.Return.StatusCode, a.metrics
	}
	return s.answer(ctx), a.metrics
}

// answer sends the backend's last response (s.lastGood) to the client, with the status context.Response holds
// (outbound policies may have changed it), without hop-by-hop headers, with X-Request-ID; it returns the status.
func (s *reqState) answer(ctx *fasthttp.RequestCtx) int {
	if resp := s.lastGood; resp != &ctx.Response {
		resp.Header.CopyTo(&ctx.Response.Header)
		if b, ok := resp.BodyStream().(*backendBody); ok {
			b.moveTo(&ctx.Response, ctx.Response.Header.ContentLength())
		} else {
			ctx.Response.SetBody(resp.Body())
		}
	}
	if b, ok := ctx.Response.BodyStream().(*backendBody); ok {
		// A streamed body (respstream.go): the head goes out at once, each piece as it is read, and each write
		// to the client gets limits.writeTimeout.
		b.client, b.writeTimeout = ctx.Conn(), s.rt.writeTimeout
		ctx.Response.ImmediateHeaderFlush = true
	}
	s.scratch = stripResponseHopByHop(&ctx.Response.Header, s.scratch)
	if c := &s.ec; c.Response != nil && c.Response.StatusCode > 0 {
		ctx.Response.SetStatusCode(c.Response.StatusCode)
	}
	if len(ctx.Response.Header.PeekCanonical(hdrXRequestID)) == 0 {
		ctx.Response.Header.SetCanonical(hdrXRequestID, s.requestID)
	}
	return ctx.Response.StatusCode()
}

// fail runs the on-error section with context.LastError set, then answers with its return-response or the
// gateway's JSON error.
func (g *Gateway) fail(ctx *fasthttp.RequestCtx, s *reqState, err error) int {
	re := asRequestError(err)
	c := &s.ec
	if c.Response == nil {
		s.emptyResponse(0)
		s.lastGood = nil
	}
	s.lastErr = re.LastError()
	c.LastError = &s.lastErr
	r := &s.res
	r.Return = policy.ReturnResponse{}
	if s.op != nil {
		if oerr := s.op.program.OnError(c, r); oerr != nil {
			g.log.Warn("on-error section failed", "requestId", string(s.requestID), "error", oerr)
		}
	}
	if r.Return.Set {
		writeReturn(ctx, &r.Return)
		return r.Return.StatusCode
	}
	return s.refuse(ctx, re)
}

// refuse answers with the gateway's JSON error for re and keeps re for the request's log line.
func (s *reqState) refuse(ctx *fasthttp.RequestCtx, re *requestError) int {
	s.scratch = writeError(ctx, re, s.requestID, s.scratch)
	s.failure = re
	return re.Status
}

// writeReturn answers with the response a return-response policy built.
func writeReturn(ctx *fasthttp.RequestCtx, rr *policy.ReturnResponse) {
	ctx.Response.Reset()
	code := rr.StatusCode
	if code == 0 {
		code = fasthttp.StatusOK
	}
	ctx.Response.SetStatusCode(code)
	if len(rr.Reason) > 0 {
		ctx.Response.Header.SetStatusMessage(rr.Reason)
	}
	for _, h := range rr.Headers {
		ctx.Response.Header.AddBytesKV(h.Name, h.Value)
	}
	ctx.Response.SetBody(rr.Body)
}

// requestLogLevel is the level of a request's log line: warn for a 5xx answer, info for the others with the
// access log on (log.access), debug with it off.
func (g *Gateway) requestLogLevel(status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelWarn
	case g.accessLog.Load():
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// logRequest writes the request's line: the access log fields, and for a failure its code and detail.
// The path is logged without the query string, which may carry credentials. A handler that takes ready-made
// lines (LineWriter) gets the line formatted by the gateway; any other through slog.
func (g *Gateway) logRequest(ctx *fasthttp.RequestCtx, s *reqState, level slog.Level, status int, elapsed time.Duration) {
	l := requestLine{
		level: level, client: s.clientIP, method: ctx.Method(),
		path:   forwardurl.RequestPath(ctx.Request.Header.RequestURI()),
		status: status, duration: elapsed, partition: s.partition, replica: s.endpoint,
		attempts: s.attempts, reresolutions: s.reresolves, requestID: s.requestID,
		timestamp: time.Now(),
	}
	if s.trustedPeer && !bytes.Equal(s.clientIP, s.ipBuf) {
		l.proxy = s.ipBuf
	}
	if s.api != nil {
		l.hasAPI, l.api, l.operation = true, s.api.name, s.op.info.Name
	}
	if s.backend != nil {
		l.hasBackend, l.backend = true, s.backend.id
	}
	if s.failure != nil {
		l.failed, l.code, l.detail = true, s.failure.Code, logDetail(s.failure)
	}
	if g.lines != nil {
		if json, ok := g.lines.LineLayout(); ok {
			l.secrets, l.clock = g.secrets.Load(), &s.logClock
			s.logLine = l.appendLine(s.logLine[:0], json)
			g.lines.WriteLine(s.logLine)
			return
		}
	}
	attrs := l.appendAttrs(s.logAttrs[:0])
	// The record is handed to the handler directly: Logger.LogAttrs would also capture the caller's program
	// counter (a stack walk), which no handler of the gateway prints.
	rec := slog.NewRecord(l.timestamp, level, "request", 0)
	rec.AddAttrs(attrs...)
	g.log.Handler().Handle(context.Background(), rec)
	clear(attrs)
	s.logAttrs = attrs[:0]
}

// logDetail is a failure as the log shows it: the client's message and, once, the cause behind it.
func logDetail(re *requestError) string {
	if re.Err == nil {
		return re.Message
	}
	cause := re.Err.Error()
	if strings.Contains(re.Message, cause) {
		return re.Message
	}
	return re.Message + ": " + cause
}

// emptyResponse makes an empty response context.Response and the response to send.
func (s *reqState) emptyResponse(status int) {
	resp := s.nextResponse()
	resp.Reset()
	if status > 0 {
		resp.SetStatusCode(status)
	}
	s.useResponse(resp)
	s.lastGood = resp
}

// resolveDotSegments rewrites the request target with its "." and ".." segments resolved (RFC 3986 §5.2.4), so
// that routing, policies and the backend all see the same path: "/web/../orders/x" is "/orders/x". It returns
// the new path, or nil when a ".." would climb above the root. The query is kept byte for byte.
func (s *reqState) resolveDotSegments(path []byte) []byte {
	req := &s.fctx.Request
	uri := req.Header.RequestURI()
	var query []byte
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		query = uri[i:]
	}
	clean, ok := forwardurl.RemoveDotSegments(s.urlBuf[:0], path)
	s.urlBuf = clean
	if !ok {
		return nil
	}
	req.SetRequestURIBytes(append(clean, query...)) // copied by fasthttp
	return forwardurl.RequestPath(req.Header.RequestURI())
}
