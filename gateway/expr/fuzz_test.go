package expr

import (
	"strings"
	"testing"
)

// FuzzCompile feeds arbitrary expression text to the compiler: it must return a program or a
// *CompileError (never panic or hang), and evaluating a program must return a value or an
// *EvalError.
func FuzzCompile(f *testing.F) {
	for _, tc := range routingCases {
		f.Add(tc.src)
	}
	for _, s := range []string{
		`@(context.Request.Url.Query.GetValueOrDefault("userId","")`,
		`@{ var b = context.Request.Headers.GetValueOrDefault("X", ""); if (b == "") { return "none"; } return b.ToLower(); }`,
		`@($"signin-{context.Variables["cacheKey"]}-state")`,
		`@(string.Format("AOAI-{0}", int.Parse("7") % 3))`,
		`@(((string)context.Variables["redirect"]).StartsWith("/oauth", StringComparison.InvariantCultureIgnoreCase))`,
		`@(context.Request.Headers["Content-Length"][0])`,
		`@("a,b".Split(',')[1].Substring(0, 1).Replace("b", "c"))`,
		`@(@"verbatim ""q""" + 'c' + 1L)`,
		`@(((((((((1)))))))))`,
		`@(!!!!!!true)`,
		`@{ if (true) if (false) return 1; else return 2; return 3; }`,
		`@{ var s = "ab"; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; return s.Length; }`,
		`@(int.MinValue / -1)`, `@(long.MinValue % -1L)`, `@("a"[context.LastError?.Message.Length])`,
		`@(BitConverter.ToInt64(System.Security.Cryptography.MD5.Create().ComputeHash(System.Text.Encoding.UTF8.GetBytes("abc")), 0))`,
		`@{ using (var h = SHA256.Create()) { byte[] b = h.ComputeHash(Encoding.UTF8.GetBytes("k")); return Math.Abs(unchecked(BitConverter.ToInt64(b, 8) % 7L)); } }`,
		`@(BitConverter.ToString(MD5.HashData(Encoding.UTF8.GetBytes(""))).Length + Encoding.UTF8.GetBytes("x")[0])`,
		`@(Convert.ToBase64String(Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(MD5.Create().ComputeHash(null)))))`,
		`@{ unchecked { return 1; } }`, `@(unchecked(`, `@{ using (var x = ) return 1; }`, `@{ byte[] = 1; return 1; }`,
		`@(x => x)`, `@(new [] {"a"})`, `@(1.5)`, `@("\u00e9\z")`, `@(/* c */ 1 // x` + "\n)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Compile(src, Pos{File: "fuzz", Line: 1, Col: 1}, TypeAny)
		if err != nil {
			ce, ok := err.(*CompileError)
			if !ok {
				t.Fatalf("error %T is not a *CompileError", err)
			}
			if !strings.HasPrefix(ce.Error(), "fuzz:") || ce.Pos.Line < 1 || ce.Pos.Col < 1 {
				t.Fatalf("bad error position: %v", ce)
			}
			return
		}
		c := evalContext(t)
		withResponse(c, 503)
		if _, err := e.Eval(c); err != nil {
			ee, ok := err.(*EvalError)
			if !ok {
				t.Fatalf("runtime error %T is not an *EvalError", err)
			}
			if strings.HasPrefix(ee.Msg, "internal error") {
				t.Fatalf("evaluation panicked: %v", ee.Msg)
			}
		}
	})
}
