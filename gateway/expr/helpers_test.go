package expr

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// newTestContext builds the context of a request to uri with the given headers, routed to an
// API with suffix "api" and web service URL http://contoso.com/api/10.4/.
func newTestContext(t testing.TB, method, uri string, headers ...string) *Context {
	t.Helper()
	req := &fasthttp.Request{}
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	c := &Context{}
	c.Api = API{Name: "partners", Path: "api", ServiceURL: "http://contoso.com/api/10.4/"}
	c.Operation = Operation{Name: "get-partner", Method: "GET", URLTemplate: "/partners/{id}"}
	c.MatchedParameters = append(c.MatchedParameters, Param{Name: "id", Value: []byte("15")}, Param{Name: "name", Value: []byte("foo")})
	c.IPAddress = []byte("10.1.2.3")
	c.RequestID = []byte("5b3b2f1e-8a0e-4f6f-9d56-2f4a1c0e7d11")
	c.Timestamp = time.Date(2026, 11, 22, 13, 24, 1, 0, time.UTC)
	c.BeginTarget(req, false)
	return c
}

func mustCompile(t testing.TB, src string, want Type) *Expr {
	t.Helper()
	e, err := Compile(src, Pos{File: "test.xml", Line: 1, Col: 1}, want)
	if err != nil {
		t.Fatalf("Compile(%s): %v", src, err)
	}
	return e
}
