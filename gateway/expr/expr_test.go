package expr

import (
	"errors"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// evalContext is the request most table cases run against.
func evalContext(t testing.TB) *Context {
	c := newTestContext(t, "POST",
		"https://contoso.azure-api.net:8443/api/partners/15?version=2013-05&subscription-key=abcdef&userId=42&tag=a&tag=b&empty=",
		"X-Tenant", "Contoso", "User-Agent", "Mozilla/5.0 (iPad; CPU OS 17_0)", "Accept", "text/html", "Accept", "application/json",
		"Content-Length", "0", "deployment", "blue-green")
	c.SetVariable("target", BytesValue([]byte("orders")))
	c.SetVariable("count", IntValue(3))
	c.SetVariable("big", LongValue(1<<40))
	c.SetVariable("isMobile", BoolValue(true))
	c.SetVariable("maxAge", BytesValue([]byte("600")))
	c.SetVariable("csv", BytesValue([]byte("a,b,,c")))
	c.SetVariable("nothing", Value{})
	return c
}

func withResponse(c *Context, status int, headers ...string) {
	var resp fasthttp.Response
	resp.SetStatusCode(status)
	for i := 0; i+1 < len(headers); i += 2 {
		resp.Header.Add(headers[i], headers[i+1])
	}
	c.Response = &Response{StatusCode: status, Reason: []byte("Service Unavailable"), Header: &resp.Header}
}

func TestEval(t *testing.T) {
	cases := []struct {
		src  string
		want string // Value.String(); "<null>" for null
		kind Kind
	}{
		// context members
		{`@(context.Request.Method)`, "POST", String},
		{`@(context.Request.Url.Scheme)`, "http", String},
		{`@(context.Request.Url.Host)`, "contoso.com", String},
		{`@(context.Request.Url.Port)`, "80", Int},
		{`@(context.Request.Url.Path)`, "/api/10.4/partners/15", String},
		{`@(context.Request.Url.QueryString)`, "?version=2013-05&subscription-key=abcdef&userId=42&tag=a&tag=b&empty=", String},
		{`@(context.Request.OriginalUrl.Scheme)`, "https", String},
		{`@(context.Request.OriginalUrl.Host)`, "contoso.azure-api.net", String},
		{`@(context.Request.OriginalUrl.Port)`, "8443", Int},
		{`@(context.Request.OriginalUrl.Path)`, "/api/partners/15", String},
		{`@(context.Request.OriginalUrl.ToString())`, "https://contoso.azure-api.net:8443/api/partners/15?version=2013-05&subscription-key=abcdef&userId=42&tag=a&tag=b&empty=", String},
		{`@(context.Request.OriginalUrl.Query.GetValueOrDefault("userId"))`, "42", String},
		{`@(context.Request.IpAddress)`, "10.1.2.3", String},
		{`@(context.Request.MatchedParameters["name"])`, "foo", String},
		{`@(context.Request.MatchedParameters.GetValueOrDefault("missing", "dflt"))`, "dflt", String},
		{`@(context.Request.MatchedParameters.GetValueOrDefault("missing"))`, "<null>", Null},
		{`@(context.Request.MatchedParameters.Count)`, "2", Int},
		{`@(context.Api.Name)`, "partners", String},
		{`@(context.Api.Path)`, "api", String},
		{`@(context.Api.ServiceUrl.ToString())`, "http://contoso.com/api/10.4/", String},
		{`@(context.Api.ServiceUrl.Host)`, "contoso.com", String},
		{`@(context.Api.ServiceUrl.ToString() + "api/" + (string)context.Variables["target"] + "/")`, "http://contoso.com/api/10.4/api/orders/", String},
		{`@(context.Operation.Name)`, "get-partner", String},
		{`@(context.Operation.Method)`, "GET", String},
		{`@(context.Operation.UrlTemplate)`, "/partners/{id}", String},
		{`@(context.RequestId.ToString())`, "5b3b2f1e-8a0e-4f6f-9d56-2f4a1c0e7d11", String},
		{`@(context.Timestamp.Year)`, "2026", Int},
		{`@(context.Timestamp.ToString("o"))`, "2026-11-22T13:24:01.0000000Z", String},
		{`@(context.Timestamp.Ticks)`, "639309506410000000", Long},
		{`@(context.LastError == null)`, "True", Bool},
		{`@(context.LastError?.Reason)`, "<null>", Null},
		{`@(context.Response == null)`, "True", Bool},
		{`@(context.Response?.StatusCode == 200)`, "False", Bool},
		// query and headers
		{`@(context.Request.Url.Query.GetValueOrDefault("version"))`, "2013-05", String},
		{`@(context.Request.Url.Query.GetValueOrDefault("missing"))`, "<null>", Null},
		{`@(context.Request.Url.Query.GetValueOrDefault("missing", "x"))`, "x", String},
		{`@(context.Request.Url.Query.GetValueOrDefault("tag"))`, "a,b", String},
		{`@(context.Request.Url.Query.GetValueOrDefault("empty", "x"))`, "", String},
		{`@(context.Request.Url.Query["tag"][1])`, "b", String},
		{`@(context.Request.Url.Query["tag"].Length)`, "2", Int},
		{`@(context.Request.Url.Query.ContainsKey("userId"))`, "True", Bool},
		{`@(context.Request.Url.Query.Count)`, "6", Int},
		{`@(context.Request.Headers.GetValueOrDefault("x-tenant"))`, "Contoso", String},
		{`@(context.Request.Headers.GetValueOrDefault("Accept"))`, "text/html,application/json", String},
		{`@(context.Request.Headers["Content-Length"][0])`, "0", String},
		{`@(context.Request.Headers.GetValueOrDefault("User-Agent","").Contains("iPad") || context.Request.Headers.GetValueOrDefault("User-Agent","").Contains("iPhone"))`, "True", Bool},
		{`@(!context.Request.Headers.ContainsKey("Authorization"))`, "True", Bool},
		{`@(context.Request.Headers.GetValueOrDefault("deployment","").Contains("blue")?"/beta":"")`, "/beta", String},
		{`@(context.Request.MatchedParameters.ContainsKey("deployment-id") ? context.Request.MatchedParameters["deployment-id"] : string.Empty)`, "", String},
		{`@("fabric:/myapp/users/" + context.Request.MatchedParameters["name"])`, "fabric:/myapp/users/foo", String},
		// variables
		{`@(context.Variables.GetValueOrDefault<bool>("isMobile"))`, "True", Bool},
		{`@(context.Variables.GetValueOrDefault<int>("count") == 3)`, "True", Bool},
		{`@(context.Variables.GetValueOrDefault<int>("absent"))`, "0", Int},
		{`@(context.Variables.GetValueOrDefault<long>("count"))`, "3", Long},
		{`@(context.Variables.GetValueOrDefault<string>("target") != "")`, "True", Bool},
		{`@(context.Variables.GetValueOrDefault<string>("backendUrl", "none"))`, "none", String},
		{`@(context.Variables.GetValueOrDefault("target"))`, "orders", String},
		{`@(context.Variables.GetValueOrDefault("absent"))`, "<null>", Null},
		{`@(context.Variables.GetValueOrDefault("csv","").Split(',').Length)`, "4", Int},
		{`@(context.Variables.GetValueOrDefault("target") == "orders")`, "True", Bool},
		{`@(context.Variables["nothing"] == null)`, "True", Bool},
		{`@((string)context.Variables["target"])`, "orders", String},
		{`@((int)context.Variables["count"] + 1)`, "4", Int},
		{`@((long)context.Variables["big"] / 2)`, "549755813888", Long},
		{`@((bool)context.Variables["isMobile"])`, "True", Bool},
		{`@(context.Variables.ContainsKey("maxAge") ? int.Parse((string)context.Variables["maxAge"]) : 3600)`, "600", Int},
		{`@(context.Variables.Count)`, "7", Int},
		// string methods
		{`@("abc".Length)`, "3", Int},
		{`@("héllo".Length)`, "5", Int},
		{`@("Hello".ToLower())`, "hello", String},
		{`@("Hello".ToUpper())`, "HELLO", String},
		{`@("Hello".ToUpperInvariant())`, "HELLO", String},
		{`@("  x y  ".Trim())`, "x y", String},
		{`@("//a/b//".Trim('/'))`, "a/b", String},
		{`@("//a/b//".TrimStart('/'))`, "a/b//", String},
		{`@("//a/b//".TrimEnd('/'))`, "//a/b", String},
		{`@("a,b;c".Split(',', ';')[2])`, "c", String},
		{`@("a--b--c".Split("--")[1])`, "b", String},
		{`@("hello world".Replace("o", "0"))`, "hell0 w0rld", String},
		{`@("a.b.c".Replace('.', '/'))`, "a/b/c", String},
		{`@("partners/15".Substring(9))`, "15", String},
		{`@("partners/15".Substring(0, 8))`, "partners", String},
		{`@("/oauth/callback".StartsWith("/OAUTH", StringComparison.InvariantCultureIgnoreCase))`, "True", Bool},
		{`@("/oauth/callback".StartsWith("/OAUTH"))`, "False", Bool},
		{`@("files.json".EndsWith(".JSON", StringComparison.OrdinalIgnoreCase))`, "True", Bool},
		{`@("West US".Equals("west us", StringComparison.OrdinalIgnoreCase))`, "True", Bool},
		{`@("West US".Equals("west us", System.StringComparison.InvariantCultureIgnoreCase))`, "True", Bool},
		{`@("West US".Equals("west us"))`, "False", Bool},
		{`@("abc".Contains("B", StringComparison.OrdinalIgnoreCase))`, "True", Bool},
		{`@("a/b".Contains('/'))`, "True", Bool},
		{`@("hello".IndexOf("l"))`, "2", Int},
		{`@("hello".IndexOf("z"))`, "-1", Int},
		{`@("abc"[1])`, "b", Char},
		{`@("x".ToString())`, "x", String},
		{`@(string.IsNullOrEmpty(context.Variables.GetValueOrDefault<string>("clientId")))`, "True", Bool},
		{`@(string.IsNullOrEmpty(""))`, "True", Bool},
		{`@(string.IsNullOrEmpty("a"))`, "False", Bool},
		{`@(string.IsNullOrWhiteSpace("  "))`, "True", Bool},
		{`@(string.Format("AOAI-{0}-{1}", 7 % 3, "x"))`, "AOAI-1-x", String},
		{`@(string.Format("{{literal}} {0}", true))`, "{literal} True", String},
		{`@(string.Concat("a", 1, true))`, "a1True", String},
		{`@(string.Join("-", "a,b".Split(',')))`, "a-b", String},
		{`@(string.Join(",", "x", 2))`, "x,2", String},
		{`@(string.Equals("a", "A", StringComparison.OrdinalIgnoreCase))`, "True", Bool},
		{`@($"signin-{context.Variables["target"]}-state")`, "signin-orders-state", String},
		{`@($"{1 + 2} items, {{braces}}")`, "3 items, {braces}", String},
		{`@($"u-{context.Request.MatchedParameters["name"].ToUpper()}")`, "u-FOO", String},
		// numbers
		{`@(int.Parse("42") + 1)`, "43", Int},
		{`@(int.Parse(" -7 "))`, "-7", Int},
		{`@(long.Parse("9000000000") % 4)`, "0", Long},
		{`@(Int32.Parse("5"))`, "5", Int},
		{`@(Convert.ToInt32("12"))`, "12", Int},
		{`@(Convert.ToInt32(null))`, "0", Int},
		{`@(Convert.ToInt64(context.Request.Url.Query.GetValueOrDefault("userId")) * 2)`, "84", Long},
		{`@(Convert.ToString(12))`, "12", String},
		{`@(Convert.ToBoolean("TRUE"))`, "True", Bool},
		{`@(bool.Parse("false"))`, "False", Bool},
		{`@(Math.Abs(-5) % 4)`, "1", Int},
		{`@(Math.Max(3L, 4))`, "4", Long},
		{`@(7 / 2)`, "3", Int},
		{`@(-7 / 2)`, "-3", Int},
		{`@(-7 % 4)`, "-3", Int},
		{`@(2147483647 + 1)`, "-2147483648", Int},
		{`@(2147483647L + 1)`, "2147483648", Long},
		{`@(1 + 2 * 3 - 4)`, "3", Int},
		{`@((1 + 2) * 3)`, "9", Int},
		{`@(5 > 3 && 2 <= 2 && 1 < 2 && 3 >= 4 == false)`, "True", Bool},
		{`@(1 + "a")`, "1a", String},
		{`@("a" + 1 + 2)`, "a12", String},
		{`@("n=" + (1 + 2))`, "n=3", String},
		{`@("x" + null)`, "x", String},
		{`@((string)null ?? "fallback")`, "fallback", String},
		{`@(context.Request.Url.Query.GetValueOrDefault("missing") ?? "dflt")`, "dflt", String},
		{`@(context.Request.Url.Query.GetValueOrDefault("version") ?? "dflt")`, "2013-05", String},
		{`@((int)'A')`, "65", Int},
		{`@((long)5)`, "5", Long},
		{`@((int)9000000000L)`, "410065408", Int},
		{`@(true ? 1 : 2L)`, "1", Long},
		{`@(int.MaxValue)`, "2147483647", Int},
		// statement blocks
		{`@{ var b = context.Request.Headers.GetValueOrDefault("X-Tenant", ""); if (b == "") { return "none"; } return b.ToLower(); }`, "contoso", String},
		{`@{
			string key = context.Request.Url.Query.GetValueOrDefault("userId", "0");
			long n = long.Parse(key);
			if (n % 2 == 0) return "even";
			else return "odd";
		}`, "even", String},
		{`@{ var x = 1; x = x + 41; return x; }`, "42", Int},
		{`@{ if (context.Response == null) { return 0; } else { return context.Response.StatusCode; } }`, "0", Int},
		{`@{ /* comment */ var s = "a"; // line comment
			return s + "b"; }`, "ab", String},
		// verbatim and escapes
		{`@(@"C:\path")`, `C:\path`, String},
		{`@(@"say ""hi""")`, `say "hi"`, String},
		{`@("tab\there\u0041")`, "tab\thereA", String},
		{`@( "spaces"   )`, "spaces", String},
	}
	for _, tc := range cases {
		c := evalContext(t)
		e, err := Compile(tc.src, Pos{File: "t.xml", Line: 1, Col: 1}, TypeAny)
		if err != nil {
			t.Errorf("Compile(%s): %v", tc.src, err)
			continue
		}
		v, err := e.Eval(c)
		if err != nil {
			t.Errorf("Eval(%s): %v", tc.src, err)
			continue
		}
		got := v.String()
		if v.Kind == Null {
			got = "<null>"
		}
		if got != tc.want || v.Kind != tc.kind {
			t.Errorf("%s = %s %q, want %s %q", tc.src, v.Kind, got, tc.kind, tc.want)
		}
	}
}

func TestEvalAfterBackendAttempt(t *testing.T) {
	cases := []struct {
		src    string
		status int
		hdrs   []string
		err    *LastError
		want   bool
	}{
		{`@(context.Response.StatusCode == 500)`, 500, nil, nil, true},
		{`@(context.Response.StatusCode >= 500)`, 404, nil, nil, false},
		{`@(context.Response == null || (int)context.Response.StatusCode >= 500)`, 502, nil, nil, true},
		{`@((int)context.Response.StatusCode != 200)`, 204, nil, nil, true},
		{`@(context.LastError?.Reason == "BackendConnectionFailure")`, 0, nil, &LastError{Reason: ReasonBackendConnectionFailure}, true},
		{`@(context.LastError?.Reason == "BackendConnectionFailure")`, 200, nil, nil, false},
		{`@((int)context.Response.StatusCode != 200 || context.LastError?.Reason == "BackendConnectionFailure" || context.LastError?.Reason == "Timeout")`, 0, nil, &LastError{Reason: ReasonTimeout}, true},
		{`@(context.Response.StatusCode == 429 || (context.Response.StatusCode == 503 && !context.Response.StatusReason.Contains("Backend pool")))`, 503, nil, nil, true},
		{`@(context.LastError.Source == "configuration" && context.Request.Url.Path == "/api/10.4/partners/15")`, 0, nil, &LastError{Source: "configuration"}, true},
		{`@(context.LastError.Message.StartsWith("dial"))`, 0, nil, &LastError{Message: "dial tcp 10.0.0.4:8080: connection refused"}, true},
		{`@(context.Response.StatusCode == 404 && context.Response.Headers.GetValueOrDefault("X-ServiceFabric", "") != "ResourceNotFound")`, 404, []string{"X-ServiceFabric", "ResourceNotFound"}, nil, false},
		{`@(context.Response.StatusCode == 404 && context.Response.Headers.GetValueOrDefault("X-ServiceFabric", "") != "ResourceNotFound")`, 404, nil, nil, true},
		{`@(context.Response.Headers.ContainsKey("retry-after"))`, 429, []string{"Retry-After", "5"}, nil, true},
	}
	for _, tc := range cases {
		c := evalContext(t)
		withResponse(c, tc.status, tc.hdrs...)
		c.LastError = tc.err
		e := mustCompile(t, tc.src, TypeBool)
		got, err := e.EvalBool(c)
		if err != nil {
			t.Errorf("%s: %v", tc.src, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s = %v, want %v (status %d, error %+v)", tc.src, got, tc.want, tc.status, tc.err)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		src      string
		col      int
		msg      string
		expected string
	}{
		{`@(context.Request.Url.Query.GetValueOrDefault("userId","")`, 59, `expression is not closed: missing ")"`, `")"`},
		{`@(context.Requset.Method)`, 11, `unknown member "Requset" of IProxyRequestContext`, "Request, Response"},
		{`@(context.Request.Url.Hots)`, 23, `unknown member "Hots" of IUrl`, "Scheme, Host"},
		{`@(context.Response.StatusCode == "200")`, 31, "cannot compare int with string", ""},
		{`@("a" && true)`, 7, `operator "&&" needs bool operands, found string and bool`, "bool"},
		{`@(!"a")`, 3, `operator "!" needs a bool`, ""},
		{`@(context.Variables["x"].Length)`, 26, `member "Length" of an object: cast the value first`, ""},
		{`@("a".Frobnicate())`, 7, `unknown string method "Frobnicate"`, "Contains"},
		{`@(foo)`, 3, `unknown name "foo"`, ""},
		{`@(context.Request.Body.As<JObject>())`, 19, `context.Request.Body is not supported`, ""},
		{`@((JObject)context.Variables["x"])`, 3, "cast to JObject is not supported", ""},
		{`@(new Random().Next(1, 3))`, 3, `object creation "new Random(...)" is not supported by sfgate`, ""},
		{`@(1 +)`, 6, "expected an expression", ""},
		{`@(1 2)`, 5, "unexpected number after a complete expression", ""},
		{`@("unterminated)`, 3, "string literal is not closed", ""},
		{`@(x => x)`, 5, "lambda expressions (x => ...) are not supported by sfgate", ""},
		{`@(1.5)`, 3, "floating-point numbers are not supported", ""},
		{`@(true ? 1 : "a")`, 8, "branches of \"?:\" have different types", ""},
		{`@{ var x = 1; }`, 15, "not all code paths return a value", ""},
		{`@{ return 1; var x = 1; var x = 2; }`, 29, `variable "x" is already declared`, ""},
		{`@{ while (true) { return 1; } }`, 4, `"while" statements are not supported`, ""},
		{`@(context.Request.Url.Query.GetValueOrDefault(1))`, 29, "wrong arguments for GetValueOrDefault", "GetValueOrDefault(string name)"},
		{`@(int.Parse(5))`, 7, "wrong arguments for int.Parse", ""},
		{`@(context.Variables.GetValueOrDefault<JObject>("x"))`, 21, "GetValueOrDefault<JObject> is not supported", ""},
		{`@(context.Deployment.Region)`, 11, "context.Deployment is not supported by sfgate", ""},
		{`@(context.Request.Url.Query.GetValueOrDefault("a")) trailing`, 53, "unexpected text after the end of the expression", ""},
		{`context.Request`, 1, `a policy expression starts with "@(" or "@{"`, ""},
		{`@(StringComparison.Bogus)`, 20, `unknown StringComparison "Bogus"`, ""},
		{`@(string)`, 3, `"string" is a type, not a value`, ""},
	}
	for _, tc := range cases {
		_, err := Compile(tc.src, Pos{File: "p.xml", Line: 7, Col: 1}, TypeAny)
		if err == nil {
			t.Errorf("Compile(%s) succeeded, want error %q", tc.src, tc.msg)
			continue
		}
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("Compile(%s): error %T is not a *CompileError", tc.src, err)
			continue
		}
		if !strings.Contains(ce.Msg, tc.msg) {
			t.Errorf("Compile(%s): message %q does not contain %q", tc.src, ce.Msg, tc.msg)
		}
		if ce.Pos.File != "p.xml" || ce.Pos.Line != 7 || ce.Pos.Col != tc.col {
			t.Errorf("Compile(%s): position %s, want p.xml:7:%d", tc.src, ce.Pos, tc.col)
		}
		if tc.expected != "" && !strings.Contains(ce.Expected, tc.expected) {
			t.Errorf("Compile(%s): expected %q does not contain %q", tc.src, ce.Expected, tc.expected)
		}
		if want := ce.Pos.String() + ": "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Compile(%s): %q does not start with %q", tc.src, err.Error(), want)
		}
		if ce.Expr != tc.src {
			t.Errorf("Compile(%s): Expr = %q", tc.src, ce.Expr)
		}
	}
}

func TestCompileErrorPositionOnLaterLine(t *testing.T) {
	src := "@{\n  var a = 1;\n  return a + zz;\n}"
	_, err := Compile(src, Pos{File: "f.xml", Line: 10, Col: 20}, TypeAny)
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	if ce.Pos.Line != 12 || ce.Pos.Col != 14 {
		t.Errorf("position %s, want f.xml:12:14", ce.Pos)
	}
}

func TestWantedType(t *testing.T) {
	if _, err := Compile(`@(context.Request.Method)`, Pos{}, TypeBool); err == nil || !strings.Contains(err.Error(), "needs bool") {
		t.Errorf("a string condition must be rejected, got %v", err)
	}
	e := mustCompile(t, `@(context.Variables["isMobile"])`, TypeBool)
	c := evalContext(t)
	if ok, err := e.EvalBool(c); err != nil || !ok {
		t.Errorf("object condition = %v, %v", ok, err)
	}
	e = mustCompile(t, `@(context.Variables["target"])`, TypeBool)
	if _, err := e.EvalBool(c); err == nil {
		t.Error("an object condition holding a string must fail at run time")
	}
}

func TestEvalErrors(t *testing.T) {
	cases := []struct{ src, msg string }{
		{`@(int.Parse(context.Request.Url.Query.GetValueOrDefault("version")))`, `int.Parse: "2013-05" is not a valid int`},
		{`@(int.Parse("99999999999"))`, "is outside the range of int (OverflowException)"},
		{`@(int.Parse(context.Request.Url.Query.GetValueOrDefault("missing")))`, "int.Parse: value is null"},
		{`@(context.Variables["absent"])`, `variable "absent" not found`},
		{`@(context.Request.MatchedParameters["absent"])`, `matched parameter "absent" not found`},
		{`@(context.Request.Headers["Absent"])`, `header "Absent" not found`},
		{`@(context.Request.Url.Query["absent"])`, `query parameter "absent" not found`},
		{`@(context.LastError.Reason)`, "context.LastError is null (NullReferenceException)"},
		{`@(context.Response.StatusCode)`, "context.Response is null"},
		{`@((int)context.Variables["target"])`, `cannot cast string "orders" to int`},
		{`@((string)context.Variables["count"])`, `cannot cast int 3 to string`},
		{`@(context.Variables.GetValueOrDefault<int>("target"))`, `variable "target" holds string "orders", not int`},
		{`@(1 / (context.Request.MatchedParameters.Count - 2))`, "division by zero"},
		{`@("abc".Substring(5))`, "Substring: start 5 is outside"},
		{`@("a,b".Split(',')[2])`, "index 2 is outside the array of length 2"},
		{`@(context.Request.Url.Query.GetValueOrDefault("missing").Length)`, "is null"},
		{`@(string.Format("{1}", "a"))`, "bad format item"},
		{`@(Convert.ToInt32(9000000000L))`, "outside the range of int"},
		{`@(context.Timestamp.ToString("dddd"))`, "DateTime format"},
	}
	for _, tc := range cases {
		c := evalContext(t)
		e, err := Compile(tc.src, Pos{File: "p.xml", Line: 3, Col: 9}, TypeAny)
		if err != nil {
			t.Errorf("Compile(%s): %v", tc.src, err)
			continue
		}
		_, err = e.Eval(c)
		var ee *EvalError
		if !errors.As(err, &ee) {
			t.Errorf("Eval(%s) = %v, want an *EvalError", tc.src, err)
			continue
		}
		if !strings.Contains(ee.Msg, tc.msg) {
			t.Errorf("Eval(%s): %q does not contain %q", tc.src, ee.Msg, tc.msg)
		}
		if ee.Reason() != ReasonExpressionValueEvaluationFailure || ee.Pos.Line != 3 || ee.Expr != tc.src {
			t.Errorf("Eval(%s): reason %s pos %s expr %q", tc.src, ee.Reason(), ee.Pos, ee.Expr)
		}
		le := AsLastError(err)
		if le.Reason != ReasonExpressionValueEvaluationFailure || le.Message != ee.Msg {
			t.Errorf("AsLastError = %+v", le)
		}
	}
}

type fakeForwardError struct{}

func (fakeForwardError) Error() string { return "connection refused" }
func (fakeForwardError) LastError() LastError {
	return LastError{Source: "forward-request", Reason: ReasonBackendConnectionFailure, Message: "connection refused"}
}

func TestAsLastError(t *testing.T) {
	if AsLastError(nil) != nil {
		t.Error("nil error must give nil")
	}
	if le := AsLastError(fakeForwardError{}); le.Reason != ReasonBackendConnectionFailure || le.Source != "forward-request" {
		t.Errorf("LastErrorer: %+v", le)
	}
	if le := AsLastError(errors.New("boom")); le.Reason != "Unknown" || le.Message != "boom" {
		t.Errorf("plain error: %+v", le)
	}
}

func TestQueryEditsAreVisibleToLaterExpressions(t *testing.T) {
	c := evalContext(t)
	c.EditQuery().Del("version")
	e := mustCompile(t, `@(context.Request.Url.Query.GetValueOrDefault("version", "gone"))`, TypeAny)
	if v, _ := e.Eval(c); v.String() != "gone" {
		t.Errorf("after delete: %q", v.String())
	}
	e = mustCompile(t, `@(context.Request.OriginalUrl.Query.GetValueOrDefault("version", "gone"))`, TypeAny)
	if v, _ := e.Eval(c); v.String() != "2013-05" {
		t.Errorf("original URL must keep the parameter: %q", v.String())
	}
	if got := string(c.RawQuery()); strings.Contains(got, "version") {
		t.Errorf("RawQuery = %q", got)
	}
}

func TestBaseURLChangesRequestURL(t *testing.T) {
	c := evalContext(t)
	c.SetBaseURL([]byte("https://orders.internal:9443/v2/"))
	e := mustCompile(t, `@(context.Request.Url.ToString())`, TypeAny)
	v, err := e.Eval(c)
	if err != nil {
		t.Fatal(err)
	}
	want := "https://orders.internal:9443/v2/partners/15?version=2013-05&subscription-key=abcdef&userId=42&tag=a&tag=b&empty="
	if v.String() != want {
		t.Errorf("Url = %q, want %q", v.String(), want)
	}
	e = mustCompile(t, `@(context.Request.Url.Host.Contains("orders.internal") && context.Request.Url.Port == 9443)`, TypeBool)
	if ok, err := e.EvalBool(c); !ok || err != nil {
		t.Errorf("host/port after set-backend-service: %v %v", ok, err)
	}
}

func TestResetClearsContext(t *testing.T) {
	c := evalContext(t)
	c.Reset()
	if c.Request != nil || len(c.MatchedParameters) != 0 || c.LastError != nil || c.Response != nil {
		t.Fatalf("Reset left state: %+v", c)
	}
	if _, ok := c.Variable("target"); ok {
		t.Error("Reset must clear variables")
	}
}

func TestEvalTurnsPanicsIntoErrors(t *testing.T) {
	e := &Expr{src: "@(x)", at: Pos{File: "p.xml", Line: 2, Col: 3}, eval: func(*Context) (Value, error) { panic("defect") }}
	_, err := e.Eval(&Context{})
	var ee *EvalError
	if !errors.As(err, &ee) || !strings.Contains(ee.Msg, "defect") || ee.Pos.Line != 2 {
		t.Errorf("Eval = %v", err)
	}
	if _, err := e.EvalBool(&Context{}); !errors.As(err, &ee) {
		t.Errorf("EvalBool = %v", err)
	}
}

// Until a policy edits the query, a query parameter is read from the raw request target (lookupRawQuery); it
// must find what fasthttp.Args parses from the same query: the same values, decoded, joined with ','.
func FuzzRawQueryLikeArgs(f *testing.F) {
	for _, q := range []string{"customer=42", "a=1&a=2&b", "a+b=%41%2&=x&&=", "%61=1&a=%2", "k=v=w&k", "x=a%2Cb&x=+"} {
		f.Add(q, "a")
	}
	f.Add("customer=42&customer=%34%33", "customer")
	f.Add("=x&y", "")
	f.Fuzz(func(t *testing.T, query, key string) {
		var args fasthttp.Args
		args.Parse(query)
		var c Context
		want, wantOK := c.lookupArgs(&args, []byte(key))
		want = append([]byte(nil), want...)
		got, gotOK := c.lookupRawQuery([]byte(query), []byte(key))
		if gotOK != wantOK || string(got) != string(want) {
			t.Fatalf("query %q key %q: raw lookup %q %v, fasthttp.Args %q %v", query, key, got, gotOK, want, wantOK)
		}
	})
}

// The query of an unedited request is read from its raw target after BeginTarget, and from the parsed URI after
// Begin or once a policy edited it: the same answers either way.
func TestQueryReadRawUntilEdited(t *testing.T) {
	for _, raw := range []bool{true, false} {
		c := newTestContext(t, "GET", "/api/partners/15?a=1&b=x%2By&a=2#frag")
		if !raw {
			c.Begin(c.Request, false)
		}
		e := mustCompile(t, `@(context.Request.Url.Query.GetValueOrDefault("a","") + "|" + context.Request.Url.Query.GetValueOrDefault("b","none"))`, TypeAny)
		if v, err := e.Eval(c); err != nil || string(c.Text(v)) != "1,2|x+y" {
			t.Fatalf("raw %v, unedited: %q %v", raw, c.Text(v), err)
		}
		if string(c.RawQuery()) != "a=1&b=x%2By&a=2" || string(c.PathAfterSuffix()) != "/partners/15" {
			t.Fatalf("raw %v: RawQuery %q, PathAfterSuffix %q", raw, c.RawQuery(), c.PathAfterSuffix())
		}
		c.EditQuery().Set("b", "z")
		if v, err := e.Eval(c); err != nil || string(c.Text(v)) != "1,2|z" {
			t.Fatalf("raw %v, edited: %q %v", raw, c.Text(v), err)
		}
	}
}
