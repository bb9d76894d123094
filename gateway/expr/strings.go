package expr

import (
	"bytes"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// String and number helpers that work on byte views and write results into the context arena.

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// utf16Len is the C# string Length of UTF-8 bytes.
func utf16Len(b []byte) int {
	if isASCII(b) {
		return len(b)
	}
	n := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// utf16Offset converts a C# string index to a byte offset (ok false when out of range).
func utf16Offset(b []byte, idx int64) (int, bool) {
	if idx < 0 {
		return 0, false
	}
	if isASCII(b) {
		return int(idx), idx <= int64(len(b))
	}
	units := int64(0)
	off := 0
	for off < len(b) && units < idx {
		r, size := utf8.DecodeRune(b[off:])
		off += size
		units++
		if r >= 0x10000 {
			units++
		}
	}
	return off, units == idx
}

func charAt(b []byte, idx int64) (rune, bool) {
	if isASCII(b) {
		if idx < 0 || idx >= int64(len(b)) {
			return 0, false
		}
		return rune(b[idx]), true
	}
	u := utf16.Encode([]rune(string(b)))
	if idx < 0 || idx >= int64(len(u)) {
		return 0, false
	}
	return rune(u[idx]), true
}

// parseInt parses like int.Parse/long.Parse: optional surrounding white space and sign,
// decimal digits, range-checked to bits. It returns the .NET exception a failure throws.
func parseInt(b []byte, bits int) (int64, string) {
	b = bytes.TrimSpace(b)
	neg := false
	if len(b) > 0 {
		switch b[0] {
		case '-':
			neg = true
			b = b[1:]
		case '+':
			b = b[1:]
		}
	}
	if len(b) == 0 {
		return 0, "FormatException"
	}
	limit := uint64(1) << (bits - 1) // magnitude of the minimum
	var n uint64
	overflow := false
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, "FormatException"
		}
		if !overflow {
			n = n*10 + uint64(c-'0')
			overflow = n > limit
		}
	}
	if overflow || (!neg && n == limit) {
		return 0, "OverflowException"
	}
	if neg {
		return -int64(n), ""
	}
	return int64(n), ""
}

// equalStr compares with a StringComparison mode.
func equalStr(a, b []byte, mode int64) bool {
	if ignoreCase(mode) {
		return bytes.EqualFold(a, b)
	}
	return bytes.Equal(a, b)
}

func hasPrefix(s, p []byte, mode int64) bool {
	return len(s) >= len(p) && equalStr(s[:len(p)], p, mode)
}

func hasSuffix(s, p []byte, mode int64) bool {
	return len(s) >= len(p) && equalStr(s[len(s)-len(p):], p, mode)
}

// indexStr is a byte index of p in s, honouring ignore-case.
func indexStr(s, p []byte, mode int64) int {
	if !ignoreCase(mode) {
		return bytes.Index(s, p)
	}
	for i := 0; i+len(p) <= len(s); i++ {
		if bytes.EqualFold(s[i:i+len(p)], p) {
			return i
		}
	}
	return -1
}

// byteToUTF16Index converts a byte offset to a C# index.
func byteToUTF16Index(s []byte, off int) int {
	if off < 0 {
		return off
	}
	return utf16Len(s[:off])
}

func (c *Context) mapCase(b []byte, upper bool) []byte {
	if isASCII(b) {
		d := c.alloc(len(b))
		for i, ch := range b {
			if upper && ch >= 'a' && ch <= 'z' {
				ch -= 'a' - 'A'
			} else if !upper && ch >= 'A' && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			d[i] = ch
		}
		return d
	}
	if upper {
		return bytes.ToUpper(b)
	}
	return bytes.ToLower(b)
}

func isTrimChar(r rune, chars []rune) bool {
	if len(chars) == 0 {
		return unicode.IsSpace(r)
	}
	for _, c := range chars {
		if c == r {
			return true
		}
	}
	return false
}

func trimRunes(b []byte, chars []rune, left, right bool) []byte {
	if left {
		for len(b) > 0 {
			r, size := utf8.DecodeRune(b)
			if !isTrimChar(r, chars) {
				break
			}
			b = b[size:]
		}
	}
	if right {
		for len(b) > 0 {
			r, size := utf8.DecodeLastRune(b)
			if !isTrimChar(r, chars) {
				break
			}
			b = b[:len(b)-size]
		}
	}
	return b
}

// split is String.Split with separators (each a string; empty entries kept).
func (c *Context) split(s []byte, seps [][]byte) [][]byte {
	n := 1
	for i := 0; i < len(s); {
		if l := matchSep(s[i:], seps); l > 0 {
			n++
			i += l
		} else {
			i++
		}
	}
	out := c.allocList(n)
	k, start := 0, 0
	for i := 0; i < len(s); {
		if l := matchSep(s[i:], seps); l > 0 {
			out[k] = s[start:i:i]
			k++
			i += l
			start = i
		} else {
			i++
		}
	}
	out[k] = s[start:len(s):len(s)]
	return out
}

func matchSep(s []byte, seps [][]byte) int {
	for _, sep := range seps {
		if len(sep) > 0 && bytes.HasPrefix(s, sep) {
			return len(sep)
		}
	}
	return 0
}

func (c *Context) replace(s, old, new []byte) (Value, error) {
	if !bytes.Contains(s, old) {
		return str(s), nil
	}
	start := len(c.arena)
	buf := c.arena
	for {
		i := bytes.Index(s, old)
		if i < 0 {
			buf = append(buf, s...)
			break
		}
		buf = append(buf, s[:i]...)
		buf = append(buf, new...)
		s = s[i+len(old):]
		if c.retired+len(buf) > maxTextBytes {
			c.arena = buf[:start]
			return Value{}, errTextLimit
		}
	}
	c.arena = buf
	return c.built(start)
}

// appendDate formats DateTime.ToString() in the invariant culture: "MM/dd/yyyy HH:mm:ss".
func (c *Context) appendDate(unixNano int64) []byte {
	start := len(c.arena)
	c.arena = time.Unix(0, unixNano).UTC().AppendFormat(c.arena, "01/02/2006 15:04:05")
	return c.arena[start:len(c.arena):len(c.arena)]
}

// formatDate supports the round-trip and sortable standard formats.
func formatDate(c *Context, unixNano int64, f []byte) (Value, error) {
	layout := ""
	switch string(f) {
	case "o", "O":
		layout = "2006-01-02T15:04:05.0000000Z07:00"
	case "s":
		layout = "2006-01-02T15:04:05"
	case "u":
		layout = "2006-01-02 15:04:05Z"
	case "R", "r":
		layout = "Mon, 02 Jan 2006 15:04:05 GMT"
	case "yyyy-MM-dd":
		layout = "2006-01-02"
	default:
		return Value{}, failf("DateTime format %q is not supported (use \"o\", \"s\", \"u\", \"r\" or \"yyyy-MM-dd\")", f)
	}
	start := len(c.arena)
	c.arena = time.Unix(0, unixNano).UTC().AppendFormat(c.arena, layout)
	return str(c.arena[start:len(c.arena):len(c.arena)]), nil
}

// format implements string.Format with "{n}" items ("{{" and "}}" escape braces).
func (c *Context) format(f []byte, args []Value) (Value, error) {
	start := len(c.arena)
	buf := c.arena
	for i := 0; i < len(f); i++ {
		ch := f[i]
		switch {
		case ch == '{' && i+1 < len(f) && f[i+1] == '{':
			buf = append(buf, '{')
			i++
		case ch == '}' && i+1 < len(f) && f[i+1] == '}':
			buf = append(buf, '}')
			i++
		case ch == '{':
			j := bytes.IndexByte(f[i:], '}')
			if j < 0 {
				c.arena = buf
				return Value{}, failf("string.Format: unclosed \"{\" in format string (FormatException)")
			}
			n, bad := parseInt(f[i+1:i+j], 32)
			if bad != "" || n < 0 || n >= int64(len(args)) {
				c.arena = buf
				return Value{}, failf("string.Format: bad format item %q for %d arguments (FormatException)", f[i:i+j+1], len(args))
			}
			buf = appendString(buf, args[n])
			i += j
		case ch == '}':
			c.arena = buf
			return Value{}, failf("string.Format: unexpected \"}\" in format string (FormatException)")
		default:
			buf = append(buf, ch)
		}
	}
	c.arena = buf
	return c.built(start)
}

// parseBool is bool.Parse: "true"/"false" in any case, surrounding white space allowed.
func parseBool(b []byte) (bool, bool) {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.EqualFold(b, []byte("true")):
		return true, true
	case bytes.EqualFold(b, []byte("false")):
		return false, true
	}
	return false, false
}

func quoteBytes(b []byte) string { return strconv.Quote(string(b)) }
