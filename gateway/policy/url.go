package policy

import (
	"bytes"

	"github.com/sfgate/sfgate/gateway/expr"
)

// BuildURL builds the URL a request is forwarded to (apim.md §2.2): the backend base URL, the
// request path after the API URL suffix, and the full original query, with exactly one '/' at
// the join and every other byte (percent-encodings included) kept as it is.
//
//	BuildURL("http://contoso.com/api/8.2/", "api", "/api/partners/15", "version=2013-05&subscription-key=abcdef")
//	== "http://contoso.com/api/8.2/partners/15?version=2013-05&subscription-key=abcdef"
func BuildURL(base, apiSuffix, requestPath, rawQuery string) string {
	rest := expr.StripAPISuffix([]byte(requestPath), apiSuffix)
	return string(AppendURL(nil, []byte(base), rest, []byte(rawQuery)))
}

// AppendURL appends base + "/" + pathAfterSuffix (one slash at the join) + "?" + rawQuery (when
// not empty; a leading '?' in rawQuery is accepted) to dst.
func AppendURL(dst, base, pathAfterSuffix, rawQuery []byte) []byte {
	rest := bytes.TrimLeft(pathAfterSuffix, "/")
	if len(pathAfterSuffix) == 0 {
		dst = append(dst, base...)
	} else {
		dst = append(dst, bytes.TrimRight(base, "/")...)
		dst = append(dst, '/')
		dst = append(dst, rest...)
	}
	rawQuery = bytes.TrimPrefix(rawQuery, []byte("?"))
	if len(rawQuery) > 0 {
		dst = append(dst, '?')
		dst = append(dst, rawQuery...)
	}
	return dst
}

// AppendForwardURL appends the URL to forward c's request to, given the backend base URL
// (set-backend-service base-url, a backend's url, the API's service URL, or a resolved Service
// Fabric listener address): the path after the API suffix as rewritten by rewrite-uri, and the
// query (the original bytes unless a policy edited it).
func AppendForwardURL(dst []byte, c *expr.Context, base []byte) []byte {
	return AppendURL(dst, base, c.PathAfterSuffix(), c.RawQuery())
}
