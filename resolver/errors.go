package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors. Every error returned by a Resolver that falls in one of these classes matches it with
// errors.Is; the gateway maps them to client statuses (docs/design.md §4).
var (
	// ErrServiceNotFound: the service (or its application or name) does not exist on the cluster.
	ErrServiceNotFound = errors.New("resolver: service does not exist")
	// ErrInvalidPartitionKey: the key does not fit the service's partition scheme. When the check is local the
	// error also wraps a *partition.KeyError that names the value and the scheme.
	ErrInvalidPartitionKey = errors.New("resolver: invalid partition key")
	// ErrTimeout: a naming call timed out (client deadline or FABRIC_E_TIMEOUT and friends).
	ErrTimeout = errors.New("resolver: naming call timed out")
	// ErrNotReady: the cluster answered but the partition cannot be resolved right now
	// (FABRIC_E_NOT_READY, FABRIC_E_SERVICE_OFFLINE, FABRIC_E_RECONFIGURATION_PENDING, E_ABORT).
	ErrNotReady = errors.New("resolver: partition not ready")
	// ErrUnauthorized: the HTTP gateway refused the credential (403, usually with an empty body).
	ErrUnauthorized = errors.New("resolver: unauthorized by the cluster's HTTP gateway")
	// ErrUnavailable: no management endpoint gave an answer, or naming has been failing for longer than the
	// stale grace period of the last good snapshot.
	ErrUnavailable = errors.New("resolver: naming unavailable")
	// ErrClosed: the Resolver was closed.
	ErrClosed = errors.New("resolver: closed")
)

// FabricError is an error answer of the SF HTTP gateway: the status plus the body's Error.Code and
// Error.Message. Callers branch on Code (or on the sentinels through errors.Is), never on Message.
type FabricError struct {
	Status   int    // HTTP status
	Code     string // e.g. FABRIC_E_SERVICE_DOES_NOT_EXIST; "" when the body had none (e.g. 403)
	Message  string // SF's free-text message
	Endpoint string // management endpoint that answered
}

func (e *FabricError) Error() string {
	code := e.Code
	if code == "" {
		code = http.StatusText(e.Status)
	}
	msg := e.Message
	if msg == "" && e.Status == http.StatusForbidden && e.Code == "" {
		msg = "credential rejected (check the client certificate or the Azure AD token)"
	}
	if msg == "" {
		return fmt.Sprintf("service fabric %s: %d %s", e.Endpoint, e.Status, code)
	}
	return fmt.Sprintf("service fabric %s: %d %s: %s", e.Endpoint, e.Status, code, msg)
}

// Is maps SF error codes to the package sentinels.
func (e *FabricError) Is(target error) bool {
	switch target {
	case ErrServiceNotFound:
		switch e.Code {
		case "FABRIC_E_SERVICE_DOES_NOT_EXIST", "FABRIC_E_NAME_DOES_NOT_EXIST", "FABRIC_E_APPLICATION_NOT_FOUND":
			return true
		}
	case ErrInvalidPartitionKey:
		return e.Code == "FABRIC_E_INVALID_PARTITION_KEY"
	case ErrTimeout:
		switch e.Code {
		case "FABRIC_E_TIMEOUT", "FABRIC_E_OPERATION_NOT_COMPLETE", "FABRIC_E_COMMUNICATION_ERROR":
			return true
		}
		return e.Code == "" && e.Status == http.StatusGatewayTimeout
	case ErrNotReady:
		switch e.Code {
		case "FABRIC_E_NOT_READY", "FABRIC_E_SERVICE_OFFLINE", "FABRIC_E_RECONFIGURATION_PENDING", "E_ABORT":
			return true
		}
	case ErrUnauthorized:
		return e.Status == http.StatusForbidden || e.Status == http.StatusUnauthorized
	}
	return false
}

// transient reports whether the same call may succeed on another management endpoint or a bit later.
func (e *FabricError) transient() bool {
	return e.Status >= 500 && e.Status != http.StatusNotImplemented
}

// timeoutError is a client-side deadline of one naming call (CallTimeout, or the lookup's ResolveTimeout
// when that comes first); it matches ErrTimeout and context.DeadlineExceeded.
type timeoutError struct {
	op       string
	endpoint string
	err      error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%s on %s: no answer in time: %v", e.op, e.endpoint, e.err)
}
func (e *timeoutError) Unwrap() error        { return e.err }
func (e *timeoutError) Is(target error) bool { return target == ErrTimeout }

// resolveTimeoutError is a lookup that waited ResolveTimeout for naming without getting an answer; it
// matches ErrTimeout and context.DeadlineExceeded, and names the management endpoints so that the reader
// knows which cluster did not answer.
type resolveTimeoutError struct {
	timeout   time.Duration
	endpoints []string
	last      error // the naming operation's own error, when it ended first; else nil
}

func (e *resolveTimeoutError) Error() string {
	s := fmt.Sprintf("no naming answer within resolveTimeout %s from management endpoint(s) %s", e.timeout, strings.Join(e.endpoints, ", "))
	if e.last != nil {
		s += ": " + e.last.Error()
	}
	return s
}

func (e *resolveTimeoutError) Unwrap() []error {
	if e.last == nil {
		return []error{context.DeadlineExceeded}
	}
	return []error{context.DeadlineExceeded, e.last}
}

func (e *resolveTimeoutError) Is(target error) bool { return target == ErrTimeout }
