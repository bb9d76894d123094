package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/sfgate/sfgate/gateway/forwardurl"
	"github.com/sfgate/sfgate/gateway/policy"
	"github.com/sfgate/sfgate/listener"
	"github.com/sfgate/sfgate/partition"
	"github.com/sfgate/sfgate/resolver"
	"github.com/valyala/fasthttp"
)

// forwardError is one failed attempt to reach a backend endpoint. It becomes context.LastError
// (Reason BackendConnectionFailure or Timeout) and, when retries run out, a 502, 503 or 504.
type forwardError struct {
	reason    string        // expr.ReasonBackendConnectionFailure or expr.ReasonTimeout
	notSent   bool          // proven: the request never reached the service (connect failed, stale or no free connection)
	stale     bool          // a pooled connection was found closed by the backend before the request was written
	poolFull  bool          // every connection to the endpoint stayed busy for the backend's connectionWaitTimeout
	tooLarge  bool          // the response exceeded limits.maxResponseBodyBytes
	overLimit bool          // not sent: the request already made limits.maxAttemptsPerRequest attempts
	bodyGone  bool          // not sent: the request's streamed body was sent once already (limits.bufferBodyBytes)
	tripped   bool          // not sent: the endpoint's circuit breaker is open
	lookAgain bool          // tripped replica: naming may be asked whether the partition has moved (once a second)
	wait      time.Duration // tripped: until the breaker lets a probe through
	endpoint  []byte        // scheme://host:port (aliases a pooled buffer; copied by Error)
	err       error
}

// Error is the operator's detail (the log): it names the endpoint, which a client never sees.
func (e *forwardError) Error() string {
	return "forward to " + string(withoutUserinfo(e.endpoint)) + ": " + e.err.Error()
}

func (e *forwardError) Unwrap() error { return e.err }

// LastError is the context.LastError form (expr.LastErrorer). Its message is the client-safe one: policies
// may return it to the client.
func (e *forwardError) LastError() expr.LastError {
	return expr.LastError{Source: sourceForwardRequest, Reason: e.reason, Message: e.requestError().Message}
}

func (e *forwardError) requestError() *requestError {
	re := &requestError{Status: fasthttp.StatusBadGateway, Code: CodeBackendConnection, Source: sourceForwardRequest,
		Message: "the backend could not be reached", Err: e}
	switch {
	case e.tooLarge:
		re.Code, re.Message = CodeResponseTooLarge, "the backend's response is larger than limits.maxResponseBodyBytes"
	case e.tripped:
		re.Status, re.Code, re.RetryAfter = fasthttp.StatusServiceUnavailable, CodeCircuitOpen, retryAfterSeconds(e.wait)
		re.Message = "the backend's circuit breaker is open after repeated failures; try again after Retry-After"
	case e.bodyGone:
		re.Message = "the backend could not be reached, and the request body (larger than limits.bufferBodyBytes) was streamed already, so it cannot be sent again"
	case e.overLimit:
		re.Code, re.Message = CodeAttemptLimit, attemptLimitMessage
	case e.poolFull:
		re.Status, re.Code = fasthttp.StatusServiceUnavailable, CodeBackendBusy
		re.Message = "every connection to the backend is busy (maxConnectionsPerEndpoint); try again later"
	case e.reason == expr.ReasonTimeout:
		re.Status, re.Code, re.Message = fasthttp.StatusGatewayTimeout, CodeBackendTimeout, "the backend did not answer in time"
	}
	return re
}

// classify turns a fasthttp client error into a forwardError.
func classify(err error, endpoint []byte) *forwardError {
	fe := &forwardError{reason: expr.ReasonBackendConnectionFailure, endpoint: endpoint, err: err}
	var de *dialError
	switch {
	case errors.As(err, &de):
		fe.notSent = true
		if isTimeout(de.err) {
			fe.reason = expr.ReasonTimeout
		}
	case errors.Is(err, errStaleConn):
		fe.notSent, fe.stale = true, true
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		fe.notSent, fe.poolFull = true, true
	case errors.Is(err, fasthttp.ErrDialTimeout):
		fe.notSent, fe.reason = true, expr.ReasonTimeout
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		fe.tooLarge = true
	case errors.Is(err, fasthttp.ErrTimeout), isTimeout(err):
		fe.reason = expr.ReasonTimeout
	}
	return fe
}

// withoutUserinfo drops "user:password@" from an endpoint key ("http://u:p@h:1" → "http://h:1") for the log.
func withoutUserinfo(key []byte) []byte {
	i, auth := bytes.Index(key, []byte("://")), authority(key)
	if i < 0 || len(key)-(i+3) == len(auth) { // no userinfo to drop
		return key
	}
	return append(append([]byte(nil), key[:i+3]...), auth...)
}

// attemptLimitMessage is the client's message when limits.maxAttemptsPerRequest stops a request.
const attemptLimitMessage = "the request was sent to backends as many times as limits.maxAttemptsPerRequest allows"

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &t) && t.Timeout() && !errors.Is(err, syscall.ECONNREFUSED)
}

// Forward runs one <forward-request>: it picks the target the inbound policy chose (policy.Forwarder).
// For a Service Fabric backend it runs the resolve-and-retry loop; other targets get one attempt (plus a
// resend on a fresh connection when a pooled one was found closed before the request was written).
// On return c.Response holds the backend's response, or the error says why there is none. Past
// limits.maxAttemptsPerRequest sends the error wraps policy.ErrAttemptLimit, which ends any <retry>.
func (s *reqState) Forward(ctx context.Context, c *expr.Context, r *policy.Result, timeout time.Duration) error {
	rt := s.rt
	if s.attempts >= rt.maxAttempts {
		return &requestError{Status: fasthttp.StatusBadGateway, Code: CodeAttemptLimit, Source: sourceForwardRequest,
			Message: attemptLimitMessage, Err: policy.ErrAttemptLimit}
	}
	t := &r.Target
	s.lastGood = nil // a <retry> may run forward-request again: only this execution's responses count
	switch {
	case !t.Set:
		if len(s.api.serviceURL) == 0 {
			return &requestError{Status: fasthttp.StatusInternalServerError, Code: CodeNoBackend,
				Message: "API " + s.api.name + " has no serviceUrl and its policies set no backend (set-backend-service)"}
		}
		return s.forwardOnce(rt.basePool, s.api.serviceURL, nil, s.attemptTimeout(timeout, nil))
	case t.BaseURL != nil:
		return s.forwardOnce(rt.basePool, t.BaseURL, nil, s.attemptTimeout(timeout, nil))
	}
	be := rt.backends[string(t.BackendID)]
	if be == nil {
		return &requestError{Status: fasthttp.StatusInternalServerError, Code: CodeBackendNotFound, Source: sourceSetBackendService,
			Attribute: attrBackendID, Value: string(t.BackendID),
			Message: "no backend with this backend-id is configured (see backends: in the configuration)"}
	}
	if be.members != nil {
		return s.forwardPool(ctx, c, t, be.members, timeout)
	}
	return s.forwardBackend(ctx, c, t, be, timeout)
}

// forwardBackend sends the request to a single backend (named by the policy, or chosen from a pool): one
// attempt to an HTTP backend, the resolve-and-retry loop for a Service Fabric one.
func (s *reqState) forwardBackend(ctx context.Context, c *expr.Context, t *policy.Target, be *backend, timeout time.Duration) error {
	s.backend = be
	if be.budget != nil {
		be.budget.deposit()
	}
	if be.sf == nil {
		c.SetBaseURL(be.url) // context.Request.Url is the URL sent to the backend
		return s.forwardOnce(be.pool, be.url, be, s.attemptTimeout(timeout, be))
	}
	return s.forwardSF(ctx, c, t, be, s.attemptTimeout(timeout, be))
}

// attemptTimeout is the time allowed to one attempt: the shorter of the forward-request timeout (APIM's
// default is 300s) and the backend's timeout.
func (s *reqState) attemptTimeout(policyTimeout time.Duration, be *backend) time.Duration {
	t := s.rt.defaultTimeout
	if be != nil {
		t = be.timeout
	}
	if policyTimeout > 0 && policyTimeout < t {
		t = policyTimeout
	}
	return t
}

// maxStaleResends bounds the resends, per forward-request, after a pooled connection was found closed before the
// request was written. Each one closes the endpoint's idle connections, so the next one dials afresh.
const maxStaleResends = 2

// forwardOnce sends the request to base + path after the API suffix + query: once, or again on a fresh
// connection when the pooled one was found closed before anything was written.
func (s *reqState) forwardOnce(p *pool, base []byte, be *backend, timeout time.Duration) error {
	s.urlBuf = forwardurl.Append(s.urlBuf[:0], base, s.ec.PathAfterSuffix(), s.ec.RawQuery())
	if be != nil {
		s.urlBuf = be.appendCredentialQuery(s.urlBuf)
	}
	for stale := 0; ; stale++ {
		fe := s.attempt(p, s.urlBuf, be, timeout)
		if fe == nil {
			return nil
		}
		s.setAttemptError(fe)
		if !fe.stale || stale >= maxStaleResends || be != nil && be.budget != nil && !be.budget.withdraw() {
			return fe
		}
	}
}

// forwardSF resolves the target partition, sends, and after every attempt applies the retry rule
// (resendRule): while it asks for a re-resolution and retries remain, it complains to the resolver with the
// version it used (Invalidate), drops the pooled connections of an endpoint that changed, backs off when
// naming has nothing newer, and sends again to the new endpoint when the rule allows a resend.
func (s *reqState) forwardSF(ctx context.Context, c *expr.Context, t *policy.Target, be *backend, timeout time.Duration) error {
	res := be.sf.cluster.resolver
	service := be.urlStr
	if t.ServiceInstanceName != nil {
		service = be.sf.cluster.serviceName(t.ServiceInstanceName)
	}
	var key []byte
	if t.HasPartitionKey {
		key = t.PartitionKey
		if h := be.sf.keyHash; h != partition.NoKeyHash {
			s.keyBuf = h.AppendKey(s.keyBuf[:0], key) // the backend's partitionKeyHash
			key = s.keyBuf
		}
	}
	rtype, err := parseReplicaType(t.ReplicaType)
	if err != nil {
		return &requestError{Status: fasthttp.StatusBadRequest, Code: CodeInvalidAttribute, Source: sourceSetBackendService,
			Attribute: attrReplicaType, Value: string(t.ReplicaType), Message: "sf-replica-type must be primary, secondary or any", Err: err}
	}
	snap, err := res.Resolve(ctx, service, key)
	if err != nil {
		return resolveError(err, t, service, key)
	}
	listenerName := be.sf.cluster.names.intern(t.ListenerName)
	idempotent := isIdempotent(s.fctx.Request.Header.Method())
	maxRetries := be.sf.maxRetries
	reresolves, stale := 0, 0 // per forward-request: a <retry> around it gets a fresh budget
	backoffStarted := false   // reset on the first wait only: Reset reads the clock, and most requests never wait
	for {
		s.partition = snap.Partition.ID // for the access log
		endpoint, _, selErr := snap.Replicas.Select(rtype, listenerName)
		var fe *forwardError
		if selErr == nil {
			s.endpoint = append(s.endpoint[:0], endpoint...)
			c.SetBaseURL(s.endpoint) // context.Request.Url names the replica this attempt goes to
			if t.SFRPPath {
				s.urlBuf = forwardurl.AppendSFRP(s.urlBuf[:0], s.endpoint, c.PathAfterSuffix(), c.RawQuery())
			} else {
				s.urlBuf = forwardurl.Append(s.urlBuf[:0], s.endpoint, c.PathAfterSuffix(), c.RawQuery())
			}
			s.urlBuf = be.appendCredentialQuery(s.urlBuf)
			fe = s.attempt(be.pool, s.urlBuf, be, timeout)
			if fe != nil {
				s.setAttemptError(fe)
				if fe.stale && stale < maxStaleResends && (be.budget == nil || be.budget.withdraw()) {
					stale++ // the replica closed an idle connection: same endpoint, fresh connection, no complaint
					continue
				}
				if fe.poolFull || fe.overLimit || fe.bodyGone {
					return s.finishSF(selErr, fe, t, snap, rtype) // a full pool is slow, not gone: no complaint
				}
				if fe.tripped && !fe.lookAgain {
					// Only a replica's breaker can be left behind by a re-resolution (a partition's is the
					// same after it), and naming is asked about it at most once a second.
					return s.finishSF(selErr, fe, t, snap, rtype)
				}
			}
		}
		reresolve, resend, err := resendRule(c, t, selErr, fe, idempotent)
		if err != nil {
			return err
		}
		if selErr != nil && errors.Is(selErr, listener.ErrNoListener) && reresolves >= 1 {
			// The replicas publish other listeners but not this one: one fresh look is enough, more
			// naming calls would not make the name appear.
			reresolve = false
		}
		if !reresolve || reresolves >= maxRetries {
			return s.finishSF(selErr, fe, t, snap, rtype)
		}
		if be.budget != nil && !be.budget.withdraw() {
			return s.finishSF(selErr, fe, t, snap, rtype) // over the retry budget: the last answer or error
		}
		reresolves++
		s.reresolves++
		be.metrics.reresolutions.Add(1)
		next, err := res.Invalidate(ctx, service, key, snap.Version)
		if err != nil {
			if s.lastGood != nil || fe != nil {
				return s.finishSF(selErr, fe, t, snap, rtype)
			}
			return resolveError(err, t, service, key)
		}
		if selErr == nil && next.Version != snap.Version {
			if ep, _, err := next.Replicas.Select(rtype, listenerName); err != nil || ep != endpoint {
				be.pool.forget(endpoint) // whether or not this request is sent again
			}
		}
		if !resend {
			return s.finishSF(selErr, fe, t, snap, rtype)
		}
		if next.Version == snap.Version {
			if fe != nil && fe.tripped {
				return s.finishSF(selErr, fe, t, snap, rtype) // the same replica, still refused: no wait helps
			}
			// Nothing newer yet: wait a little (jittered, bounded) before asking again.
			if !backoffStarted {
				s.bo.Reset()
				backoffStarted = true
			}
			if !s.wait(s.bo.NextBackOff()) {
				return s.finishSF(selErr, fe, t, snap, rtype)
			}
		}
		be.metrics.retries.Add(1)
		snap = next
	}
}

// resendRule is the one rule for sending a request to a Service Fabric backend again (docs/policies.md,
// "Retries and re-resolution"):
//   - a request that never left the gateway (no usable endpoint in the snapshot, the connection could not be
//     made) is re-resolved and resent, whatever its method and whatever sf-resolve-condition says;
//   - otherwise sf-resolve-condition (without one: "the connection failed") decides whether to re-resolve, and
//     the request is resent only when its method is idempotent (RFC 9110: GET, HEAD, OPTIONS, TRACE, PUT,
//     DELETE). A POST or PATCH that reached a replica runs again only when the policy asks for it explicitly,
//     with <retry> around <forward-request>; the re-resolution still happens, so that retry goes to the new
//     endpoint.
//
// A full connection pool, a stale pooled connection and a circuit breaker's refusal that may not look for
// another replica never get here (forwardSF handles them first); a refusal that may is "never left the gateway".
func resendRule(c *expr.Context, t *policy.Target, selErr error, fe *forwardError, idempotent bool) (reresolve, resend bool, err error) {
	if selErr != nil || fe != nil && fe.notSent {
		return true, true, nil
	}
	if t.HasResolveCondition() {
		if reresolve, err = t.ResolveCondition(c); err != nil {
			return false, false, err
		}
	} else {
		reresolve = fe != nil && fe.reason == expr.ReasonBackendConnectionFailure && !fe.tooLarge
	}
	return reresolve, reresolve && idempotent, nil
}

// finishSF ends the loop: the last backend response if any attempt produced one, else a gateway error.
func (s *reqState) finishSF(selErr error, fe *forwardError, t *policy.Target, snap *resolver.Snapshot, rtype listener.ReplicaType) error {
	if s.lastGood != nil {
		s.useResponse(s.lastGood)
		return nil
	}
	if fe != nil {
		return fe
	}
	re := &requestError{Status: fasthttp.StatusServiceUnavailable, Code: CodeNoEndpoint,
		Message: "no usable endpoint for the partition (" + rtype.String() + " replica): a failover may be in progress",
		Err:     fmt.Errorf("%s partition %s: %w", snap.Service, snap.Partition.ID, selErr)}
	var le *listener.ListenerError
	if errors.As(selErr, &le) {
		re.Attribute, re.Value = attrListenerName, string(t.ListenerName)
		re.Message = "no replica of the partition publishes this listener"
	}
	return re
}

// wait waits d (at least 50 ms) for the next resend, through policy.Wait; false when the request's deadline
// would pass first or its context ends.
func (s *reqState) wait(d time.Duration) bool {
	if d <= 0 {
		d = 50 * time.Millisecond
	}
	if time.Now().Add(d).After(s.deadline) {
		return false
	}
	return policy.Wait(s, d) == nil
}

// resolveError maps a resolver error to the client's status (docs/design.md §4). t may be nil (admin lookups).
// The client's message names the service and the problem, never a management endpoint or the error chain
// (both go to the log through Err).
func resolveError(err error, t *policy.Target, service string, key []byte) *requestError {
	re := &requestError{Status: fasthttp.StatusBadGateway, Code: CodeNamingUnavailable, Source: sourceSetBackendService,
		Message: "the cluster could not resolve service " + service, Err: err}
	var fab *resolver.FabricError
	if errors.As(err, &fab) {
		re.FabricCode = fab.Code
	}
	var ke *partition.KeyError
	switch {
	case errors.Is(err, resolver.ErrInvalidPartitionKey):
		re.Status, re.Code, re.Attribute, re.Value = fasthttp.StatusBadRequest, CodeInvalidPartitionKey, attrPartitionKey, string(key)
		switch {
		case t != nil && !t.HasPartitionKey:
			re.Message = "service " + service + " is partitioned, so set-backend-service needs sf-partition-key"
		case errors.As(err, &ke): // the key's own problem, from the service's partition scheme
			re.Message = "sf-partition-key: " + ke.Error()
		default:
			re.Message = "sf-partition-key does not fit the partitions of " + service
		}
	case errors.Is(err, resolver.ErrServiceNotFound):
		re.Status, re.Code = fasthttp.StatusNotFound, CodeServiceNotFound
		re.Message = "service " + service + " does not exist on the cluster"
		if t != nil && t.ServiceInstanceName != nil {
			re.Attribute, re.Value = attrServiceInstanceName, string(t.ServiceInstanceName)
		}
	case errors.Is(err, resolver.ErrNotReady):
		re.Status, re.Code = fasthttp.StatusServiceUnavailable, CodePartitionNotReady
		re.Message = "the partition of service " + service + " has no ready replica yet (a failover may be in progress)"
	case errors.As(err, new(*resolver.CertificateError)):
		re.Status, re.Code = fasthttp.StatusBadGateway, CodeClusterCertificate
		re.Message = "the cluster's server certificate is not one the gateway trusts (serverCertificateThumbprints, serverX509Names, serverCaFile); its log says why"
	case errors.Is(err, resolver.ErrUnauthorized):
		re.Status, re.Code = fasthttp.StatusBadGateway, CodeClusterUnauthorized
		re.Message = "the gateway could not authenticate to the cluster"
	case errors.Is(err, resolver.ErrUnavailable), errors.Is(err, resolver.ErrTimeout),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, resolver.ErrClosed):
		re.Status = fasthttp.StatusServiceUnavailable
		re.Message = "the cluster's naming service is not answering; try again"
	case fab != nil && fab.Status == fasthttp.StatusNotFound:
		re.Status, re.Code = fasthttp.StatusNotFound, CodeServiceNotFound
		re.Message = "service " + service + " does not exist on the cluster"
	case fab == nil && t != nil && t.ServiceInstanceName != nil:
		// Not an answer from the cluster: the name itself was refused (not fabric:/…).
		re.Status, re.Code, re.Attribute, re.Value = fasthttp.StatusBadRequest, CodeInvalidAttribute, attrServiceInstanceName, service
		re.Message = "sf-service-instance-name is not a Service Fabric service name (fabric:/Application/Service)"
	}
	return re
}

// parseReplicaType parses sf-replica-type without allocating for the valid values.
func parseReplicaType(b []byte) (listener.ReplicaType, error) {
	switch {
	case len(b) == 0:
		return listener.Default, nil
	case string(b) == "primary" || bytes.EqualFold(b, []byte("primary")): // APIM's documented spelling first
		return listener.ReplicaPrimary, nil
	case bytes.EqualFold(b, []byte("secondary")):
		return listener.ReplicaSecondary, nil
	case bytes.EqualFold(b, []byte("any")):
		return listener.ReplicaAny, nil
	}
	return listener.ParseReplicaType(string(b))
}

// isIdempotent reports whether a method may be resent after it possibly reached the service (RFC 9110 §9.2.2).
func isIdempotent(m []byte) bool {
	switch string(m) {
	case fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodOptions, fasthttp.MethodTrace,
		fasthttp.MethodPut, fasthttp.MethodDelete:
		return true
	}
	return false
}

// attempt sends the prepared request once to url, into the buffer nextResponse picks. On success the response
// becomes context.Response and s.lastGood.
func (s *reqState) attempt(p *pool, url []byte, be *backend, timeout time.Duration) *forwardError {
	if s.attempts >= s.rt.maxAttempts {
		return &forwardError{reason: expr.ReasonBackendConnectionFailure, notSent: true, overLimit: true, err: policy.ErrAttemptLimit}
	}
	if s.stream.sent() {
		return &forwardError{reason: expr.ReasonBackendConnectionFailure, notSent: true, bodyGone: true, err: errBodyStreamed}
	}
	fresh := be != nil && be.writes != nil && !isIdempotent(s.fctx.Request.Header.Method())
	if fresh {
		p = be.writes // writeConnections: fresh
	}
	hc, key, err := p.client(url)
	if err != nil { // the endpoint (which may carry credential query values) stays out of the error
		s.attempts++
		return &forwardError{reason: expr.ReasonBackendConnectionFailure, notSent: true, err: err}
	}
	var br *breaker
	probe := false
	if be != nil && be.breaker != nil {
		partitionID := ""
		if be.sf != nil {
			partitionID = s.partition // set by forwardSF for this attempt
		}
		br = be.breaker.breakerFor(partitionID, key)
		ok, isProbe, wait := be.breaker.allow(br)
		if !ok {
			be.metrics.breakerRefused.Add(1)
			return &forwardError{reason: expr.ReasonBackendConnectionFailure, notSent: true, tripped: true, wait: wait,
				lookAgain: be.sf != nil && be.breaker.mayLook(br), endpoint: key, err: errCircuitOpen}
		}
		probe = isProbe
	}
	s.attempts++
	if len(s.upgrade) > 0 { // upgrade.go: a connection of its own
		fe := s.attemptUpgrade(p, hc, key, url, be, timeout)
		if br != nil && fe != nil {
			be.breaker.record(br, probe, be.breaker.classify(0, fe), nil)
		} else if br != nil {
			be.breaker.record(br, probe, be.breaker.classify(s.lastGood.StatusCode(), nil), s.lastGood)
		}
		return fe
	}
	out := &s.out
	s.prepareOutbound(out, url, key, be)
	if fresh {
		out.SetConnectionClose()
	}
	resp := s.nextResponse()
	start := time.Now()
	s.plan.idle = timeout // a streamed body's reads (respstream.go)
	if left := s.deadline.Sub(start); left < timeout {
		timeout = left // the request's own deadline comes first
	}
	s.plan.deadline = start.Add(timeout)
	out.SetUserValue(attemptKey{}, &s.plan)
	err = hc.DoTimeout(out, resp, timeout) // ErrTimeout at once when nothing is left
	s.upstreamTime += time.Since(start)
	if be != nil {
		be.metrics.attempts.Add(1)
	}
	if err != nil {
		if be != nil {
			be.metrics.failures.Add(1)
		}
		fe := classify(err, key)
		if fe.stale {
			hc.CloseIdleConnections() // opened before the backend closed one of them: likely closed too
		}
		if br != nil {
			be.breaker.record(br, probe, be.breaker.classify(0, fe), nil)
		}
		return fe
	}
	if br != nil {
		be.breaker.record(br, probe, be.breaker.classify(resp.StatusCode(), nil), resp)
	}
	s.useResponse(resp)
	s.lastGood = resp
	return nil
}

// nextResponse is the buffer the next attempt (or an empty response) fills: the client's own response, so
// that the common answer needs no copy, unless that holds the last good response, which a failed retry must
// not overwrite; then the spare. serve copies a spare answer into the client's response at the end.
func (s *reqState) nextResponse() *fasthttp.Response {
	if s.lastGood == &s.fctx.Response {
		s.spareUsed = true
		return &s.spare
	}
	return &s.fctx.Response
}

// useResponse makes resp context.Response (LastError cleared).
func (s *reqState) useResponse(resp *fasthttp.Response) {
	s.exprResp = expr.Response{StatusCode: resp.StatusCode(), Reason: resp.Header.StatusMessage(), Header: &resp.Header}
	s.ec.Response = &s.exprResp
	s.ec.LastError = nil
}

// setAttemptError makes a failed attempt visible to sf-resolve-condition: context.LastError is set and
// context.Response is an empty response (status 0), never null.
func (s *reqState) setAttemptError(fe *forwardError) {
	s.lastErr = expr.LastError{Source: sourceForwardRequest, Reason: fe.reason, Message: fe.Error()}
	s.ec.LastError = &s.lastErr
	s.exprResp = expr.Response{}
	s.ec.Response = &s.exprResp
}

// prepareOutbound builds the request to send: the client's request after inbound policies (which carries the
// request ID since serve), without hop-by-hop headers, with X-Forwarded-*, the backend's credentials and the
// target URL (endpoint is its scheme://authority). The header names are canonical constants, so
// SetCanonical skips fasthttp's name normalisation.
func (s *reqState) prepareOutbound(out *fasthttp.Request, url, endpoint []byte, be *backend) {
	in := &s.fctx.Request
	hasXFF := copyRequestHeaders(&out.Header, &in.Header)
	out.SetRequestURIBytes(url)
	out.UseHostHeader = true
	if !s.api.preserveHost {
		out.Header.SetHostBytes(authority(endpoint))
	}
	s.setForwardedHeaders(out, in, hasXFF)
	if be != nil {
		be.setCredentialHeaders(&out.Header)
	}
	if s.stream.active() {
		s.stream.reset()
		out.SetBodyStream(&s.stream, in.Header.ContentLength()) // -1: chunked, as the client sent it
		return
	}
	out.SetBodyRaw(in.Body())
}

// errBodyStreamed: a request whose streamed body was sent once is not sent again.
var errBodyStreamed = errors.New("the request body streamed to a backend already; it cannot be sent again")

// authority returns the host[:port] of an endpoint key ("http://user@h:1" → "h:1").
func authority(key []byte) []byte {
	for i := 0; i+2 < len(key); i++ {
		if key[i] == ':' && key[i+1] == '/' && key[i+2] == '/' {
			key = key[i+3:]
			break
		}
	}
	if at := bytes.LastIndexByte(key, '@'); at >= 0 {
		key = key[at+1:]
	}
	return key
}
