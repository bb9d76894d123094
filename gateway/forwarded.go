package gateway

import (
	"bytes"
	"net/netip"
	"unsafe"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/valyala/fasthttp"
)

// trustedProxies are the networks (config "trustedProxies") whose X-Forwarded-For, -Proto and -Host the gateway
// believes. From any other peer those headers are replaced by what the gateway saw, so that a client cannot
// pose as another address to a backend or to a policy reading context.Request.IpAddress.
type trustedProxies []netip.Prefix

// trusts reports whether a peer address is a trusted proxy.
func (tp trustedProxies) trusts(a netip.Addr) bool {
	for _, p := range tp {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddress is the client's address when the peer is a trusted proxy: walking the X-Forwarded-For entries
// from the right (the one the peer added last), the first address that is not a trusted proxy. When every entry
// is trusted it is the leftmost; an entry that is not an address ends the walk at the address to its right
// (such an entry was written by someone the gateway cannot vouch for). lines are the header's lines in order.
func (tp trustedProxies) clientAddress(peer netip.Addr, lines [][]byte) netip.Addr {
	client := peer
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for len(line) > 0 {
			var entry []byte
			if j := bytes.LastIndexByte(line, ','); j >= 0 {
				entry, line = line[j+1:], line[:j]
			} else {
				entry, line = line, nil
			}
			entry = bytes.TrimSpace(entry)
			if len(entry) == 0 {
				continue
			}
			a, ok := parseForwardedAddr(entry)
			if !ok {
				return client
			}
			client = a
			if !tp.trusts(a) {
				return a
			}
		}
	}
	return client
}

// parseForwardedAddr parses one X-Forwarded-For entry: an IPv4 or IPv6 address, optionally with a port
// ("203.0.113.7:41234", "[2001:db8::1]:443", as some load balancers write it) or in brackets. IPv4-mapped IPv6
// addresses are unmapped. It allocates nothing.
func parseForwardedAddr(b []byte) (netip.Addr, bool) {
	if bytes.IndexByte(b, '%') >= 0 { // an IPv6 zone names an interface of the sender, not an address
		return netip.Addr{}, false
	}
	s := unsafe.String(unsafe.SliceData(b), len(b)) // not retained: without a zone netip keeps only numbers
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// setClientAddress records the peer's address (appended to X-Forwarded-For) and the client's address
// (context.Request.IpAddress and the access log): the peer itself, or, when the peer is a trusted proxy, the
// address its X-Forwarded-For names (clientAddress).
func (s *reqState) setClientAddress(ctx *fasthttp.RequestCtx) {
	s.ipBuf, s.clientIP, s.trustedPeer = s.ipBuf[:0], s.clientIP[:0], false
	peer, ok := netip.AddrFromSlice(ctx.RemoteIP())
	if !ok {
		return
	}
	peer = peer.Unmap()
	if peer != s.lastPeer || len(s.lastPeerText) == 0 {
		s.lastPeer, s.lastPeerText = peer, peer.AppendTo(s.lastPeerText[:0])
	}
	s.ipBuf = append(s.ipBuf, s.lastPeerText...)
	if !s.rt.proxies.trusts(peer) {
		s.clientIP = append(s.clientIP, s.lastPeerText...)
	} else {
		s.trustedPeer = true
		client := s.rt.proxies.clientAddress(peer, ctx.Request.Header.PeekAll(fasthttp.HeaderXForwardedFor))
		s.clientIP = client.AppendTo(s.clientIP)
	}
	s.ec.IPAddress = s.clientIP
}

// setForwardedHeaders sets X-Forwarded-For, -Proto, -Host and -Prefix on the request to send. From a trusted
// proxy the client's X-Forwarded-For is kept and the peer appended, and its -Proto and -Host are kept when it
// sent them; from any other peer all three say only what the gateway saw. hasXFF: the client sent
// X-Forwarded-For (copyRequestHeaders saw it).
func (s *reqState) setForwardedHeaders(out, in *fasthttp.Request, hasXFF bool) {
	var prior [][]byte
	if hasXFF {
		if s.trustedPeer {
			prior = in.Header.PeekAll(fasthttp.HeaderXForwardedFor)
		}
		out.Header.Del(fasthttp.HeaderXForwardedFor) // Set replaces only the first of several lines
	}
	s.xff = appendForwardedFor(s.xff, prior, s.ipBuf)
	out.Header.SetCanonical(hdrXForwardedFor, s.xff)
	if !s.trustedPeer || len(in.Header.PeekCanonical(hdrXForwardedProto)) == 0 {
		if s.fctx.IsTLS() {
			out.Header.SetCanonical(hdrXForwardedProto, protoHTTPS)
		} else {
			out.Header.SetCanonical(hdrXForwardedProto, protoHTTP)
		}
	}
	if !s.trustedPeer || len(in.Header.PeekCanonical(hdrXForwardedHost)) == 0 {
		out.Header.SetCanonical(hdrXForwardedHost, in.Header.Host())
	}
	if len(s.api.prefix) > 0 {
		out.Header.SetCanonical(hdrXForwardedPref, s.api.prefix) // the API path the gateway stripped
	}
}

// trustedProxiesOf parses the configuration's trustedProxies (checked when it loaded).
func trustedProxiesOf(list []string) trustedProxies {
	var out trustedProxies
	for _, s := range list {
		if p, err := config.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}
