package policy

import (
	"errors"
	"strconv"

	"github.com/sfgate/sfgate/gateway/expr"
)

// Error is a load-time error in a policy document: its position in the policy file and what is
// wrong. Error() is "file:line:col: message". Err holds the underlying error, e.g. an
// [*expr.CompileError] for an expression.
type Error struct {
	File string
	Line int
	Col  int
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	f := e.File
	if f == "" {
		f = "<policy>"
	}
	return f + ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col) + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func errorAt(p expr.Pos, msg string) *Error {
	return &Error{File: p.File, Line: p.Line, Col: p.Col, Msg: msg}
}

// ErrAttemptLimit is wrapped by a Forwarder's error when the request may not be sent again (the gateway's
// limits.maxAttemptsPerRequest): a <retry> stops at once, whatever its condition and count, so that nested
// retries cannot multiply the sends.
var ErrAttemptLimit = errors.New("policy: the request reached its limit of attempts")

// ErrNoForwarder is returned by Program.Backend when a forward-request runs without a Forwarder.
var ErrNoForwarder = errors.New("policy: forward-request needs a Forwarder")

// errReturned stops the pipeline after return-response.
var errReturned = errors.New("policy: return-response")
