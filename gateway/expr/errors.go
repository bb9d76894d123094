package expr

import (
	"errors"
	"fmt"
	"strconv"
)

// Reasons of context.LastError used by the gateway and by policy expressions.
const (
	ReasonExpressionValueEvaluationFailure = "ExpressionValueEvaluationFailure"
	ReasonBackendConnectionFailure         = "BackendConnectionFailure"
	ReasonTimeout                          = "Timeout"
)

// Pos is a position in a policy file: 1-based line and column (column counted in bytes).
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats the position as "file:line:col".
func (p Pos) String() string {
	f := p.File
	if f == "" {
		f = "<policy>"
	}
	return f + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// CompileError is a load-time error in an expression: a syntax error, a type error or an
// unknown member. Error() is "file:line:col: message".
type CompileError struct {
	Pos      Pos    // where in the file the problem is
	Expr     string // the whole expression text
	Msg      string // what is wrong
	Expected string // what would have been accepted, if known
	Offset   int    // byte offset in Expr of the problem (Pos is this offset in the file)
}

func (e *CompileError) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if e.Expected != "" {
		s += " (expected " + e.Expected + ")"
	}
	return s
}

// EvalError is a runtime failure of an expression (APIM's ExpressionValueEvaluationFailure):
// it becomes the request's error and the on-error section runs.
type EvalError struct {
	Pos  Pos    // where the expression is
	Expr string // the expression text
	Msg  string // what failed, e.g. `int.Parse: "abc" is not an int`
}

func (e *EvalError) Error() string {
	return e.Pos.String() + ": expression evaluation failed: " + e.Msg
}

// Reason returns ReasonExpressionValueEvaluationFailure.
func (e *EvalError) Reason() string { return ReasonExpressionValueEvaluationFailure }

// LastError is context.LastError: set when a request failed; nil (on the Context) otherwise.
type LastError struct {
	Source  string // "expression", "forward-request", a policy name, ...
	Reason  string // e.g. ReasonBackendConnectionFailure
	Message string
}

// LastErrorer is implemented by errors that know their context.LastError form
// (the gateway's forwarding errors).
type LastErrorer interface {
	LastError() LastError
}

// AsLastError converts err into context.LastError: an [*EvalError] has reason
// ExpressionValueEvaluationFailure, an error implementing [LastErrorer] reports itself, anything
// else gets reason "Unknown" with the error text as message. It returns nil for a nil err.
func AsLastError(err error) *LastError {
	if err == nil {
		return nil
	}
	var le LastErrorer
	if errors.As(err, &le) {
		v := le.LastError()
		return &v
	}
	var ee *EvalError
	if errors.As(err, &ee) {
		return &LastError{Source: "expression", Reason: ReasonExpressionValueEvaluationFailure, Message: ee.Msg}
	}
	return &LastError{Source: "gateway", Reason: "Unknown", Message: err.Error()}
}

// evalFailure is the runtime failure produced inside evaluation; Expr.Eval wraps it with the
// expression and its position.
type evalFailure struct{ msg string }

func (f *evalFailure) Error() string { return f.msg }

func failf(format string, args ...any) error {
	return &evalFailure{msg: fmt.Sprintf(format, args...)}
}
