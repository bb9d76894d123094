package config

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Pos is a position in a configuration file (1-based line and column).
type Pos struct {
	File string
	Line int
	Col  int
}

// String formats the position as file:line:col (the form editors and compilers use).
func (p Pos) String() string {
	if p.Col > 0 {
		return p.File + ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Error is one configuration problem, tied to the place in the file that causes it.
type Error struct {
	Pos   Pos
	Field string // dotted path of the field, e.g. apis[0].operations[1].urlTemplate
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Pos.String() + ": " + e.Msg
	}
	return e.Pos.String() + ": " + e.Field + ": " + e.Msg
}

// Errors is every problem found in one configuration, in file order.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// errorList collects errors while a configuration is decoded and checked.
type errorList struct {
	file   string
	errs   Errors
	fields map[string]Pos // field path → position of its key (or list item)
	broken []string       // field paths that failed to decode; later checks under them are skipped
	data   []byte         // the file's bytes, to measure block scalar indentation
}

// indentOf returns the number of leading spaces of 1-based line n of the file.
func (l *errorList) indentOf(n int) int {
	data := l.data
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(data, '\n')
		if j < 0 {
			return 0
		}
		data = data[j+1:]
	}
	k := 0
	for k < len(data) && data[k] == ' ' {
		k++
	}
	return k
}

// bad records a problem with field at the position where field (or, when absent, its nearest parent) is written.
func (l *errorList) bad(field, format string, args ...any) {
	for _, b := range l.broken {
		if field == b || strings.HasPrefix(field, b) && (field[len(b)] == '.' || field[len(b)] == '[') {
			return
		}
	}
	l.add(l.fieldPos(field), field, format, args...)
}

func (l *errorList) fieldPos(field string) Pos {
	for f := field; f != ""; {
		if p, ok := l.fields[f]; ok {
			return p
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return Pos{File: l.file, Line: 1}
}

func (l *errorList) mark(field string, n *yaml.Node) {
	if l.fields == nil {
		l.fields = map[string]Pos{}
	}
	l.fields[field] = l.pos(n)
}

// at records a decoding problem of field at node n.
func (l *errorList) at(n *yaml.Node, field, format string, args ...any) {
	l.broken = append(l.broken, field)
	l.add(l.pos(n), field, format, args...)
}

func (l *errorList) add(p Pos, field, format string, args ...any) {
	l.errs = append(l.errs, &Error{Pos: p, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (l *errorList) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: l.file, Line: 1}
	}
	return Pos{File: l.file, Line: n.Line, Col: n.Column}
}

// nodeDecoder is implemented by field types that decode themselves from a YAML node.
type nodeDecoder interface {
	decodeNode(l *errorList, n *yaml.Node, field string)
}

var (
	posType           = reflect.TypeFor[Pos]()
	durationType      = reflect.TypeFor[time.Duration]()
	nodeDecoderType   = reflect.TypeFor[nodeDecoder]()
	structFieldsCache sync.Map // reflect.Type → *structFields
)

type structFields struct {
	byName      map[string]int    // YAML name → field index
	names       []string          // sorted, for "allowed:" hints
	pos         int               // index of the Pos field, -1 if none
	unsupported map[string]string // APIM field names sfgate does not take → what to write instead
}

// Unsupported declares APIM fields a struct does not take, for a helpful error instead of "unknown field":
// a field of this type tagged `unsupported:"name=hint|name=hint"`.
type Unsupported struct{}

var unsupportedType = reflect.TypeFor[Unsupported]()

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := structFieldsCache.Load(t); ok {
		return f.(*structFields)
	}
	sf := &structFields{byName: map[string]int{}, pos: -1, unsupported: map[string]string{}}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == posType && f.Name == "Pos" {
			sf.pos = i
			continue
		}
		if f.Type == unsupportedType {
			for _, kv := range strings.Split(f.Tag.Get("unsupported"), "|") {
				if name, hint, ok := strings.Cut(kv, "="); ok {
					sf.unsupported[strings.TrimSpace(name)] = strings.TrimSpace(hint)
				}
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		sf.byName[name] = i
		sf.names = append(sf.names, name)
	}
	sort.Strings(sf.names)
	structFieldsCache.Store(t, sf)
	return sf
}

// decode fills v from n, strictly: unknown fields, duplicate keys and wrong shapes are errors with positions.
func (l *errorList) decode(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(l, n, field)
		return
	}
	if v.Type() == durationType {
		l.decodeDuration(n, v, field)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		l.decode(n, v.Elem(), field)
	case reflect.Struct:
		l.decodeStruct(n, v, field)
	case reflect.Map:
		l.decodeMap(n, v, field)
	case reflect.Slice:
		l.decodeSlice(n, v, field)
	case reflect.String:
		if !l.scalar(n, field, "a string") {
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int64, reflect.Int32:
		if !l.scalar(n, field, "an integer") {
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, v.Type().Bits())
		if err != nil || n.Tag == "!!str" && n.Style != 0 {
			l.at(n, field, "%q is not an integer", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		if !l.scalar(n, field, "a number") {
			return
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil || n.Tag == "!!str" && n.Style != 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			l.at(n, field, "%q is not a number", n.Value)
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		if !l.scalar(n, field, "true or false") {
			return
		}
		var b bool
		if n.Tag != "!!bool" || n.Decode(&b) != nil {
			l.at(n, field, "%q is not true or false", n.Value)
			return
		}
		v.SetBool(b)
	default:
		l.at(n, field, "unsupported field type %s", v.Type())
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func (l *errorList) scalar(n *yaml.Node, field, want string) bool {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		l.at(n, field, "expected %s, found %s", want, kindName(n))
		return false
	}
	return true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unexpected YAML node"
}

func (l *errorList) decodeDuration(n *yaml.Node, v reflect.Value, field string) {
	if !l.scalar(n, field, `a duration such as "30s"`) {
		return
	}
	d, ok := parseDuration(n.Value)
	if !ok {
		l.at(n, field, `%q is not a duration; write a number with a unit, such as "500ms", "30s" or "2m", or ISO 8601 as APIM does, such as "PT30S"`, n.Value)
		return
	}
	v.SetInt(int64(d))
}

func (l *errorList) decodeStruct(n *yaml.Node, v reflect.Value, field string) {
	if n.Kind != yaml.MappingNode {
		l.at(n, field, "expected a mapping, found %s", kindName(n))
		return
	}
	sf := fieldsOf(v.Type())
	if sf.pos >= 0 {
		v.Field(sf.pos).Set(reflect.ValueOf(l.pos(n)))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			l.at(k, field, "expected a field name, found %s", kindName(k))
			continue
		}
		if k.Value == "<<" {
			l.at(k, field, "YAML merge keys (<<) are not supported; write the fields out")
			continue
		}
		sub := join(field, k.Value)
		if seen[k.Value] {
			l.at(k, sub, "field given twice")
			continue
		}
		seen[k.Value] = true
		l.mark(sub, k)
		if hint, ok := sf.unsupported[k.Value]; ok {
			l.broken = append(l.broken, sub)
			l.add(l.pos(k), field, "%q is an APIM field sfgate does not support: %s", k.Value, hint)
			continue
		}
		idx, ok := sf.byName[k.Value]
		if !ok {
			l.broken = append(l.broken, sub)
			if near := nearest(k.Value, sf.names); near != "" {
				// The intended field is probably this one: do not also report it missing.
				l.broken = append(l.broken, join(field, near))
				l.add(l.pos(k), field, "unknown field %q; did you mean %q?", k.Value, near)
				continue
			}
			l.add(l.pos(k), field, "unknown field %q (allowed: %s)", k.Value, strings.Join(sf.names, ", "))
			continue
		}
		l.decode(val, v.Field(idx), sub)
	}
}

func (l *errorList) decodeMap(n *yaml.Node, v reflect.Value, field string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.at(n, field, "expected a mapping, found %s", kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || isNull(k) {
			l.at(k, field, "expected a name, found %s", kindName(k))
			continue
		}
		sub := join(field, k.Value)
		key := reflect.ValueOf(k.Value)
		if v.MapIndex(key).IsValid() {
			l.at(k, sub, "name given twice")
			continue
		}
		l.mark(sub, k)
		elem := reflect.New(v.Type().Elem()).Elem()
		l.decode(val, elem, sub)
		v.SetMapIndex(key, elem)
	}
}

func (l *errorList) decodeSlice(n *yaml.Node, v reflect.Value, field string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		l.at(n, field, "expected a list, found %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		sub := field + "[" + strconv.Itoa(i) + "]"
		l.mark(sub, item)
		l.decode(item, s.Index(i), sub)
	}
	v.Set(s)
}

func join(field, name string) string {
	if field == "" {
		return name
	}
	return field + "." + name
}

// nearest returns the allowed name closest to s (case-insensitive equal, or at most two edits away), or "".
func nearest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if strings.EqualFold(n, s) {
			return n
		}
		if d := editDistance(strings.ToLower(s), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
