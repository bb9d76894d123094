package forwardurl

import "bytes"

// HasDotSegment reports whether a request path holds a "." or ".." segment, written plainly or
// percent-encoded ("%2e", either case), which RemoveDotSegments must resolve before routing. It is the
// per-request check: two scans, no allocation.
func HasDotSegment(path []byte) bool {
	return bytes.Contains(path, []byte("/.")) || containsEncodedDot(path)
}

// RemoveDotSegments appends to dst the path with its dot segments resolved as RFC 3986 §5.2.4 says: "." is
// dropped, ".." drops the segment before it. A dot segment may be percent-encoded (%2e is the unreserved '.',
// which RFC 3986 §6.2.2.2 says to decode when normalising). Every other byte, encoded slashes (%2F) and empty
// segments included, is kept as received. ok is false when a ".." would climb above the root ("/a/../../x"):
// such a request is refused, never clamped, so it cannot reach a path its API does not cover.
func RemoveDotSegments(dst, path []byte) (out []byte, ok bool) {
	dst = dst[:0]
	rest := path
	for len(rest) > 0 && rest[0] == '/' {
		rest = rest[1:]
		seg := rest
		last := true
		if i := bytes.IndexByte(rest, '/'); i >= 0 {
			seg, rest, last = rest[:i], rest[i:], false
		} else {
			rest = nil
		}
		switch dotSegment(seg) {
		case 1:
		case 2:
			j := bytes.LastIndexByte(dst, '/')
			if j < 0 {
				return dst, false
			}
			dst = dst[:j]
		default:
			dst = append(append(dst, '/'), seg...)
			continue
		}
		if last { // "/a/." and "/a/b/.." name the directory: keep its trailing slash
			dst = append(dst, '/')
		}
	}
	if len(dst) == 0 {
		dst = append(dst, '/')
	}
	return dst, true
}

// dotSegment is 1 for ".", 2 for "..", 0 for any other segment; each dot may be written %2e or %2E.
func dotSegment(seg []byte) int {
	dots := 0
	for len(seg) > 0 {
		switch {
		case seg[0] == '.':
			seg = seg[1:]
		case len(seg) >= 3 && seg[0] == '%' && seg[1] == '2' && (seg[2] == 'e' || seg[2] == 'E'):
			seg = seg[3:]
		default:
			return 0
		}
		dots++
		if dots > 2 {
			return 0
		}
	}
	return dots
}

// containsEncodedDot reports whether b holds "%2e" or "%2E".
func containsEncodedDot(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '%')
		if i < 0 || i+2 >= len(b) {
			return false
		}
		if b[i+1] == '2' && b[i+2]|0x20 == 'e' {
			return true
		}
		b = b[i+1:]
	}
}
