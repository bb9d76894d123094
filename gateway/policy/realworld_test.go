package policy

import (
	"bufio"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/valyala/fasthttp"
)

// Where an expression sits in a policy document, which decides how the table test runs it.
const (
	posCondition   = "when@condition"               // inbound choose: the result is the branch taken
	posValue       = "set-variable@value"           // the result is the variable
	posBaseURL     = "set-backend-service@base-url" // Target.BaseURL
	posBackendID   = "set-backend-service@backend-id"
	posPartition   = "set-backend-service@sf-partition-key"
	posService     = "set-backend-service@sf-service-instance-name"
	posListener    = "set-backend-service@sf-listener-name"
	posResolve     = "set-backend-service@sf-resolve-condition" // Target.ResolveCondition after an attempt
	posRetry       = "retry@condition"                          // backend retry around forward-request: the number of forwards
	unsupportedMsg = "not supported by sfgate"
)

// realWorld lists expression strings that published APIM policies use (Microsoft's documentation and public
// policy snippets; n numbers them), each in the position real policies use it. Each either runs against
// the request of realWorldRequest with the asserted result, or fails to load with a "not supported by
// sfgate" error naming the construct at the expression's line.
var realWorld = []struct {
	n        string
	pos      string
	src      string // raw attribute text, as APIM users write it (unescaped quotes)
	preamble string // inbound policies that run first (variables, a backend)
	status   int    // context.Response of the backend attempt (posResolve, posRetry: the first attempt)
	reason   string
	lastErr  string // context.LastError.Reason of the attempt (posResolve, posCondition)
	want     string // result; "unsupported: CONSTRUCT" for a load error
}{
	{n: "1", pos: posCondition, src: `@(context.Request.Url.Query.GetValueOrDefault("version") == "2013-05")`, want: "when"},
	{n: "2", pos: posPartition, src: `@(context.Request.Url.Query.GetValueOrDefault("userId",""))`, want: "42"},
	{n: "3", pos: posCondition, src: `@(context.Request.Headers.GetValueOrDefault("User-Agent","").Contains("iPad") || context.Request.Headers.GetValueOrDefault("User-Agent","").Contains("iPhone"))`, want: "when"},
	{n: "4", pos: posBackendID, src: `@(context.Request.Headers.GetValueOrDefault("X-AI-Foundry-Target", ""))`, want: "eastus-aoai"},
	{n: "5", pos: posValue, src: `@(context.Request.Headers["Content-Length"][0])`, want: "13"},
	{n: "6", pos: posListener, src: `@(context.Request.MatchedParameters.ContainsKey("deployment-id") ? context.Request.MatchedParameters["deployment-id"] : string.Empty)`, want: ""},
	{n: "7", pos: posService, src: `@("fabric:/myapp/users/" + context.Request.MatchedParameters["name"])`, want: "fabric:/myapp/users/foo"},
	{n: "8", pos: posCondition, src: `@(!context.Request.Headers.ContainsKey("Authorization"))`, want: "when"},
	{n: "9", pos: posCondition, src: `@(context.Variables.GetValueOrDefault<bool>("isMobile"))`,
		preamble: `<set-variable name="isMobile" value="@(context.Request.Headers.GetValueOrDefault("User-Agent","").Contains("iPhone"))" />`, want: "when"},
	{n: "10", pos: posCondition, src: `@(context.Variables.GetValueOrDefault<int>("urlId") == 1)`,
		preamble: `<set-variable name="urlId" value="@(2)" />`, want: "otherwise"},
	{n: "11", pos: posCondition, src: `@(context.Variables.GetValueOrDefault<string>("target") != "")`,
		preamble: `<set-variable name="target" value="orders" />`, want: "when"},
	{n: "12", pos: posBaseURL, src: `@(context.Variables.GetValueOrDefault<string>("backendUrl", "none"))`,
		preamble: `<set-variable name="backendUrl" value="http://orders.internal:8080/" />`, want: "http://orders.internal:8080/"},
	{n: "13", pos: posBackendID, src: `@((string)context.Variables["backend-id"])`,
		preamble: `<set-variable name="backend-id" value="orders-eu" />`, want: "orders-eu"},
	{n: "14", pos: posValue, src: `@(context.Variables.ContainsKey("maxAge") ? int.Parse((string)context.Variables["maxAge"]) : 3600)`,
		preamble: `<set-variable name="maxAge" value="600" />`, want: "int 600"},
	{n: "15", pos: posCondition, src: `@(context.Variables.GetValueOrDefault("entra-auth") == "true")`,
		preamble: `<set-variable name="entra-auth" value="true" />`, want: "when"},
	{n: "16", pos: posCondition, src: `@(context.Variables["redirect"] == string.Empty)`,
		preamble: `<set-variable name="redirect" value="@(context.Request.Url.Query.GetValueOrDefault("redirect", ""))" />`, want: "when"},
	{n: "17", pos: posRetry, src: `@(context.Response.StatusCode == 500)`, status: 500, want: "2"},
	{n: "18", pos: posRetry, src: `@(context.Response.StatusCode >= 500)`, status: 404, want: "1"},
	{n: "19", pos: posRetry, src: `@(context.Response == null || (int)context.Response.StatusCode >= 500)`, status: 503, want: "2"},
	{n: "20", pos: posRetry, src: `@(context.Response != null && (context.Response.StatusCode == 429 || context.Response.StatusCode >= 500) && (int.Parse((string)context.Variables["remainingBackends"])) > 0)`,
		preamble: `<set-variable name="remainingBackends" value="2" />`, status: 429, want: "2"},
	{n: "21", pos: posRetry, src: `@(context.Variables["response"] == null || ((IResponse)context.Variables["response"]).StatusCode >= 500)`, want: "unsupported: cast to IResponse"},
	{n: "22", pos: posResolve, src: `@(context.LastError?.Reason == "BackendConnectionFailure")`, lastErr: expr.ReasonBackendConnectionFailure, want: "true"},
	{n: "22 (success)", pos: posResolve, src: `@(context.LastError?.Reason == "BackendConnectionFailure")`, status: 200, want: "false"},
	{n: "23", pos: posResolve, src: `@((int)context.Response.StatusCode != 200)`, status: 204, want: "true"},
	{n: "24", pos: posResolve, src: `@((int)context.Response.StatusCode != 200 || context.LastError?.Reason == "BackendConnectionFailure" || context.LastError?.Reason == "Timeout")`,
		status: 200, lastErr: expr.ReasonTimeout, want: "true"},
	{n: "25", pos: posRetry, src: `@(context.Response.StatusCode == 429 || (context.Response.StatusCode == 503 && !context.Response.StatusReason.Contains("Backend pool")))`,
		status: 503, reason: "Service Unavailable", want: "2"},
	{n: "25 (pool)", pos: posRetry, src: `@(context.Response.StatusCode == 429 || (context.Response.StatusCode == 503 && !context.Response.StatusReason.Contains("Backend pool")))`,
		status: 503, reason: "Backend pool is unavailable", want: "1"},
	{n: "26", pos: posCondition, src: `@(context.LastError.Source == "configuration" && context.Request.Url.Path == "/echo/resource-cached")`,
		lastErr: "Unknown", want: "otherwise"},
	{n: "27", pos: posCondition, src: `@("West US".Equals(context.Deployment.Region, StringComparison.OrdinalIgnoreCase))`, want: "unsupported: context.Deployment"},
	{n: "28", pos: posCondition, src: `@(context.Deployment.Region.Equals("east us", System.StringComparison.InvariantCultureIgnoreCase))`, want: "unsupported: context.Deployment"},
	{n: "29", pos: posCondition, src: `@(context.Request.Url.Host.Contains("hello-eus.azurewebsites.net"))`,
		preamble: `<set-backend-service base-url="https://hello-eus.azurewebsites.net/api" />`, want: "when"},
	{n: "30", pos: posCondition, src: `@(((string)context.Variables["redirect"]).StartsWith("/oauth", StringComparison.InvariantCultureIgnoreCase))`,
		preamble: `<set-variable name="redirect" value="/OAuth/callback" />`, want: "when"},
	{n: "31", pos: posCondition, src: `@(context.Operation.Method == "POST" && context.Request.Url.Path.EndsWith("/files"))`, want: "when"},
	{n: "32", pos: posCondition, src: `@(context.Response.StatusCode == 200 && context.Product.Name.Equals("Starter"))`, want: "unsupported: context.Product"},
	{n: "33", pos: posCondition, src: `@(string.IsNullOrEmpty(context.Variables.GetValueOrDefault<string>("clientId")))`, want: "when"},
	{n: "34", pos: posCondition, src: `@(new [] {"post", "put"}.Contains(context.Request.Method, StringComparer.OrdinalIgnoreCase))`, want: `unsupported: array creation "new [] {...}"`},
	{n: "35", pos: posValue, src: `@(context.Request.Headers.GetValueOrDefault("deployment","").Contains("blue")?"/beta":"")`, want: "/beta"},
	{n: "36", pos: posBaseURL, src: `@(context.Api.ServiceUrl.ToString() + "api/" + (string)context.Variables["clientversion"] + "/")`,
		preamble: `<set-variable name="clientversion" value="v2" />`, want: "http://contoso.com/api/10.4/api/v2/"},
	{n: "37", pos: posBackendID, src: `@(string.Format("AOAI-{0}", DateTime.Now.Ticks % int.Parse("{{AOAICount}}")))`, want: "AOAI-0"},
	{n: "38", pos: posCondition, src: `@(int.Parse(context.Variables.GetValueOrDefault<string>("bodySize"))<256000)`,
		preamble: `<set-variable name="bodySize" value="@(context.Request.Headers.GetValueOrDefault("Content-Length", "0"))" />`, want: "when"},
	{n: "39", pos: posCondition, src: `@(new System.Random().Next(1,100) &lt;= {{MyTrafficSplitApp_TrafficSplitWeight}})`, want: `unsupported: object creation "new System.Random(...)"`},
	{n: "40", pos: posValue, src: `@(new Random(context.RequestId.GetHashCode()).Next(1, 3))`, want: `unsupported: object creation "new Random(...)"`},
	{n: "41", pos: posCondition, src: `@(context.Deployment.Gateway.Id == "factory-gateway")`, want: "unsupported: context.Deployment"},
	{n: "41b", pos: posCondition, src: `@(context.Deployment.Gateway.IsManaged == false)`, want: "unsupported: context.Deployment"},
	{n: "42", pos: posValue, src: `@{ var b = context.Request.Body?.As<JObject>(true); return (b != null && b["model"] != null) ? b["model"].ToString() : "unknown"; }`, want: "unsupported: context.Request.Body"},
	{n: "43", pos: posCondition, src: `@(Array.Exists(context.Variables.GetValueOrDefault("ops","").Split(','), op => op == context.Operation.Id))`, want: "unsupported: lambda expressions"},
	{n: "44", pos: posBackendID, src: `@(((JObject)((JArray)context.Variables["listBackends"])[(Int32)context.Variables["backendIndex"]]).Value<string>("name"))`, want: "unsupported: cast to JObject"},
}

// realWorldNamedValues are the named values §3.3's expressions reference.
var realWorldNamedValues = NamedValues{"AOAICount": "1", "MyTrafficSplitApp_TrafficSplitWeight": "50"}

// realWorldRequest is a client request as fasthttp reads it from the wire, routed to the
// operation POST /users/{name}/files of the API with suffix "api".
func realWorldRequest(t *testing.T) *expr.Context {
	t.Helper()
	raw := "POST /api/users/foo/files?version=2013-05&userId=42&subscription-key=abc HTTP/1.1\r\n" +
		"Host: contoso.azure-api.net\r\n" +
		"User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)\r\n" +
		"X-AI-Foundry-Target: eastus-aoai\r\n" +
		"deployment: blue-green\r\n" +
		"Content-Type: application/json\r\n" +
		"Content-Length: 13\r\n\r\n" +
		`{"model":"x"}`
	req := &fasthttp.Request{}
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	c := &expr.Context{}
	c.Api = expr.API{Name: "users", Path: "api", ServiceURL: "http://contoso.com/api/10.4/"}
	c.Operation = expr.Operation{Name: "upload", Method: "POST", URLTemplate: "/users/{name}/files"}
	c.MatchedParameters = []expr.Param{{Name: "name", Value: []byte("foo")}}
	c.IPAddress = []byte("203.0.113.7")
	c.RequestID = []byte("5b3b2f1e-8a0e-4f6f-9d56-2f4a1c0e7d11")
	c.Timestamp = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	c.Begin(req, true)
	return c
}

// realWorldDocument places src at pos in a policy document, on a line of its own.
func realWorldDocument(pos, src, preamble string) string {
	var inbound, backend string
	switch pos {
	case posCondition:
		inbound = `<choose>
      <when condition="` + src + `"><set-variable name="branch" value="when" /></when>
      <otherwise><set-variable name="branch" value="otherwise" /></otherwise></choose>`
	case posValue:
		inbound = `<set-variable name="result"
      value="` + src + `" />`
	case posBaseURL:
		inbound = `<set-backend-service
      base-url="` + src + `" />`
	case posRetry:
		backend = `<retry count="3" interval="0"
      condition="` + src + `"><forward-request /></retry>`
	default:
		attr := strings.TrimPrefix(pos, "set-backend-service@")
		id := `backend-id="orders"`
		if attr == "backend-id" {
			id = ""
		}
		inbound = `<set-backend-service ` + id + `
      ` + attr + `="` + src + `" />`
	}
	return "<policies>\n  <inbound>\n    " + preamble + "\n    " + inbound + "\n  </inbound>\n  <backend>" + backend + "</backend>\n</policies>\n"
}

// scriptedBackend answers the first forward-request with status/reason, later ones with 200.
type scriptedBackend struct {
	status int
	reason string
	calls  int
}

func (b *scriptedBackend) Forward(_ context.Context, c *expr.Context, _ *Result, _ time.Duration) error {
	b.calls++
	status, reason := 200, "OK"
	if b.calls == 1 && b.status != 0 {
		status, reason = b.status, b.reason
	}
	resp := &fasthttp.Response{}
	resp.SetStatusCode(status)
	c.Response = &expr.Response{StatusCode: status, Reason: []byte(reason), Header: &resp.Header}
	return nil
}

func TestRealWorldExpressions(t *testing.T) {
	for _, tc := range realWorld {
		t.Run(tc.n, func(t *testing.T) {
			text := realWorldDocument(tc.pos, tc.src, tc.preamble)
			const firstLine = 40 // as if the document were inline in a YAML file
			d, err := Parse(Source{File: "sfgate.yaml", Line: firstLine, Text: []byte(text)}, realWorldNamedValues)
			if construct, ok := strings.CutPrefix(tc.want, "unsupported: "); ok {
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("Parse = %v, want a load error", err)
				}
				if !strings.Contains(pe.Msg, unsupportedMsg) || !strings.Contains(pe.Msg, construct) {
					t.Errorf("error %q does not say %q is %s", err, construct, unsupportedMsg)
				}
				line := text[strings.LastIndex(text[:strings.Index(text, tc.src)], "\n")+1:]
				if at := constructText(construct); pe.Col < 1 || pe.Col > len(line) || !strings.HasPrefix(line[pe.Col-1:], at) {
					t.Errorf("column %d does not point at %q in %q", pe.Col, at, line)
				}
				if wantLine := firstLine + strings.Count(text[:strings.Index(text, tc.src)], "\n"); pe.Line != wantLine || pe.File != "sfgate.yaml" {
					t.Errorf("error at %s:%d, want sfgate.yaml:%d", pe.File, pe.Line, wantLine)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse:\n%s\n%v", text, err)
			}
			p := mustCompile(t, Chain{API: d})
			c := realWorldRequest(t)
			if tc.pos == posCondition && tc.lastErr != "" {
				c.LastError = &expr.LastError{Source: "forward-request", Reason: tc.lastErr}
			}
			var r Result
			if err := p.Inbound(c, &r); err != nil {
				t.Fatalf("Inbound: %v", err)
			}
			got := ""
			switch tc.pos {
			case posCondition:
				got = variable(t, c, "branch")
			case posValue:
				got = variable(t, c, "result")
			case posBaseURL:
				got = string(r.Target.BaseURL)
			case posBackendID:
				got = string(r.Target.BackendID)
			case posPartition:
				got = string(r.Target.PartitionKey)
			case posService:
				got = string(r.Target.ServiceInstanceName)
			case posListener:
				got = string(r.Target.ListenerName)
			case posResolve:
				if tc.status != 0 {
					resp := &fasthttp.Response{}
					c.Response = &expr.Response{StatusCode: tc.status, Header: &resp.Header}
				}
				if tc.lastErr != "" {
					c.LastError = &expr.LastError{Source: "forward-request", Reason: tc.lastErr}
				}
				ok, err := r.Target.ResolveCondition(c)
				if err != nil {
					t.Fatalf("ResolveCondition: %v", err)
				}
				got = strconv.FormatBool(ok)
			case posRetry:
				b := &scriptedBackend{status: tc.status, reason: tc.reason}
				if err := p.Backend(t.Context(), c, &r, b); err != nil {
					t.Fatalf("Backend: %v", err)
				}
				got = strconv.Itoa(b.calls)
			}
			if got != tc.want {
				t.Errorf("%s in %s = %q, want %q", tc.src, tc.pos, got, tc.want)
			}
		})
	}
}

// constructText is the source text an error about construct must point at.
func constructText(construct string) string {
	switch {
	case strings.HasPrefix(construct, "context."):
		return construct[strings.LastIndex(construct, ".")+1:]
	case strings.HasPrefix(construct, "cast to "):
		return "(" + strings.TrimPrefix(construct, "cast to ") + ")"
	case strings.HasPrefix(construct, "lambda"):
		return "=>"
	}
	return "new"
}

// variable formats a variable as the table expects: strings as they are, other kinds with
// their kind ("int 600").
func variable(t *testing.T, c *expr.Context, name string) string {
	t.Helper()
	v, ok := c.Variable(name)
	if !ok {
		t.Fatalf("variable %q not set", name)
	}
	if v.Kind == expr.String {
		return v.String()
	}
	return v.Kind.String() + " " + v.String()
}

// TestAPIMSnippetFormsExample runs examples/policies/apim-snippet-forms.xml, whose expressions
// are written raw, the way public snippets write them.
func TestAPIMSnippetFormsExample(t *testing.T) {
	d, err := Parse(readExample(t, "apim-snippet-forms.xml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := mustCompile(t, Chain{API: d})
	cases := []struct {
		name, method  string
		headers       []string
		base, channel string
		status        int
	}{
		{"iPhone", "GET", []string{"User-Agent", "Mozilla/5.0 (iPhone)", "Api-Version", "v2"}, "http://contoso.com/api/10.4/mobile/v2/", "mobile", 0},
		{"desktop blue", "GET", []string{"User-Agent", "curl/8", "deployment", "blue"}, "http://contoso.com/api/10.4/api/v1/", "web-blue", 0},
		{"desktop green", "GET", []string{"User-Agent", "curl/8"}, "http://contoso.com/api/10.4/api/v1/", "web-green", 0},
		{"large upload", "POST", []string{"Content-Length", "300000"}, "", "", 413},
		{"large GET is routed", "GET", []string{"Content-Length", "300000"}, "http://contoso.com/api/10.4/api/v1/", "web-green", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := request(t, tc.method, "http://gw/api/items", tc.headers...)
			var r Result
			if err := p.Inbound(c, &r); err != nil {
				t.Fatal(err)
			}
			if r.Return.Set || tc.status != 0 {
				if r.Return.StatusCode != tc.status {
					t.Fatalf("returned %d, want %d", r.Return.StatusCode, tc.status)
				}
				return
			}
			if got := string(r.Target.BaseURL); got != tc.base {
				t.Errorf("base-url = %q, want %q", got, tc.base)
			}
			if got := string(c.Request.Header.Peek("X-Channel")); got != tc.channel {
				t.Errorf("X-Channel = %q, want %q", got, tc.channel)
			}
		})
	}
}
