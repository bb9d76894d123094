package expr

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// evalFn is a compiled expression node.
type evalFn func(c *Context) (Value, error)

// Expr is a compiled policy expression: immutable, safe for concurrent use.
type Expr struct {
	src  string
	at   Pos
	typ  Type
	eval evalFn
}

// Compile parses and type-checks one policy expression. src is the whole text, "@( ... )" or
// "@{ ... }"; at is the position of its '@' in the policy file. want is the type the position
// requires (TypeAny, or e.g. TypeBool for a condition: an object-typed result is then checked
// at run time). Errors are [*CompileError].
func Compile(src string, at Pos, want Type) (*Expr, error) {
	cp := &compiler{src: src, at: at, locals: map[string]local{}}
	e, err := cp.top(want)
	if err != nil {
		var ce *CompileError
		if errors.As(err, &ce) {
			return nil, ce
		}
		return nil, cp.errAt(len(src), err.Error(), "")
	}
	return e, nil
}

// IsExpression reports whether an attribute value or element text is a policy expression
// (starts with "@(" or "@{" after leading white space).
func IsExpression(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	return strings.HasPrefix(s, "@(") || strings.HasPrefix(s, "@{")
}

// Source returns the expression text.
func (e *Expr) Source() string { return e.src }

// Pos returns where the expression starts in its policy file.
func (e *Expr) Pos() Pos { return e.at }

// Type returns the static type of the expression's result.
func (e *Expr) Type() Type { return e.typ }

// Eval evaluates the expression against c. A runtime failure is an [*EvalError].
func (e *Expr) Eval(c *Context) (v Value, err error) {
	defer e.recoverPanic(&err)
	v, err = e.eval(c)
	if err != nil {
		return Value{}, e.wrap(err)
	}
	return v, nil
}

// recoverPanic turns an unexpected panic during evaluation into the request's error, so that a
// defect in one expression cannot take the gateway down.
func (e *Expr) recoverPanic(err *error) {
	if r := recover(); r != nil {
		*err = &EvalError{Pos: e.at, Expr: e.src, Msg: fmt.Sprintf("internal error: %v", r)}
	}
}

// EvalBool evaluates a bool expression (null or a non-bool is an [*EvalError]).
func (e *Expr) EvalBool(c *Context) (ok bool, err error) {
	defer e.recoverPanic(&err)
	v, err := e.eval(c)
	if err != nil {
		return false, e.wrap(err)
	}
	if v.Kind != Bool {
		return false, e.wrap(failf("condition evaluated to %s, not a bool", describeValue(v)))
	}
	return v.I != 0, nil
}

func (e *Expr) wrap(err error) error {
	var ee *EvalError
	if errors.As(err, &ee) {
		return ee
	}
	return &EvalError{Pos: e.at, Expr: e.src, Msg: err.Error()}
}

func describeValue(v Value) string {
	switch v.Kind {
	case Null:
		return "null"
	case String:
		return "string \"" + string(v.B) + "\""
	}
	return v.Kind.String() + " " + v.String()
}

type local struct {
	slot int
	typ  Type
}

type compiler struct {
	src    string
	at     Pos
	locals map[string]local
	nslots int
}

// posOf converts a byte offset in src to a file position.
func (cp *compiler) posOf(off int) Pos {
	if off > len(cp.src) {
		off = len(cp.src)
	}
	p := cp.at
	if p.Line == 0 {
		p.Line = 1
	}
	if p.Col == 0 {
		p.Col = 1
	}
	line, col := p.Line, p.Col
	for i := 0; i < off; i++ {
		if cp.src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	p.Line, p.Col = line, col
	return p
}

func (cp *compiler) errAt(off int, msg, expected string) *CompileError {
	if off > len(cp.src) {
		off = len(cp.src)
	}
	return &CompileError{Pos: cp.posOf(off), Expr: cp.src, Msg: msg, Expected: expected, Offset: off}
}

func (cp *compiler) convert(err error) error {
	switch e := err.(type) {
	case *lexError:
		return cp.errAt(e.pos, e.msg, "")
	case *parseError:
		return cp.errAt(e.pos, e.msg, e.expected)
	}
	return err
}

func (cp *compiler) top(want Type) (*Expr, error) {
	if len(cp.src) > maxSourceLen {
		return nil, cp.errAt(0, "expression is too long", "")
	}
	start := 0
	for start < len(cp.src) && strings.IndexByte(" \t\r\n", cp.src[start]) >= 0 {
		start++
	}
	rest := cp.src[start:]
	var block bool
	switch {
	case strings.HasPrefix(rest, "@("):
	case strings.HasPrefix(rest, "@{"):
		block = true
	default:
		return nil, cp.errAt(start, "a policy expression starts with \"@(\" or \"@{\"", "\"@(\" or \"@{\"")
	}
	open := start + 1
	closer := byte(')')
	if block {
		closer = '}'
	}
	end, err := scanBalanced(cp.src, open+1, closer)
	if err != nil {
		var le *lexError
		if errors.As(err, &le) && le.pos >= len(cp.src) {
			at := cp.posOf(open)
			return nil, cp.errAt(len(strings.TrimRight(cp.src, " \t\r\n")), "expression is not closed: missing \""+string(closer)+"\" to match the \""+string(cp.src[open])+"\" at line "+strconv.Itoa(at.Line)+", column "+strconv.Itoa(at.Col), "\""+string(closer)+"\" at the end of the expression")
		}
		return nil, cp.convert(err)
	}
	if tail := strings.TrimSpace(cp.src[end+1:]); tail != "" {
		return nil, cp.errAt(end+1+strings.Index(cp.src[end+1:], tail), "unexpected text after the end of the expression: "+quoteShort(tail), "end of value")
	}
	toks, err := lex(cp.src, open+1, end)
	if err != nil {
		return nil, cp.convert(err)
	}
	p := &parser{src: cp.src, toks: toks}
	var fn evalFn
	var typ Type
	if !block {
		n, err := p.expr()
		if err != nil {
			return nil, cp.convert(err)
		}
		if t := p.tok(); t.kind != tEOF {
			if err := unsupportedOperator(t); err != nil {
				return nil, cp.convert(err)
			}
			if t.kind == tOp && t.text == "=>" {
				return nil, cp.convert(lambdaError(t.pos))
			}
			return nil, cp.errAt(t.pos, "unexpected "+p.describe(t)+" after a complete expression", "an operator or \")\"")
		}
		if fn, typ, err = cp.expr(n); err != nil {
			return nil, err
		}
	} else {
		list, err := p.blockBody()
		if err != nil {
			return nil, cp.convert(err)
		}
		if fn, typ, err = cp.body(list, open); err != nil {
			return nil, err
		}
	}
	if want != TypeAny && typ != want {
		switch {
		case want == TypeBool && typ == TypeObject:
			inner := fn
			fn = func(c *Context) (Value, error) {
				v, err := inner(c)
				if err == nil && v.Kind != Bool {
					return Value{}, failf("value is %s, not a bool", describeValue(v))
				}
				return v, err
			}
			typ = TypeBool
		case want == TypeString && (typ == TypeObject || typ == TypeNull):
		case (want == TypeInt || want == TypeLong) && (typ == TypeInt || typ == TypeLong):
		default:
			return nil, cp.errAt(start, "expression has type "+typ.String()+", but this position needs "+want.String(), want.String())
		}
	}
	return &Expr{src: cp.src, at: cp.at, typ: typ, eval: fn}, nil
}

// blockBody parses the statements of "@{ ... }" up to the end of the token list.
func (p *parser) blockBody() ([]*stmtNode, error) {
	var list []*stmtNode
	for p.tok().kind != tEOF {
		s, err := p.stmt()
		if err != nil {
			return nil, err
		}
		if s != nil {
			list = append(list, s)
		}
	}
	return list, nil
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return "\"" + s + "\""
}

// --- expressions -----------------------------------------------------------------------------

func (cp *compiler) expr(n *node) (evalFn, Type, error) {
	switch n.kind {
	case nLit:
		v := n.lit
		return func(*Context) (Value, error) { return v, nil }, n.litType, nil
	case nIdent:
		return cp.ident(n)
	case nMember:
		return cp.member(n)
	case nCall:
		return cp.call(n)
	case nIndex:
		return cp.index(n)
	case nUnary:
		return cp.unary(n)
	case nBinary:
		return cp.binary(n)
	case nCond:
		return cp.cond(n)
	case nCast:
		return cp.cast(n)
	case nInterp:
		return cp.interp(n)
	}
	return nil, 0, cp.errAt(n.pos, "unsupported expression", "")
}

func (cp *compiler) ident(n *node) (evalFn, Type, error) {
	if l, ok := cp.locals[n.name]; ok {
		slot := l.slot
		return func(c *Context) (Value, error) { return c.locals[slot], nil }, l.typ, nil
	}
	if n.name == "context" {
		return constObj(objContext), TypeContext, nil
	}
	if _, ok := parseTypeName(n.name); ok || isStaticClass(n.name) {
		return nil, 0, cp.errAt(n.pos, "\""+n.name+"\" is a type, not a value", "a value")
	}
	if unsupportedTypes[n.name] {
		return nil, 0, cp.errAt(n.pos, "the .NET type "+n.name+" is not supported by sfgate", "context, string, int, long, bool, Convert, Math, DateTime or StringComparison")
	}
	return nil, 0, cp.errAt(n.pos, "unknown name \""+n.name+"\"", "context or a local variable")
}

// unsupportedTypes are .NET types APIM expressions may use that sfgate does not implement: naming
// one is a "not supported by sfgate" load error rather than "unknown name".
var unsupportedTypes = map[string]bool{
	"Array": true, "Enumerable": true, "Guid": true, "Random": true, "Regex": true, "TimeSpan": true,
	"StringBuilder": true, "StringComparer": true, "Encoding": true, "Uri": true, "WebUtility": true,
	"HttpUtility": true, "JObject": true, "JArray": true, "JToken": true, "JsonConvert": true,
	"XDocument": true, "XElement": true, "XNode": true, "DateTimeOffset": true,
	"Double": true, "Decimal": true, "SHA1": true, "SHA512": true, "HMACSHA256": true,
	"Text": true, "Linq": true, "Collections": true, "Security": true, "Net": true, "Newtonsoft": true,
	"IResponse": true, "CultureInfo": true, "Environment": true,
}

func constObj(id int64) evalFn {
	v := Value{Kind: Object, I: id}
	return func(*Context) (Value, error) { return v, nil }
}

func isStaticClass(name string) bool {
	name = canonicalClass(name)
	if hashingClasses[name] {
		return true
	}
	switch name {
	case "Convert", "Math", "StringComparison", "StringSplitOptions", "DateTime", "System", "Int32", "Int64", "Boolean", "String":
		return true
	}
	return false
}

func (cp *compiler) unary(n *node) (evalFn, Type, error) {
	x, t, err := cp.expr(n.x)
	if err != nil {
		return nil, 0, err
	}
	switch n.op {
	case "!":
		if t != TypeBool {
			return nil, 0, cp.errAt(n.pos, "operator \"!\" needs a bool, found "+t.String(), "bool")
		}
		return func(c *Context) (Value, error) {
			v, err := x(c)
			if err != nil || v.Kind == Null {
				return v, err
			}
			return BoolValue(v.I == 0), nil
		}, TypeBool, nil
	case "-", "+", "~":
		if !t.isNumeric() {
			return nil, 0, cp.errAt(n.pos, "operator \""+n.op+"\" needs a number, found "+t.String(), "int or long")
		}
		rt := TypeInt
		if t == TypeLong {
			rt = TypeLong
		}
		op := n.op
		return func(c *Context) (Value, error) {
			v, err := x(c)
			if err != nil || v.Kind == Null {
				return v, err
			}
			var r int64
			switch op {
			case "-":
				r = -v.I
			case "+":
				r = v.I
			default:
				r = ^v.I
			}
			if rt == TypeInt {
				return IntValue(r), nil
			}
			return LongValue(r), nil
		}, rt, nil
	}
	return nil, 0, cp.errAt(n.pos, "unsupported operator "+n.op, "")
}

func (cp *compiler) cond(n *node) (evalFn, Type, error) {
	cf, ct, err := cp.expr(n.x)
	if err != nil {
		return nil, 0, err
	}
	if ct != TypeBool {
		return nil, 0, cp.errAt(n.x.pos, "the condition of \"?:\" must be a bool, found "+ct.String(), "bool")
	}
	a, at, err := cp.expr(n.y)
	if err != nil {
		return nil, 0, err
	}
	b, bt, err := cp.expr(n.z)
	if err != nil {
		return nil, 0, err
	}
	rt, ok := unify(at, bt)
	if !ok {
		return nil, 0, cp.errAt(n.pos, "the branches of \"?:\" have different types: "+at.String()+" and "+bt.String(), "the same type in both branches")
	}
	return func(c *Context) (Value, error) {
		v, err := cf(c)
		if err != nil {
			return v, err
		}
		if v.Kind != Bool {
			return Value{}, failf("condition of ?: is null")
		}
		if v.I != 0 {
			v, err = a(c)
		} else {
			v, err = b(c)
		}
		return widenTo(v, err, rt)
	}, rt, nil
}

// widenTo applies C#'s implicit numeric conversions to a result whose static type is t:
// int and char widen to long, char to int.
func widenTo(v Value, err error, t Type) (Value, error) {
	if err == nil {
		switch {
		case t == TypeLong && (v.Kind == Int || v.Kind == Char):
			v.Kind = Long
		case t == TypeInt && v.Kind == Char:
			v.Kind = Int
		}
	}
	return v, err
}

// unify returns the common type of two branches.
func unify(a, b Type) (Type, bool) {
	switch {
	case a == b:
		return a, true
	case a == TypeNull && b.isReference():
		return b, true
	case b == TypeNull && a.isReference():
		return a, true
	case a == TypeNull:
		return b, true // a nullable value type: null at run time
	case b == TypeNull:
		return a, true
	case a.isNumeric() && b.isNumeric():
		if a == TypeLong || b == TypeLong {
			return TypeLong, true
		}
		return TypeInt, true
	case a == TypeObject || b == TypeObject:
		return TypeObject, true
	}
	return 0, false
}

func (cp *compiler) interp(n *node) (evalFn, Type, error) {
	lits := make([][]byte, len(n.lits))
	for i, s := range n.lits {
		lits[i] = []byte(s)
	}
	holes := make([]evalFn, len(n.holes))
	for i, h := range n.holes {
		f, _, err := cp.expr(h)
		if err != nil {
			return nil, 0, err
		}
		holes[i] = f
	}
	return func(c *Context) (Value, error) {
		var buf [8]Value
		vals, err := evalAll(c, holes, buf[:0])
		if err != nil {
			return Value{}, err
		}
		start := len(c.arena)
		out := append(c.arena, lits[0]...)
		for i, v := range vals {
			out = appendString(out, v)
			out = append(out, lits[i+1]...)
		}
		c.arena = out
		return c.built(start)
	}, TypeString, nil
}

// evalAll evaluates fns in order into dst (evaluation may use the arena, so results are built
// only after every operand is known).
func evalAll(c *Context, fns []evalFn, dst []Value) ([]Value, error) {
	for _, f := range fns {
		v, err := f(c)
		if err != nil {
			return nil, err
		}
		dst = append(dst, v)
	}
	return dst, nil
}

// --- casts -----------------------------------------------------------------------------------

func (cp *compiler) cast(n *node) (evalFn, Type, error) {
	to, ok := parseTypeName(n.name)
	if !ok {
		return nil, 0, cp.errAt(n.pos, "cast to "+n.name+" is not supported by sfgate", "(string), (int), (long), (bool), (char), (object) or (string[])")
	}
	x, from, err := cp.expr(n.x)
	if err != nil {
		return nil, 0, err
	}
	if from == to || to == TypeObject {
		return x, to, nil
	}
	switch {
	case from == TypeObject || from == TypeNull:
		if to != TypeString && to != TypeStrings && from == TypeNull {
			return nil, 0, cp.errAt(n.pos, "cannot cast null to "+to.String(), "a nullable type")
		}
		want := kindOf(to)
		name := n.name
		return func(c *Context) (Value, error) {
			v, err := x(c)
			if err != nil {
				return v, err
			}
			if v.Kind == want {
				return v, nil
			}
			if v.Kind == Null && (to == TypeString || to == TypeStrings) {
				return v, nil
			}
			return Value{}, failf("cannot cast %s to %s", describeValue(v), name)
		}, to, nil
	case from.isNumeric() && (to == TypeInt || to == TypeLong || to == TypeChar):
		return func(c *Context) (Value, error) {
			v, err := x(c)
			if err != nil || v.Kind == Null {
				return v, err
			}
			switch to {
			case TypeInt:
				return IntValue(v.I), nil
			case TypeLong:
				return LongValue(v.I), nil
			}
			return Value{Kind: Char, I: int64(uint16(v.I))}, nil
		}, to, nil
	}
	return nil, 0, cp.errAt(n.pos, "cannot cast "+from.String()+" to "+to.String(), "a value of a compatible type")
}

// --- binary operators ------------------------------------------------------------------------

func (cp *compiler) binary(n *node) (evalFn, Type, error) {
	x, xt, err := cp.expr(n.x)
	if err != nil {
		return nil, 0, err
	}
	y, yt, err := cp.expr(n.y)
	if err != nil {
		return nil, 0, err
	}
	switch n.op {
	case "&&", "||":
		if xt != TypeBool || yt != TypeBool {
			return nil, 0, cp.errAt(n.pos, "operator \""+n.op+"\" needs bool operands, found "+xt.String()+" and "+yt.String(), "bool")
		}
		and := n.op == "&&"
		return func(c *Context) (Value, error) {
			a, err := x(c)
			if err != nil {
				return a, err
			}
			if a.Kind != Bool {
				return Value{}, failf("left operand of %s is null", opName(and))
			}
			if (a.I != 0) != and {
				return a, nil
			}
			b, err := y(c)
			if err != nil {
				return b, err
			}
			if b.Kind != Bool {
				return Value{}, failf("right operand of %s is null", opName(and))
			}
			return b, nil
		}, TypeBool, nil
	case "==", "!=":
		if !comparable(xt, yt) {
			return nil, 0, cp.errAt(n.pos, "cannot compare "+xt.String()+" with "+yt.String()+" using \""+n.op+"\"", "operands of the same type")
		}
		neg := n.op == "!="
		if n.y.kind == nLit && n.y.litType == TypeString && xt == TypeString {
			lit := n.y.lit.B
			return func(c *Context) (Value, error) {
				a, err := x(c)
				if err != nil {
					return a, err
				}
				eq := a.Kind == String && bytes.Equal(a.B, lit)
				return BoolValue(eq != neg), nil
			}, TypeBool, nil
		}
		if lit, ok := intLiteral(n.y); ok && xt.isNumeric() {
			return func(c *Context) (Value, error) {
				a, err := x(c)
				if err != nil {
					return a, err
				}
				eq := a.Kind != Null && a.I == lit
				return BoolValue(eq != neg), nil
			}, TypeBool, nil
		}
		return func(c *Context) (Value, error) {
			a, err := x(c)
			if err != nil {
				return a, err
			}
			b, err := y(c)
			if err != nil {
				return b, err
			}
			return BoolValue(valuesEqual(a, b) != neg), nil
		}, TypeBool, nil
	case "<", "<=", ">", ">=":
		if !xt.isNumeric() || !yt.isNumeric() {
			return nil, 0, cp.errAt(n.pos, "operator \""+n.op+"\" needs numbers, found "+xt.String()+" and "+yt.String(), "int or long operands")
		}
		cmp := relation(n.op)
		if lit, ok := intLiteral(n.y); ok {
			return func(c *Context) (Value, error) {
				a, err := x(c)
				if err != nil || a.Kind == Null {
					return BoolValue(false), err
				}
				return BoolValue(cmp(a.I, lit)), nil
			}, TypeBool, nil
		}
		return func(c *Context) (Value, error) {
			a, err := x(c)
			if err != nil {
				return a, err
			}
			b, err := y(c)
			if err != nil {
				return b, err
			}
			if a.Kind == Null || b.Kind == Null {
				return BoolValue(false), nil
			}
			return BoolValue(cmp(a.I, b.I)), nil
		}, TypeBool, nil
	case "??":
		rt, ok := unify(xt, yt)
		if !ok || !(xt.isReference() || xt == TypeNull) {
			return nil, 0, cp.errAt(n.pos, "operator \"??\" cannot combine "+xt.String()+" and "+yt.String(), "a nullable left operand and a value of the same type")
		}
		return func(c *Context) (Value, error) {
			a, err := x(c)
			if err != nil || a.Kind != Null {
				return a, err
			}
			return y(c)
		}, rt, nil
	case "+":
		if xt == TypeString || yt == TypeString || (xt == TypeObject && yt == TypeString) || (xt == TypeNull && yt == TypeString) {
			return func(c *Context) (Value, error) {
				a, err := x(c)
				if err != nil {
					return a, err
				}
				b, err := y(c)
				if err != nil {
					return b, err
				}
				if a.Kind == String && b.Kind == String {
					if c.textFull(len(a.B) + len(b.B)) {
						return Value{}, errTextLimit
					}
					return Value{Kind: String, B: c.concat(a.B, b.B)}, nil
				}
				start := len(c.arena)
				buf := appendString(c.arena, a)
				buf = appendString(buf, b)
				c.arena = buf
				return c.built(start)
			}, TypeString, nil
		}
		fallthrough
	case "-", "*", "/", "%":
		return cp.arith(n, x, xt, y, yt)
	case "&", "|", "^":
		if n.op == "|" && xt == TypeStringSplitOptions && yt == TypeStringSplitOptions {
			return func(c *Context) (Value, error) {
				a, err := x(c)
				if err != nil {
					return a, err
				}
				b, err := y(c)
				return Value{Kind: Int, I: a.I | b.I}, err
			}, TypeStringSplitOptions, nil
		}
		if xt == TypeBool && yt == TypeBool {
			op := n.op
			return func(c *Context) (Value, error) {
				a, err := x(c)
				if err != nil {
					return a, err
				}
				b, err := y(c)
				if err != nil {
					return b, err
				}
				switch op {
				case "&":
					return BoolValue(a.I != 0 && b.I != 0), nil
				case "|":
					return BoolValue(a.I != 0 || b.I != 0), nil
				}
				return BoolValue((a.I != 0) != (b.I != 0)), nil
			}, TypeBool, nil
		}
		return cp.arith(n, x, xt, y, yt)
	}
	return nil, 0, cp.errAt(n.pos, "unsupported operator \""+n.op+"\"", "")
}

// intLiteral returns the value of an int or long literal operand (the status codes and limits
// conditions compare with), so that evaluation does not call a closure for it.
func intLiteral(n *node) (int64, bool) {
	if n.kind == nLit && (n.litType == TypeInt || n.litType == TypeLong) {
		return n.lit.I, true
	}
	return 0, false
}

// relation returns the comparison of a relational operator.
func relation(op string) func(a, b int64) bool {
	switch op {
	case "<":
		return func(a, b int64) bool { return a < b }
	case "<=":
		return func(a, b int64) bool { return a <= b }
	case ">":
		return func(a, b int64) bool { return a > b }
	}
	return func(a, b int64) bool { return a >= b }
}

func opWord(op byte) string {
	if op == '/' {
		return "division"
	}
	return "remainder"
}

func opName(and bool) string {
	if and {
		return "&&"
	}
	return "||"
}

func (cp *compiler) arith(n *node, x evalFn, xt Type, y evalFn, yt Type) (evalFn, Type, error) {
	if !xt.isNumeric() || !yt.isNumeric() {
		return nil, 0, cp.errAt(n.pos, "operator \""+n.op+"\" needs numbers, found "+xt.String()+" and "+yt.String(), "int or long operands (or a string for \"+\")")
	}
	rt := TypeInt
	if xt == TypeLong || yt == TypeLong {
		rt = TypeLong
	}
	op := n.op[0]
	return func(c *Context) (Value, error) {
		a, err := x(c)
		if err != nil {
			return a, err
		}
		b, err := y(c)
		if err != nil {
			return b, err
		}
		if a.Kind == Null || b.Kind == Null {
			return Value{}, nil
		}
		var r int64
		switch op {
		case '+':
			r = a.I + b.I
		case '-':
			r = a.I - b.I
		case '*':
			r = a.I * b.I
		case '/', '%':
			if b.I == 0 {
				return Value{}, failf("division by zero (DivideByZeroException)")
			}
			if b.I == -1 && ((rt == TypeInt && int32(a.I) == math.MinInt32) || (rt == TypeLong && a.I == math.MinInt64)) {
				return Value{}, failf("%s of the minimum %s by -1 overflows (OverflowException)", opWord(op), rt)
			}
			if rt == TypeInt {
				ai, bi := int32(a.I), int32(b.I)
				if op == '/' {
					r = int64(ai / bi)
				} else {
					r = int64(ai % bi)
				}
			} else if op == '/' {
				r = a.I / b.I
			} else {
				r = a.I % b.I
			}
		case '&':
			r = a.I & b.I
		case '|':
			r = a.I | b.I
		case '^':
			r = a.I ^ b.I
		}
		if rt == TypeInt {
			return IntValue(r), nil
		}
		return LongValue(r), nil
	}, rt, nil
}

// comparable reports whether == may compare the two static types.
func comparable(a, b Type) bool {
	switch {
	case a == b:
		return true
	case a.isNumeric() && b.isNumeric():
		return true
	case a == TypeNull || b == TypeNull:
		return true // null with a reference type, or a lifted nullable value
	case a == TypeObject || b == TypeObject:
		return true // compared by value (APIM compares references; see doc)
	}
	return false
}

// valuesEqual is == on runtime values: strings by content, numbers by value, null only with null.
func valuesEqual(a, b Value) bool {
	switch {
	case a.Kind == Null || b.Kind == Null:
		return a.Kind == b.Kind
	case a.Kind == String && b.Kind == String, a.Kind == Bytes && b.Kind == Bytes:
		return bytes.Equal(a.B, b.B)
	case isNum(a.Kind) && isNum(b.Kind):
		return a.I == b.I
	case a.Kind != b.Kind:
		return false
	case a.Kind == Strings:
		if len(a.List) != len(b.List) {
			return false
		}
		for i := range a.List {
			if !bytes.Equal(a.List[i], b.List[i]) {
				return false
			}
		}
		return true
	}
	return a.I == b.I
}

func isNum(k Kind) bool { return k == Int || k == Long || k == Char }

// --- statement blocks ------------------------------------------------------------------------

type stmtFn func(c *Context) (returned bool, v Value, err error)

func (cp *compiler) body(list []*stmtNode, open int) (evalFn, Type, error) {
	var rtypes []Type
	fns := make([]stmtFn, 0, len(list))
	for _, s := range list {
		f, err := cp.stmt(s, &rtypes)
		if err != nil {
			return nil, 0, err
		}
		fns = append(fns, f)
	}
	if !returnsAll(list) {
		return nil, 0, cp.errAt(len(cp.src)-1, "not all code paths return a value", "a return statement at the end of the block")
	}
	rt := rtypes[0]
	for _, t := range rtypes[1:] {
		u, ok := unify(rt, t)
		if !ok {
			u = TypeObject
		}
		rt = u
	}
	nslots := cp.nslots
	return func(c *Context) (Value, error) {
		c.frame(nslots)
		for _, f := range fns {
			done, v, err := f(c)
			if err != nil {
				return v, err
			}
			if done {
				return widenTo(v, nil, rt)
			}
		}
		return Value{}, failf("block ended without return")
	}, rt, nil
}

func returnsAll(list []*stmtNode) bool {
	for _, s := range list {
		if returns(s) {
			return true
		}
	}
	return false
}

func returns(s *stmtNode) bool {
	switch s.kind {
	case sReturn:
		return true
	case sBlock:
		return returnsAll(s.list)
	case sIf:
		return s.then != nil && s.els != nil && returns(s.then) && returns(s.els)
	}
	return false
}

func (cp *compiler) stmt(s *stmtNode, rtypes *[]Type) (stmtFn, error) {
	if s == nil {
		return func(*Context) (bool, Value, error) { return false, Value{}, nil }, nil
	}
	switch s.kind {
	case sReturn:
		x, t, err := cp.expr(s.x)
		if err != nil {
			return nil, err
		}
		*rtypes = append(*rtypes, t)
		return func(c *Context) (bool, Value, error) {
			v, err := x(c)
			return true, v, err
		}, nil
	case sVar, sAssign:
		x, t, err := cp.expr(s.x)
		if err != nil {
			return nil, err
		}
		var l local
		if s.kind == sVar {
			if _, dup := cp.locals[s.name]; dup || s.name == "context" {
				return nil, cp.errAt(s.pos, "variable \""+s.name+"\" is already declared", "a new name")
			}
			lt := t
			if s.typeName != "var" {
				dt, ok := parseTypeName(s.typeName)
				if !ok {
					return nil, cp.errAt(s.pos, "unsupported variable type "+s.typeName, "var, string, int, long, bool or object")
				}
				if !assignable(t, dt) {
					return nil, cp.errAt(s.pos, "cannot assign "+t.String()+" to "+s.typeName+" "+s.name, dt.String())
				}
				lt = dt
			} else if t == TypeNull {
				return nil, cp.errAt(s.pos, "cannot infer the type of \""+s.name+"\" from null", "a typed declaration")
			}
			l = local{slot: cp.nslots, typ: lt}
			cp.nslots++
			cp.locals[s.name] = l
		} else {
			var ok bool
			if l, ok = cp.locals[s.name]; !ok {
				return nil, cp.errAt(s.pos, "unknown local variable \""+s.name+"\"", "a variable declared with var")
			}
			if !assignable(t, l.typ) {
				return nil, cp.errAt(s.pos, "cannot assign "+t.String()+" to "+s.name+" of type "+l.typ.String(), l.typ.String())
			}
		}
		slot, lt := l.slot, l.typ
		return func(c *Context) (bool, Value, error) {
			v, err := x(c)
			v, err = widenTo(v, err, lt)
			c.locals[slot] = v
			return false, Value{}, err
		}, nil
	case sIf:
		cond, t, err := cp.expr(s.x)
		if err != nil {
			return nil, err
		}
		if t != TypeBool {
			return nil, cp.errAt(s.x.pos, "the condition of \"if\" must be a bool, found "+t.String(), "bool")
		}
		then, err := cp.stmt(s.then, rtypes)
		if err != nil {
			return nil, err
		}
		els, err := cp.stmt(s.els, rtypes)
		if err != nil {
			return nil, err
		}
		return func(c *Context) (bool, Value, error) {
			v, err := cond(c)
			if err != nil {
				return false, v, err
			}
			if v.Kind != Bool {
				return false, Value{}, failf("condition of if is null")
			}
			if v.I != 0 {
				return then(c)
			}
			return els(c)
		}, nil
	case sBlock:
		// variables declared in a block are visible until its end (their slots stay reserved)
		outer := make(map[string]local, len(cp.locals))
		for k, v := range cp.locals {
			outer[k] = v
		}
		defer func() { cp.locals = outer }()
		fns := make([]stmtFn, 0, len(s.list))
		for _, st := range s.list {
			f, err := cp.stmt(st, rtypes)
			if err != nil {
				return nil, err
			}
			fns = append(fns, f)
		}
		return func(c *Context) (bool, Value, error) {
			for _, f := range fns {
				done, v, err := f(c)
				if err != nil || done {
					return done, v, err
				}
			}
			return false, Value{}, nil
		}, nil
	}
	return nil, cp.errAt(s.pos, "unsupported statement", "")
}

func assignable(from, to Type) bool {
	switch {
	case from == to, to == TypeObject:
		return true
	case from == TypeNull:
		return to.isReference()
	case to == TypeLong && (from == TypeInt || from == TypeChar):
		return true
	case to == TypeInt && from == TypeChar:
		return true
	}
	return false
}
