package expr

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestCSharpSemantics spot-checks the places where a naive evaluator differs from C#: integer
// widths and overflow, division, remainder of negatives, ordinal and case-insensitive string
// comparison, Split overloads, null propagation, and the dictionaries of the request.
func TestCSharpSemantics(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string // Value.String(), "<null>" for null; "error: TEXT" for an *EvalError containing TEXT
	}{
		// int is 32-bit and wraps (unchecked is C#'s default); long is 64-bit
		{"int add wraps", `@(int.MaxValue + 1)`, "-2147483648"},
		{"int multiply wraps", `@(65536 * 65536)`, "0"},
		{"int multiply wraps to negative", `@(2147483647 * 2)`, "-2"},
		{"int negate MinValue wraps", `@(-int.MinValue)`, "-2147483648"},
		{"int subtract wraps", `@(int.MinValue - 1)`, "2147483647"},
		{"int + long is long", `@(int.MaxValue + 1L)`, "2147483648"},
		{"long multiply", `@(65536L * 65536)`, "4294967296"},
		{"long wraps", `@(long.MaxValue + 1)`, "-9223372036854775808"},
		{"hex literal", `@(0xFF + 0x10)`, "271"},
		{"hex long literal", `@(0x1_0000_0000 * 2)`, "8589934592"},
		{"digit separators", `@(1_000_000 % 7)`, "1"},
		{"literal too big for int is long", `@(2147483648 * 2)`, "4294967296"},
		{"parsed int wraps", `@(int.Parse("2147483647") + 1)`, "-2147483648"},
		{"int.Parse overflow", `@(int.Parse("2147483648"))`, "error: OverflowException"},
		{"int.Parse negative overflow", `@(int.Parse("-2147483649"))`, "error: OverflowException"},
		{"int.Parse MinValue", `@(int.Parse("-2147483648"))`, "-2147483648"},
		{"long.Parse overflow", `@(long.Parse("9223372036854775808"))`, "error: OverflowException"},
		{"int.Parse format", `@(int.Parse("12a"))`, "error: FormatException"},
		{"int.Parse empty", `@(int.Parse(""))`, "error: FormatException"},
		{"Convert.ToInt32 overflow", `@(Convert.ToInt32("3000000000"))`, "error: OverflowException"},
		{"Convert.ToInt64", `@(Convert.ToInt64("3000000000"))`, "3000000000"},
		// division and remainder
		{"int division truncates", `@(-7 / 2)`, "-3"},
		{"remainder of negative dividend", `@(-7 % 3)`, "-1"},
		{"remainder of negative divisor", `@(7 % -3)`, "1"},
		{"remainder both negative", `@(-7 % -3)`, "-1"},
		{"long remainder negative", `@(-7L % 3)`, "-1"},
		{"division by zero", `@(1 / (context.Request.MatchedParameters.Count - 2))`, "error: DivideByZeroException"},
		{"remainder by zero", `@(5 % int.Parse("0"))`, "error: DivideByZeroException"},
		{"long division by zero", `@(5L / int.Parse("0"))`, "error: DivideByZeroException"},
		{"int MinValue / -1 overflows", `@(int.MinValue / int.Parse("-1"))`, "error: OverflowException"},
		{"int MinValue % -1 overflows", `@(int.MinValue % int.Parse("-1"))`, "error: OverflowException"},
		{"long MinValue / -1 overflows", `@(long.MinValue / long.Parse("-1"))`, "error: OverflowException"},
		{"int / long is long", `@(int.MinValue / -1L)`, "2147483648"},
		// strings: == is ordinal, Equals takes a StringComparison
		{"== is case-sensitive", `@("Orders" == "orders")`, "False"},
		{"== ordinal on bytes", `@("straße" == "strasse")`, "False"},
		{"!= ordinal", `@(context.Request.Method != "post")`, "True"},
		{"Equals default ordinal", `@("Orders".Equals("orders"))`, "False"},
		{"Equals OrdinalIgnoreCase", `@("Orders".Equals("ORDERS", StringComparison.OrdinalIgnoreCase))`, "True"},
		{"Equals OrdinalIgnoreCase non-ASCII", `@("ÉTÉ".Equals("été", StringComparison.OrdinalIgnoreCase))`, "True"},
		{"Equals null argument", `@("a".Equals(context.Request.Url.Query.GetValueOrDefault("missing")))`, "False"},
		{"string.Equals both null", `@(string.Equals(context.Variables.GetValueOrDefault<string>("x"), null))`, "True"},
		{"StartsWith is ordinal by default here", `@("Abc".StartsWith("a"))`, "False"},
		{"EndsWith ignore case", `@("a.JSON".EndsWith(".json", StringComparison.OrdinalIgnoreCase))`, "True"},
		// Substring bounds
		{"Substring to end", `@("abc".Substring(3))`, ""},
		{"Substring past end", `@("abc".Substring(4))`, "error: ArgumentOutOfRangeException"},
		{"Substring negative", `@("abc".Substring(-1))`, "error: ArgumentOutOfRangeException"},
		{"Substring length past end", `@("abc".Substring(1, 3))`, "error: ArgumentOutOfRangeException"},
		{"Substring negative length", `@("abc".Substring(1, -1))`, "error: ArgumentOutOfRangeException"},
		{"Substring UTF-16 units", `@("héllo".Substring(1, 2))`, "él"},
		{"char index out of range", `@("abc"[3])`, "error: IndexOutOfRangeException"},
		// Split overloads
		{"Split char keeps empty entries", `@("a,,b".Split(',').Length)`, "3"},
		{"Split several chars", `@("a,b;c".Split(',', ';')[2])`, "c"},
		{"Split string", `@("a::b::c".Split("::")[2])`, "c"},
		{"Split string not chars", `@("a:b::c".Split("::")[0])`, "a:b"},
		{"Split no separator found", `@("abc".Split(',')[0])`, "abc"},
		{"Split empty string", `@("".Split(',').Length)`, "1"},
		{"Split RemoveEmptyEntries", `@("a,,b,".Split(',', StringSplitOptions.RemoveEmptyEntries).Length)`, "2"},
		{"Split TrimEntries", `@("a , b".Split(",", System.StringSplitOptions.TrimEntries)[1])`, "b"},
		{"Split both options", `@(" a , , b ".Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[1])`, "b"},
		{"Split both options count", `@(" a , , b ".Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Length)`, "2"},
		{"Split trailing separator", `@("a,".Split(',')[1])`, ""},
		// null propagation
		{"?. on null gives null", `@(context.LastError?.Message)`, "<null>"},
		{"?. short-circuits the chain", `@(context.LastError?.Message.Length)`, "<null>"},
		{"?. then method", `@(context.LastError?.Message.Contains("x"))`, "<null>"},
		{"?. null == value is false", `@(context.Response?.StatusCode == 200)`, "False"},
		{"?. null != value is true", `@(context.Response?.StatusCode != 200)`, "True"},
		{"?? after ?.", `@(context.LastError?.Reason ?? "none")`, "none"},
		{"?? chain", `@(context.Request.Headers.GetValueOrDefault("A") ?? context.Request.Headers.GetValueOrDefault("B") ?? "c")`, "c"},
		{"?? keeps non-null", `@(context.Request.Headers.GetValueOrDefault("x-tenant") ?? "none")`, "Contoso"},
		{"null comparison lifted <", `@(context.Response?.StatusCode < 500)`, "False"},
		{"member of null without ?.", `@(context.LastError.Message)`, "error: NullReferenceException"},
		// request dictionaries
		{"header lookup ignores case", `@(context.Request.Headers.GetValueOrDefault("X-TENANT"))`, "Contoso"},
		{"header ContainsKey ignores case", `@(context.Request.Headers.ContainsKey("user-agent"))`, "True"},
		{"header indexer ignores case", `@(context.Request.Headers["accept"][1])`, "application/json"},
		{"header values joined with comma", `@(context.Request.Headers.GetValueOrDefault("accept"))`, "text/html,application/json"},
		{"header default", `@(context.Request.Headers.GetValueOrDefault("X-Missing", "d"))`, "d"},
		{"header without default is null", `@(context.Request.Headers.GetValueOrDefault("X-Missing") == null)`, "True"},
		{"query values joined with comma", `@(context.Request.Url.Query.GetValueOrDefault("tag"))`, "a,b"},
		{"query present but empty", `@(context.Request.Url.Query.GetValueOrDefault("empty", "d"))`, ""},
		{"query names are case-sensitive", `@(context.Request.Url.Query.GetValueOrDefault("USERID", "none"))`, "none"},
		{"matched parameter", `@(context.Request.MatchedParameters.GetValueOrDefault("id"))`, "15"},
		// implicit numeric conversions: char widens to int, int to long
		{"char in ?: with int is int", `@(true ? 'a' : 1)`, "97"},
		{"Math.Abs of char is int", `@(Math.Abs('a'))`, "97"},
		{"int local from char", `@{ int n = 'a'; return n; }`, "97"},
		{"Substring with char start", `@("0123456789".Substring('\u0003'))`, "3456789"},
		// bounded work: doubling a string in a row of assignments hits the per-request text budget
		{"text budget", `@{ var s = "0123456789abcdef"; ` + strings.Repeat("s = s + s; ", 30) + `return s.Length; }`, "error: more than 16 MiB of text"},
		{"text budget in Replace", `@{ var s = "aaaaaaaaaaaaaaaa"; ` + strings.Repeat("s = s.Replace(\"a\", \"aaaa\"); ", 12) + `return s.Length; }`, "error: more than 16 MiB of text"},
		// statements
		{"if/else with locals", `@{ var n = int.Parse(context.Request.MatchedParameters["id"]); if (n % 2 == 0) { return "even"; } else { n = n * 2; } return "odd:" + n; }`, "odd:30"},
		{"block scopes", `@{ if (context.Request.Method == "POST") { var x = "post"; return x; } else { var x = 2; return x.ToString(); } }`, "post"},
		{"block variable does not leak", `@{ var n = 1; if (n == 1) { var m = n + 1; n = m; } var m2 = n * 10; return m2; }`, "20"},
		{"long local widens int", `@{ long n = int.MaxValue; n = n + 1; return n; }`, "2147483648"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := evalContext(t)
			e, err := Compile(tc.src, Pos{File: "t.xml", Line: 1, Col: 1}, TypeAny)
			if err != nil {
				t.Fatalf("Compile(%s): %v", tc.src, err)
			}
			v, err := e.Eval(c)
			if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
				var ee *EvalError
				if !errors.As(err, &ee) || !strings.Contains(ee.Msg, want) {
					t.Fatalf("Eval(%s) = %v, %v; want an *EvalError mentioning %q", tc.src, v, err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval(%s): %v", tc.src, err)
			}
			got := v.String()
			if v.Kind == Null {
				got = "<null>"
			}
			if got != tc.want {
				t.Errorf("%s = %q, want %q", tc.src, got, tc.want)
			}
		})
	}
}

// TestHeadersOfAWireRequest reads headers of a request parsed from the wire: fasthttp keeps
// Host, Content-Type, User-Agent, Cookie and Content-Length apart from other headers, and
// expressions must still see them, case-insensitively, with repeated headers comma-joined.
func TestHeadersOfAWireRequest(t *testing.T) {
	req := &fasthttp.Request{}
	raw := "POST /api/partners/15?a=1 HTTP/1.1\r\nHost: gw.example\r\nContent-Type: application/json\r\nUser-Agent: iPad\r\n" +
		"Cookie: a=1; b=2\r\nX-Multi: 1\r\nx-multi: 2\r\nContent-Length: 2\r\n\r\n{}"
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatal(err)
	}
	c := &Context{}
	c.Api = API{Path: "api"}
	c.Begin(req, false)
	for name, want := range map[string]string{"host": "gw.example", "CONTENT-TYPE": "application/json", "user-agent": "iPad",
		"Cookie": "a=1; b=2", "X-MULTI": "1,2", "content-length": "2", "X-Absent": "<none>"} {
		e := mustCompile(t, `@(context.Request.Headers.GetValueOrDefault("`+name+`", "<none>"))`, TypeAny)
		v, err := e.Eval(c)
		if err != nil || v.String() != want {
			t.Errorf("Headers[%s] = %q, %v; want %q", name, v.String(), err, want)
		}
	}
	e := mustCompile(t, `@(context.Request.Headers["x-multi"].Length == 2 && context.Request.Headers["X-Multi"][1] == "2")`, TypeBool)
	if ok, err := e.EvalBool(c); !ok || err != nil {
		t.Errorf("indexer on a repeated header: %v, %v", ok, err)
	}
}

// TestUnsupportedConstructsSayso checks the load error of C# constructs sfgate does not
// implement: it names the construct and says it is not supported, at the construct's column.
func TestUnsupportedConstructsSayso(t *testing.T) {
	cases := []struct{ src, at, msg string }{
		{`@(context.Variables["x"] is string)`, "is", `the "is" operator is not supported by sfgate`},
		{`@(context.Variables["x"] as string)`, "as", `the "as" operator is not supported by sfgate`},
		{`@(Array.Empty<string>().Length)`, "Array", "the .NET type Array is not supported by sfgate"},
		{`@(Regex.IsMatch(context.Request.Url.Path, "^/a"))`, "Regex", "the .NET type Regex is not supported by sfgate"},
		{`@(Guid.NewGuid().ToString())`, "Guid", "the .NET type Guid is not supported by sfgate"},
		{`@(context.Request.Body.As<string>())`, "Body", "context.Request.Body is not supported by sfgate"},
		{`@(context.Subscription.Key)`, "Subscription", "context.Subscription is not supported by sfgate"},
		{`@((JObject)context.Variables["x"])`, "(JObject)", "cast to JObject is not supported by sfgate"},
		{`@(new Random().Next())`, "new", `object creation "new Random(...)" is not supported by sfgate`},
		{`@(1.5)`, "1.5", "floating-point numbers are not supported by sfgate"},
		{`@(0xFFFFFFFF)`, "0xFFFFFFFF", "hex literal 0xFFFFFFFF is a uint, which sfgate does not support"},
		{`@(x => x)`, "=>", "lambda expressions (x => ...) are not supported by sfgate"},
		{`@((x, y) => x)`, "=>", "lambda expressions (x => ...) are not supported by sfgate"},
		{`@{ foreach (var h in context.Request.Headers) { } return 1; }`, "foreach", `"foreach" statements are not supported by sfgate`},
		{`@($"{context.Response.StatusCode:D3}")`, ":D3", "format and alignment in interpolation holes"},
		{`@(typeof(string))`, "typeof", `"typeof" is not supported by sfgate`},
		{`@{ var i = 0; i++; return i; }`, "++", "increment and decrement operators (++) are not supported by sfgate"},
		{`@{ var i = 0; i += 2; return i; }`, "+=", "compound assignment (+=) is not supported by sfgate"},
		{`@(() => 1)`, "=>", "lambda expressions (x => ...) are not supported by sfgate"},
	}
	for _, tc := range cases {
		_, err := Compile(tc.src, Pos{File: "u.xml", Line: 4, Col: 10}, TypeAny)
		var ce *CompileError
		if !errors.As(err, &ce) {
			t.Errorf("Compile(%s) = %v, want a *CompileError", tc.src, err)
			continue
		}
		if !strings.Contains(ce.Msg, tc.msg) {
			t.Errorf("Compile(%s): %q does not contain %q", tc.src, ce.Msg, tc.msg)
		}
		if want := strings.Index(tc.src, tc.at); ce.Offset != want || ce.Pos.Line != 4 || ce.Pos.Col != 10+want {
			t.Errorf("Compile(%s): error at offset %d (%s), want %d (at %q)", tc.src, ce.Offset, ce.Pos, want, tc.at)
		}
	}
}
