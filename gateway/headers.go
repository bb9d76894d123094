package gateway

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strings"

	"github.com/valyala/fasthttp"
)

// Header names the gateway reads or writes, as byte slices so that setting them does not allocate, in the
// canonical form fasthttp stores parsed names in, so that PeekCanonical and SetCanonical skip normalising them.
var (
	hdrXForwardedFor   = []byte("X-Forwarded-For")
	hdrXForwardedProto = []byte("X-Forwarded-Proto")
	hdrXForwardedHost  = []byte("X-Forwarded-Host")
	hdrXForwardedPref  = []byte("X-Forwarded-Prefix")
	hdrXRequestID      = []byte("X-Request-Id")
	hdrConnection      = []byte("Connection")
	hdrAuthorization   = []byte("Authorization")
	protoHTTP          = []byte("http")
	protoHTTPS         = []byte("https")
)

// hopByHop are the headers that describe one connection, not the message (RFC 9110 §7.6.1); they are
// never forwarded in either direction. Expect is handled by the gateway's own server.
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	"Proxy-Authenticate", "Proxy-Authorization", "Expect",
}

// copyRequestHeaders makes dst the client's request header (after inbound policies) without hop-by-hop
// headers (the ones the client's Connection header named are gone already: dropClientConnectionTokens). It
// reports whether the client sent X-Forwarded-For, which the same scan sees.
func copyRequestHeaders(dst, src *fasthttp.RequestHeader) (hasForwardedFor bool) {
	src.CopyTo(dst)
	dst.ResetConnectionClose()
	found := false
	for k := range src.All() {
		if isHopByHop(k) {
			found = true
		} else if len(k) == len(hdrXForwardedFor) && bytes.EqualFold(k, hdrXForwardedFor) {
			hasForwardedFor = true
		}
	}
	if found {
		deleteHopByHop(nil, dst.Del)
	}
	return hasForwardedFor
}

// dropClientConnectionTokens deletes the headers the client's Connection header names: they concern the client's
// connection only (RFC 9110 §7.6.1). It runs before routing and policies, so a token removes only what the client
// sent, never a header the gateway (X-Request-Id) or a policy (set-header) sets later. The framing headers fasthttp
// has read the request by, and Host, stay. scratch (returned, maybe grown) holds the value while headers go.
func dropClientConnectionTokens(h *fasthttp.RequestHeader, scratch []byte) []byte {
	v := h.PeekCanonical(hdrConnection)
	if len(v) == 0 || bytes.EqualFold(v, []byte("close")) || bytes.EqualFold(v, []byte("keep-alive")) {
		return scratch
	}
	scratch = append(scratch[:0], v...)
	removeConnectionTokens(scratch, func(name string) {
		switch strings.ToLower(name) {
		case "host", "content-length", "transfer-encoding":
		default:
			h.Del(name)
		}
	})
	return scratch
}

// stripResponseHopByHop deletes the hop-by-hop headers from the response to send, including any header its
// Connection header names. scratch (returned, maybe grown) holds that value while headers are deleted.
func stripResponseHopByHop(h *fasthttp.ResponseHeader, scratch []byte) []byte {
	found := false
	for k := range h.All() {
		if isHopByHop(k) {
			found = true
			break
		}
	}
	if found {
		scratch = append(scratch[:0], h.PeekCanonical(hdrConnection)...)
	}
	h.ResetConnectionClose()
	if found {
		deleteHopByHop(scratch, h.Del)
	}
	return scratch
}

// deleteHopByHop deletes the hop-by-hop headers and the headers named by connection (the source's
// Connection header) with del.
func deleteHopByHop(connection []byte, del func(string)) {
	removeConnectionTokens(connection, del)
	for _, h := range hopByHop {
		del(h)
	}
}

// hopByHopByLen is hopByHop indexed by name length (the longest is 19 bytes), so that isHopByHop, called for
// every header of every message, compares a name with at most two candidates.
var hopByHopByLen = func() (t [20][]string) {
	for _, h := range hopByHop {
		t[len(h)] = append(t[len(h)], h)
	}
	return t
}()

// isHopByHop reports whether a header name is one of hopByHop (ASCII case-insensitive), so that a message
// is scanned once instead of deleting each candidate.
func isHopByHop(k []byte) bool {
	if len(k) >= len(hopByHopByLen) {
		return false
	}
	for _, h := range hopByHopByLen[len(k)] {
		if bytes.EqualFold(k, []byte(h)) {
			return true
		}
	}
	return false
}

// removeConnectionTokens deletes every header named in a Connection header value ("keep-alive, X-Foo").
func removeConnectionTokens(v []byte, del func(string)) {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		tok = bytes.TrimSpace(tok)
		if len(tok) > 0 && !bytes.EqualFold(tok, []byte("close")) && !bytes.EqualFold(tok, []byte("keep-alive")) {
			del(string(tok)) // rare: only for custom hop-by-hop headers
		}
	}
}

// appendForwardedFor appends the client address (already formatted, "unknown" when empty) to the prior
// X-Forwarded-For values (one header line or several, joined with ", ").
func appendForwardedFor(dst []byte, prior [][]byte, client []byte) []byte {
	dst = dst[:0]
	for _, p := range prior {
		if len(p) > 0 {
			dst = append(append(dst, p...), ", "...)
		}
	}
	if len(client) == 0 {
		return append(dst, "unknown"...)
	}
	return append(dst, client...)
}

// appendRequestID appends a fresh random request ID in GUID form (8-4-4-4-12 lower-case hex, version 4),
// like APIM's context.RequestId.
func appendRequestID(dst []byte) []byte {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], rand.Uint64())
	binary.BigEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var id [36]byte
	hex.Encode(id[0:8], b[0:4])
	id[8] = '-'
	hex.Encode(id[9:13], b[4:6])
	id[13] = '-'
	hex.Encode(id[14:18], b[6:8])
	id[18] = '-'
	hex.Encode(id[19:23], b[8:10])
	id[23] = '-'
	hex.Encode(id[24:36], b[10:16])
	return append(dst, id[:]...)
}

// validRequestID reports whether a client-supplied request ID is safe to log and pass on: 1 to 128
// visible ASCII characters.
func validRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
