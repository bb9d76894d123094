package expr

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"unicode/utf8"

	"github.com/sfgate/sfgate/partition"
)

// This file holds the .NET byte[] members APIM policies use to hash a string partition key into an
// Int64Range key (docs/policies.md, "String partition keys"):
//
//	var bytes = System.Text.Encoding.UTF8.GetBytes(key);
//	var hash = System.Security.Cryptography.MD5.Create().ComputeHash(bytes);
//	return Math.Abs(BitConverter.ToInt64(hash, 0) % 16);
//
// byte[] values are views like strings (Kind Bytes); digests are written into the context's arena, so
// hashing allocates nothing per request.

// canonicalClass is the name of a static class without the namespaces policies may write before it:
// System.Text.Encoding.UTF8 → Encoding.UTF8, System.Security.Cryptography.MD5 → MD5.
func canonicalClass(path string) string {
	path = strings.TrimPrefix(path, "System.")
	path = strings.TrimPrefix(path, "Text.")
	return strings.TrimPrefix(path, "Security.Cryptography.")
}

// hashingClasses are the static classes of this file.
var hashingClasses = map[string]bool{"Encoding.UTF8": true, "MD5": true, "SHA256": true, "BitConverter": true}

// hashingCall compiles Encoding.UTF8.GetBytes/GetString, MD5/SHA256.Create/HashData and BitConverter.X.
func (cp *compiler) hashingCall(n *node, path string, args []evalFn, types []Type) (evalFn, Type, error) {
	name := n.x.name
	full := path + "." + name
	bytesArg := func(i int) bool { return i < len(types) && (types[i] == TypeBytes || types[i] == TypeNull) }
	switch {
	case path == "Encoding.UTF8" && name == "GetBytes":
		if len(args) != 1 || !(types[0] == TypeString || types[0] == TypeNull || types[0] == TypeObject) {
			return nil, 0, cp.badArgs(n.x, full, "Encoding.UTF8.GetBytes(string s)")
		}
		a := args[0]
		return func(c *Context) (Value, error) {
			v, err := a(c)
			if err != nil {
				return v, err
			}
			if v.Kind != String {
				return Value{}, failf("Encoding.UTF8.GetBytes: the string is %s (ArgumentNullException)", describeValue(v))
			}
			return Value{Kind: Bytes, B: c.validUTF8(v.B)}, nil
		}, TypeBytes, nil
	case path == "Encoding.UTF8" && name == "GetString":
		if len(args) != 1 || !bytesArg(0) {
			return nil, 0, cp.badArgs(n.x, full, "Encoding.UTF8.GetString(byte[] bytes)")
		}
		a := args[0]
		return func(c *Context) (Value, error) {
			b, err := evalBytes(c, a, full, "bytes")
			if err != nil {
				return Value{}, err
			}
			return str(c.validUTF8(b)), nil
		}, TypeString, nil
	case (path == "MD5" || path == "SHA256") && name == "Create":
		if len(args) != 0 {
			return nil, 0, cp.badArgs(n.x, full, path+".Create()")
		}
		id := objMD5
		if path == "SHA256" {
			id = objSHA256
		}
		return constObj(id), TypeHash, nil
	case (path == "MD5" || path == "SHA256") && name == "HashData":
		if len(args) != 1 || !bytesArg(0) {
			return nil, 0, cp.badArgs(n.x, full, path+".HashData(byte[] source)")
		}
		id := objMD5
		if path == "SHA256" {
			id = objSHA256
		}
		a := args[0]
		return func(c *Context) (Value, error) { return computeHash(c, id, a, full) }, TypeBytes, nil
	case path == "BitConverter" && (name == "ToInt64" || name == "ToInt32"):
		if len(args) != 2 || !bytesArg(0) || !(types[1] == TypeInt || types[1] == TypeChar) {
			return nil, 0, cp.badArgs(n.x, full, full+"(byte[] value, int startIndex)")
		}
		size := 8
		if name == "ToInt32" {
			size = 4
		}
		return func(c *Context) (Value, error) {
			b, err := evalBytes(c, args[0], full, "value")
			if err != nil {
				return Value{}, err
			}
			i, err := args[1](c)
			if err != nil {
				return i, err
			}
			if i.Kind == Null || i.I < 0 || i.I >= int64(len(b)) {
				return Value{}, failf("%s: startIndex %d is outside the array of length %d (ArgumentOutOfRangeException)", full, i.I, len(b))
			}
			if int64(len(b))-i.I < int64(size) {
				return Value{}, failf("%s: fewer than %d bytes from startIndex %d in an array of length %d (ArgumentException)", full, size, i.I, len(b))
			}
			p := b[i.I:]
			if size == 4 {
				return IntValue(int64(int32(binary.LittleEndian.Uint32(p)))), nil
			}
			return LongValue(int64(binary.LittleEndian.Uint64(p))), nil
		}, ifLong(size == 8), nil
	case path == "BitConverter" && name == "ToString":
		if len(args) != 1 || !bytesArg(0) {
			return nil, 0, cp.badArgs(n.x, full, "BitConverter.ToString(byte[] value)")
		}
		a := args[0]
		return func(c *Context) (Value, error) {
			b, err := evalBytes(c, a, full, "value")
			if err != nil {
				return Value{}, err
			}
			if c.textFull(3 * len(b)) {
				return Value{}, errTextLimit
			}
			const hexDigits = "0123456789ABCDEF"
			start := len(c.arena)
			out := c.arena
			for i, x := range b {
				if i > 0 {
					out = append(out, '-')
				}
				out = append(out, hexDigits[x>>4], hexDigits[x&15])
			}
			c.arena = out
			return c.built(start)
		}, TypeString, nil
	}
	return nil, 0, cp.errAt(n.x.pos, "unknown method \""+full+"\"", "Encoding.UTF8.GetBytes, Encoding.UTF8.GetString, MD5.Create, SHA256.Create, MD5.HashData, SHA256.HashData, BitConverter.ToInt64, BitConverter.ToInt32, BitConverter.ToString")
}

// hashMethod compiles the methods of MD5.Create() and SHA256.Create(): ComputeHash(byte[]) and Dispose().
func (cp *compiler) hashMethod(n *node, args []evalFn, types []Type) (memberFn, Type, error) {
	if n.x.name != "ComputeHash" || len(args) != 1 || !(types[0] == TypeBytes || types[0] == TypeNull) {
		return nil, 0, cp.errAt(n.x.pos, "unknown method \""+n.x.name+"\" of HashAlgorithm (with "+itoa(len(args))+" arguments)", "ComputeHash(byte[] buffer)")
	}
	a := args[0]
	return func(c *Context, r Value) (Value, error) { return computeHash(c, r.I, a, "ComputeHash") }, TypeBytes, nil
}

// computeHash digests the byte[] a evaluates to with the algorithm id (objMD5 or objSHA256), into the arena.
func computeHash(c *Context, id int64, a evalFn, what string) (Value, error) {
	b, err := evalBytes(c, a, what, "buffer")
	if err != nil {
		return Value{}, err
	}
	if id == objMD5 {
		d := md5.Sum(b)
		return Value{Kind: Bytes, B: c.KeepBytes(d[:])}, nil
	}
	d := sha256.Sum256(b)
	return Value{Kind: Bytes, B: c.KeepBytes(d[:])}, nil
}

// evalBytes evaluates a byte[] argument; null is the ArgumentNullException .NET throws, naming the method
// and the parameter.
func evalBytes(c *Context, a evalFn, method, param string) ([]byte, error) {
	v, err := a(c)
	if err != nil {
		return nil, err
	}
	if v.Kind != Bytes {
		return nil, failf("%s: %s is null (ArgumentNullException)", method, param)
	}
	return v.B, nil
}

// toBase64 is Convert.ToBase64String(byte[]).
func toBase64(c *Context, a evalFn) (Value, error) {
	b, err := evalBytes(c, a, "Convert.ToBase64String", "inArray")
	if err != nil {
		return Value{}, err
	}
	n := base64.StdEncoding.EncodedLen(len(b))
	if c.textFull(n) {
		return Value{}, errTextLimit
	}
	out := c.alloc(n)
	base64.StdEncoding.Encode(out, b)
	return str(out), nil
}

// validUTF8 returns b when it is valid UTF-8, else a copy in the arena with each ill-formed part replaced
// by U+FFFD as .NET's decoder replaces it (partition.AppendValidUTF8, which the built-in partitionKeyHash
// shares): what .NET's string holds after decoding such bytes, so GetBytes gives the same bytes.
func (c *Context) validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	start := len(c.arena)
	c.arena = partition.AppendValidUTF8(c.arena, b)
	return c.arena[start:len(c.arena):len(c.arena)]
}
