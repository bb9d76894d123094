package expr

import (
	"bytes"
	"strings"
	"time"
)

// memberFn reads a member of a non-null receiver.
type memberFn func(c *Context, recv Value) (Value, error)

// leftmost returns the source offset where the receiver chain of n starts.
func leftmost(n *node) int {
	for {
		switch n.kind {
		case nMember, nCall, nIndex:
			if n.x != nil && n.x.pos < n.pos {
				n = n.x
				continue
			}
		case nBinary, nCond:
			if n.x != nil {
				n = n.x
				continue
			}
		}
		return n.pos
	}
}

// chainNullCond reports whether n or a receiver before it in the same chain uses "?.":
// C# then short-circuits the rest of the chain to null.
func chainNullCond(n *node) bool {
	for n != nil {
		switch n.kind {
		case nMember:
			if n.nullCond {
				return true
			}
			n = n.x
		case nCall, nIndex:
			n = n.x
		default:
			return false
		}
	}
	return false
}

func (cp *compiler) receiverText(n *node) string {
	start := leftmost(n.x)
	end := n.pos
	if start > end || end > len(cp.src) {
		return "receiver"
	}
	return strings.TrimRight(strings.TrimSpace(cp.src[start:end]), ".?[(")
}

// guard evaluates the receiver, applies null semantics and then get. A receiver that is a
// fixed, never-null part of the context (context.Request.Url.Query, ...) is not evaluated.
func (cp *compiler) guard(n *node, rf evalFn, get memberFn) evalFn {
	if v, ok := cp.constObject(n.x); ok {
		return func(c *Context) (Value, error) { return get(c, v) }
	}
	safe := chainNullCond(n)
	what := cp.receiverText(n)
	if id, ok := cp.nullableObject(n.x); ok {
		// context.Response.X, context.LastError?.X: test the field instead of evaluating the receiver
		v := Value{Kind: Object, I: id}
		return func(c *Context) (Value, error) {
			if (id == objResponse && c.Response == nil) || (id == objLastError && c.LastError == nil) {
				if safe {
					return Value{}, nil
				}
				return Value{}, failf("%s is null (NullReferenceException)", what)
			}
			return get(c, v)
		}
	}
	return func(c *Context) (Value, error) {
		r, err := rf(c)
		if err != nil {
			return r, err
		}
		if r.Kind == Null {
			if safe {
				return Value{}, nil
			}
			return Value{}, failf("%s is null (NullReferenceException)", what)
		}
		return get(c, r)
	}
}

// staticPath returns the dotted name of a chain of plain identifiers naming a static class
// ("string", "System.StringComparison", ...), without the "System." prefix.
func (cp *compiler) staticPath(n *node) (string, bool) {
	var parts []string
	for {
		switch n.kind {
		case nIdent:
			if _, isLocal := cp.locals[n.name]; isLocal || n.name == "context" {
				return "", false
			}
			parts = append(parts, n.name)
			var b strings.Builder
			for i := len(parts) - 1; i >= 0; i-- {
				b.WriteString(parts[i])
				if i > 0 {
					b.WriteByte('.')
				}
			}
			path := canonicalClass(b.String())
			if _, ok := parseTypeName(path); ok || isStaticClass(path) {
				return path, true
			}
			return "", false
		case nMember:
			if n.nullCond {
				return "", false
			}
			parts = append(parts, n.name)
			n = n.x
		default:
			return "", false
		}
	}
}

func (cp *compiler) unknownMember(n *node, t Type, members string) error {
	return cp.errAt(n.pos, "unknown member \""+n.name+"\" of "+t.String(), "one of: "+members)
}

func (cp *compiler) member(n *node) (evalFn, Type, error) {
	if path, ok := cp.staticPath(n.x); ok {
		return cp.staticMember(n, path)
	}
	rf, rt, err := cp.expr(n.x)
	if err != nil {
		return nil, 0, err
	}
	get, t, err := cp.memberOf(n, rt)
	if err != nil {
		return nil, 0, err
	}
	return cp.guard(n, rf, get), t, nil
}

func str(b []byte) Value { return BytesValue(b) }

func (cp *compiler) memberOf(n *node, rt Type) (memberFn, Type, error) {
	name := n.name
	unsupported := func(what string) (memberFn, Type, error) {
		return nil, 0, cp.errAt(n.pos, what+"."+name+" is not supported by sfgate", "")
	}
	switch rt {
	case TypeContext:
		switch name {
		case "Request":
			return objMember(objRequest), TypeRequest, nil
		case "Response":
			return func(c *Context, _ Value) (Value, error) {
				if c.Response == nil {
					return Value{}, nil
				}
				return Value{Kind: Object, I: objResponse}, nil
			}, TypeResponse, nil
		case "LastError":
			return func(c *Context, _ Value) (Value, error) {
				if c.LastError == nil {
					return Value{}, nil
				}
				return Value{Kind: Object, I: objLastError}, nil
			}, TypeLastError, nil
		case "Variables":
			return objMember(objVariables), TypeVariables, nil
		case "Api":
			return objMember(objAPI), TypeAPI, nil
		case "Operation":
			return objMember(objOperation), TypeOperation, nil
		case "RequestId":
			return func(c *Context, _ Value) (Value, error) { return str(c.RequestID), nil }, TypeGuid, nil
		case "Timestamp":
			return func(c *Context, _ Value) (Value, error) {
				return Value{Kind: Long, I: c.Timestamp.UnixNano()}, nil
			}, TypeDateTime, nil
		case "Deployment", "Product", "User", "Subscription", "Elapsed", "Tracing", "Workspace", "Graphql":
			return unsupported("context")
		}
		return nil, 0, cp.unknownMember(n, rt, "Request, Response, LastError, Variables, Api, Operation, RequestId, Timestamp")
	case TypeRequest:
		switch name {
		case "Url":
			return objMember(objURL), TypeURL, nil
		case "OriginalUrl":
			return objMember(objOriginalURL), TypeURL, nil
		case "Headers":
			return objMember(objRequestHeaders), TypeHeaders, nil
		case "MatchedParameters":
			return objMember(objParams), TypeParams, nil
		case "Method":
			return func(c *Context, _ Value) (Value, error) {
				if c.Request == nil {
					return str(nil), nil
				}
				return str(c.Request.Header.Method()), nil
			}, TypeString, nil
		case "IpAddress":
			return func(c *Context, _ Value) (Value, error) { return str(c.IPAddress), nil }, TypeString, nil
		case "Certificate":
			return func(c *Context, _ Value) (Value, error) {
				if c.Certificate == nil {
					return Value{}, nil
				}
				return Value{Kind: Object, I: objCertificate}, nil
			}, TypeCertificate, nil
		case "Body", "PrivateEndpointConnection":
			return unsupported("context.Request")
		}
		return nil, 0, cp.unknownMember(n, rt, "Url, OriginalUrl, Headers, Method, MatchedParameters, IpAddress, Certificate")
	case TypeCertificate:
		return cp.certificateMember(n)
	case TypeJwt:
		return cp.jwtMember(n)
	case TypeBasic:
		return cp.basicMember(n)
	case TypeURL:
		switch name {
		case "Scheme":
			return func(c *Context, r Value) (Value, error) { return str(c.urlScheme(r.I)), nil }, TypeString, nil
		case "Host":
			return func(c *Context, r Value) (Value, error) { return str(c.urlHost(r.I)), nil }, TypeString, nil
		case "Port":
			return func(c *Context, r Value) (Value, error) { return IntValue(c.urlPort(r.I)), nil }, TypeInt, nil
		case "Path":
			return func(c *Context, r Value) (Value, error) { return str(c.urlPath(r.I)), nil }, TypeString, nil
		case "QueryString":
			return func(c *Context, r Value) (Value, error) { return str(c.urlQueryString(r.I)), nil }, TypeString, nil
		case "Query":
			return func(c *Context, r Value) (Value, error) {
				switch r.I {
				case objOriginalURL:
					return Value{Kind: Object, I: objOriginalQuery}, nil
				case objServiceURL:
					return Value{Kind: Object, I: objServiceQuery}, nil
				}
				return Value{Kind: Object, I: objQuery}, nil
			}, TypeQuery, nil
		}
		return nil, 0, cp.unknownMember(n, rt, "Scheme, Host, Port, Path, Query, QueryString")
	case TypeResponse:
		switch name {
		case "StatusCode":
			return func(c *Context, _ Value) (Value, error) { return IntValue(int64(c.Response.StatusCode)), nil }, TypeInt, nil
		case "StatusReason":
			return func(c *Context, _ Value) (Value, error) { return str(c.Response.Reason), nil }, TypeString, nil
		case "Headers":
			return objMember(objResponseHeaders), TypeHeaders, nil
		case "Body":
			return unsupported("context.Response")
		}
		return nil, 0, cp.unknownMember(n, rt, "StatusCode, StatusReason, Headers")
	case TypeLastError:
		switch name {
		case "Source":
			return func(c *Context, _ Value) (Value, error) { return str(stringBytes(c.LastError.Source)), nil }, TypeString, nil
		case "Reason":
			return func(c *Context, _ Value) (Value, error) { return str(stringBytes(c.LastError.Reason)), nil }, TypeString, nil
		case "Message":
			return func(c *Context, _ Value) (Value, error) { return str(stringBytes(c.LastError.Message)), nil }, TypeString, nil
		case "Scope", "Section", "Path", "PolicyId":
			return unsupported("context.LastError")
		}
		return nil, 0, cp.unknownMember(n, rt, "Source, Reason, Message")
	case TypeAPI:
		switch name {
		case "Name":
			return func(c *Context, _ Value) (Value, error) { return str(stringBytes(c.Api.Name)), nil }, TypeString, nil
		case "Path":
			return func(c *Context, _ Value) (Value, error) { return str(stringBytes(c.Api.Path)), nil }, TypeString, nil
		case "ServiceUrl":
			return func(c *Context, _ Value) (Value, error) {
				if c.Api.ServiceURL == "" {
					return Value{}, nil
				}
				return Value{Kind: Object, I: objServiceURL}, nil
			}, TypeURL, nil
		case "Id", "Version", "Revision", "IsCurrentRevision", "Protocols", "SubscriptionKeyParameterNames":
			return unsupported("context.Api")
		}
		return nil, 0, cp.unknownMember(n, rt, "Name, Path, ServiceUrl")
	case TypeOperation:
		switch name {
		case "Name":
			return func(c *Context, _ Value) (Value, error) { return str(stringBytes(c.Operation.Name)), nil }, TypeString, nil
		case "Method":
			return func(c *Context, _ Value) (Value, error) { return str(stringBytes(c.Operation.Method)), nil }, TypeString, nil
		case "UrlTemplate":
			return func(c *Context, _ Value) (Value, error) { return str(stringBytes(c.Operation.URLTemplate)), nil }, TypeString, nil
		case "Id":
			return unsupported("context.Operation")
		}
		return nil, 0, cp.unknownMember(n, rt, "Name, Method, UrlTemplate")
	case TypeString:
		if name == "Length" {
			return func(_ *Context, r Value) (Value, error) { return IntValue(int64(utf16Len(r.B))), nil }, TypeInt, nil
		}
		return nil, 0, cp.unknownMember(n, rt, "Length (methods need parentheses)")
	case TypeStrings:
		if name == "Length" {
			return func(_ *Context, r Value) (Value, error) { return IntValue(int64(len(r.List))), nil }, TypeInt, nil
		}
		return nil, 0, cp.unknownMember(n, rt, "Length")
	case TypeBytes:
		if name == "Length" {
			return func(_ *Context, r Value) (Value, error) { return IntValue(int64(len(r.B))), nil }, TypeInt, nil
		}
		return nil, 0, cp.unknownMember(n, rt, "Length")
	case TypeQuery, TypeHeaders, TypeParams, TypeVariables:
		if name == "Count" {
			return func(c *Context, r Value) (Value, error) { return IntValue(c.count(r.I)), nil }, TypeInt, nil
		}
		return nil, 0, cp.unknownMember(n, rt, "Count, or the methods GetValueOrDefault and ContainsKey")
	case TypeDateTime:
		if name == "Value" { // DateTime? (Jwt.ExpirationTime): the value when not null
			return func(_ *Context, r Value) (Value, error) { return r, nil }, TypeDateTime, nil
		}
		f, ok := dateMembers[name]
		if !ok {
			return nil, 0, cp.unknownMember(n, rt, "Ticks, Year, Month, Day, Hour, Minute, Second, Millisecond")
		}
		t := TypeInt
		if name == "Ticks" {
			t = TypeLong
		}
		return func(_ *Context, r Value) (Value, error) {
			v := f(time.Unix(0, r.I).UTC())
			if t == TypeLong {
				return LongValue(v), nil
			}
			return IntValue(v), nil
		}, t, nil
	case TypeObject:
		return nil, 0, cp.errAt(n.pos, "member \""+name+"\" of an object: cast the value first, e.g. ((string)context.Variables[\"x\"])."+name, "a cast")
	}
	return nil, 0, cp.errAt(n.pos, rt.String()+" has no member \""+name+"\"", "")
}

// ticksAtUnixEpoch is DateTime.Ticks of 1970-01-01T00:00:00Z (100 ns units since year 1).
const ticksAtUnixEpoch = 621355968000000000

var dateMembers = map[string]func(time.Time) int64{
	"Ticks":       func(t time.Time) int64 { return t.UnixNano()/100 + ticksAtUnixEpoch },
	"Year":        func(t time.Time) int64 { return int64(t.Year()) },
	"Month":       func(t time.Time) int64 { return int64(t.Month()) },
	"Day":         func(t time.Time) int64 { return int64(t.Day()) },
	"Hour":        func(t time.Time) int64 { return int64(t.Hour()) },
	"Minute":      func(t time.Time) int64 { return int64(t.Minute()) },
	"Second":      func(t time.Time) int64 { return int64(t.Second()) },
	"Millisecond": func(t time.Time) int64 { return int64(t.Nanosecond() / 1e6) },
}

func objMember(id int64) memberFn {
	v := Value{Kind: Object, I: id}
	return func(*Context, Value) (Value, error) { return v, nil }
}

func (c *Context) count(obj int64) int64 {
	switch obj {
	case objQuery, objOriginalQuery, objServiceQuery:
		if a := c.queryArgs(obj); a != nil {
			return int64(a.Len())
		}
	case objRequestHeaders, objResponseHeaders:
		return c.headerCount(obj)
	case objParams:
		return int64(len(c.MatchedParameters))
	case objVariables:
		return int64(len(c.vars))
	}
	return 0
}

// staticMember compiles Type.Member: string.Empty, StringComparison.X, DateTime.UtcNow, int.MaxValue.
func (cp *compiler) staticMember(n *node, path string) (evalFn, Type, error) {
	switch path {
	case "string", "String":
		if n.name == "Empty" {
			v := BytesValue([]byte{})
			return func(*Context) (Value, error) { return v, nil }, TypeString, nil
		}
		return nil, 0, cp.errAt(n.pos, "unknown member \"string."+n.name+"\"", "string.Empty")
	case "StringComparison":
		if mode, ok := comparisons[n.name]; ok {
			v := Value{Kind: Int, I: mode}
			return func(*Context) (Value, error) { return v, nil }, TypeStringComparison, nil
		}
		return nil, 0, cp.errAt(n.pos, "unknown StringComparison \""+n.name+"\"", "Ordinal, OrdinalIgnoreCase, CurrentCulture, CurrentCultureIgnoreCase, InvariantCulture or InvariantCultureIgnoreCase")
	case "StringSplitOptions":
		if mode, ok := splitOptions[n.name]; ok {
			v := Value{Kind: Int, I: mode}
			return func(*Context) (Value, error) { return v, nil }, TypeStringSplitOptions, nil
		}
		return nil, 0, cp.errAt(n.pos, "unknown StringSplitOptions \""+n.name+"\"", "None, RemoveEmptyEntries or TrimEntries")
	case "DateTime":
		switch n.name {
		case "UtcNow", "Now":
			return func(*Context) (Value, error) { return Value{Kind: Long, I: time.Now().UnixNano()}, nil }, TypeDateTime, nil
		}
		return nil, 0, cp.errAt(n.pos, "unknown member \"DateTime."+n.name+"\"", "DateTime.UtcNow or DateTime.Now")
	case "int", "Int32", "long", "Int64":
		long := path == "long" || path == "Int64"
		var v Value
		switch {
		case n.name == "MaxValue" && long:
			v = LongValue(1<<63 - 1)
		case n.name == "MinValue" && long:
			v = LongValue(-1 << 63)
		case n.name == "MaxValue":
			v = IntValue(1<<31 - 1)
		case n.name == "MinValue":
			v = IntValue(-1 << 31)
		default:
			return nil, 0, cp.errAt(n.pos, "unknown member \""+path+"."+n.name+"\"", "MaxValue or MinValue")
		}
		t := TypeInt
		if long {
			t = TypeLong
		}
		return func(*Context) (Value, error) { return v, nil }, t, nil
	}
	return nil, 0, cp.errAt(n.pos, "unknown member \""+path+"."+n.name+"\"", "")
}

// comparisons maps StringComparison names to their .NET values (odd = ignore case).
var comparisons = map[string]int64{
	"CurrentCulture": 0, "CurrentCultureIgnoreCase": 1, "InvariantCulture": 2,
	"InvariantCultureIgnoreCase": 3, "Ordinal": 4, "OrdinalIgnoreCase": 5,
}

func ignoreCase(mode int64) bool { return mode%2 == 1 }

// splitOptions maps StringSplitOptions names to their .NET flag values.
var splitOptions = map[string]int64{"None": 0, "RemoveEmptyEntries": 1, "TrimEntries": 2}

// --- indexers --------------------------------------------------------------------------------

func (cp *compiler) index(n *node) (evalFn, Type, error) {
	rf, rt, err := cp.expr(n.x)
	if err != nil {
		return nil, 0, err
	}
	if len(n.args) != 1 {
		return nil, 0, cp.errAt(n.pos, "an indexer takes exactly one argument", "[key]")
	}
	af, at, err := cp.expr(n.args[0])
	if err != nil {
		return nil, 0, err
	}
	var get memberFn
	var t Type
	key := keyOf(n.args[0], af)
	switch rt {
	case TypeQuery, TypeHeaders, TypeParams, TypeVariables:
		if at != TypeString {
			return nil, 0, cp.errAt(n.args[0].pos, "the key of "+rt.String()+" must be a string, found "+at.String(), "string")
		}
		switch rt {
		case TypeQuery:
			t = TypeStrings
			get = func(c *Context, r Value) (Value, error) {
				k, err := key.eval(c)
				if err != nil {
					return Value{}, err
				}
				l, ok := c.listArgs(c.queryArgs(r.I), k)
				if !ok {
					return Value{}, failf("query parameter %q not found (KeyNotFoundException; use GetValueOrDefault)", k)
				}
				return Value{Kind: Strings, List: l}, nil
			}
		case TypeHeaders:
			t = TypeStrings
			get = func(c *Context, r Value) (Value, error) {
				k, err := key.eval(c)
				if err != nil {
					return Value{}, err
				}
				l, ok := c.listHeader(r.I, k)
				if !ok {
					return Value{}, failf("header %q not found (KeyNotFoundException; use GetValueOrDefault)", k)
				}
				return Value{Kind: Strings, List: l}, nil
			}
		case TypeParams:
			t = TypeString
			get = func(c *Context, _ Value) (Value, error) {
				k, err := key.eval(c)
				if err != nil {
					return Value{}, err
				}
				v, ok := c.param(k)
				if !ok {
					return Value{}, failf("matched parameter %q not found (KeyNotFoundException)", k)
				}
				return str(v), nil
			}
		default:
			t = TypeObject
			get = func(c *Context, _ Value) (Value, error) {
				k, err := key.eval(c)
				if err != nil {
					return Value{}, err
				}
				v, ok := c.variableBytes(k)
				if !ok {
					return Value{}, failf("variable %q not found (KeyNotFoundException; use GetValueOrDefault)", k)
				}
				return v, nil
			}
		}
	case TypeStrings, TypeString:
		if at != TypeInt && at != TypeChar {
			return nil, 0, cp.errAt(n.args[0].pos, "an index must be an int, found "+at.String(), "int")
		}
		isList := rt == TypeStrings
		t = TypeChar
		if isList {
			t = TypeString
		}
		get = func(c *Context, r Value) (Value, error) {
			i, err := af(c)
			if err != nil {
				return i, err
			}
			if i.Kind == Null {
				return Value{}, failf("the index is null (InvalidOperationException)")
			}
			if isList {
				if i.I < 0 || i.I >= int64(len(r.List)) {
					return Value{}, failf("index %d is outside the array of length %d (IndexOutOfRangeException)", i.I, len(r.List))
				}
				return str(r.List[i.I]), nil
			}
			ch, ok := charAt(r.B, i.I)
			if !ok {
				return Value{}, failf("index %d is outside the string of length %d (IndexOutOfRangeException)", i.I, utf16Len(r.B))
			}
			return Value{Kind: Char, I: int64(ch)}, nil
		}
	case TypeBytes:
		if at != TypeInt && at != TypeChar {
			return nil, 0, cp.errAt(n.args[0].pos, "an index must be an int, found "+at.String(), "int")
		}
		t = TypeInt // a byte, promoted to int as C# arithmetic does
		get = func(c *Context, r Value) (Value, error) {
			i, err := af(c)
			if err != nil {
				return i, err
			}
			if i.Kind == Null || i.I < 0 || i.I >= int64(len(r.B)) {
				return Value{}, failf("index %d is outside the array of length %d (IndexOutOfRangeException)", i.I, len(r.B))
			}
			return IntValue(int64(r.B[i.I])), nil
		}
	default:
		return nil, 0, cp.errAt(n.pos, rt.String()+" cannot be indexed", "a dictionary, an array or a string")
	}
	return cp.guard(n, rf, get), t, nil
}

// keyExpr is the key argument of a dictionary lookup: almost always a string literal, whose
// bytes are used directly instead of calling a closure per lookup.
type keyExpr struct {
	lit []byte
	fn  evalFn
}

func keyOf(arg *node, fn evalFn) keyExpr {
	if arg.kind == nLit && arg.litType == TypeString {
		return keyExpr{lit: arg.lit.B}
	}
	return keyExpr{fn: fn}
}

// eval returns the key; null is an error as in .NET.
func (k keyExpr) eval(c *Context) ([]byte, error) {
	if k.fn == nil {
		return k.lit, nil
	}
	return evalKey(c, k.fn)
}

// evalKey evaluates a dictionary key; null is an error as in .NET.
func evalKey(c *Context, f evalFn) ([]byte, error) {
	k, err := f(c)
	if err != nil {
		return nil, err
	}
	if k.Kind != String {
		return nil, failf("key is null (ArgumentNullException)")
	}
	return k.B, nil
}

// --- method calls ----------------------------------------------------------------------------

func (cp *compiler) argTypes(n *node) ([]evalFn, []Type, error) {
	fns := make([]evalFn, len(n.args))
	types := make([]Type, len(n.args))
	for i, a := range n.args {
		f, t, err := cp.expr(a)
		if err != nil {
			return nil, nil, err
		}
		fns[i], types[i] = f, t
	}
	return fns, types, nil
}

func (cp *compiler) badArgs(n *node, method, want string) error {
	return cp.errAt(n.pos, "wrong arguments for "+method, want)
}

func (cp *compiler) call(n *node) (evalFn, Type, error) {
	callee := n.x
	if callee.kind != nMember {
		if callee.kind == nIdent {
			return nil, 0, cp.errAt(callee.pos, "unknown function \""+callee.name+"\"", "a method call on a value, e.g. x.ToString()")
		}
		return nil, 0, cp.errAt(n.pos, "this expression cannot be called", "a method")
	}
	args, types, err := cp.argTypes(n)
	if err != nil {
		return nil, 0, err
	}
	if path, ok := cp.staticPath(callee.x); ok {
		return cp.staticCall(n, path, args, types)
	}
	rf, rt, err := cp.expr(callee.x)
	if err != nil {
		return nil, 0, err
	}
	get, t, err := cp.method(n, rt, args, types)
	if err != nil {
		return nil, 0, err
	}
	return cp.guard(callee, rf, get), t, nil
}

func (cp *compiler) method(n *node, rt Type, args []evalFn, types []Type) (memberFn, Type, error) {
	name := n.x.name
	if n.typeArg != "" && !(rt == TypeVariables && name == "GetValueOrDefault") {
		return nil, 0, cp.errAt(n.x.pos, "generic "+name+"<"+n.typeArg+"> on "+rt.String()+" is not supported by sfgate", "GetValueOrDefault<T> on context.Variables")
	}
	if name == "ToString" && len(args) == 0 {
		return func(c *Context, r Value) (Value, error) { return c.toString(rt, r), nil }, TypeString, nil
	}
	if rt == TypeString && name == "AsJwt" {
		return cp.asJwt(n, args)
	}
	if rt == TypeString && name == "AsBasic" {
		return cp.asBasic(n, args)
	}
	switch rt {
	case TypeJwtClaims:
		return cp.claimsMethod(n, args, types)
	case TypeQuery, TypeHeaders, TypeParams:
		return cp.dictMethod(n, rt, args, types)
	case TypeVariables:
		return cp.varsMethod(n, args, types)
	case TypeString:
		return cp.stringMethod(n, args, types)
	case TypeHash:
		return cp.hashMethod(n, args, types)
	case TypeStrings:
		if name == "Contains" && len(args) == 1 && (types[0] == TypeString || types[0] == TypeNull) {
			a := args[0]
			return func(c *Context, r Value) (Value, error) {
				v, err := a(c)
				if err != nil {
					return v, err
				}
				for _, s := range r.List {
					if v.Kind == String && bytes.Equal(s, v.B) {
						return BoolValue(true), nil
					}
				}
				return BoolValue(false), nil
			}, TypeBool, nil
		}
		return nil, 0, cp.errAt(n.x.pos, "unknown method \""+name+"\" of string[]", "Contains(string), ToString(), Length")
	case TypeObject:
		if name == "Equals" && len(args) == 1 {
			a := args[0]
			return func(c *Context, r Value) (Value, error) {
				v, err := a(c)
				if err != nil {
					return v, err
				}
				return BoolValue(valuesEqual(r, v)), nil
			}, TypeBool, nil
		}
		return nil, 0, cp.errAt(n.x.pos, "method \""+name+"\" of an object: cast the value first, e.g. ((string)context.Variables[\"x\"])."+name+"(...)", "ToString(), Equals(x) or a cast")
	case TypeDateTime:
		if name == "ToString" && len(args) == 1 && types[0] == TypeString {
			a := args[0]
			return func(c *Context, r Value) (Value, error) {
				f, err := a(c)
				if err != nil {
					return f, err
				}
				return formatDate(c, r.I, f.B)
			}, TypeString, nil
		}
	}
	return nil, 0, cp.errAt(n.x.pos, "unknown method \""+name+"\" of "+rt.String()+" (with "+itoa(len(args))+" arguments)", "ToString()")
}

func itoa(i int) string {
	return string(appendString(nil, IntValue(int64(i))))
}

// toString is C# ToString() of a non-null value of static type t.
func (c *Context) toString(t Type, v Value) Value {
	switch {
	case v.Kind == String:
		return v
	case t == TypeURL:
		return str(c.urlString(v.I))
	case t == TypeDateTime:
		return str(c.appendDate(v.I))
	}
	start := len(c.arena)
	c.arena = appendString(c.arena, v)
	return str(c.arena[start:len(c.arena):len(c.arena)])
}

func (cp *compiler) dictMethod(n *node, rt Type, args []evalFn, types []Type) (memberFn, Type, error) {
	name := n.x.name
	var lookup func(c *Context, obj int64, k []byte) ([]byte, bool)
	switch rt {
	case TypeQuery:
		lookup = (*Context).lookupQuery
	case TypeHeaders:
		lookup = func(c *Context, obj int64, k []byte) ([]byte, bool) { return c.lookupHeader(obj, k) }
	default:
		lookup = func(c *Context, _ int64, k []byte) ([]byte, bool) { return c.param(k) }
	}
	switch name {
	case "GetValueOrDefault":
		if len(args) < 1 || len(args) > 2 || types[0] != TypeString || (len(args) == 2 && types[1] != TypeString && types[1] != TypeNull) {
			return nil, 0, cp.badArgs(n.x, "GetValueOrDefault", "GetValueOrDefault(string name) or GetValueOrDefault(string name, string default)")
		}
		key := keyOf(n.args[0], args[0])
		var def evalFn
		if len(args) == 2 {
			def = args[1]
		}
		return func(c *Context, r Value) (Value, error) {
			k, err := key.eval(c)
			if err != nil {
				return Value{}, err
			}
			if v, ok := lookup(c, r.I, k); ok {
				return str(v), nil
			}
			if def == nil {
				return Value{}, nil
			}
			return def(c)
		}, TypeString, nil
	case "ContainsKey":
		if len(args) != 1 || types[0] != TypeString {
			return nil, 0, cp.badArgs(n.x, "ContainsKey", "ContainsKey(string name)")
		}
		key := keyOf(n.args[0], args[0])
		return func(c *Context, r Value) (Value, error) {
			k, err := key.eval(c)
			if err != nil {
				return Value{}, err
			}
			_, ok := lookup(c, r.I, k)
			return BoolValue(ok), nil
		}, TypeBool, nil
	}
	return nil, 0, cp.errAt(n.x.pos, "unknown method \""+name+"\" of "+rt.String(), "GetValueOrDefault, ContainsKey, an indexer [name] or Count")
}

func (cp *compiler) varsMethod(n *node, args []evalFn, types []Type) (memberFn, Type, error) {
	name := n.x.name
	switch name {
	case "ContainsKey":
		if len(args) != 1 || types[0] != TypeString {
			return nil, 0, cp.badArgs(n.x, "ContainsKey", "ContainsKey(string name)")
		}
		key := keyOf(n.args[0], args[0])
		return func(c *Context, _ Value) (Value, error) {
			k, err := key.eval(c)
			if err != nil {
				return Value{}, err
			}
			_, ok := c.variableBytes(k)
			return BoolValue(ok), nil
		}, TypeBool, nil
	case "GetValueOrDefault":
		if len(args) < 1 || len(args) > 2 || types[0] != TypeString {
			return nil, 0, cp.badArgs(n.x, "GetValueOrDefault", "GetValueOrDefault(string name[, default]) or GetValueOrDefault<T>(string name[, T default])")
		}
		t := TypeObject
		if n.typeArg != "" {
			var ok bool
			if t, ok = parseTypeName(n.typeArg); !ok {
				return nil, 0, cp.errAt(n.x.pos, "GetValueOrDefault<"+n.typeArg+"> is not supported by sfgate", "T = string, int, long, bool, object or string[]")
			}
			if len(args) == 2 && !assignable(types[1], t) {
				return nil, 0, cp.errAt(n.args[1].pos, "the default has type "+types[1].String()+", not "+t.String(), t.String())
			}
		} else if len(args) == 2 && types[1] != TypeNull {
			t = types[1] // C# infers T from the default
		}
		key := keyOf(n.args[0], args[0])
		var def evalFn
		if len(args) == 2 {
			def = args[1]
		}
		want := kindOf(t)
		return func(c *Context, _ Value) (Value, error) {
			k, err := key.eval(c)
			if err != nil {
				return Value{}, err
			}
			v, ok := c.variableBytes(k)
			if !ok {
				if def != nil {
					d, err := def(c)
					return widenTo(d, err, t)
				}
				return zeroOf(t), nil
			}
			if t == TypeObject || v.Kind == want || (v.Kind == Null && t.isReference()) {
				return v, nil
			}
			if t == TypeLong && v.Kind == Int {
				return LongValue(v.I), nil
			}
			return Value{}, failf("variable %q holds %s, not %s (InvalidCastException)", k, describeValue(v), t)
		}, t, nil
	}
	return nil, 0, cp.errAt(n.x.pos, "unknown method \""+name+"\" of context.Variables", "GetValueOrDefault, GetValueOrDefault<T>, ContainsKey, an indexer [name] or Count")
}

// zeroOf is default(T).
func zeroOf(t Type) Value {
	switch t {
	case TypeInt:
		return IntValue(0)
	case TypeLong:
		return LongValue(0)
	case TypeBool:
		return BoolValue(false)
	case TypeChar:
		return Value{Kind: Char}
	}
	return Value{}
}

// nullableObject recognises context.Response and context.LastError, the context objects that
// are null until a backend attempt or an error.
func (cp *compiler) nullableObject(n *node) (int64, bool) {
	if n.kind != nMember || n.nullCond {
		return 0, false
	}
	if recv, ok := cp.constObject(n.x); !ok || recv.I != objContext {
		return 0, false
	}
	switch n.name {
	case "Response":
		return objResponse, true
	case "LastError":
		return objLastError, true
	}
	return 0, false
}

// constObject recognises receivers that always evaluate to the same non-null context object:
// context, context.Request, context.Variables, context.Api, context.Operation,
// context.Request.Url / OriginalUrl / Headers / MatchedParameters and Url.Query.
func (cp *compiler) constObject(n *node) (Value, bool) {
	switch n.kind {
	case nIdent:
		if _, isLocal := cp.locals[n.name]; !isLocal && n.name == "context" {
			return Value{Kind: Object, I: objContext}, true
		}
	case nMember:
		recv, ok := cp.constObject(n.x)
		if !ok {
			return Value{}, false
		}
		var id int64
		switch recv.I {
		case objContext:
			id = map[string]int64{"Request": objRequest, "Variables": objVariables, "Api": objAPI, "Operation": objOperation}[n.name]
		case objRequest:
			id = map[string]int64{"Url": objURL, "OriginalUrl": objOriginalURL, "Headers": objRequestHeaders, "MatchedParameters": objParams}[n.name]
		case objURL:
			if n.name == "Query" {
				id = objQuery
			}
		case objOriginalURL:
			if n.name == "Query" {
				id = objOriginalQuery
			}
		}
		if id != 0 {
			return Value{Kind: Object, I: id}, true
		}
	}
	return Value{}, false
}
