package route

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sfgate/sfgate/gateway/forwardurl"
)

// Param is one URL-template parameter of the matched operation. Value is the percent-decoded segment; it
// points into the buffer given to Match and stays valid until that buffer is reused.
type Param struct {
	Name  string
	Value []byte
}

// APISpec describes one API for NewTable: its path (URL suffix) and its operations.
type APISpec struct {
	Path       string
	Operations []OperationSpec // empty: every method and path under Path matches
}

// OperationSpec describes one operation: a method ("*" for any) and a URL template.
type OperationSpec struct {
	Method      string
	URLTemplate string
}

// Table matches requests to APIs and operations. It is immutable and safe for concurrent use.
type Table struct {
	apis []api // longest path first
}

type api struct {
	index int      // position in the specs given to NewTable
	path  string   // without leading or trailing '/'
	ops   []opTmpl // in spec order
}

type opTmpl struct {
	index  int
	method string
	tmpl   *Template
}

// Result is the outcome of a match.
type Result struct {
	API       int    // index into the specs given to NewTable; -1 when no API matched
	Operation int    // index into that API's operations; -1 when the API has none or none matched
	Rest      []byte // the raw path after the API path (starts with '/' or is empty)
	Params    []Param
}

// ErrNoAPI and ErrNoOperation classify a failed match (both are answered with 404).
var (
	ErrNoAPI       = errors.New("no API matches the request path")
	ErrNoOperation = errors.New("no operation of the API matches the request method and path")
)

// NewTable compiles the URL templates of every operation; an error names the API and operation.
func NewTable(specs []APISpec) (*Table, error) {
	t := &Table{apis: make([]api, len(specs))}
	var errs []error
	for i, s := range specs {
		a := api{index: i, path: strings.Trim(s.Path, "/")}
		for j, o := range s.Operations {
			tm, err := ParseTemplate(o.URLTemplate)
			if err != nil {
				errs = append(errs, fmt.Errorf("api %d (%q) operation %d: %w", i, s.Path, j, err))
				continue
			}
			a.ops = append(a.ops, opTmpl{index: j, method: o.Method, tmpl: tm})
		}
		t.apis[i] = a
	}
	sort.SliceStable(t.apis, func(i, j int) bool {
		return segments(t.apis[i].path) > segments(t.apis[j].path)
	})
	return t, errors.Join(errs...)
}

func segments(p string) int {
	if p == "" {
		return 0
	}
	return strings.Count(p, "/") + 1
}

// Match finds the API by the longest segment-aware prefix of the raw request path (the request target's
// path part, query excluded) and then the most specific operation for method. Parameters are appended to
// params (pass a reused slice with capacity) and decoded into buf; neither allocates once they have
// capacity. Literal segments compare ASCII case-insensitively, as APIM does.
func (t *Table) Match(method, path []byte, params []Param, buf []byte) (Result, []byte, error) {
	res := Result{API: -1, Operation: -1, Params: params[:0]}
	for i := range t.apis {
		a := &t.apis[i]
		rest, ok := forwardurl.CutAPISuffix(path, a.path)
		if !ok {
			continue
		}
		res.API, res.Rest = a.index, rest
		if len(a.ops) == 0 {
			return res, buf, nil
		}
		best, bestScore := -1, -1
		for j := range a.ops {
			o := &a.ops[j]
			if o.method != "*" && o.method != string(method) {
				continue
			}
			if sc := o.tmpl.score(rest); sc > bestScore {
				best, bestScore = j, sc
			}
		}
		if best < 0 {
			return res, buf, ErrNoOperation
		}
		o := &a.ops[best]
		res.Operation = o.index
		res.Params, buf = o.tmpl.capture(rest, res.Params, buf)
		return res, buf, nil
	}
	return res, buf, ErrNoAPI
}

// Template is a compiled operation URL template: "/orders/{id}", "/files/*", "/files/{*path}".
type Template struct {
	raw  string
	segs []tmplSeg
	tail string // name of the {*name} rest parameter; "*" for an anonymous wildcard; "" for none
}

type tmplSeg struct {
	lit   string // literal segment (when param == "")
	param string // parameter name
}

// ParseTemplate compiles a URL template. A query part ("?a={b}") is ignored for matching.
func ParseTemplate(s string) (*Template, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("url template %q must start with /", s)
	}
	path, _, _ := strings.Cut(s, "?")
	t := &Template{raw: s}
	p := strings.Trim(path, "/")
	if p == "" {
		return t, nil
	}
	parts := strings.Split(p, "/")
	seen := map[string]bool{}
	for i, part := range parts {
		last := i == len(parts)-1
		switch {
		case part == "*" || strings.HasPrefix(part, "{*") && strings.HasSuffix(part, "}"):
			if !last {
				return nil, fmt.Errorf("url template %q: %q may only be the last segment", s, part)
			}
			t.tail = "*"
			if part != "*" {
				t.tail = part[2 : len(part)-1]
				if !validName(t.tail) {
					return nil, fmt.Errorf("url template %q: bad parameter name in %q", s, part)
				}
			}
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}"):
			name := part[1 : len(part)-1]
			if !validName(name) {
				return nil, fmt.Errorf("url template %q: bad parameter name in %q (letters, digits, '_', '-', '.')", s, part)
			}
			if seen[name] {
				return nil, fmt.Errorf("url template %q: parameter {%s} appears twice", s, name)
			}
			seen[name] = true
			t.segs = append(t.segs, tmplSeg{param: name})
		case part == "":
			return nil, fmt.Errorf("url template %q has an empty segment (//)", s)
		case strings.ContainsAny(part, "{}*"):
			return nil, fmt.Errorf("url template %q: segment %q mixes text and a parameter; use one parameter per segment", s, part)
		default:
			t.segs = append(t.segs, tmplSeg{lit: part})
		}
	}
	return t, nil
}

func validName(n string) bool {
	if n == "" {
		return false
	}
	for _, c := range []byte(n) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// String returns the template as written.
func (t *Template) String() string { return t.raw }

// score reports how specifically the template matches path (-1: no match). Literal segments weigh more
// than parameters, and both more than a wildcard tail.
func (t *Template) score(path []byte) int {
	p := trimSlashes(path)
	score := 0
	for _, sg := range t.segs {
		if len(p) == 0 {
			return -1
		}
		seg, rest := nextSeg(p)
		if sg.param == "" {
			if !bytes.EqualFold(seg, []byte(sg.lit)) {
				return -1
			}
			score += 3
		} else {
			if len(seg) == 0 {
				return -1
			}
			score += 2
		}
		p = rest
	}
	if len(p) > 0 && t.tail == "" {
		return -1
	}
	return score
}

// capture appends the template's parameters taken from path (assumed to match) to params.
func (t *Template) capture(path []byte, params []Param, buf []byte) ([]Param, []byte) {
	p := trimSlashes(path)
	buf = buf[:0]
	type span struct {
		name       string
		start, end int
	}
	var spans [16]span
	n := 0
	for _, sg := range t.segs {
		seg, rest := nextSeg(p)
		if sg.param != "" && n < len(spans) {
			start := len(buf)
			buf = appendUnescaped(buf, seg)
			spans[n] = span{sg.param, start, len(buf)}
			n++
		}
		p = rest
	}
	if t.tail != "" && t.tail != "*" && n < len(spans) {
		start := len(buf)
		buf = appendUnescaped(buf, p)
		spans[n] = span{t.tail, start, len(buf)}
		n++
	}
	// Slices into buf are taken only now: appends above may have moved it.
	for _, s := range spans[:n] {
		params = append(params, Param{Name: s.name, Value: buf[s.start:s.end:s.end]})
	}
	return params, buf
}

func trimSlashes(p []byte) []byte {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

func nextSeg(p []byte) (seg, rest []byte) {
	for i, c := range p {
		if c == '/' {
			return p[:i], p[i+1:]
		}
	}
	return p, nil
}

// appendUnescaped percent-decodes s onto dst; malformed escapes are kept as written.
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if h, ok := unhex(s[i+1]); ok {
				if l, ok := unhex(s[i+2]); ok {
					dst = append(dst, h<<4|l)
					i += 2
					continue
				}
			}
		}
		dst = append(dst, s[i])
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
