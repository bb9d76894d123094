package armimport

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// evaluator evaluates the ARM template expressions an API Management export writes: "[parameters('x')]",
// "[variables('x')]", "[concat(...)]", "[format('{0}/{1}', ...)]", "[resourceId(...)]", "[toLower(...)]",
// "[toUpper(...)]", "[string(...)]" and property access on their results. Anything else is an
// *unsupportedError naming the function.
type evaluator struct {
	params     map[string]any // parameter values: the parameters file's, else the template's defaultValue
	variables  map[string]any
	evaluating map[string]bool // variables being evaluated (a cycle is an error, not a hang)
}

type unsupportedError struct{ what string }

func (e *unsupportedError) Error() string { return e.what }

// value returns v with every string that is an expression evaluated (objects and arrays deeply).
func (ev *evaluator) value(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return ev.str(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := ev.value(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := ev.value(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// str evaluates s when it is an expression ("[...]"; "[[" escapes a literal "[").
func (ev *evaluator) str(s string) (any, error) {
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return s, nil
	}
	if strings.HasPrefix(s, "[[") {
		return s[1:], nil
	}
	p := &exprParser{src: s[1 : len(s)-1], ev: ev}
	v, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("unexpected %q at column %d of %s", p.src[p.pos:], p.pos+2, s)
	}
	return v, nil
}

type exprParser struct {
	src string
	pos int
	ev  *evaluator
}

func (p *exprParser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

// expr parses a literal or a function call, then any .property or [index] accessors.
func (p *exprParser) expr() (any, error) {
	p.space()
	if p.pos >= len(p.src) {
		return nil, fmt.Errorf("expression %q ends early", p.src)
	}
	var v any
	var err error
	switch c := p.src[p.pos]; {
	case c == '\'':
		v, err = p.stringLit()
	case c == '-' || c >= '0' && c <= '9':
		start := p.pos
		p.pos++
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		v, err = strconv.ParseInt(p.src[start:p.pos], 10, 64)
	case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		v, err = p.call()
	default:
		return nil, fmt.Errorf("unexpected %q in %q", string(c), p.src)
	}
	if err != nil {
		return nil, err
	}
	for {
		p.space()
		switch {
		case p.pos < len(p.src) && p.src[p.pos] == '.':
			p.pos++
			name := p.ident()
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("property %q of a value that is not an object", name)
			}
			v = m[name]
		case p.pos < len(p.src) && p.src[p.pos] == '[':
			p.pos++
			idx, err := p.expr()
			if err != nil {
				return nil, err
			}
			p.space()
			if p.pos >= len(p.src) || p.src[p.pos] != ']' {
				return nil, fmt.Errorf("missing ] in %q", p.src)
			}
			p.pos++
			switch c := v.(type) {
			case []any:
				i, ok := idx.(int64)
				if !ok || i < 0 || int(i) >= len(c) {
					return nil, fmt.Errorf("index %v out of range", idx)
				}
				v = c[i]
			case map[string]any:
				v = c[fmt.Sprint(idx)]
			default:
				return nil, fmt.Errorf("index into a value that is neither an array nor an object")
			}
		default:
			return v, nil
		}
	}
}

func (p *exprParser) ident() string {
	start := p.pos
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.pos++
			continue
		}
		break
	}
	return p.src[start:p.pos]
}

func (p *exprParser) stringLit() (any, error) {
	p.pos++ // '
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		p.pos++
		if c == '\'' {
			if p.pos < len(p.src) && p.src[p.pos] == '\'' { // '' is a quote
				b.WriteByte('\'')
				p.pos++
				continue
			}
			return b.String(), nil
		}
		b.WriteByte(c)
	}
	return nil, fmt.Errorf("unterminated string in %q", p.src)
}

func (p *exprParser) call() (any, error) {
	name := p.ident()
	p.space()
	if p.pos >= len(p.src) || p.src[p.pos] != '(' {
		return nil, fmt.Errorf("%s is not a function call", name)
	}
	p.pos++
	var args []any
	for {
		p.space()
		if p.pos < len(p.src) && p.src[p.pos] == ')' {
			p.pos++
			break
		}
		a, err := p.expr()
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		p.space()
		if p.pos < len(p.src) && p.src[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.src) && p.src[p.pos] == ')' {
			p.pos++
			break
		}
		return nil, fmt.Errorf("missing ) after the arguments of %s", name)
	}
	return p.ev.apply(name, args)
}

func (ev *evaluator) apply(name string, args []any) (any, error) {
	strArg := func(i int) (string, error) {
		if i >= len(args) {
			return "", fmt.Errorf("%s needs %d arguments", name, i+1)
		}
		s, ok := args[i].(string)
		if !ok {
			return "", fmt.Errorf("argument %d of %s is not a string", i+1, name)
		}
		return s, nil
	}
	switch strings.ToLower(name) {
	case "parameters":
		n, err := strArg(0)
		if err != nil {
			return nil, err
		}
		v, ok := ev.params[n]
		if !ok {
			return nil, &unsupportedError{"parameters('" + n + "') has no value: give it in --parameters or a defaultValue"}
		}
		return v, nil
	case "variables":
		n, err := strArg(0)
		if err != nil {
			return nil, err
		}
		raw, ok := ev.variables[n]
		if !ok {
			return nil, fmt.Errorf("variables('%s') is not defined", n)
		}
		if ev.evaluating[n] {
			return nil, fmt.Errorf("variables('%s') refers to itself", n)
		}
		ev.evaluating[n] = true
		defer delete(ev.evaluating, n)
		return ev.value(raw)
	case "concat":
		if len(args) > 0 {
			if _, isArray := args[0].([]any); isArray {
				var out []any
				for _, a := range args {
					arr, ok := a.([]any)
					if !ok {
						return nil, fmt.Errorf("concat mixes arrays and other values")
					}
					out = append(out, arr...)
				}
				return out, nil
			}
		}
		var b strings.Builder
		for _, a := range args {
			b.WriteString(text(a))
		}
		return b.String(), nil
	case "format":
		f, err := strArg(0)
		if err != nil {
			return nil, err
		}
		for i, a := range args[1:] {
			f = strings.ReplaceAll(f, "{"+strconv.Itoa(i)+"}", text(a))
		}
		return f, nil
	case "tolower", "toupper", "string":
		if len(args) != 1 {
			return nil, fmt.Errorf("%s takes one argument", name)
		}
		s := text(args[0])
		switch strings.ToLower(name) {
		case "tolower":
			s = strings.ToLower(s)
		case "toupper":
			s = strings.ToUpper(s)
		}
		return s, nil
	case "resourceid":
		// resourceId([subscriptionId,] [resourceGroupName,] type, name1, name2, ...): the resource's ID,
		// relative to its resource group (all an import needs: the type's segments and the names).
		var typ string
		var names []string
		for i, a := range args {
			s := text(a)
			if typ == "" && strings.Contains(s, ".") && strings.Contains(s, "/") {
				typ = s
				for _, n := range args[i+1:] {
					names = append(names, strings.Split(text(n), "/")...)
				}
				break
			}
		}
		kinds := strings.Split(typ, "/")
		if typ == "" || len(kinds)-1 != len(names) {
			return nil, fmt.Errorf("resourceId: %d names for type %q", len(names), typ)
		}
		id := "/providers/" + kinds[0]
		for i, n := range names {
			id += "/" + kinds[i+1] + "/" + n
		}
		return id, nil
	}
	return nil, &unsupportedError{"the template function " + name + "() cannot be evaluated by sfgate import"}
}

// text is a value as ARM's concat writes it.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case json.Number:
		return x.String()
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
