package route

import (
	"errors"
	"testing"

	"github.com/sfgate/sfgate/gateway/forwardurl"
)

func table(t *testing.T) *Table {
	t.Helper()
	tb, err := NewTable([]APISpec{
		{Path: "shop", Operations: []OperationSpec{
			{Method: "GET", URLTemplate: "/orders/{id}"},
			{Method: "GET", URLTemplate: "/orders/latest"},
			{Method: "POST", URLTemplate: "/orders"},
			{Method: "*", URLTemplate: "/files/{*path}"},
			{Method: "GET", URLTemplate: "/static/*"},
		}},
		{Path: "/shop/admin/"},
		{Path: ""},
		{Path: "api"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestMatch(t *testing.T) {
	tb := table(t)
	cases := []struct {
		method, path string
		api, op      int
		rest         string
		params       map[string]string
		err          error
	}{
		{"GET", "/shop/orders/15", 0, 0, "/orders/15", map[string]string{"id": "15"}, nil},
		{"GET", "/SHOP/Orders/15/", 0, 0, "/Orders/15/", map[string]string{"id": "15"}, nil},
		{"GET", "/shop/orders/latest", 0, 1, "/orders/latest", nil, nil},
		{"GET", "/shop/orders/a%2Fb%20c", 0, 0, "/orders/a%2Fb%20c", map[string]string{"id": "a/b c"}, nil},
		{"POST", "/shop/orders", 0, 2, "/orders", nil, nil},
		{"DELETE", "/shop/files/a/b%20c", 0, 3, "/files/a/b%20c", map[string]string{"path": "a/b c"}, nil},
		{"GET", "/shop/static/x/y", 0, 4, "/static/x/y", nil, nil},
		{"GET", "/shop/static", 0, 4, "/static", nil, nil},
		{"PUT", "/shop/orders/1", 0, -1, "/orders/1", nil, ErrNoOperation},
		{"GET", "/shop/orders/1/items", 0, -1, "/orders/1/items", nil, ErrNoOperation},
		{"GET", "/shop/admin/users", 1, -1, "/users", nil, nil},
		{"GET", "/shopping/x", 2, -1, "/shopping/x", nil, nil},
		{"GET", "/api", 3, -1, "", nil, nil},
		{"GET", "/", 2, -1, "/", nil, nil},
	}
	var params []Param
	var buf []byte
	for _, c := range cases {
		res, b, err := tb.Match([]byte(c.method), []byte(c.path), params, buf)
		buf = b
		if !errors.Is(err, c.err) || (c.err == nil && err != nil) {
			t.Errorf("%s %s: err %v, want %v", c.method, c.path, err, c.err)
			continue
		}
		if res.API != c.api || res.Operation != c.op || string(res.Rest) != c.rest {
			t.Errorf("%s %s: api %d op %d rest %q, want %d %d %q", c.method, c.path, res.API, res.Operation, res.Rest, c.api, c.op, c.rest)
		}
		if len(res.Params) != len(c.params) {
			t.Errorf("%s %s: params %v, want %v", c.method, c.path, res.Params, c.params)
		}
		for _, p := range res.Params {
			if c.params[p.Name] != string(p.Value) {
				t.Errorf("%s %s: param %s=%q, want %q", c.method, c.path, p.Name, p.Value, c.params[p.Name])
			}
		}
	}
	noRoot, _ := NewTable([]APISpec{{Path: "shop"}})
	if _, _, err := noRoot.Match([]byte("GET"), []byte("/other"), nil, nil); !errors.Is(err, ErrNoAPI) {
		t.Errorf("unmatched path: err %v, want ErrNoAPI", err)
	}
}

func TestParseTemplateErrors(t *testing.T) {
	for _, s := range []string{"orders", "/a/*/b", "/a/{}", "/a/{id}/{id}", "/a//b", "/a/x{id}", "/{a b}"} {
		if _, err := ParseTemplate(s); err == nil {
			t.Errorf("ParseTemplate(%q) accepted", s)
		}
	}
	if _, err := NewTable([]APISpec{{Path: "a", Operations: []OperationSpec{{Method: "GET", URLTemplate: "bad"}}}}); err == nil {
		t.Error("NewTable accepted a bad template")
	}
}

func TestMatchAllocs(t *testing.T) {
	tb := table(t)
	params := make([]Param, 0, 8)
	buf := make([]byte, 0, 256)
	method, path := []byte("GET"), []byte("/shop/orders/15")
	n := testing.AllocsPerRun(100, func() {
		res, b, err := tb.Match(method, path, params, buf)
		if err != nil || len(res.Params) != 1 {
			t.Fatal(err)
		}
		buf = b
	})
	if n != 0 {
		t.Errorf("Match allocates %v times per run", n)
	}
}

func BenchmarkMatch(b *testing.B) {
	tb, _ := NewTable([]APISpec{{Path: "shop", Operations: []OperationSpec{{Method: "GET", URLTemplate: "/orders/{id}"}, {Method: "POST", URLTemplate: "/orders"}}}, {Path: "api"}})
	params := make([]Param, 0, 8)
	buf := make([]byte, 0, 256)
	method, path := []byte("GET"), []byte("/shop/orders/15")
	b.ReportAllocs()
	for b.Loop() {
		_, buf, _ = tb.Match(method, path, params, buf)
	}
}

func FuzzMatch(f *testing.F) {
	tb, _ := NewTable([]APISpec{{Path: "shop", Operations: []OperationSpec{{Method: "GET", URLTemplate: "/orders/{id}"}, {Method: "*", URLTemplate: "/f/{*rest}"}}}, {Path: ""}})
	f.Add("GET", "/shop/orders/15?x=1")
	f.Add("GET", "http://h/shop/f/a%zz/%41")
	f.Add("POST", "//shop//")
	f.Fuzz(func(t *testing.T, method, target string) {
		res, _, err := tb.Match([]byte(method), forwardurl.RequestPath([]byte(target)), nil, nil)
		if err == nil && res.API < 0 {
			t.Fatal("nil error without an API")
		}
	})
}

func FuzzParseTemplate(f *testing.F) {
	f.Add("/orders/{id}")
	f.Add("/f/{*rest}?a={b}")
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTemplate(s)
		if err == nil {
			tm.score([]byte(s))
		}
	})
}
