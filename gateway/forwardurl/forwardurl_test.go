package forwardurl

import (
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestRequestPath(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b?x=1":         "/a/b",
		"/a%2Fb":           "/a%2Fb",
		"http://h:1/p/q?x": "/p/q",
		"http://h":         "/",
		"http://h?x":       "/",
		"*":                "",
		"h:443":            "",
		"/x#frag":          "/x",
		"/x?q#f":           "/x",
		"/x#f?q":           "/x",
	} {
		if got := string(RequestPath([]byte(in))); got != want {
			t.Errorf("RequestPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCutAPISuffix(t *testing.T) {
	for _, tc := range []struct {
		path, suffix, rest string
		ok                 bool
	}{
		{"/shop/orders/7", "shop", "/orders/7", true},
		{"/SHOP/orders", "shop", "/orders", true},
		{"/shop", "shop", "", true},
		{"/shopping/x", "shop", "", false},
		{"/a/b/c", "a/b", "/c", true},
		{"/x", "", "/x", true},
		{"", "", "", false},
		{"x", "", "", false},
	} {
		rest, ok := CutAPISuffix([]byte(tc.path), tc.suffix)
		if ok != tc.ok || string(rest) != tc.rest {
			t.Errorf("CutAPISuffix(%q, %q) = %q, %v; want %q, %v", tc.path, tc.suffix, rest, ok, tc.rest, tc.ok)
		}
	}
}

// The backend URL as APIM builds it, including the example of the APIM documentation for base-url
// (set-backend-service): one '/' at the join, encodings and the query kept byte for byte.
func TestForwardURL(t *testing.T) {
	cases := []struct{ base, suffix, path, query, want string }{
		{"http://contoso.com/api/8.2/", "api", "/api/partners/15", "version=2013-05&subscription-key=abcdef",
			"http://contoso.com/api/8.2/partners/15?version=2013-05&subscription-key=abcdef"},
		{"http://contoso.com/api/8.2", "api", "/api/partners/15", "version=2013-05",
			"http://contoso.com/api/8.2/partners/15?version=2013-05"},
		{"http://contoso.com/api/8.2/", "/api/", "/api/partners/15", "", "http://contoso.com/api/8.2/partners/15"},
		{"http://contoso.com", "api", "/api/a%2Fb/c%20d", "q=%C3%A9&x=a+b", "http://contoso.com/a%2Fb/c%20d?q=%C3%A9&x=a+b"},
		{"http://contoso.com/base/", "", "/partners", "?a=1", "http://contoso.com/base/partners?a=1"},
		{"http://contoso.com/base/", "api", "/api", "", "http://contoso.com/base/"},
		{"http://10.0.0.4:20008", "fabric", "/fabric/api/values", "", "http://10.0.0.4:20008/api/values"},
		{"http://contoso.com/", "API", "/api/x", "", "http://contoso.com/x"},
		{"http://contoso.com/", "api", "/apiary/x", "", "http://contoso.com/apiary/x"},
		{"http://contoso.com/", "api", "/api//x", "", "http://contoso.com/x"},
	}
	for _, tc := range cases {
		got := string(Append(nil, []byte(tc.base), AfterAPISuffix([]byte(tc.path), tc.suffix), []byte(tc.query)))
		if got != tc.want {
			t.Errorf("base %q, suffix %q, path %q, query %q: %q, want %q", tc.base, tc.suffix, tc.path, tc.query, got, tc.want)
		}
	}
}

func TestAppendSFRP(t *testing.T) {
	for _, tc := range []struct{ base, path, query, want string }{
		{"http://10.0.0.4:20008/r1", "/api/x", "a=1", "http://10.0.0.4:20008/r1/api/x?a=1"},
		{"http://10.0.0.4:20008/r1/", "//x", "", "http://10.0.0.4:20008/r1//x"},
		{"http://10.0.0.4:20008/r1//", "/a//b/", "", "http://10.0.0.4:20008/r1/a//b/"},
		{"http://10.0.0.4:20008/r1", "", "", "http://10.0.0.4:20008/r1/"},
		{"http://10.0.0.4:20008", "/", "?q", "http://10.0.0.4:20008/?q"},
		{"http://10.0.0.4:20008/r1", "/a%2F%2Fb", "", "http://10.0.0.4:20008/r1/a%2F%2Fb"},
	} {
		if got := string(AppendSFRP(nil, []byte(tc.base), []byte(tc.path), []byte(tc.query))); got != tc.want {
			t.Errorf("AppendSFRP(%q, %q, %q) = %q, want %q", tc.base, tc.path, tc.query, got, tc.want)
		}
	}
}

func TestAppendQuery(t *testing.T) {
	for _, tc := range []struct{ url, query, want string }{
		{"http://h/p", "key=a%26b", "http://h/p?key=a%26b"},
		{"http://h/p?x=1", "key=k", "http://h/p?x=1&key=k"},
		{"http://h/p?", "key=k", "http://h/p?key=k"},
		{"http://h/p?x=1&", "key=k", "http://h/p?x=1&key=k"},
		{"http://h/p?x=1", "", "http://h/p?x=1"},
	} {
		if got := string(AppendQuery([]byte(tc.url), []byte(tc.query))); got != tc.want {
			t.Errorf("AppendQuery(%q, %q) = %q, want %q", tc.url, tc.query, got, tc.want)
		}
	}
}

func TestNoAllocations(t *testing.T) {
	dst := make([]byte, 0, 256)
	target := []byte("/api/partners/15?version=2013-05")
	base := []byte("http://contoso.com/api/8.2/")
	credential := []byte("subscription-key=abc")
	n := testing.AllocsPerRun(100, func() {
		path := RequestPath(target)
		dst = Append(dst[:0], base, AfterAPISuffix(path, "/api/"), target[len(path)+1:])
		dst = AppendQuery(dst, credential)
	})
	if n != 0 {
		t.Errorf("%v allocations per URL", n)
	}
	if string(dst) != "http://contoso.com/api/8.2/partners/15?version=2013-05&subscription-key=abc" {
		t.Errorf("URL %q", dst)
	}
}

// The pieces never invent bytes: the request path is a prefix of the target's path part, the rest after a
// suffix is a tail of the path that starts at a segment, and the URL is the base, the path and the query
// with only the join slash and '?' added.
func FuzzForwardURL(f *testing.F) {
	f.Add("/api/partners/15?version=2013-05", "api", "http://contoso.com/api/8.2/")
	f.Add("http://h:1/API/a%2Fb#x", "/api/", "http://10.0.0.4:20008")
	f.Add("*", "", "")
	f.Fuzz(func(t *testing.T, target, suffix, base string) {
		path := RequestPath([]byte(target))
		if bytes.ContainsAny(path, "?#") {
			t.Fatalf("RequestPath(%q) = %q holds a query or fragment", target, path)
		}
		if len(path) > 0 && path[0] != '/' {
			t.Fatalf("RequestPath(%q) = %q does not start with '/'", target, path)
		}
		if rest, ok := CutAPISuffix(path, suffix); ok {
			if !bytes.HasSuffix(path, rest) || (len(rest) > 0 && rest[0] != '/') {
				t.Fatalf("CutAPISuffix(%q, %q) = %q", path, suffix, rest)
			}
		}
		after := AfterAPISuffix(path, suffix)
		if !bytes.HasSuffix(path, after) {
			t.Fatalf("AfterAPISuffix(%q, %q) = %q is not a tail of the path", path, suffix, after)
		}
		query := []byte("a=%2F&b")
		u := Append(nil, []byte(base), after, query)
		trimmed := bytes.TrimLeft(after, "/")
		if !bytes.HasSuffix(u, append([]byte("?"), query...)) || !bytes.Contains(u, trimmed) {
			t.Fatalf("Append(%q, %q, %q) = %q", base, after, query, u)
		}
		if want := len(bytes.TrimRight([]byte(base), "/")) + 1 + len(trimmed) + 1 + len(query); len(after) > 0 && len(u) != want {
			t.Fatalf("Append(%q, %q, %q) = %q: %d bytes, want %d", base, after, query, u, len(u), want)
		}
		u = AppendSFRP(nil, []byte(base), after, query)
		head := append(bytes.TrimRight([]byte(base), "/"), '/')
		if !bytes.HasPrefix(u, head) || !bytes.HasSuffix(u, append(append([]byte(nil), after...), append([]byte("?"), query...)...)) {
			t.Fatalf("AppendSFRP(%q, %q, %q) = %q: not the trimmed base, the path as received and the query", base, after, query, u)
		}
	})
}

func TestRequestQuery(t *testing.T) {
	for in, want := range map[string]string{
		"/a/b?x=1":           "x=1",
		"/a/b":               "",
		"/a?":                "",
		"/x?q=1#frag":        "q=1",
		"/x#f?q":             "",
		"http://h:1/p?a=%2F": "a=%2F",
		"/p?a=1?b=2":         "a=1?b=2",
	} {
		if got := string(RequestQuery([]byte(in))); got != want {
			t.Errorf("RequestQuery(%q) = %q, want %q", in, got, want)
		}
	}
}

// RequestPath and RequestQuery split an origin-form target as fasthttp's URI parser does (the expression
// context reads the path and the query from the raw target instead of parsing the URI).
func FuzzRequestQueryLikeFasthttp(f *testing.F) {
	f.Add("/shop/orders/7?customer=42")
	f.Add("/x#f?q")
	f.Add("/a?b#c?d")
	f.Fuzz(func(t *testing.T, target string) {
		if len(target) < 2 || target[0] != '/' || target[1] == '/' || strings.ContainsFunc(target, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return // fasthttp refuses control bytes; "//h/p" is not origin-form
		}
		var u fasthttp.URI
		if err := u.Parse([]byte("gateway.example"), []byte(target)); err != nil {
			return
		}
		if got, want := RequestQuery([]byte(target)), u.QueryString(); string(got) != string(want) {
			t.Fatalf("RequestQuery(%q) = %q, fasthttp's query %q", target, got, want)
		}
		if got, want := RequestPath([]byte(target)), u.PathOriginal(); string(got) != string(want) {
			t.Fatalf("RequestPath(%q) = %q, fasthttp's path %q", target, got, want)
		}
	})
}
