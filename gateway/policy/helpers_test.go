package policy

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/sfgate/sfgate/gateway/forwardurl"
	"github.com/valyala/fasthttp"
)

// examplesDir holds the example policies (also compiled by the golden test).
var examplesDir = filepath.Join("..", "..", "examples", "policies")

func readExample(t testing.TB, name string) Source {
	t.Helper()
	path := filepath.Join(examplesDir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return Source{File: filepath.ToSlash(filepath.Join("examples", "policies", name)), Line: 1, Text: b}
}

func mustParse(t testing.TB, name, text string) *Document {
	t.Helper()
	d, err := Parse(Source{File: name, Line: 1, Text: []byte(text)}, nil)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return d
}

func mustCompile(t testing.TB, ch Chain) *Program {
	t.Helper()
	p, err := Compile(ch)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

// request builds the expression context of a client request routed to the API of the APIM documentation's
// example (suffix "api", web service URL http://contoso.com/api/10.4/).
func request(t testing.TB, method, uri string, headers ...string) *expr.Context {
	t.Helper()
	req := &fasthttp.Request{}
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	c := &expr.Context{}
	c.Api = expr.API{Name: "partners", Path: "api", ServiceURL: "http://contoso.com/api/10.4/"}
	c.Operation = expr.Operation{Name: "get", Method: method, URLTemplate: "/partners/{id}"}
	c.RequestID = []byte("00000000-0000-0000-0000-000000000001")
	c.Timestamp = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	c.Begin(req, false)
	return c
}

// forwardURL is what the gateway computes for an http(s) target.
func forwardURL(c *expr.Context, r *Result) string {
	base := []byte(c.Api.ServiceURL)
	if r.Target.Set && r.Target.BaseURL != nil {
		base = r.Target.BaseURL
	}
	return string(forwardurl.Append(nil, base, c.PathAfterSuffix(), c.RawQuery()))
}
