package gateway

import (
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/sfgate/sfgate/gateway/policy"
	"github.com/valyala/fasthttp"
)

// Error codes in the JSON error body ("code"); stable, for clients and alerts.
const (
	CodeRouteNotFound         = "RouteNotFound"
	CodeOperationNotFound     = "OperationNotFound"
	CodeInvalidPartitionKey   = "InvalidPartitionKey"
	CodeInvalidAttribute      = "InvalidAttribute"
	CodeBackendNotFound       = "BackendNotFound"
	CodeServiceNotFound       = "ServiceNotFound"
	CodeNamingUnavailable     = "NamingUnavailable"
	CodeNoEndpoint            = "NoUsableEndpoint"
	CodeBackendConnection     = expr.ReasonBackendConnectionFailure
	CodeBackendTimeout        = expr.ReasonTimeout
	CodeExpressionFailure     = expr.ReasonExpressionValueEvaluationFailure
	CodeNoBackend             = "NoBackend"
	CodeRequestTimeout        = "RequestTimeout"
	CodeResponseTooLarge      = "ResponseTooLarge"
	CodeInternal              = "InternalError"
	CodeClusterUnauthorized   = "ClusterUnauthorized"
	CodeClusterCertificate    = "ClusterCertificateRejected"
	CodePartitionNotReady     = "PartitionNotReady"
	CodeRequestHeaderTooLarge = "RequestHeaderFieldsTooLarge"
	CodeRequestEntityTooLarge = "RequestEntityTooLarge"
	CodeBadRequest            = "BadRequest"
	CodeBackendBusy           = "BackendBusy"
	CodeAttemptLimit          = "AttemptLimitReached"
	CodeBodyBudget            = "ServerBusy"
	CodeCircuitOpen           = "CircuitBreakerOpen"
	sourceGateway             = "gateway"
	sourceForwardRequest      = "forward-request"
	sourceSetBackendService   = "set-backend-service"
	attrPartitionKey          = "sf-partition-key"
	attrReplicaType           = "sf-replica-type"
	attrListenerName          = "sf-listener-name"
	attrBackendID             = "backend-id"
	attrServiceInstanceName   = "sf-service-instance-name"
)

// requestError is a failed request: the status and JSON body the client gets, and the cause for the log.
// It is also context.LastError for the on-error section.
type requestError struct {
	Status     int
	Code       string // error code (also LastError.Reason)
	Message    string
	Source     string // LastError.Source: "gateway", "forward-request", "set-backend-service", ...
	Attribute  string // the policy attribute at fault, when there is one
	Value      string // its value
	FabricCode string // SF's error code, when SF gave one
	RetryAfter int    // seconds, sent as Retry-After when above 0
	Err        error  // cause

	limit *policy.LimitError // a rate, quota or concurrency limit: APIM's body and headers (writeError)
}

func (e *requestError) Error() string {
	s := e.Code + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *requestError) Unwrap() error { return e.Err }

// LastError is the context.LastError form of the error (expr.LastErrorer).
func (e *requestError) LastError() expr.LastError {
	src := e.Source
	if src == "" {
		src = sourceGateway
	}
	return expr.LastError{Source: src, Reason: e.Code, Message: e.Message}
}

// asRequestError classifies any error of the request pipeline.
func asRequestError(err error) *requestError {
	var re *requestError
	if errors.As(err, &re) {
		return re
	}
	var fe *forwardError
	if errors.As(err, &fe) {
		return fe.requestError()
	}
	var le *policy.LimitError
	if errors.As(err, &le) {
		return &requestError{Status: le.Status, Code: le.Reason, Source: le.Source, Message: le.Message, RetryAfter: le.RetryAfter, limit: le, Err: le.Cause}
	}
	var ee *expr.EvalError
	if errors.As(err, &ee) { // its text names the policy file and position, and may quote values: the log only
		return &requestError{Status: fasthttp.StatusInternalServerError, Code: CodeExpressionFailure, Source: "expression",
			Message: "a policy expression could not be evaluated; the gateway's log has the details under this request ID", Err: err}
	}
	return &requestError{Status: fasthttp.StatusInternalServerError, Code: CodeInternal,
		Message: "the gateway failed to handle the request; its log has the details under this request ID", Err: err}
}

// writeError answers the client with e as JSON, built in scratch (returned for reuse):
// {"error":{"status":…,"code":"…","message":"…","attribute":"…","value":"…","fabricCode":"…","requestId":"…"}}.
func writeError(ctx *fasthttp.RequestCtx, e *requestError, requestID, scratch []byte) []byte {
	ctx.Response.Reset()
	ctx.Response.SetStatusCode(e.Status)
	ctx.Response.Header.SetContentType("application/json; charset=utf-8")
	if len(requestID) > 0 {
		ctx.Response.Header.SetBytesKV(hdrXRequestID, requestID)
	}
	if e.RetryAfter > 0 {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(e.RetryAfter))
	}
	if e.limit != nil {
		return writeLimitError(ctx, e, requestID, scratch)
	}
	b := append(scratch[:0], `{"error":{"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, e.Code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.Message)
	if e.Attribute != "" {
		b = append(b, `,"attribute":`...)
		b = appendJSONString(b, e.Attribute)
		b = append(b, `,"value":`...)
		b = appendJSONString(b, e.Value)
	}
	if e.FabricCode != "" {
		b = append(b, `,"fabricCode":`...)
		b = appendJSONString(b, e.FabricCode)
	}
	if len(requestID) > 0 {
		b = append(b, `,"requestId":`...)
		b = appendJSONString(b, string(requestID))
	}
	b = append(b, "}}\n"...)
	ctx.Response.SetBody(b)
	return b
}

// writeLimitError answers a request a rate, quota or concurrency limit refused with APIM's body
// ({"statusCode":429,"message":"Rate limit is exceeded. Try again in 5 seconds."}), the gateway's code and request
// ID added, and the headers the policy names.
func writeLimitError(ctx *fasthttp.RequestCtx, e *requestError, requestID, scratch []byte) []byte {
	for _, h := range e.limit.Headers {
		ctx.Response.Header.SetBytesKV(h.Name, h.Value)
	}
	b := append(scratch[:0], `{"statusCode":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, e.Message)
	b = append(b, `,"code":`...)
	b = appendJSONString(b, e.Code)
	if len(requestID) > 0 {
		b = append(b, `,"requestId":`...)
		b = appendJSONString(b, string(requestID))
	}
	b = append(b, "}\n"...)
	ctx.Response.SetBody(b)
	return b
}

// appendJSONString appends s as a JSON string literal; invalid UTF-8 becomes U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
