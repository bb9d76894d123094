package policy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/sfgate/sfgate/gateway/expr"
)

// Limits on policy input.
const (
	maxDocumentSize = 1 << 20
	maxElementDepth = 64
)

// element is one parsed XML element with positions in the original text.
type element struct {
	name     string
	off      int // original offset of '<'
	attrs    []attribute
	children []*element
	text     string // character data (only for elements without children)
	textOff  int
	hasText  bool
}

type attribute struct {
	name   string
	value  string
	off    int // original offset of the name
	valOff int // original offset of the value
}

// locator converts offsets of the rewritten text back to positions in the policy file.
type locator struct {
	text       []byte // the original document text
	file       string
	firstLine  int
	lineStarts []int
	spans      []span
}

func newLocator(src Source, spans []span) *locator {
	l := &locator{text: src.Text, file: src.File, firstLine: src.Line, spans: spans}
	if l.firstLine < 1 {
		l.firstLine = 1
	}
	l.lineStarts = append(l.lineStarts, 0)
	for i, c := range src.Text {
		if c == '\n' {
			l.lineStarts = append(l.lineStarts, i+1)
		}
	}
	return l
}

// pos returns the file position of an original offset.
func (l *locator) pos(off int) expr.Pos {
	i := sort.Search(len(l.lineStarts), func(i int) bool { return l.lineStarts[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return expr.Pos{File: l.file, Line: l.firstLine + i, Col: off - l.lineStarts[i] + 1}
}

// origOffset maps offset n of a value as the policy reads it (entity references decoded) back
// to the original text, given the value's start offset there.
func (l *locator) origOffset(start, n int) int {
	i := start
	for d := 0; d < n && i < len(l.text); d++ {
		_, w := entity(l.text, i)
		i += w
	}
	return i
}

// orig maps an offset of the rewritten text to the original text.
func (l *locator) orig(newOff int) int {
	i := sort.Search(len(l.spans), func(i int) bool { return l.spans[i].newStart > newOff }) - 1
	if i < 0 {
		return newOff
	}
	s := l.spans[i]
	if newOff < s.newEnd {
		o := s.origStart + (newOff - s.newStart)
		if o > s.origEnd {
			o = s.origEnd
		}
		return o
	}
	return newOff - s.newEnd + s.origEnd
}

// spanAt returns the span starting at a rewritten offset.
func (l *locator) spanAt(newOff int) (span, bool) {
	i := sort.Search(len(l.spans), func(i int) bool { return l.spans[i].newStart >= newOff })
	if i < len(l.spans) && l.spans[i].newStart == newOff {
		return l.spans[i], true
	}
	return span{}, false
}

// spanIn returns the first span starting in [from, to).
func (l *locator) spanIn(from, to int) (span, bool) {
	i := sort.Search(len(l.spans), func(i int) bool { return l.spans[i].newStart >= from })
	if i < len(l.spans) && l.spans[i].newStart < to {
		return l.spans[i], true
	}
	return span{}, false
}

func (l *locator) errorf(off int, msg string) *Error {
	return errorAt(l.pos(off), msg)
}

// parseXML parses the rewritten text into an element tree.
func parseXML(out []byte, l *locator) (*element, error) {
	d := xml.NewDecoder(bytes.NewReader(out))
	d.Strict = true
	var stack []*element
	var root *element
	for {
		start := int(d.InputOffset())
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if root == nil {
				return nil, l.errorf(0, "empty policy document (expected <policies>)")
			}
			if len(stack) > 0 {
				return nil, l.errorf(len(out), "element <"+stack[len(stack)-1].name+"> is not closed")
			}
			return root, nil
		}
		if err != nil {
			msg := err.Error()
			off := int(d.InputOffset())
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				msg = "malformed XML: " + se.Msg
				if len(stack) > 0 && strings.Contains(se.Msg, " closed by ") {
					// point at the end tag, and say where the element it does not match begins
					off = start
					open := stack[len(stack)-1]
					at := l.pos(open.off)
					msg += " (<" + open.name + "> is opened at line " + strconv.Itoa(at.Line) + ", column " + strconv.Itoa(at.Col) + ")"
				}
			}
			return nil, l.errorf(l.orig(off), msg)
		}
		end := int(d.InputOffset())
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxElementDepth {
				return nil, l.errorf(l.orig(start), "elements are nested too deeply")
			}
			el := &element{name: qname(t.Name), off: l.orig(start)}
			locs := attrOffsets(out, start)
			for i, a := range t.Attr {
				at := attribute{name: qname(a.Name), value: a.Value, off: el.off, valOff: el.off}
				if i < len(locs) {
					at.off = l.orig(locs[i].name)
				}
				for _, prev := range el.attrs {
					if prev.name == at.name {
						return nil, l.errorf(at.off, "attribute \""+at.name+"\" appears twice on <"+el.name+">")
					}
				}
				if i < len(locs) {
					at.off = l.orig(locs[i].name)
					at.valOff = l.orig(locs[i].value)
					if s, ok := l.spanAt(locs[i].value); ok {
						at.value = s.text
					}
				}
				el.attrs = append(el.attrs, at)
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, l.errorf(el.off, "a policy document has exactly one root element")
				}
				root = el
			} else {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, el)
			}
			stack = append(stack, el)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			el := stack[len(stack)-1]
			text := string(t)
			if s, ok := l.spanIn(start, end); ok {
				text = s.text
				el.textOff = s.origStart
			} else if strings.TrimSpace(text) != "" && !el.hasText {
				lead := len(text) - len(strings.TrimLeft(text, " \t\r\n"))
				el.textOff = l.orig(start + lead)
			}
			if strings.TrimSpace(text) != "" {
				if el.hasText {
					el.text += text
				} else {
					el.text = text
				}
				el.hasText = true
			}
		}
	}
}

func qname(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

type attrLoc struct{ name, value int }

// attrOffsets lists the offsets of attribute names and values of the well-formed start tag at
// start in the rewritten text.
func attrOffsets(b []byte, start int) []attrLoc {
	var locs []attrLoc
	i := start + 1
	for i < len(b) && isNameByte(b[i]) {
		i++
	}
	for i < len(b) {
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) || b[i] == '>' || b[i] == '/' {
			return locs
		}
		nameOff := i
		for i < len(b) && isNameByte(b[i]) {
			i++
		}
		for i < len(b) && (isSpace(b[i]) || b[i] == '=') {
			i++
		}
		if i >= len(b) {
			return locs
		}
		q := b[i]
		i++
		locs = append(locs, attrLoc{name: nameOff, value: i})
		k := bytes.IndexByte(b[i:], q)
		if k < 0 {
			return locs
		}
		i += k + 1
	}
	return locs
}

// substitution records one {{name}} replaced by its value: at is the value's offset in the
// substituted text, n its length, ref the length of the "{{name}}" it replaced.
type substitution struct{ at, n, ref int }

// unsubstitute maps an offset of substituted text to the text before substitution; an offset
// inside a substituted value maps to the "{{" of its reference.
func unsubstitute(off int, subs []substitution) int {
	delta := 0
	for _, s := range subs {
		if off < s.at {
			break
		}
		if off < s.at+s.n {
			return s.at - delta
		}
		delta += s.n - s.ref
	}
	return off - delta
}

// substitute replaces {{name}} references with named values; off is the original offset of s.
// It also returns where the values went, for mapping error offsets back.
func (l *locator) substitute(s string, off int, named NamedValues) (string, []substitution, error) {
	if !strings.Contains(s, "{{") {
		return s, nil, nil
	}
	var b strings.Builder
	var subs []substitution
	i := 0
	for {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			b.WriteString(s[i:])
			return b.String(), subs, nil
		}
		j += i
		k := strings.Index(s[j+2:], "}}")
		name := ""
		if k >= 0 {
			name = s[j+2 : j+2+k]
		}
		if k < 0 || !validNamedValue(name) {
			b.WriteString(s[i : j+2])
			i = j + 2
			continue
		}
		v, ok := named.lookup(name)
		if !ok {
			return "", nil, l.errorf(l.origOffset(off, j), "unknown named value \"{{"+name+"}}\""+named.known())
		}
		b.WriteString(s[i:j])
		subs = append(subs, substitution{at: b.Len(), n: len(v), ref: k + 4})
		b.WriteString(v)
		i = j + 2 + k + 2
	}
}

// validNamedValue: letters, digits, '.', '-', '_' (1–256 chars), as APIM display names.
func validNamedValue(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

func (n NamedValues) lookup(name string) (string, bool) {
	if v, ok := n[name]; ok {
		return v, true
	}
	for k, v := range n {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func (n NamedValues) known() string {
	if len(n) == 0 {
		return " (no named values are defined)"
	}
	names := make([]string, 0, len(n))
	for k := range n {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(names) > 10 {
		names = append(names[:10], "...")
	}
	return " (defined: " + strings.Join(names, ", ") + ")"
}
