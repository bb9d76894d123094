package expr

import (
	"strconv"
)

// Kind is the runtime kind of a [Value].
type Kind uint8

// Runtime kinds. Strings are []byte views; Object values are references to parts of the
// context (context.Response, context.Request.Url, ...) identified by Value.I.
const (
	Null    Kind = iota // C# null
	Bool                // I is 0 or 1
	Int                 // C# int (32-bit), in I
	Long                // C# long, in I
	Char                // C# char, the code point in I
	String              // C# string, the UTF-8 bytes in B
	Strings             // C# string[], in List
	Object              // a context object; I identifies it
	Bytes               // C# byte[], in B
)

// String names the kind as C# would name the type.
func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "bool"
	case Int:
		return "int"
	case Long:
		return "long"
	case Char:
		return "char"
	case String:
		return "string"
	case Strings:
		return "string[]"
	case Object:
		return "object"
	case Bytes:
		return "byte[]"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a tagged expression value. No interface boxing: the kind selects the field.
// B and List are views that are valid until the owning [Context] is Reset; never mutate them.
type Value struct {
	Kind Kind
	B    []byte
	I    int64
	List [][]byte
}

// BytesValue returns a string value viewing b (not copied).
func BytesValue(b []byte) Value {
	if b == nil {
		b = []byte{}
	}
	return Value{Kind: String, B: b}
}

// IntValue returns a C# int value (truncated to 32 bits).
func IntValue(i int64) Value { return Value{Kind: Int, I: int64(int32(i))} }

// LongValue returns a C# long value.
func LongValue(i int64) Value { return Value{Kind: Long, I: i} }

// BoolValue returns a bool value.
func BoolValue(b bool) Value {
	if b {
		return Value{Kind: Bool, I: 1}
	}
	return Value{Kind: Bool}
}

// IsNull reports whether v is C# null.
func (v Value) IsNull() bool { return v.Kind == Null }

// Bool reports whether v is the bool true.
func (v Value) Bool() bool { return v.Kind == Bool && v.I != 0 }

// String formats v as C# ToString would ("True" for true, decimal numbers, the text of
// strings, "" for null). It allocates; the hot path uses the byte views instead.
func (v Value) String() string { return string(appendString(nil, v)) }

// appendString appends v formatted as C# ToString (null formats as "").
func appendString(dst []byte, v Value) []byte {
	switch v.Kind {
	case Null:
		return dst
	case Bool:
		if v.I != 0 {
			return append(dst, "True"...)
		}
		return append(dst, "False"...)
	case Int, Long:
		return strconv.AppendInt(dst, v.I, 10)
	case Char:
		return appendRune(dst, rune(v.I))
	case String:
		return append(dst, v.B...)
	case Strings:
		return append(dst, "System.String[]"...)
	case Object:
		return append(dst, objectTypeName(v.I)...)
	case Bytes:
		return append(dst, "System.Byte[]"...)
	}
	return dst
}

func appendRune(dst []byte, r rune) []byte {
	return append(dst, string(r)...)
}
