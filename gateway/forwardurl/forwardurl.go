// Package forwardurl is the one place that takes a client's request target apart and puts the backend URL
// together, as APIM does: the backend base URL, then the request path after the API URL suffix, then the
// query, with exactly one '/' at the join. Every other byte is kept as received: percent-encodings
// (an encoded slash "%2F" included) are never decoded or re-encoded, and the query is passed on as the
// client sent it unless a policy edited it.
//
// Place in the data flow (docs/design.md): routing (package route) matches RequestPath against each API's
// suffix with CutAPISuffix; the policy context (package expr) keeps AfterAPISuffix of the request path for
// rewrite-uri; the gateway's forwarder joins the base URL, that path and the query with Append (the reverse
// proxy's, with AppendSFRP). None of these allocates.
package forwardurl

import (
	"bytes"
	"strings"
)

var (
	rootPath     = []byte("/")
	schemeMarker = []byte("://")
)

// RequestPath returns the path part of a raw request target: origin-form "/p?q" → "/p"; absolute-form
// "http://h/p?q" → "/p" ("/" when the target has no path); "*" or an authority → "".
func RequestPath(target []byte) []byte {
	u := target
	if len(u) > 0 && u[0] != '/' {
		i := bytes.Index(u, schemeMarker)
		if i < 0 {
			return nil
		}
		u = u[i+3:]
		j := 0
		for j < len(u) && u[j] != '/' && u[j] != '?' {
			j++
		}
		u = u[j:]
		if len(u) == 0 || u[0] != '/' {
			return rootPath[:1:1]
		}
	}
	if i := bytes.IndexByte(u, '?'); i >= 0 {
		u = u[:i]
	}
	if i := bytes.IndexByte(u, '#'); i >= 0 {
		u = u[:i]
	}
	return u
}

// RequestQuery returns the query of a raw request target, without its '?' and without a fragment ("/p?a=1#f"
// gives "a=1"); nil when the target has none, or when a '#' comes before the '?'. It splits the target as
// fasthttp's URI parser does, so it equals the parsed URI's QueryString without parsing the whole URI.
func RequestQuery(target []byte) []byte {
	q := bytes.IndexByte(target, '?')
	if q < 0 {
		return nil
	}
	if f := bytes.IndexByte(target[:q], '#'); f >= 0 {
		return nil
	}
	rest := target[q+1:]
	if f := bytes.IndexByte(rest, '#'); f >= 0 {
		rest = rest[:f]
	}
	return rest
}

// CutAPISuffix matches an API URL suffix (no slashes at its ends; "" is the root API) against whole
// leading segments of path, ASCII case-insensitively, and returns the rest of the path ("/shop/orders/7"
// with "shop" gives "/orders/7"). It decides where an API's path ends, for routing and for the URL sent to
// the backend alike.
func CutAPISuffix(path []byte, suffix string) (rest []byte, ok bool) {
	if len(path) == 0 || path[0] != '/' {
		return nil, false
	}
	if suffix == "" {
		return path, true
	}
	p := path[1:]
	if len(p) < len(suffix) || !bytes.EqualFold(p[:len(suffix)], []byte(suffix)) {
		return nil, false
	}
	rest = p[len(suffix):]
	if len(rest) > 0 && rest[0] != '/' {
		return nil, false
	}
	return rest, true
}

// AfterAPISuffix returns the part of the raw request path after the API URL suffix ("/api/partners/15"
// with suffix "api" or "/api/" gives "/partners/15"), as routing matched it; a path that does not start
// with the suffix is returned unchanged.
func AfterAPISuffix(path []byte, suffix string) []byte {
	if rest, ok := CutAPISuffix(path, strings.Trim(suffix, "/")); ok {
		return rest
	}
	return path
}

// Append appends the backend URL to dst: base, then pathAfterSuffix with exactly one '/' at the join (base
// alone when pathAfterSuffix is empty), then '?' and rawQuery when that is not empty (a leading '?' in
// rawQuery is accepted).
//
//	Append(nil, "http://contoso.com/api/8.2/", "/partners/15", "version=2013-05&subscription-key=abcdef")
//	== "http://contoso.com/api/8.2/partners/15?version=2013-05&subscription-key=abcdef"
func Append(dst, base, pathAfterSuffix, rawQuery []byte) []byte {
	if len(pathAfterSuffix) == 0 {
		dst = append(dst, base...)
	} else {
		dst = append(dst, bytes.TrimRight(base, "/")...)
		dst = append(dst, '/')
		dst = append(dst, bytes.TrimLeft(pathAfterSuffix, "/")...)
	}
	rawQuery = bytes.TrimPrefix(rawQuery, []byte("?"))
	if len(rawQuery) > 0 {
		dst = append(dst, '?')
		dst = append(dst, rawQuery...)
	}
	return dst
}

// AppendSFRP appends the backend URL the Service Fabric Reverse Proxy forms: base without its trailing
// '/'s, then path exactly as received (a '/' between them when path does not begin with one, so an empty
// path gives base + "/"), then '?' and rawQuery when that is not empty. Unlike Append it keeps every byte of
// the path after the service name, empty segments ("//x") included.
//
//	AppendSFRP(nil, "http://10.0.0.4:20008/r1/", "//x", "") == "http://10.0.0.4:20008/r1//x"
//	AppendSFRP(nil, "http://10.0.0.4:20008/r1", "", "a=1") == "http://10.0.0.4:20008/r1/?a=1"
func AppendSFRP(dst, base, path, rawQuery []byte) []byte {
	dst = append(dst, bytes.TrimRight(base, "/")...)
	if len(path) == 0 || path[0] != '/' {
		dst = append(dst, '/')
	}
	dst = append(dst, path...)
	rawQuery = bytes.TrimPrefix(rawQuery, []byte("?"))
	if len(rawQuery) > 0 {
		dst = append(dst, '?')
		dst = append(dst, rawQuery...)
	}
	return dst
}

// AppendQuery appends query parameters ("name=value&...", already encoded) to the URL u: after '?' when u
// has no query yet, after '&' unless u ends with '?' or '&'. The backend's credential query parameters
// are added so.
func AppendQuery(u, query []byte) []byte {
	if len(query) == 0 {
		return u
	}
	switch {
	case bytes.IndexByte(u, '?') < 0:
		u = append(u, '?')
	case u[len(u)-1] != '?' && u[len(u)-1] != '&':
		u = append(u, '&')
	}
	return append(u, query...)
}
