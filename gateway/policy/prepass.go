package policy

import (
	"bytes"
	"strconv"
)

// The expression-aware pre-pass (docs/policies.md, "Documents and scopes"). APIM policy text is not XML:
// attribute values and element text holding "@(...)" or "@{...}" may contain raw '"', '<' and "&&". The pre-pass
// finds each expression with a small C# scanner (strings, verbatim and interpolated strings,
// char literals, comments, nested brackets; "&quot;" and friends count as the characters they
// stand for), and rewrites it as properly escaped XML. Newlines are kept, so line numbers stay
// valid; each rewritten span records where it came from so errors point at the user's text.

// span is one expression found by the pre-pass.
type span struct {
	origStart, origEnd int    // in the original text
	newStart, newEnd   int    // in the rewritten text
	text               string // the expression with entities decoded (what the C# compiler sees)
}

// prepassError is a pre-pass failure at an offset of the original text.
type prepassError struct {
	off int
	msg string
}

func (e *prepassError) Error() string { return e.msg }

// maxScanDepth bounds bracket nesting inside one expression.
const maxScanDepth = 200

type prepass struct {
	src    []byte
	out    []byte
	spans  []span
	last   int  // src copied to out up to here
	budget *int // bytes the expression scanner may still read (keeps the pass linear)
}

// errTooComplex is returned when finding expression ends would need too much re-scanning
// (many expressions that never close).
const errTooComplex = "cannot find where the expressions of this document end (too many unclosed quotes or brackets)"

// rewrite runs the pre-pass over src.
func rewrite(src []byte) ([]byte, []span, error) {
	budget := 8*len(src) + 1<<16
	p := &prepass{src: src, out: make([]byte, 0, len(src)+len(src)/8), budget: &budget}
	i := 0
	for i < len(src) {
		switch {
		case bytes.HasPrefix(src[i:], []byte("<!--")):
			j := bytes.Index(src[i+4:], []byte("-->"))
			if j < 0 {
				return nil, nil, &prepassError{i, "comment is not closed (missing \"-->\")"}
			}
			i += 4 + j + 3
		case bytes.HasPrefix(src[i:], []byte("<![CDATA[")):
			j := bytes.Index(src[i:], []byte("]]>"))
			if j < 0 {
				return nil, nil, &prepassError{i, "CDATA section is not closed (missing \"]]>\")"}
			}
			i += j + 3
		case bytes.HasPrefix(src[i:], []byte("<?")), bytes.HasPrefix(src[i:], []byte("<!")):
			j := bytes.IndexByte(src[i:], '>')
			if j < 0 {
				return nil, nil, &prepassError{i, "markup declaration is not closed (missing \">\")"}
			}
			i += j + 1
		case src[i] == '<':
			end, err := p.tag(i)
			if err != nil {
				return nil, nil, err
			}
			i = end
		default:
			end, err := p.text(i)
			if err != nil {
				return nil, nil, err
			}
			i = end
		}
	}
	p.out = append(p.out, src[p.last:]...)
	return p.out, p.spans, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isNameByte(c byte) bool {
	return c == '-' || c == '_' || c == ':' || c == '.' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80
}

func startsExpr(b []byte) bool {
	return len(b) >= 2 && b[0] == '@' && (b[1] == '(' || b[1] == '{')
}

// tag scans a start or end tag at i and rewrites expression attribute values. It returns the
// offset after the tag; malformed tags are left for encoding/xml to report.
func (p *prepass) tag(i int) (int, error) {
	src := p.src
	j := i + 1
	if j < len(src) && src[j] == '/' {
		k := bytes.IndexByte(src[j:], '>')
		if k < 0 {
			return len(src), nil
		}
		return j + k + 1, nil
	}
	for j < len(src) && isNameByte(src[j]) {
		j++
	}
	for {
		for j < len(src) && isSpace(src[j]) {
			j++
		}
		if j >= len(src) {
			return j, nil
		}
		if src[j] == '>' {
			return j + 1, nil
		}
		if src[j] == '/' && j+1 < len(src) && src[j+1] == '>' {
			return j + 2, nil
		}
		if !isNameByte(src[j]) {
			return j + 1, nil // let encoding/xml report it
		}
		for j < len(src) && isNameByte(src[j]) {
			j++
		}
		for j < len(src) && isSpace(src[j]) {
			j++
		}
		if j >= len(src) || src[j] != '=' {
			continue
		}
		j++
		for j < len(src) && isSpace(src[j]) {
			j++
		}
		if j >= len(src) || (src[j] != '"' && src[j] != '\'') {
			return j, nil
		}
		q := src[j]
		vs := j + 1
		es := vs // the expression starts after leading white space, as expr.IsExpression reads it
		for es < len(src) && isSpace(src[es]) {
			es++
		}
		if !startsExpr(src[es:]) {
			k := bytes.IndexByte(src[vs:], q)
			if k < 0 {
				return len(src), nil
			}
			j = vs + k + 1
			continue
		}
		end, err := p.scanExpr(es)
		if err == errBudget {
			return 0, &prepassError{vs, errTooComplex}
		}
		if err == nil {
			k := end
			for k < len(src) && isSpace(src[k]) {
				k++
			}
			if k < len(src) && src[k] == q {
				p.emit(vs, k)
				j = k + 1
				continue
			}
		}
		// The expression does not end where the attribute does (a missing bracket, text after
		// it): take the attribute's most plausible end and let the compiler explain.
		k := attrEnd(src, vs, q)
		if *p.budget -= k - vs; *p.budget < 0 {
			return 0, &prepassError{vs, errTooComplex}
		}
		if k < 0 {
			return 0, &prepassError{vs, "attribute value starting with an expression is not closed (no matching " + strconv.Quote(string(q)) + " before the end of the document)"}
		}
		p.emit(vs, k)
		j = k + 1
	}
}

// attrEnd finds the first quote q after vs that is followed by another attribute ("name=")
// or by the end of the tag.
func attrEnd(src []byte, vs int, q byte) int {
	for k := vs; k < len(src); k++ {
		if src[k] != q {
			continue
		}
		m := k + 1
		ws := m
		for m < len(src) && isSpace(src[m]) {
			m++
		}
		if m < len(src) && (src[m] == '>' || (src[m] == '/' && m+1 < len(src) && src[m+1] == '>')) {
			return k
		}
		if m == ws {
			continue
		}
		n := m
		for n < len(src) && isNameByte(src[n]) {
			n++
		}
		if n == m {
			continue
		}
		for n < len(src) && isSpace(src[n]) {
			n++
		}
		if n < len(src) && src[n] == '=' {
			return k
		}
	}
	return -1
}

// text scans character data at i; an expression as the whole text is rewritten.
func (p *prepass) text(i int) (int, error) {
	src := p.src
	j := i
	for j < len(src) && isSpace(src[j]) {
		j++
	}
	if startsExpr(src[j:]) {
		end, err := p.scanExpr(j)
		if err == errBudget {
			return 0, &prepassError{j, errTooComplex}
		}
		if err == nil {
			k := end
			for k < len(src) && isSpace(src[k]) {
				k++
			}
			if k >= len(src) || src[k] == '<' {
				p.emit(j, end)
				return end, nil
			}
		}
		k := bytes.Index(src[j:], []byte("</"))
		if k < 0 {
			return 0, &prepassError{j, "expression in element text is not closed before the end of the document"}
		}
		p.emit(j, j+k)
		return j + k, nil
	}
	k := bytes.IndexByte(src[i:], '<')
	if k < 0 {
		return len(src), nil
	}
	if k == 0 {
		return i + 1, nil
	}
	return i + k, nil
}

// emit rewrites src[a:b] as escaped XML and records the span.
func (p *prepass) emit(a, b int) {
	p.out = append(p.out, p.src[p.last:a]...)
	text := decodeEntities(p.src[a:b])
	start := len(p.out)
	for i := 0; i < len(text); i++ {
		switch c := text[i]; c {
		case '&':
			p.out = append(p.out, "&amp;"...)
		case '<':
			p.out = append(p.out, "&lt;"...)
		case '>':
			p.out = append(p.out, "&gt;"...)
		case '"':
			p.out = append(p.out, "&quot;"...)
		case '\'':
			p.out = append(p.out, "&apos;"...)
		case '\t':
			p.out = append(p.out, "&#9;"...)
		case '\r':
			p.out = append(p.out, "&#13;"...)
		default:
			p.out = append(p.out, c)
		}
	}
	p.spans = append(p.spans, span{origStart: a, origEnd: b, newStart: start, newEnd: len(p.out), text: text})
	p.last = b
}

// entity decodes one character or entity reference at i: the character and the raw length.
func entity(src []byte, i int) (byte, int) {
	if src[i] != '&' {
		return src[i], 1
	}
	rest := src[i:]
	if len(rest) > 12 {
		rest = rest[:12]
	}
	semi := bytes.IndexByte(rest, ';')
	if semi < 0 {
		return '&', 1
	}
	switch string(rest[1:semi]) {
	case "quot":
		return '"', semi + 1
	case "apos":
		return '\'', semi + 1
	case "lt":
		return '<', semi + 1
	case "gt":
		return '>', semi + 1
	case "amp":
		return '&', semi + 1
	}
	if semi > 2 && rest[1] == '#' {
		var n uint64
		var err error
		if rest[2] == 'x' || rest[2] == 'X' {
			n, err = strconv.ParseUint(string(rest[3:semi]), 16, 8)
		} else {
			n, err = strconv.ParseUint(string(rest[2:semi]), 10, 8)
		}
		if err == nil && n < 0x80 {
			return byte(n), semi + 1
		}
	}
	return '&', 1
}

func decodeEntities(b []byte) string {
	if bytes.IndexByte(b, '&') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c, n := entity(b, i)
		out = append(out, c)
		i += n
	}
	return string(out)
}

// errBudget stops a scan that exceeded the pre-pass budget.
var errBudget = &prepassError{0, errTooComplex}

// scanExpr finds the end (offset after the closing bracket) of the expression starting with
// "@(" or "@{" at i, reading entity references as their characters.
func (p *prepass) scanExpr(i int) (int, error) {
	s := &scanner{src: p.src, budget: p.budget}
	return s.balanced(i+2, closerOf(p.src[i+1]))
}

func closerOf(c byte) byte {
	switch c {
	case '(':
		return ')'
	case '[':
		return ']'
	}
	return '}'
}

type scanner struct {
	src    []byte
	depth  int
	budget *int
}

func (s *scanner) at(i int) (byte, int) {
	if i >= len(s.src) {
		return 0, 0
	}
	*s.budget--
	return entity(s.src, i)
}

// balanced scans until the bracket closer that matches an already opened one.
func (s *scanner) balanced(i int, closer byte) (int, error) {
	s.depth++
	defer func() { s.depth-- }()
	if s.depth > maxScanDepth {
		return 0, &prepassError{i, "expression is nested too deeply"}
	}
	stack := []byte{closer}
	for i < len(s.src) {
		if *s.budget < 0 {
			return 0, errBudget
		}
		c, n := s.at(i)
		switch c {
		case '"':
			end, err := s.str(i+n, false, false)
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case '@', '$':
			if j, ok := s.stringPrefix(i); ok {
				end, err := s.prefixed(i, j)
				if err != nil {
					return 0, err
				}
				i = end
				continue
			}
		case '\'':
			end, err := s.char(i + n)
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case '/':
			c2, n2 := s.at(i + n)
			if c2 == '/' {
				k := bytes.IndexByte(s.src[i:], '\n')
				if k < 0 {
					return 0, &prepassError{i, "expression is not closed"}
				}
				i += k + 1
				continue
			}
			if c2 == '*' {
				k := bytes.Index(s.src[i+n+n2:], []byte("*/"))
				if k < 0 {
					return 0, &prepassError{i, "comment in expression is not closed"}
				}
				i += n + n2 + k + 2
				continue
			}
		case '(', '[', '{':
			if len(stack) > maxScanDepth {
				return 0, &prepassError{i, "expression is nested too deeply"}
			}
			stack = append(stack, closerOf(c))
		case ')', ']', '}':
			if c != stack[len(stack)-1] {
				return 0, &prepassError{i, "unbalanced " + strconv.Quote(string(c))}
			}
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return i + n, nil
			}
		}
		i += n
	}
	return 0, &prepassError{len(s.src), "expression is not closed"}
}

// stringPrefix recognises @", $", $@" and @$" at i; it returns the offset of the quote.
func (s *scanner) stringPrefix(i int) (int, bool) {
	j := i
	for k := 0; k < 2; k++ {
		c, n := s.at(j)
		if c != '@' && c != '$' {
			break
		}
		j += n
	}
	if c, _ := s.at(j); c == '"' && j > i {
		return j, true
	}
	return 0, false
}

func (s *scanner) prefixed(i, quote int) (int, error) {
	verbatim, interp := false, false
	for k := i; k < quote; {
		c, n := s.at(k)
		if c == '@' {
			verbatim = true
		} else {
			interp = true
		}
		k += n
	}
	_, n := s.at(quote)
	return s.str(quote+n, verbatim, interp)
}

// str skips a string body (after the opening quote). In an interpolated string it also skips the
// {expression} holes; "{{" there is a literal brace.
func (s *scanner) str(i int, verbatim, interpolated bool) (int, error) {
	what := "string literal"
	if interpolated {
		what = "interpolated string"
	}
	start := i
	for i < len(s.src) {
		if *s.budget < 0 {
			return 0, errBudget
		}
		c, n := s.at(i)
		switch {
		case c == '"':
			if verbatim {
				if c2, n2 := s.at(i + n); c2 == '"' {
					i += n + n2
					continue
				}
			}
			return i + n, nil
		case c == '\\' && !verbatim:
			_, n2 := s.at(i + n)
			i += n + n2
			continue
		case c == '{' && interpolated:
			if c2, n2 := s.at(i + n); c2 == '{' {
				i += n + n2
				continue
			}
			end, err := s.balanced(i+n, '}')
			if err != nil {
				return 0, err
			}
			i = end
			continue
		case c == '\n' && !verbatim:
			return 0, &prepassError{start, what + " in expression is not closed before the end of the line"}
		}
		i += n
	}
	return 0, &prepassError{start, what + " in expression is not closed"}
}

func (s *scanner) char(i int) (int, error) {
	// a char literal is short: one character, or an escape such as \' or \u0029
	for j, k := i, 0; k < 8 && j < len(s.src); k++ {
		c, n := s.at(j)
		switch {
		case c == '\\':
			_, n2 := s.at(j + n)
			j += n + n2
			continue
		case c == '\'' && j > i:
			return j + n, nil
		case c == '\n':
			return 0, errUnclosedChar(i)
		}
		j += n
	}
	return 0, errUnclosedChar(i)
}

func errUnclosedChar(i int) error {
	return &prepassError{i, "char literal in expression is not closed"}
}
