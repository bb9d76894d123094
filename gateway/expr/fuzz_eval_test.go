package expr

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// exprGen turns fuzz bytes into a well-typed expression: every choice reads one byte, so the
// fuzzer explores the grammar instead of mostly producing syntax errors.
type exprGen struct {
	data []byte
	b    strings.Builder
}

func (g *exprGen) pick(n int) int {
	if len(g.data) == 0 {
		return 0
	}
	c := int(g.data[0])
	g.data = g.data[1:]
	return c % n
}

func (g *exprGen) w(parts ...string) {
	for _, p := range parts {
		g.b.WriteString(p)
	}
}

var genStrings = []string{`""`, `"a,b,,c"`, `"héllo 😀"`, `"2147483648"`, `"-1"`, `"0"`, `"  x "`, `"Orders"`, `"{0}"`, `"a"`, `@"q""q"`, `"\u00e9\t"`}
var genInts = []string{"0", "1", "-1", "7", "2147483647", "int.MinValue", "int.MaxValue", "'a'", "65536"}
var genLongs = []string{"0L", "-1L", "9223372036854775807", "long.MinValue", "4294967296"}

func (g *exprGen) str(depth int) {
	if depth <= 0 {
		g.w(genStrings[g.pick(len(genStrings))])
		return
	}
	d := depth - 1
	switch g.pick(24) {
	case 0:
		g.w(genStrings[g.pick(len(genStrings))])
	case 1:
		g.w(`context.Request.Headers.GetValueOrDefault("X-Tenant", `)
		g.str(d)
		g.w(")")
	case 2:
		g.w(`context.Request.Url.Query.GetValueOrDefault("tag")`)
	case 3:
		g.w(`context.Request.MatchedParameters["id"]`)
	case 4:
		g.w(`context.LastError?.Reason`)
	case 5:
		g.str(d)
		g.w(" + ")
		g.str(d)
	case 6:
		g.str(d)
		g.w(" + ")
		g.int(d)
	case 7:
		g.w("(")
		g.str(d)
		g.w(").Substring(")
		g.int(d)
		if g.pick(2) == 0 {
			g.w(", ")
			g.int(d)
		}
		g.w(")")
	case 8:
		g.w("(")
		g.str(d)
		g.w(").Replace(")
		g.str(d)
		g.w(", ")
		g.str(d)
		g.w(")")
	case 9:
		g.w("(")
		g.str(d)
		g.w([]string{").ToLower()", ").ToUpper()", ").Trim()", ").TrimEnd('/')"}[g.pick(4)])
	case 10:
		g.w("(")
		g.str(d)
		g.w(").Split(',')[")
		g.int(d)
		g.w("]")
	case 11:
		g.w(`string.Format("{0}-{1}", `)
		g.str(d)
		g.w(", ")
		g.int(d)
		g.w(")")
	case 12:
		g.w(`$"{`)
		g.str(d)
		g.w(`}-{`)
		g.int(d)
		g.w(`}"`)
	case 13:
		g.w("(")
		g.bool(d)
		g.w(" ? ")
		g.str(d)
		g.w(" : ")
		g.str(d)
		g.w(")")
	case 14:
		g.w("(")
		g.str(d)
		g.w(" ?? ")
		g.str(d)
		g.w(")")
	case 15:
		g.w(`(string)context.Variables["target"]`)
	case 16:
		g.w(`context.Variables.GetValueOrDefault<string>(`)
		g.str(d)
		g.w(")")
	case 17:
		g.w("(")
		g.int(d)
		g.w(").ToString()")
	case 18:
		g.w([]string{`context.Request.Url.ToString()`, `context.Request.OriginalUrl.Path`, `context.Request.Url.Host`,
			`context.Api.ServiceUrl.ToString()`, `context.Request.Method`, `context.Operation.UrlTemplate`}[g.pick(6)])
	case 19:
		g.w(`string.Join("/", (`)
		g.str(d)
		g.w(`).Split(',', ';'))`)
	case 20:
		g.w("Convert.ToString(")
		g.long(d)
		g.w(")")
	case 21:
		g.w(`context.Response?.StatusReason`)
	case 22:
		g.w(`(string)context.Variables.GetValueOrDefault("csv", `)
		g.str(d)
		g.w(")")
	default:
		g.w("(")
		g.str(d)
		g.w(")[")
		g.int(d)
		g.w("].ToString()")
	}
}

func (g *exprGen) int(depth int) {
	if depth <= 0 {
		g.w(genInts[g.pick(len(genInts))])
		return
	}
	d := depth - 1
	switch g.pick(12) {
	case 0:
		g.w(genInts[g.pick(len(genInts))])
	case 1, 2:
		g.w("(")
		g.int(d)
		g.w([]string{" + ", " - ", " * ", " / ", " % "}[g.pick(5)])
		g.int(d)
		g.w(")")
	case 3:
		g.w("(")
		g.str(d)
		g.w(").Length")
	case 4:
		g.w("int.Parse(")
		g.str(d)
		g.w(")")
	case 5:
		g.w("Convert.ToInt32(")
		g.str(d)
		g.w(")")
	case 6:
		g.w("(")
		g.str(d)
		g.w(").IndexOf(")
		g.str(d)
		g.w(")")
	case 7:
		g.w("(int)(")
		g.long(d)
		g.w(")")
	case 8:
		g.w("context.Response.StatusCode")
	case 9:
		g.w("Math.Abs(")
		g.int(d)
		g.w(")")
	case 10:
		g.w("-(")
		g.int(d)
		g.w(")")
	default:
		g.w(`context.Variables.GetValueOrDefault<int>("count", `)
		g.int(d)
		g.w(")")
	}
}

func (g *exprGen) long(depth int) {
	if depth <= 0 {
		g.w(genLongs[g.pick(len(genLongs))])
		return
	}
	d := depth - 1
	switch g.pick(7) {
	case 0:
		g.w(genLongs[g.pick(len(genLongs))])
	case 5:
		g.w("BitConverter.ToInt64(")
		g.bytes(d)
		g.w(", ")
		g.int(d)
		g.w(")")
	case 6:
		g.w("Math.Abs(unchecked(BitConverter.ToInt64(")
		g.bytes(d)
		g.w(", 0) % ")
		g.long(d)
		g.w("))")
	case 1:
		g.w("long.Parse(")
		g.str(d)
		g.w(")")
	case 2:
		g.w("(")
		g.long(d)
		g.w([]string{" + ", " - ", " * ", " / ", " % "}[g.pick(5)])
		g.int(d)
		g.w(")")
	case 3:
		g.w("(long)(")
		g.int(d)
		g.w(")")
	default:
		g.w("Convert.ToInt64(")
		g.str(d)
		g.w(")")
	}
}

// bytes writes a byte[] expression: the encodings and digests string keys are hashed with.
func (g *exprGen) bytes(depth int) {
	if depth <= 0 {
		g.w("Encoding.UTF8.GetBytes(")
		g.w(genStrings[g.pick(len(genStrings))])
		g.w(")")
		return
	}
	d := depth - 1
	switch g.pick(5) {
	case 0:
		g.w("System.Text.Encoding.UTF8.GetBytes(")
		g.str(d)
		g.w(")")
	case 1:
		g.w("System.Security.Cryptography.MD5.Create().ComputeHash(")
		g.bytes(d)
		g.w(")")
	case 2:
		g.w("SHA256.Create().ComputeHash(")
		g.bytes(d)
		g.w(")")
	case 3:
		g.w("MD5.HashData(Encoding.UTF8.GetBytes(")
		g.str(d)
		g.w("))")
	default:
		g.w("Encoding.UTF8.GetBytes(BitConverter.ToString(")
		g.bytes(d)
		g.w("))")
	}
}

func (g *exprGen) bool(depth int) {
	if depth <= 0 {
		g.w([]string{"true", "false"}[g.pick(2)])
		return
	}
	d := depth - 1
	switch g.pick(11) {
	case 0:
		g.str(d)
		g.w([]string{" == ", " != "}[g.pick(2)])
		g.str(d)
	case 1:
		g.int(d)
		g.w([]string{" < ", " <= ", " > ", " >= ", " == "}[g.pick(5)])
		g.long(d)
	case 2:
		g.w("(")
		g.bool(d)
		g.w([]string{" && ", " || "}[g.pick(2)])
		g.bool(d)
		g.w(")")
	case 3:
		g.w("!(")
		g.bool(d)
		g.w(")")
	case 4:
		g.w("(")
		g.str(d)
		g.w([]string{").Contains(", ").StartsWith(", ").EndsWith(", ").Equals("}[g.pick(4)])
		g.str(d)
		if g.pick(2) == 0 {
			g.w(", StringComparison.OrdinalIgnoreCase")
		}
		g.w(")")
	case 5:
		g.w("string.IsNullOrEmpty(")
		g.str(d)
		g.w(")")
	case 6:
		g.w("context.Request.Headers.ContainsKey(")
		g.str(d)
		g.w(")")
	case 7:
		g.w(`context.LastError?.Reason == "BackendConnectionFailure"`)
	case 8:
		g.w(`context.Variables.GetValueOrDefault<bool>("isMobile")`)
	case 9:
		g.w("(context.Response?.StatusCode >= ")
		g.int(d)
		g.w(")")
	default:
		g.w("(")
		g.bool(d)
		g.w(" ? ")
		g.bool(d)
		g.w(" : ")
		g.bool(d)
		g.w(")")
	}
}

// generate returns a well-typed expression (or statement block) built from data.
func generateExpr(data []byte) string {
	g := &exprGen{data: data}
	depth := 1 + g.pick(5)
	switch g.pick(5) {
	case 0:
		g.w("@(")
		g.str(depth)
		g.w(")")
	case 1:
		g.w("@(")
		g.int(depth)
		g.w(")")
	case 2:
		g.w("@(")
		g.bool(depth)
		g.w(")")
	case 3:
		g.w("@(")
		g.long(depth)
		g.w(")")
	default:
		g.w("@{ var s = ")
		g.str(depth)
		g.w("; int n = ")
		g.int(depth)
		g.w("; if (")
		g.bool(depth)
		g.w(") { s = s + n; } else { n = n * 2; } for_each; return s + n; }")
	}
	// a statement block may double s several times: the text budget must stop it cleanly
	return strings.Replace(g.b.String(), "for_each;", strings.Repeat("s = s + s; ", g.pick(40)), 1)
}

// FuzzEval compiles generated, well-typed expressions and evaluates them: compilation must
// succeed, evaluation must return a value of the static type (or null) or an *EvalError, and it
// must never panic (a recovered panic shows up as an "internal error" EvalError).
func FuzzEval(f *testing.F) {
	for _, seed := range []string{"", "\x00", "\x01\x02\x03", "\x04\x04\x05\x07\x09", "\x02\x04\x01\x03\x03\x03", "\xff\xfe\xfd\xfc\xfb\xfa\xf9",
		"\x04\x03\x05\x07\x07\x04\x0a\x01\x02\x27", strings.Repeat("\x05", 40), strings.Repeat("\x07\x01", 30)} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := generateExpr(data)
		e, err := Compile(src, Pos{File: "gen", Line: 1, Col: 1}, TypeAny)
		if err != nil {
			t.Fatalf("a well-typed expression does not compile: %s\n%v", src, err)
		}
		c := evalContext(t)
		withResponse(c, 503)
		for round := 0; round < 2; round++ { // twice: the second run reuses the arena and locals
			v, err := e.Eval(c)
			if err != nil {
				var ee *EvalError
				if !errors.As(err, &ee) {
					t.Fatalf("%s: error %T is not an *EvalError", src, err)
				}
				if strings.HasPrefix(ee.Msg, "internal error") {
					t.Fatalf("%s: evaluation panicked: %v", src, ee.Msg)
				}
				continue
			}
			if v.Kind != Null && v.Kind != kindOf(e.Type()) {
				t.Fatalf("%s: static type %s but value kind %s (%s)", src, e.Type(), v.Kind, strconv.Quote(v.String()))
			}
		}
	})
}
