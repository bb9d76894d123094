package policy

import (
	"strings"
	"testing"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/valyala/fasthttp"
)

// docsPrograms are the two examples of the APIM documentation (the second corrected) compiled under the
// default global policy.
func docsPrograms(t testing.TB) map[string]*Program {
	fixed := strings.Replace(docsServiceFabric, `GetValueOrDefault("userId","")"`, `GetValueOrDefault("userId",""))"`, 1)
	return map[string]*Program{
		"version-routing": mustCompile(t, Chain{API: mustParse(t, "api.xml", docsVersionRouting)}),
		"service-fabric":  mustCompile(t, Chain{API: mustParse(t, "sf.xml", fixed)}),
	}
}

// perRequest runs one request through the inbound section the way the gateway does: reset the
// pooled context and result, fill them, Begin, Inbound.
func perRequest(t testing.TB, p *Program, c *expr.Context, r *Result, req *fasthttp.Request) {
	c.Reset()
	r.Reset()
	c.Api = expr.API{Name: "partners", Path: "api", ServiceURL: "http://contoso.com/api/10.4/"}
	c.Begin(req, true)
	if err := p.Inbound(c, r); err != nil {
		t.Fatal(err)
	}
	if !r.Target.Set {
		t.Fatal("no target")
	}
}

func TestAPIMDocsInboundDoesNotAllocate(t *testing.T) {
	req := &fasthttp.Request{}
	req.SetRequestURI("https://contoso.azure-api.net/api/partners/15?version=2013-05&subscription-key=abcdef&userId=4711")
	for name, p := range docsPrograms(t) {
		var c expr.Context
		var r Result
		perRequest(t, p, &c, &r, req)
		allocs := testing.AllocsPerRun(200, func() { perRequest(t, p, &c, &r, req) })
		if allocs != 0 {
			t.Errorf("%s: %v allocations per request, want 0", name, allocs)
		}
	}
}

func BenchmarkAPIMDocsInbound(b *testing.B) {
	req := &fasthttp.Request{}
	req.SetRequestURI("https://contoso.azure-api.net/api/partners/15?version=2013-05&subscription-key=abcdef&userId=4711")
	for name, p := range docsPrograms(b) {
		b.Run(name, func(b *testing.B) {
			var c expr.Context
			var r Result
			b.ReportAllocs()
			for b.Loop() {
				perRequest(b, p, &c, &r, req)
			}
		})
	}
}

func BenchmarkParseAndCompile(b *testing.B) {
	src := readExample(b, "sf-resolve-condition-reverse-proxy.xml")
	b.ReportAllocs()
	for b.Loop() {
		d, err := Parse(src, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Compile(Chain{API: d}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestProgramIsSafeForConcurrentUse runs one compiled program from many goroutines, each with
// its own pooled context (run with -race).
func TestProgramIsSafeForConcurrentUse(t *testing.T) {
	p := mustCompile(t, Chain{API: mustParse(t, "rp.xml", string(readExample(t, "sf-resolve-condition-reverse-proxy.xml").Text))})
	done := make(chan string)
	for g := 0; g < 8; g++ {
		go func() {
			req := &fasthttp.Request{}
			key := strings.Repeat("7", g+1)
			req.SetRequestURI("http://gw/api/orders/1")
			req.Header.Set("X-Customer", key)
			var c expr.Context
			var r Result
			for i := 0; i < 200; i++ {
				c.Reset()
				r.Reset()
				c.Api = expr.API{Path: "api"}
				c.Begin(req, false)
				if err := p.Inbound(&c, &r); err != nil {
					done <- err.Error()
					return
				}
				if string(r.Target.PartitionKey) != key {
					done <- "key " + string(r.Target.PartitionKey) + " want " + key
					return
				}
				c.Response = &expr.Response{StatusCode: 503}
				if ok, err := r.Target.ResolveCondition(&c); err != nil || !ok {
					done <- "resolve condition"
					return
				}
			}
			done <- ""
		}()
	}
	for g := 0; g < 8; g++ {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}
