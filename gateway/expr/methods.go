package expr

import (
	"math"
)

// stringMethod compiles the string methods routing expressions use.
func (cp *compiler) stringMethod(n *node, args []evalFn, types []Type) (memberFn, Type, error) {
	name := n.x.name
	// optional trailing StringComparison
	mode := evalFn(nil)
	plain := types
	if len(types) > 0 && types[len(types)-1] == TypeStringComparison {
		mode = args[len(args)-1]
		plain = types[:len(types)-1]
	}
	modeOf := func(c *Context) (int64, error) {
		if mode == nil {
			return comparisons["Ordinal"], nil
		}
		m, err := mode(c)
		return m.I, err
	}
	strArg := func(i int) bool { return i < len(plain) && (plain[i] == TypeString || plain[i] == TypeChar) }
	switch name {
	case "Contains", "StartsWith", "EndsWith", "Equals", "IndexOf":
		if len(plain) != 1 || !(strArg(0) || (name == "Equals" && (plain[0] == TypeNull || plain[0] == TypeObject))) {
			return nil, 0, cp.badArgs(n.x, name, name+"(string value) or "+name+"(string value, StringComparison comparison)")
		}
		a := args[0]
		isChar := plain[0] == TypeChar
		rt := TypeBool
		if name == "IndexOf" {
			rt = TypeInt
		}
		return func(c *Context, r Value) (Value, error) {
			v, err := a(c)
			if err != nil {
				return v, err
			}
			m, err := modeOf(c)
			if err != nil {
				return Value{}, err
			}
			var p []byte
			switch {
			case isChar:
				var buf [4]byte
				p = buf[:utf8Encode(buf[:], rune(v.I))]
			case v.Kind == String:
				p = v.B
			case name == "Equals":
				return BoolValue(false), nil
			default:
				return Value{}, failf("%s: the argument is null (ArgumentNullException)", name)
			}
			switch name {
			case "Contains":
				return BoolValue(indexStr(r.B, p, m) >= 0), nil
			case "StartsWith":
				return BoolValue(hasPrefix(r.B, p, m)), nil
			case "EndsWith":
				return BoolValue(hasSuffix(r.B, p, m)), nil
			case "Equals":
				return BoolValue(equalStr(r.B, p, m)), nil
			}
			return IntValue(int64(byteToUTF16Index(r.B, indexStr(r.B, p, m)))), nil
		}, rt, nil
	case "ToLower", "ToUpper", "ToLowerInvariant", "ToUpperInvariant":
		if len(args) != 0 {
			return nil, 0, cp.badArgs(n.x, name, name+"()")
		}
		upper := name == "ToUpper" || name == "ToUpperInvariant"
		return func(c *Context, r Value) (Value, error) { return str(c.mapCase(r.B, upper)), nil }, TypeString, nil
	case "Trim", "TrimStart", "TrimEnd":
		for i, t := range types {
			if t != TypeChar {
				return nil, 0, cp.errAt(n.args[i].pos, name+" takes chars to trim, found "+t.String(), "char literals such as '/'")
			}
		}
		left, right := name != "TrimEnd", name != "TrimStart"
		return func(c *Context, r Value) (Value, error) {
			var set [8]rune
			chars := set[:0]
			for _, a := range args {
				v, err := a(c)
				if err != nil {
					return v, err
				}
				chars = append(chars, rune(v.I))
			}
			return str(trimRunes(r.B, chars, left, right)), nil
		}, TypeString, nil
	case "Split":
		seps := args
		var options evalFn // StringSplitOptions, as the last argument
		if len(types) > 1 && types[len(types)-1] == TypeStringSplitOptions {
			seps, options = args[:len(args)-1], args[len(args)-1]
			types = types[:len(types)-1]
		}
		if len(seps) == 0 {
			return nil, 0, cp.badArgs(n.x, "Split", "Split(char separator, ...) or Split(string separator), optionally with StringSplitOptions")
		}
		for i, t := range types {
			if t != TypeChar && t != TypeString {
				return nil, 0, cp.errAt(n.args[i].pos, "Split separators must be chars or strings, found "+t.String(), "char or string")
			}
		}
		return func(c *Context, r Value) (Value, error) {
			opts := int64(0)
			if options != nil {
				o, err := options(c)
				if err != nil {
					return o, err
				}
				opts = o.I
			}
			var set [4][]byte
			seps := set[:0]
			for _, a := range args[:len(args)-boolInt(options != nil)] {
				v, err := a(c)
				if err != nil {
					return v, err
				}
				if v.Kind == Char {
					d := c.alloc(4)
					seps = append(seps, d[:utf8Encode(d, rune(v.I))])
				} else {
					seps = append(seps, v.B)
				}
			}
			return Value{Kind: Strings, List: splitOptionsApply(c.split(r.B, seps), opts)}, nil
		}, TypeStrings, nil
	case "Replace":
		if len(args) != 2 || !((types[0] == TypeString && (types[1] == TypeString || types[1] == TypeNull)) || (types[0] == TypeChar && types[1] == TypeChar)) {
			return nil, 0, cp.badArgs(n.x, "Replace", "Replace(string old, string new) or Replace(char old, char new)")
		}
		return func(c *Context, r Value) (Value, error) {
			o, err := args[0](c)
			if err != nil {
				return o, err
			}
			nv, err := args[1](c)
			if err != nil {
				return nv, err
			}
			ob, nb := o.B, nv.B
			if o.Kind == Char {
				d := c.alloc(8)
				ob = d[:utf8Encode(d[:4], rune(o.I))]
				nb = d[4 : 4+utf8Encode(d[4:], rune(nv.I))]
			}
			if o.Kind == Null || len(ob) == 0 {
				return Value{}, failf("Replace: the old value is null or empty (ArgumentException)")
			}
			return c.replace(r.B, ob, nb)
		}, TypeString, nil
	case "Substring":
		intArg := func(t Type) bool { return t == TypeInt || t == TypeChar } // char converts to int implicitly
		if len(args) < 1 || len(args) > 2 || !intArg(types[0]) || (len(args) == 2 && !intArg(types[1])) {
			return nil, 0, cp.badArgs(n.x, "Substring", "Substring(int start) or Substring(int start, int length)")
		}
		return func(c *Context, r Value) (Value, error) {
			s, err := args[0](c)
			if err != nil {
				return s, err
			}
			if s.Kind == Null {
				return Value{}, failf("Substring: start is null (InvalidOperationException)")
			}
			from, ok := utf16Offset(r.B, s.I)
			if !ok {
				return Value{}, failf("Substring: start %d is outside the string of length %d (ArgumentOutOfRangeException)", s.I, utf16Len(r.B))
			}
			if len(args) == 1 {
				return str(r.B[from:]), nil
			}
			l, err := args[1](c)
			if err != nil {
				return l, err
			}
			if l.Kind == Null {
				return Value{}, failf("Substring: length is null (InvalidOperationException)")
			}
			to, ok := utf16Offset(r.B[from:], l.I)
			if !ok || l.I < 0 {
				return Value{}, failf("Substring: length %d from %d is outside the string of length %d (ArgumentOutOfRangeException)", l.I, s.I, utf16Len(r.B))
			}
			return str(r.B[from : from+to]), nil
		}, TypeString, nil
	}
	return nil, 0, cp.errAt(n.x.pos, "unknown string method \""+name+"\"", "Contains, StartsWith, EndsWith, Equals, IndexOf, ToLower, ToUpper, Trim, TrimStart, TrimEnd, Split, Replace, Substring, ToString")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// splitOptionsApply applies StringSplitOptions to the parts of a Split, in place: TrimEntries (2)
// trims white space from each part, RemoveEmptyEntries (1) then drops empty parts.
func splitOptionsApply(parts [][]byte, opts int64) [][]byte {
	if opts&2 != 0 {
		for i, p := range parts {
			parts[i] = trimRunes(p, nil, true, true)
		}
	}
	if opts&1 == 0 {
		return parts
	}
	out := parts[:0]
	for _, p := range parts {
		if len(p) > 0 {
			out = append(out, p)
		}
	}
	return out
}

func utf8Encode(d []byte, r rune) int {
	if r < 0x80 {
		d[0] = byte(r)
		return 1
	}
	s := string(r)
	return copy(d, s)
}

// staticCall compiles string.X(...), int.Parse, Convert.ToX, Math.X.
func (cp *compiler) staticCall(n *node, path string, args []evalFn, types []Type) (evalFn, Type, error) {
	name := n.x.name
	full := path + "." + name
	switch path {
	case "string", "String":
		switch name {
		case "IsNullOrEmpty", "IsNullOrWhiteSpace":
			if len(args) != 1 || !(types[0] == TypeString || types[0] == TypeNull || types[0] == TypeObject) {
				return nil, 0, cp.badArgs(n.x, full, full+"(string value)")
			}
			a := args[0]
			ws := name == "IsNullOrWhiteSpace"
			return func(c *Context) (Value, error) {
				v, err := a(c)
				if err != nil {
					return v, err
				}
				if v.Kind == Null {
					return BoolValue(true), nil
				}
				if v.Kind != String {
					return Value{}, failf("%s: value is %s, not a string", full, describeValue(v))
				}
				b := v.B
				if ws {
					b = trimRunes(b, nil, true, true)
				}
				return BoolValue(len(b) == 0), nil
			}, TypeBool, nil
		case "Format":
			if len(args) < 1 || types[0] != TypeString {
				return nil, 0, cp.badArgs(n.x, full, "string.Format(string format, params object[] args)")
			}
			return func(c *Context) (Value, error) {
				f, err := args[0](c)
				if err != nil {
					return f, err
				}
				if f.Kind == Null {
					return Value{}, failf("string.Format: format is null (ArgumentNullException)")
				}
				var buf [8]Value
				vals := buf[:0]
				for _, a := range args[1:] {
					v, err := a(c)
					if err != nil {
						return v, err
					}
					vals = append(vals, v)
				}
				return c.format(f.B, vals)
			}, TypeString, nil
		case "Concat":
			return func(c *Context) (Value, error) {
				var buf [8]Value
				vals, err := evalAll(c, args, buf[:0])
				if err != nil {
					return Value{}, err
				}
				start := len(c.arena)
				out := c.arena
				for _, v := range vals {
					out = appendString(out, v)
				}
				c.arena = out
				return c.built(start)
			}, TypeString, nil
		case "Join":
			if len(args) < 2 || (types[0] != TypeString && types[0] != TypeChar) {
				return nil, 0, cp.badArgs(n.x, full, "string.Join(string separator, string[] values) or string.Join(string separator, params object[] values)")
			}
			return func(c *Context) (Value, error) {
				var buf [8]Value
				vals, err := evalAll(c, args, buf[:0])
				if err != nil {
					return Value{}, err
				}
				sep := vals[0]
				start := len(c.arena)
				out := c.arena
				first := true
				for _, v := range vals[1:] {
					if v.Kind == Strings {
						for _, s := range v.List {
							if !first {
								out = appendString(out, sep)
							}
							first = false
							out = append(out, s...)
						}
						continue
					}
					if !first {
						out = appendString(out, sep)
					}
					first = false
					out = appendString(out, v)
				}
				c.arena = out
				return c.built(start)
			}, TypeString, nil
		case "Equals":
			if len(args) < 2 || len(args) > 3 || (len(args) == 3 && types[2] != TypeStringComparison) {
				return nil, 0, cp.badArgs(n.x, full, "string.Equals(string a, string b[, StringComparison])")
			}
			return func(c *Context) (Value, error) {
				a, err := args[0](c)
				if err != nil {
					return a, err
				}
				b, err := args[1](c)
				if err != nil {
					return b, err
				}
				mode := comparisons["Ordinal"]
				if len(args) == 3 {
					m, err := args[2](c)
					if err != nil {
						return m, err
					}
					mode = m.I
				}
				if a.Kind == Null || b.Kind == Null {
					return BoolValue(a.Kind == b.Kind), nil
				}
				if a.Kind != String || b.Kind != String {
					return BoolValue(valuesEqual(a, b)), nil
				}
				return BoolValue(equalStr(a.B, b.B, mode)), nil
			}, TypeBool, nil
		}
	case "int", "Int32", "long", "Int64":
		if name == "Parse" {
			if len(args) != 1 || (types[0] != TypeString && types[0] != TypeNull) {
				return nil, 0, cp.badArgs(n.x, full, full+"(string s)")
			}
			return parseFn(full, args[0], path == "long" || path == "Int64"), ifLong(path == "long" || path == "Int64"), nil
		}
	case "bool", "Boolean":
		if name == "Parse" {
			if len(args) != 1 || types[0] != TypeString {
				return nil, 0, cp.badArgs(n.x, full, full+"(string s)")
			}
			a := args[0]
			return func(c *Context) (Value, error) {
				v, err := a(c)
				if err != nil {
					return v, err
				}
				if v.Kind != String {
					return Value{}, failf("bool.Parse: value is null (ArgumentNullException)")
				}
				b, ok := parseBool(v.B)
				if !ok {
					return Value{}, failf("bool.Parse: %s is not a bool (FormatException)", quoteBytes(v.B))
				}
				return BoolValue(b), nil
			}, TypeBool, nil
		}
	case "Convert":
		if len(args) != 1 {
			return nil, 0, cp.badArgs(n.x, full, full+"(value)")
		}
		return cp.convertCall(n, full, name, args[0], types[0])
	case "Math":
		return cp.mathCall(n, full, name, args, types)
	case "Encoding.UTF8", "MD5", "SHA256", "BitConverter":
		return cp.hashingCall(n, path, args, types)
	}
	return nil, 0, cp.errAt(n.x.pos, "unknown method \""+full+"\"", "string.IsNullOrEmpty, string.IsNullOrWhiteSpace, string.Format, string.Concat, string.Join, string.Equals, int.Parse, long.Parse, bool.Parse, Convert.ToInt32, Convert.ToInt64, Convert.ToString, Convert.ToBoolean, Math.Abs, Math.Min, Math.Max")
}

func ifLong(long bool) Type {
	if long {
		return TypeLong
	}
	return TypeInt
}

func parseFn(full string, a evalFn, long bool) evalFn {
	bits := 32
	if long {
		bits = 64
	}
	return func(c *Context) (Value, error) {
		v, err := a(c)
		if err != nil {
			return v, err
		}
		if v.Kind != String {
			return Value{}, failf("%s: value is null (ArgumentNullException)", full)
		}
		n, bad := parseInt(v.B, bits)
		switch bad {
		case "FormatException":
			return Value{}, failf("%s: %s is not a valid %s (FormatException)", full, quoteBytes(v.B), ifLong(long))
		case "OverflowException":
			return Value{}, failf("%s: %s is outside the range of %s (OverflowException)", full, quoteBytes(v.B), ifLong(long))
		}
		if long {
			return LongValue(n), nil
		}
		return IntValue(n), nil
	}
}

func (cp *compiler) convertCall(n *node, full, name string, a evalFn, t Type) (evalFn, Type, error) {
	switch name {
	case "ToInt32", "ToInt64":
		long := name == "ToInt64"
		rt := ifLong(long)
		switch t {
		case TypeString, TypeObject, TypeNull, TypeInt, TypeLong, TypeChar, TypeBool:
		default:
			return nil, 0, cp.badArgs(n.x, full, full+"(string, int, long, bool or object)")
		}
		parse := parseFn(full, a, long)
		return func(c *Context) (Value, error) {
			v, err := a(c)
			if err != nil {
				return v, err
			}
			switch v.Kind {
			case Null:
				return zeroOf(rt), nil
			case String:
				return parse(c)
			case Bool:
				return widenTo(IntValue(v.I), nil, rt)
			case Int, Long, Char:
				if !long && (v.I > math.MaxInt32 || v.I < math.MinInt32) {
					return Value{}, failf("%s: %d is outside the range of int (OverflowException)", full, v.I)
				}
				return widenTo(IntValue(v.I), nil, rt)
			}
			return Value{}, failf("%s: cannot convert %s (InvalidCastException)", full, describeValue(v))
		}, rt, nil
	case "ToString":
		return func(c *Context) (Value, error) {
			v, err := a(c)
			if err != nil || v.Kind == String {
				return v, err
			}
			if v.Kind == Null {
				return str(nil), nil
			}
			return c.toString(t, v), nil
		}, TypeString, nil
	case "ToBase64String":
		if t != TypeBytes && t != TypeNull {
			return nil, 0, cp.badArgs(n.x, full, "Convert.ToBase64String(byte[] inArray)")
		}
		return func(c *Context) (Value, error) { return toBase64(c, a) }, TypeString, nil
	case "ToBoolean":
		return func(c *Context) (Value, error) {
			v, err := a(c)
			if err != nil {
				return v, err
			}
			switch v.Kind {
			case Bool:
				return v, nil
			case Null:
				return BoolValue(false), nil
			case Int, Long:
				return BoolValue(v.I != 0), nil
			case String:
				b, ok := parseBool(v.B)
				if !ok {
					return Value{}, failf("%s: %s is not a bool (FormatException)", full, quoteBytes(v.B))
				}
				return BoolValue(b), nil
			}
			return Value{}, failf("%s: cannot convert %s (InvalidCastException)", full, describeValue(v))
		}, TypeBool, nil
	}
	return nil, 0, cp.errAt(n.x.pos, "unknown method \""+full+"\"", "Convert.ToInt32, Convert.ToInt64, Convert.ToString, Convert.ToBoolean or Convert.ToBase64String")
}

func (cp *compiler) mathCall(n *node, full, name string, args []evalFn, types []Type) (evalFn, Type, error) {
	for i, t := range types {
		if !t.isNumeric() {
			return nil, 0, cp.errAt(n.args[i].pos, full+" needs numbers, found "+t.String(), "int or long")
		}
	}
	rt := TypeInt
	for _, t := range types {
		if t == TypeLong {
			rt = TypeLong
		}
	}
	switch {
	case name == "Abs" && len(args) == 1:
		return func(c *Context) (Value, error) {
			v, err := args[0](c)
			if err != nil {
				return v, err
			}
			if (rt == TypeInt && v.I == math.MinInt32) || v.I == math.MinInt64 {
				return Value{}, failf("Math.Abs: negating the minimum value overflows (OverflowException)")
			}
			if v.I < 0 {
				v.I = -v.I
			}
			return widenTo(v, nil, rt)
		}, rt, nil
	case (name == "Min" || name == "Max") && len(args) == 2:
		isMin := name == "Min"
		return func(c *Context) (Value, error) {
			a, err := args[0](c)
			if err != nil {
				return a, err
			}
			b, err := args[1](c)
			if err != nil {
				return b, err
			}
			r := a
			if (b.I < a.I) == isMin {
				r = b
			}
			return widenTo(r, nil, rt)
		}, rt, nil
	}
	return nil, 0, cp.errAt(n.x.pos, "unknown method \""+full+"\" with "+itoa(len(args))+" arguments", "Math.Abs(x), Math.Min(a, b), Math.Max(a, b)")
}
