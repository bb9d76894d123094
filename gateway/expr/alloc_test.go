package expr

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// routingCases are the conditions of the APIM documentation's examples and the common key expressions:
// evaluating them must not allocate (beyond the values they return, which here are views).
var routingCases = []struct {
	src  string
	want string
}{
	{`@(context.Request.Url.Query.GetValueOrDefault("version") == "2013-05")`, "True"},
	{`@(context.Request.Url.Query.GetValueOrDefault("userId",""))`, "42"},
	{`@(context.LastError?.Reason == "BackendConnectionFailure")`, "True"},
	{`@(context.Response.StatusCode == 503)`, "True"},
	{`@(context.Response.StatusCode >= 500 && context.Response.StatusCode != 501)`, "True"},
	{`@(context.Request.Headers.GetValueOrDefault("X-Tenant", ""))`, "contoso"},
	{`@(context.Request.MatchedParameters["id"])`, "15"},
	{`@(context.Request.MatchedParameters.ContainsKey("id") ? context.Request.MatchedParameters["id"] : string.Empty)`, "15"},
	{`@(long.Parse(context.Request.Url.Query.GetValueOrDefault("userId", "0")) % 4)`, "2"},
	{`@(context.Variables.GetValueOrDefault<string>("target") != "")`, "True"},
	{`@((string)context.Variables["target"])`, "orders"},
	{`@(context.Request.Method == "GET" && !context.Request.Headers.ContainsKey("Authorization"))`, "True"},
	{`@(context.Request.Headers.GetValueOrDefault("User-Agent","").Contains("iPad"))`, "False"},
	{`@("fabric:/myapp/users/" + context.Request.MatchedParameters["id"])`, "fabric:/myapp/users/15"},
	{`@((int)context.Response.StatusCode != 200 || context.LastError?.Reason == "Timeout")`, "True"},
	{`@(string.IsNullOrEmpty(context.Variables.GetValueOrDefault<string>("clientId")))`, "True"},
	{`@(context.Request.Url.Host.Contains("contoso.com") && context.Request.Url.Port == 80)`, "True"},
	{`@(context.Request.OriginalUrl.Host.Equals("CONTOSO.azure-api.net", StringComparison.OrdinalIgnoreCase))`, "True"},
	{`@(context.Variables.ContainsKey("target") ? (string)context.Variables["target"] : "default")`, "orders"},
	{`@(context.Request.Headers.GetValueOrDefault("X-Tenant","").ToLower().Trim())`, "contoso"},
	{`@(int.Parse(context.Request.MatchedParameters["id"]) % 4)`, "3"},
	{`@(string.Format("{0}-{1}", context.Request.MatchedParameters["id"], context.Response.StatusCode))`, "15-503"},
	{`@($"{context.Request.MatchedParameters["id"]}-{context.Response.StatusCode}")`, "15-503"},
	{`@(context.Request.Url.Query.GetValueOrDefault("userId", "0").Split(',')[0].Substring(0, 1))`, "4"},
	{`@{ var id = context.Request.MatchedParameters["id"]; if (id.Length > 1) { return "long:" + id; } return id; }`, "long:15"},
	{`@(BitConverter.ToInt64(System.Security.Cryptography.MD5.Create().ComputeHash(System.Text.Encoding.UTF8.GetBytes(context.Request.MatchedParameters["id"])), 0))`, "7679590574661104539"},
	{`@{ using (var sha = SHA256.Create()) { byte[] h = sha.ComputeHash(Encoding.UTF8.GetBytes(context.Request.Headers.GetValueOrDefault("X-Tenant", ""))); return Math.Abs(BitConverter.ToInt64(h, 8) % 16); } }`, "11"},
	{`@(context.LastError?.Reason == "BackendConnectionFailure" || context.Response.StatusCode == 503 || context.Response.StatusCode == 410 || (context.Response.StatusCode == 404 && context.Response.Headers.GetValueOrDefault("X-ServiceFabric", "") != "ResourceNotFound"))`, "True"},
}

func routingContext(t testing.TB) *Context {
	c := newTestContext(t, "GET", "https://contoso.azure-api.net/api/partners/15?version=2013-05&subscription-key=abcdef&userId=42",
		"X-Tenant", "contoso", "User-Agent", "curl/8")
	var resp fasthttp.Response
	resp.SetStatusCode(503)
	c.Response = &Response{StatusCode: 503, Header: &resp.Header}
	c.LastError = &LastError{Source: "forward-request", Reason: ReasonBackendConnectionFailure, Message: "dial tcp: refused"}
	c.SetVariable("target", BytesValue([]byte("orders")))
	return c
}

func TestRoutingExpressionsDoNotAllocate(t *testing.T) {
	c := routingContext(t)
	for _, tc := range routingCases {
		e := mustCompile(t, tc.src, TypeAny)
		v, err := e.Eval(c)
		if err != nil {
			t.Fatalf("%s: %v", tc.src, err)
		}
		if v.String() != tc.want {
			t.Fatalf("%s = %q, want %q", tc.src, v.String(), tc.want)
		}
		mark, lists := len(c.arena), len(c.lists)
		allocs := testing.AllocsPerRun(200, func() {
			c.arena, c.lists = c.arena[:mark], c.lists[:lists]
			if _, err := e.Eval(c); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per evaluation, want 0", tc.src, allocs)
		}
	}
}

func BenchmarkRoutingExpressions(b *testing.B) {
	c := routingContext(b)
	for _, tc := range routingCases {
		e := mustCompile(b, tc.src, TypeAny)
		name := tc.src
		if len(name) > 60 {
			name = name[:60]
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			mark, lists := len(c.arena), len(c.lists)
			for b.Loop() {
				c.arena, c.lists = c.arena[:mark], c.lists[:lists]
				if _, err := e.Eval(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
