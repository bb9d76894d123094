package expr

import (
	"strings"
)

type nodeKind uint8

const (
	nLit nodeKind = iota
	nIdent
	nMember
	nCall
	nIndex
	nUnary
	nBinary
	nCond
	nCast
	nInterp
)

// node is a parsed expression before type checking.
type node struct {
	kind     nodeKind
	pos      int
	op       string // unary/binary operator
	name     string // identifier, member or cast type name
	typeArg  string // generic type argument of a call
	lit      Value
	litType  Type
	x, y, z  *node
	args     []*node
	nullCond bool // ?. access
	lits     []string
	holes    []*node // nInterp: lits[i] precedes holes[i]; len(lits) == len(holes)+1
}

type stmtKind uint8

const (
	sVar stmtKind = iota
	sAssign
	sIf
	sReturn
	sBlock
)

type stmtNode struct {
	kind     stmtKind
	pos      int
	name     string // sVar/sAssign: local name
	typeName string // sVar: declared type ("var" for inference)
	x        *node
	then     *stmtNode
	els      *stmtNode
	list     []*stmtNode
}

// maxDepth bounds nesting in expressions and statements.
const maxDepth = 100

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

type parseError struct {
	pos      int
	msg      string
	expected string
}

func (e *parseError) Error() string { return e.msg }

func (p *parser) tok() token { return p.toks[p.i] }
func (p *parser) peek(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) isOp(s string) bool { t := p.tok(); return t.kind == tOp && t.text == s }

func (p *parser) describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tIdent:
		return "\"" + t.text + "\""
	case tInt:
		return "number"
	case tString, tInterp:
		return "string literal"
	case tChar:
		return "char literal"
	}
	return "\"" + t.text + "\""
}

// lambdaError reports a lambda ("x => ...") at the position of its "=>".
func lambdaError(pos int) error {
	return &parseError{pos: pos, msg: "lambda expressions (x => ...) are not supported by sfgate"}
}

// unsupportedOperator explains a C# operator keyword sfgate does not implement, or returns nil.
func unsupportedOperator(t token) error {
	if t.kind == tIdent && (t.text == "is" || t.text == "as" || t.text == "switch" || t.text == "with") {
		return &parseError{pos: t.pos, msg: "the \"" + t.text + "\" operator is not supported by sfgate (cast instead, e.g. (string)x)"}
	}
	return nil
}

func (p *parser) expect(op string) error {
	if !p.isOp(op) {
		t := p.tok()
		if t.kind == tOp && t.text == "=>" {
			return lambdaError(t.pos)
		}
		if err := unsupportedOperator(t); err != nil {
			return err
		}
		return &parseError{pos: t.pos, msg: "expected \"" + op + "\", found " + p.describe(t), expected: "\"" + op + "\""}
	}
	p.i++
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return &parseError{pos: p.tok().pos, msg: "expression is nested too deeply"}
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) expr() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if p.tok().kind == tIdent && p.peek(1).kind == tOp && p.peek(1).text == "=>" {
		return nil, lambdaError(p.peek(1).pos)
	}
	c, err := p.coalesce()
	if err != nil {
		return nil, err
	}
	if p.isOp("?") {
		pos := p.tok().pos
		p.i++
		a, err := p.expr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		b, err := p.expr()
		if err != nil {
			return nil, err
		}
		return &node{kind: nCond, pos: pos, x: c, y: a, z: b}, nil
	}
	return c, nil
}

func (p *parser) coalesce() (*node, error) {
	x, err := p.binary(0)
	if err != nil {
		return nil, err
	}
	if p.isOp("??") {
		pos := p.tok().pos
		p.i++
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		y, err := p.coalesce()
		if err != nil {
			return nil, err
		}
		return &node{kind: nBinary, op: "??", pos: pos, x: x, y: y}, nil
	}
	return x, nil
}

// binary operator precedence levels, lowest first.
var levels = [][]string{
	{"||"},
	{"&&"},
	{"|"},
	{"^"},
	{"&"},
	{"==", "!="},
	{"<", ">", "<=", ">="},
	{"+", "-"},
	{"*", "/", "%"},
}

func (p *parser) binary(level int) (*node, error) {
	if level == len(levels) {
		return p.unary()
	}
	x, err := p.binary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.tok()
		if t.kind != tOp || !contains(levels[level], t.text) {
			return x, nil
		}
		p.i++
		y, err := p.binary(level + 1)
		if err != nil {
			return nil, err
		}
		x = &node{kind: nBinary, op: t.text, pos: t.pos, x: x, y: y}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (p *parser) unary() (*node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.tok()
	if t.kind == tOp {
		switch t.text {
		case "!", "-", "+", "~":
			p.i++
			x, err := p.unary()
			if err != nil {
				return nil, err
			}
			return &node{kind: nUnary, op: t.text, pos: t.pos, x: x}, nil
		case "++", "--":
			return nil, &parseError{pos: t.pos, msg: "increment and decrement operators (" + t.text + ") are not supported by sfgate"}
		case "(":
			if name, n, ok := p.castAhead(); ok {
				p.i += n
				x, err := p.unary()
				if err != nil {
					return nil, err
				}
				return &node{kind: nCast, name: name, pos: t.pos, x: x}, nil
			}
		}
	}
	return p.postfix()
}

// keywordTypes are C# type keywords; a parenthesised one is always a cast.
var keywordTypes = map[string]bool{"string": true, "int": true, "long": true, "bool": true, "object": true, "char": true, "double": true, "float": true, "decimal": true, "byte": true, "short": true, "uint": true, "ulong": true}

// castAhead reports whether the tokens at p.i are "(Type)" followed by an operand.
func (p *parser) castAhead() (string, int, bool) {
	j := 1
	if p.peek(j).kind != tIdent {
		return "", 0, false
	}
	name := p.peek(j).text
	j++
	for p.peek(j).kind == tOp && p.peek(j).text == "." && p.peek(j+1).kind == tIdent {
		name += "." + p.peek(j+1).text
		j += 2
	}
	if p.peek(j).kind == tOp && p.peek(j).text == "[" && p.peek(j+1).kind == tOp && p.peek(j+1).text == "]" {
		name += "[]"
		j += 2
	}
	if p.peek(j).kind != tOp || p.peek(j).text != ")" {
		return "", 0, false
	}
	j++
	next := p.peek(j)
	base := strings.TrimPrefix(name, "System.")
	if keywordTypes[strings.TrimSuffix(base, "[]")] {
		return name, j, true
	}
	switch next.kind {
	case tIdent, tInt, tString, tChar, tInterp:
		return name, j, true
	case tOp:
		if next.text == "(" || next.text == "!" {
			return name, j, true
		}
	}
	return "", 0, false
}

func (p *parser) postfix() (*node, error) {
	x, err := p.atom()
	if err != nil {
		return nil, err
	}
	for {
		t := p.tok()
		if t.kind != tOp {
			return x, nil
		}
		switch t.text {
		case ".", "?.":
			p.i++
			id := p.tok()
			if id.kind != tIdent {
				return nil, &parseError{pos: id.pos, msg: "expected a member name after \"" + t.text + "\", found " + p.describe(id), expected: "a member name"}
			}
			p.i++
			x = &node{kind: nMember, pos: id.pos, name: id.text, x: x, nullCond: t.text == "?."}
			if targ, n, ok := p.genericAhead(); ok {
				p.i += n
				call, err := p.call(x, id.pos)
				if err != nil {
					return nil, err
				}
				call.typeArg = targ
				x = call
			}
		case "(":
			call, err := p.call(x, t.pos)
			if err != nil {
				return nil, err
			}
			x = call
		case "[":
			p.i++
			args, err := p.args("]")
			if err != nil {
				return nil, err
			}
			x = &node{kind: nIndex, pos: t.pos, x: x, args: args}
		default:
			return x, nil
		}
	}
}

// genericAhead recognises "<Type>(" after a member name.
func (p *parser) genericAhead() (string, int, bool) {
	if !(p.peek(0).kind == tOp && p.peek(0).text == "<" && p.peek(1).kind == tIdent) {
		return "", 0, false
	}
	name := p.peek(1).text
	j := 2
	for p.peek(j).kind == tOp && p.peek(j).text == "." && p.peek(j+1).kind == tIdent {
		name += "." + p.peek(j+1).text
		j += 2
	}
	if p.peek(j).kind == tOp && p.peek(j).text == ">" && p.peek(j+1).kind == tOp && p.peek(j+1).text == "(" {
		return name, j + 1, true
	}
	return "", 0, false
}

func (p *parser) call(callee *node, pos int) (*node, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	args, err := p.args(")")
	if err != nil {
		return nil, err
	}
	return &node{kind: nCall, pos: pos, x: callee, args: args}, nil
}

func (p *parser) args(closer string) ([]*node, error) {
	var args []*node
	if p.isOp(closer) {
		p.i++
		return args, nil
	}
	for {
		a, err := p.expr()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		if p.isOp(",") {
			p.i++
			continue
		}
		if err := p.expect(closer); err != nil {
			return nil, err
		}
		return args, nil
	}
}

func (p *parser) atom() (*node, error) {
	t := p.tok()
	switch t.kind {
	case tInt:
		p.i++
		if t.isLong {
			return &node{kind: nLit, pos: t.pos, lit: LongValue(t.num), litType: TypeLong}, nil
		}
		return &node{kind: nLit, pos: t.pos, lit: IntValue(t.num), litType: TypeInt}, nil
	case tString:
		p.i++
		return &node{kind: nLit, pos: t.pos, lit: BytesValue([]byte(t.str)), litType: TypeString}, nil
	case tChar:
		p.i++
		return &node{kind: nLit, pos: t.pos, lit: Value{Kind: Char, I: t.num}, litType: TypeChar}, nil
	case tInterp:
		p.i++
		return p.interp(t)
	case tIdent:
		p.i++
		switch t.text {
		case "true":
			return &node{kind: nLit, pos: t.pos, lit: BoolValue(true), litType: TypeBool}, nil
		case "false":
			return &node{kind: nLit, pos: t.pos, lit: BoolValue(false), litType: TypeBool}, nil
		case "null":
			return &node{kind: nLit, pos: t.pos, lit: Value{}, litType: TypeNull}, nil
		case "new":
			return nil, &parseError{pos: t.pos, msg: p.newDescription() + " is not supported by sfgate"}
		case "unchecked":
			// unchecked(x) is x: int and long arithmetic wraps already (C#'s default context).
			if !p.isOp("(") {
				return nil, &parseError{pos: t.pos, msg: "\"unchecked\" blocks are not supported by sfgate; int and long arithmetic wraps already, write unchecked(expression) where .NET needs it"}
			}
			return p.parenthesized()
		case "typeof", "default", "checked", "nameof", "sizeof", "await", "is", "as", "switch", "throw":
			return nil, &parseError{pos: t.pos, msg: "\"" + t.text + "\" is not supported by sfgate"}
		}
		return &node{kind: nIdent, pos: t.pos, name: t.text}, nil
	case tOp:
		if t.text == "(" {
			if arrow, ok := p.lambdaAhead(); ok {
				return nil, lambdaError(arrow)
			}
			return p.parenthesized()
		}
	}
	return nil, &parseError{pos: t.pos, msg: "expected an expression, found " + p.describe(t), expected: "an expression"}
}

// parenthesized parses "( expression )" at p.i, which is the "(".
func (p *parser) parenthesized() (*node, error) {
	p.i++
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	if err := p.expect(")"); err != nil {
		return nil, err
	}
	return x, nil
}

// lambdaAhead recognises a parenthesised lambda parameter list "(a, b) =>" or "() =>" at p.i
// and returns the position of its "=>".
func (p *parser) lambdaAhead() (int, bool) {
	j := 1
	for p.peek(j).kind == tIdent {
		j++
		if p.peek(j).kind == tIdent { // typed parameter: (string s)
			j++
		}
		if p.peek(j).kind != tOp || p.peek(j).text != "," {
			break
		}
		j++
	}
	if p.peek(j).kind == tOp && p.peek(j).text == ")" && p.peek(j+1).kind == tOp && p.peek(j+1).text == "=>" {
		return p.peek(j + 1).pos, true
	}
	return 0, false
}

// newDescription names the object creation at p.i (just after "new") for an error message:
// "object creation new Random(...)" or "array creation new [] {...}".
func (p *parser) newDescription() string {
	t := p.tok()
	switch {
	case t.kind == tOp && (t.text == "[" || t.text == "{"):
		return "array creation \"new [] {...}\""
	case t.kind == tIdent:
		name := t.text
		for j := 1; p.peek(j).kind == tOp && p.peek(j).text == "." && p.peek(j+1).kind == tIdent; j += 2 {
			name += "." + p.peek(j+1).text
		}
		return "object creation \"new " + name + "(...)\""
	}
	return "object creation with \"new\""
}

func (p *parser) interp(t token) (*node, error) {
	n := &node{kind: nInterp, pos: t.pos}
	lit := ""
	for _, part := range t.parts {
		if part.hole == "" {
			lit += part.lit
			continue
		}
		n.lits = append(n.lits, lit)
		lit = ""
		hole := part.hole
		toks, err := lex(p.src, part.pos, part.pos+len(hole))
		if err != nil {
			return nil, err
		}
		sub := &parser{src: p.src, toks: toks, depth: p.depth}
		x, err := sub.expr()
		if err != nil {
			return nil, err
		}
		if sub.tok().kind != tEOF { // {x:N2} and {x,5} are not supported
			st := sub.tok()
			return nil, &parseError{pos: st.pos, msg: "format and alignment in interpolation holes ({x:N2}, {x,5}) are not supported by sfgate; found " + sub.describe(st)}
		}
		n.holes = append(n.holes, x)
	}
	n.lits = append(n.lits, lit)
	return n, nil
}

// --- statements ------------------------------------------------------------------------------

func (p *parser) block() ([]*stmtNode, error) {
	var list []*stmtNode
	for !p.isOp("}") {
		if p.tok().kind == tEOF {
			return nil, &parseError{pos: p.tok().pos, msg: "statement block is not closed (missing \"}\")", expected: "\"}\""}
		}
		s, err := p.stmt()
		if err != nil {
			return nil, err
		}
		if s != nil {
			list = append(list, s)
		}
	}
	p.i++
	return list, nil
}

func (p *parser) stmt() (*stmtNode, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.tok()
	switch {
	case t.kind == tOp && t.text == ";":
		p.i++
		return nil, nil
	case t.kind == tOp && t.text == "{":
		p.i++
		list, err := p.block()
		if err != nil {
			return nil, err
		}
		return &stmtNode{kind: sBlock, pos: t.pos, list: list}, nil
	case t.kind == tIdent && t.text == "return":
		p.i++
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(";"); err != nil {
			return nil, err
		}
		return &stmtNode{kind: sReturn, pos: t.pos, x: x}, nil
	case t.kind == tIdent && t.text == "if":
		p.i++
		if err := p.expect("("); err != nil {
			return nil, err
		}
		cond, err := p.expr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		then, err := p.stmt()
		if err != nil {
			return nil, err
		}
		s := &stmtNode{kind: sIf, pos: t.pos, x: cond, then: then}
		if p.tok().kind == tIdent && p.tok().text == "else" {
			p.i++
			if s.els, err = p.stmt(); err != nil {
				return nil, err
			}
		}
		return s, nil
	case t.kind == tIdent && (t.text == "for" || t.text == "foreach" || t.text == "while" || t.text == "do" || t.text == "switch" || t.text == "try" || t.text == "throw"):
		return nil, &parseError{pos: t.pos, msg: "\"" + t.text + "\" statements are not supported by sfgate (supported: var, if/else, return, assignment)"}
	case t.kind == tIdent && p.peek(1).kind == tOp && (p.peek(1).text == "++" || p.peek(1).text == "--"):
		return nil, &parseError{pos: p.peek(1).pos, msg: "increment and decrement operators (" + p.peek(1).text + ") are not supported by sfgate (write " + t.text + " = " + t.text + " " + p.peek(1).text[:1] + " 1;)"}
	case t.kind == tIdent && p.peek(1).kind == tOp && strings.Contains("+-*/%", p.peek(1).text) && len(p.peek(1).text) == 1 &&
		p.peek(2).kind == tOp && p.peek(2).text == "=" && p.peek(2).pos == p.peek(1).end:
		return nil, &parseError{pos: p.peek(1).pos, msg: "compound assignment (" + p.peek(1).text + "=) is not supported by sfgate (write " + t.text + " = " + t.text + " " + p.peek(1).text + " ...;)"}
	case t.kind == tIdent && (t.text == "unchecked" || t.text == "checked") && p.peek(1).kind == tOp && p.peek(1).text == "{":
		return nil, &parseError{pos: t.pos, msg: "\"" + t.text + "\" blocks are not supported by sfgate; int and long arithmetic wraps already, write unchecked(expression) where .NET needs it"}
	case t.kind == tIdent && t.text == "using" && p.peek(1).kind == tOp && p.peek(1).text == "(":
		// using (var x = e) statement: the declaration is scoped to the statement; nothing needs disposing.
		p.i += 2
		decl, ok, err := p.declaration()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, &parseError{pos: p.tok().pos, msg: "using needs a declaration, such as using (var md5 = MD5.Create())", expected: "a declaration"}
		}
		if err := p.expect(")"); err != nil {
			return nil, err
		}
		body, err := p.stmt()
		if err != nil {
			return nil, err
		}
		return &stmtNode{kind: sBlock, pos: t.pos, list: []*stmtNode{decl, body}}, nil
	}
	if decl, ok, err := p.declaration(); ok || err != nil {
		if err != nil {
			return nil, err
		}
		if err := p.expect(";"); err != nil {
			return nil, err
		}
		return decl, nil
	}
	switch {
	case t.kind == tIdent && p.peek(1).kind == tOp && p.peek(1).text == "=":
		p.i += 2
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		if err := p.expect(";"); err != nil {
			return nil, err
		}
		return &stmtNode{kind: sAssign, pos: t.pos, name: t.text, x: x}, nil
	}
	return nil, &parseError{pos: t.pos, msg: "expected a statement (var, if, return or an assignment), found " + p.describe(t), expected: "a statement"}
}

// declaration parses "Type name = expr" (Type may be an array type such as byte[]) at p.i, without the
// ";"; false when the tokens there are not a declaration.
func (p *parser) declaration() (*stmtNode, bool, error) {
	t := p.tok()
	if t.kind != tIdent {
		return nil, false, nil
	}
	typeName, j := t.text, 1
	for p.peek(j).kind == tOp && p.peek(j).text == "." && p.peek(j+1).kind == tIdent {
		typeName += "." + p.peek(j+1).text
		j += 2
	}
	if p.peek(j).kind == tOp && p.peek(j).text == "[" && p.peek(j+1).kind == tOp && p.peek(j+1).text == "]" {
		typeName += "[]"
		j += 2
	}
	nameTok := p.peek(j)
	if nameTok.kind != tIdent || p.peek(j+1).kind != tOp || p.peek(j+1).text != "=" {
		return nil, false, nil
	}
	p.i += j + 2
	x, err := p.expr()
	if err != nil {
		return nil, true, err
	}
	return &stmtNode{kind: sVar, pos: nameTok.pos, name: nameTok.text, typeName: typeName, x: x}, true, nil
}
