package policy

import (
	"bytes"
	"strconv"
	"strings"
	"sync"

	"github.com/sfgate/sfgate/gateway/expr"
)

// Source is the text of one policy document and where it comes from.
type Source struct {
	File string // file name used in error positions
	Line int    // line of File where the XML starts (1 for a whole file; later for inline YAML)
	Text []byte
}

// NamedValues maps APIM named values ({{name}} references) to their values.
type NamedValues map[string]string

// section indexes the four sections of a policy document.
type sectionKind int

const (
	inbound sectionKind = iota
	backend
	outbound
	onError
	numSections
)

var sectionNames = [numSections]string{"inbound", "backend", "outbound", "on-error"}

// Document is one parsed and compiled policy document (one scope). It is immutable.
type Document struct {
	sections   [numSections]*section
	backendIDs []BackendRef
	certChecks []expr.Pos
}

// BackendRef is a set-backend-service backend-id written as a literal (named values substituted), and where.
type BackendRef struct {
	ID  string
	Pos expr.Pos
}

// BackendIDs returns the literal backend-ids the document names, so that a loader can report one that names
// no configured backend at load time. Expression-valued backend-ids are not listed.
func (d *Document) BackendIDs() []BackendRef { return d.backendIDs }

// ClientCertificateChecks returns where the document has a validate-client-certificate that refuses a request
// without a client certificate (ignore-error not "true"), so that a loader can refuse the document on a listener
// that asks clients for none: there it would refuse every request it runs for.
func (d *Document) ClientCertificateChecks() []expr.Pos { return d.certChecks }

// section is one section of a document; nil in Document.sections when absent.
type section struct {
	pos   expr.Pos
	stmts []stmt // top level; a kBase statement marks <base/>
}

// Parse reads one policy document: the expression-aware pre-pass, XML, named-value
// substitution, then compilation of every policy and expression. Errors are [*Error] values
// naming the file, line and column.
func Parse(src Source, named NamedValues) (*Document, error) {
	if len(src.Text) > maxDocumentSize {
		return nil, &Error{File: src.File, Line: max(src.Line, 1), Col: 1, Msg: "policy document is larger than " + strconv.Itoa(maxDocumentSize>>10) + " KiB"}
	}
	text := bytes.TrimPrefix(src.Text, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
	out, spans, err := rewrite(text)
	src.Text = text
	l := newLocator(src, spans)
	if err != nil {
		pe := err.(*prepassError)
		return nil, l.errorf(pe.off, pe.msg)
	}
	root, err := parseXML(out, l)
	if err != nil {
		return nil, err
	}
	b := &builder{loc: l, named: named}
	return b.document(root)
}

var (
	defaultGlobalOnce sync.Once
	defaultGlobal     *Document
)

// defaultGlobalText is APIM's default global policy: the backend section forwards the request.
const defaultGlobalText = `<policies>
	<inbound></inbound>
	<backend><forward-request /></backend>
	<outbound></outbound>
	<on-error></on-error>
</policies>`

// DefaultGlobal returns APIM's default global policy, used when a Chain has no Global document:
// its backend section is <forward-request/> and the other sections are empty.
func DefaultGlobal() *Document {
	defaultGlobalOnce.Do(func() {
		d, err := Parse(Source{File: "<default global policy>", Line: 1, Text: []byte(defaultGlobalText)}, nil)
		if err != nil {
			// the constant above is valid; a failure here is a bug caught by the tests
			d = &Document{}
		}
		defaultGlobal = d
	})
	return defaultGlobal
}

type builder struct {
	loc        *locator
	named      NamedValues
	sec        sectionKind
	backendIDs []BackendRef // literal backend-ids seen so far
	certChecks []expr.Pos   // refusing validate-client-certificate elements seen so far
}

func (b *builder) errorf(off int, msg string) *Error { return b.loc.errorf(off, msg) }

func (b *builder) document(root *element) (*Document, error) {
	if root.name != "policies" {
		return nil, b.errorf(root.off, "the root element must be <policies>, found <"+root.name+">")
	}
	if err := b.checkAttrs(root); err != nil {
		return nil, err
	}
	if root.hasText {
		return nil, b.errorf(root.textOff, "unexpected text in <policies>")
	}
	d := &Document{}
	for _, el := range root.children {
		k := sectionKind(-1)
		for i, n := range sectionNames {
			if el.name == n {
				k = sectionKind(i)
			}
		}
		if k < 0 {
			return nil, b.errorf(el.off, "unknown section <"+el.name+"> in <policies> (expected inbound, backend, outbound or on-error)")
		}
		if d.sections[k] != nil {
			return nil, b.errorf(el.off, "duplicate section <"+el.name+"> (the first is at "+d.sections[k].pos.String()+")")
		}
		if err := b.checkAttrs(el); err != nil {
			return nil, err
		}
		if el.hasText {
			return nil, b.errorf(el.textOff, "unexpected text in <"+el.name+">")
		}
		b.sec = k
		stmts, err := b.stmts(el, true)
		if err != nil {
			return nil, err
		}
		nbase := 0
		for _, s := range stmts {
			if s.kind == kBase {
				nbase++
				if nbase > 1 {
					return nil, errorAt(s.pos, "<base/> appears more than once in <"+el.name+">")
				}
			}
		}
		d.sections[k] = &section{pos: b.loc.pos(el.off), stmts: stmts}
	}
	d.backendIDs, d.certChecks = b.backendIDs, b.certChecks
	return d, nil
}

// checkAttrs rejects attributes other than the allowed ones ("id" is allowed everywhere).
func (b *builder) checkAttrs(el *element, allowed ...string) error {
	for _, a := range el.attrs {
		if a.name == "id" {
			continue
		}
		ok := false
		for _, n := range allowed {
			if a.name == n {
				ok = true
			}
		}
		if !ok {
			exp := "no attributes"
			if len(allowed) > 0 {
				exp = strings.Join(allowed, ", ")
			}
			return b.errorf(a.off, "unknown attribute \""+a.name+"\" on <"+el.name+"> (allowed: "+exp+")")
		}
	}
	return nil
}

func attr(el *element, name string) *attribute {
	for i := range el.attrs {
		if el.attrs[i].name == name {
			return &el.attrs[i]
		}
	}
	return nil
}

// value is a policy attribute or element text: a literal or a compiled expression.
type value struct {
	set bool
	lit []byte
	e   *expr.Expr
}

func (v *value) eval(c *expr.Context) (expr.Value, error) {
	if v.e != nil {
		return v.e.Eval(c)
	}
	return expr.Value{Kind: expr.String, B: v.lit}, nil
}

// bytes evaluates v as text (C# ToString of the result; nil for null).
func (v *value) bytes(c *expr.Context) ([]byte, error) {
	if v.e == nil {
		return v.lit, nil
	}
	r, err := v.e.Eval(c)
	if err != nil {
		return nil, err
	}
	return c.Text(r), nil
}

// compileText substitutes named values and compiles an expression if the text is one.
// off is the offset in the policy text where s starts; s has its entity references decoded.
func (b *builder) compileText(what string, s string, off int, want expr.Type) (value, error) {
	s, subs, err := b.loc.substitute(s, off, b.named)
	if err != nil {
		return value{}, err
	}
	if !expr.IsExpression(s) {
		return value{set: true, lit: append([]byte{}, s...)}, nil
	}
	// positions in the file: map offsets of the compiled text back through the named values
	// and the entity references to the policy text
	fileOffset := func(n int) int { return b.loc.origOffset(off, unsubstitute(n, subs)) }
	lead := len(s) - len(strings.TrimLeft(s, " \t\r\n"))
	e, err := expr.Compile(s, b.loc.pos(fileOffset(lead)), want)
	if err != nil {
		ce := err.(*expr.CompileError)
		ce.Pos = b.loc.pos(fileOffset(ce.Offset))
		return value{}, &Error{File: ce.Pos.File, Line: ce.Pos.Line, Col: ce.Pos.Col, Msg: what + ": " + strings.TrimPrefix(ce.Error(), ce.Pos.String()+": "), Err: ce}
	}
	return value{set: true, e: e}, nil
}

func (b *builder) attrValue(el *element, name string, want expr.Type) (value, error) {
	a := attr(el, name)
	if a == nil {
		return value{}, nil
	}
	return b.compileText(el.name+" "+name, a.value, a.valOff, want)
}

// intAttr reads an int attribute: a literal checked now, or an int expression.
func (b *builder) intAttr(el *element, name string, min, max int64) (intValue, error) {
	a := attr(el, name)
	if a == nil {
		return intValue{}, nil
	}
	v, err := b.compileText(el.name+" "+name, a.value, a.valOff, expr.TypeAny)
	if err != nil {
		return intValue{}, err
	}
	if v.e != nil {
		if t := v.e.Type(); t != expr.TypeInt && t != expr.TypeLong {
			return intValue{}, b.errorf(a.valOff, el.name+" "+name+": expression has type "+t.String()+", expected int")
		}
		return intValue{set: true, e: v.e, min: min, max: max}, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(v.lit)), 10, 64)
	if err != nil || n < min || n > max {
		return intValue{}, b.errorf(a.valOff, el.name+" "+name+": "+strconv.Quote(string(v.lit))+" is not an integer from "+strconv.FormatInt(min, 10)+" to "+strconv.FormatInt(max, 10))
	}
	return intValue{set: true, lit: n, min: min, max: max}, nil
}

// boolAttr reads a bool attribute: "true"/"false" or a bool expression.
func (b *builder) boolAttr(el *element, name string) (boolValue, error) {
	a := attr(el, name)
	if a == nil {
		return boolValue{}, nil
	}
	v, err := b.compileText(el.name+" "+name, a.value, a.valOff, expr.TypeBool)
	if err != nil {
		return boolValue{}, err
	}
	if v.e != nil {
		return boolValue{set: true, e: v.e}, nil
	}
	switch strings.ToLower(strings.TrimSpace(string(v.lit))) {
	case "true":
		return boolValue{set: true, lit: true}, nil
	case "false":
		return boolValue{set: true}, nil
	}
	return boolValue{}, b.errorf(a.valOff, el.name+" "+name+": "+strconv.Quote(string(v.lit))+" is not a bool (expected true, false or an expression)")
}

// literalBool is a bool attribute that must be written true or false, not as an expression; def when absent.
func (b *builder) literalBool(el *element, name string, def bool) (bool, error) {
	v, err := b.boolAttr(el, name)
	if err != nil || !v.set {
		return def, err
	}
	if v.e != nil {
		return false, b.errorf(attr(el, name).valOff, "<"+el.name+"> "+name+" must be true or false, not an expression")
	}
	return v.lit, nil
}

type intValue struct {
	set      bool
	lit      int64
	e        *expr.Expr
	min, max int64
}

func (v *intValue) eval(c *expr.Context, def int64) (int64, error) {
	if !v.set {
		return def, nil
	}
	if v.e == nil {
		return v.lit, nil
	}
	r, err := v.e.Eval(c)
	if err != nil {
		return 0, err
	}
	if r.Kind == expr.Null || r.I < v.min || r.I > v.max {
		return 0, &expr.EvalError{Pos: v.e.Pos(), Expr: v.e.Source(), Msg: "value " + r.String() + " is outside " + strconv.FormatInt(v.min, 10) + ".." + strconv.FormatInt(v.max, 10)}
	}
	return r.I, nil
}

type boolValue struct {
	set bool
	lit bool
	e   *expr.Expr
}

func (v *boolValue) eval(c *expr.Context, def bool) (bool, error) {
	if !v.set {
		return def, nil
	}
	if v.e == nil {
		return v.lit, nil
	}
	return v.e.EvalBool(c)
}

func (b *builder) require(el *element, names ...string) error {
	for _, n := range names {
		if attr(el, n) == nil {
			return b.errorf(el.off, "<"+el.name+"> needs the attribute \""+n+"\"")
		}
	}
	return nil
}

func (b *builder) noText(el *element) error {
	if el.hasText {
		return b.errorf(el.textOff, "unexpected text in <"+el.name+">")
	}
	return nil
}

func (b *builder) noChildren(el *element) error {
	if err := b.noText(el); err != nil {
		return err
	}
	if len(el.children) > 0 {
		return b.errorf(el.children[0].off, "<"+el.name+"> has no child elements, found <"+el.children[0].name+">")
	}
	return nil
}
