package partition

import "unicode/utf8"

// AppendValidUTF8 appends b to dst with each ill-formed part of b replaced by U+FFFD (EF BF BD), the way
// .NET (Core 3.0 and later) decodes bytes with Encoding.UTF8: the Unicode Standard's "U+FFFD Substitution of
// Maximal Subparts" (chapter 3), which the WHATWG Encoding Standard and Python's bytes.decode("utf-8",
// "replace") follow too. A maximal subpart is the longest prefix of a well-formed sequence (Table 3-7) that
// the next byte does not continue:
//
//   - a truncated sequence is one U+FFFD: E2 82 41 is U+FFFD "A", F0 90 80 at the end is one U+FFFD;
//   - a byte that cannot start a sequence (80-BF alone, C0, C1, F5-FF) is one U+FFFD each: FF FF is two;
//   - a lead byte limits the byte after it (E0: A0-BF, ED: 80-9F, F0: 90-BF, F4: 80-8F), so an overlong
//     form or a surrogate (ED A0 80) is one U+FFFD per byte.
//
// Go's utf8 package replaces differently (utf8.DecodeRune takes one byte of E2 82 41, strings.ToValidUTF8
// merges a whole run of bad bytes), hence this function. Valid UTF-8 is appended as it is.
//
// It lives here, not in gateway/expr, because both hash a request's key as .NET would hash the string it
// decodes from the key's bytes and must replace alike: the built-in partitionKeyHash ([KeyHash.Sum]) and
// the expressions' Encoding.UTF8.GetBytes and GetString (gateway/expr, which imports this package; this
// package must not import it).
func AppendValidUTF8(dst, b []byte) []byte {
	for len(b) > 0 {
		i := 0 // b[:i] is valid
		for i < len(b) {
			if b[i] < utf8.RuneSelf {
				i++
				continue
			}
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		dst = append(dst, b[:i]...)
		if i == len(b) {
			break
		}
		dst = append(dst, "\uFFFD"...)
		b = b[i+maximalSubpart(b[i:]):]
	}
	return dst
}

// maximalSubpart returns the length of the maximal subpart that starts b, whose first byte does not start a
// well-formed sequence: 1 for a byte that cannot start one, else the number of bytes of a well-formed
// sequence's start that b holds before a byte that does not continue it, or before its end.
func maximalSubpart(b []byte) int {
	lo, hi := byte(0x80), byte(0xBF) // the range of the second byte
	var need int
	switch c := b[0]; {
	case 0xC2 <= c && c <= 0xDF:
		need = 2
	case c == 0xE0:
		need, lo = 3, 0xA0
	case c == 0xED:
		need, hi = 3, 0x9F
	case 0xE1 <= c && c <= 0xEF:
		need = 3
	case c == 0xF0:
		need, lo = 4, 0x90
	case 0xF1 <= c && c <= 0xF3:
		need = 4
	case c == 0xF4:
		need, hi = 4, 0x8F
	default: // 80-BF, C0, C1, F5-FF
		return 1
	}
	n := 1
	for n < need && n < len(b) && lo <= b[n] && b[n] <= hi {
		n++
		lo, hi = 0x80, 0xBF
	}
	return n
}
