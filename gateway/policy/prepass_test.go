package policy

import (
	"errors"
	"strings"
	"testing"
)

// TestPrepassAttributeForms loads attribute values in each form the pre-pass accepts (docs/policies.md,
// "Documents and scopes") and checks the expression the compiler received by evaluating it.
func TestPrepassAttributeForms(t *testing.T) {
	cases := []struct {
		name, attr, want string
	}{
		{"raw quotes", `value="@("a" + "b")"`, "ab"},
		{"raw less-than", `value="@(1 < 2 ? "lt" : "ge")"`, "lt"},
		{"raw less-than-or-equal and greater-than", `value="@(1 <= 2 && 3 > 2 ? "yes" : "no")"`, "yes"},
		{"raw ampersands", `value="@(true && !false ? "and" : "or")"`, "and"},
		{"nested parentheses", `value="@(((((1 + 2)) * (3))).ToString())"`, "9"},
		{"string with a closing parenthesis", `value="@("a)b" + ")")"`, "a)b)"},
		{"string with escaped quotes", `value="@("say \"hi\") " + "x")"`, `say "hi") x`},
		{"string with a backslash before the closing quote", `value="@("C:\\" + "dir")"`, `C:\dir`},
		{"verbatim string", `value="@(@"C:\dir\" + "x")"`, `C:\dir\x`},
		{"verbatim string with doubled quotes and a parenthesis", `value="@(@"a "")"" b" + "!")"`, `a ")" b!`},
		{"char literal quote", `value="@('"'.ToString() + "x")"`, `"x`},
		{"char literal parenthesis", `value="@(')'.ToString())"`, ")"},
		{"char literal escaped quote", `value="@('\''.ToString())"`, "'"},
		{"char literal unicode escape", `value="@('\u0029'.ToString())"`, ")"},
		{"interpolation with quotes in a hole", `value="@($"signin-{context.Request.Url.Query.GetValueOrDefault("n", ")")}-state")"`, "signin-3-state"},
		{"block with braces in strings", `value="@{ var s = "}"; if (s == "}") { return s + "{"; } return "x"; }"`, "}{"},
		{"block with a comment holding quotes", `value="@{ /* " ) } */ return "c"; // "
 }"`, "c"},
		{"generic type argument", `value="@(context.Variables.GetValueOrDefault<string>("none", "dflt"))"`, "dflt"},
		{"entity-escaped", `value="@(&quot;a&quot; + (1 &lt; 2 &amp;&amp; 2 &gt; 1 ? &quot;&lt;&gt;&quot; : &quot;&quot;))"`, "a<>"},
		{"numeric character references", `value="@(&#34;a&#x22; + &#39;b&#39;)"`, "ab"},
		{"mixed raw and escaped: &quot; is a quote", `value="@(&quot;a" + "b&quot; + "c")"`, "abc"},
		{"single-quoted attribute", `value='@("https://x".Replace("https", "http"))'`, "http://x"},
		{"single-quoted attribute with an apostrophe char", `value='@('\''.ToString() + "x")'`, "'x"},
		{"spaces around the expression", `value="  @("trimmed")  "`, "trimmed"},
		{"multi-line attribute", "value=\"@(\n    context.Request.Url.Query.GetValueOrDefault(\"n\", \"0\")\n    + \"!\"\n)\"", "3!"},
		{"attribute after the expression", `value="@("v")" id="after"`, "v"},
		{"literal with a raw at-sign", `value="user@example.com"`, "user@example.com"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := "<policies>\n<inbound>\n<set-variable name=\"r\" " + tc.attr + " />\n</inbound>\n</policies>"
			d, err := Parse(Source{File: "f.xml", Line: 1, Text: []byte(text)}, nil)
			if err != nil {
				t.Fatalf("Parse(%s): %v", tc.attr, err)
			}
			p := mustCompile(t, Chain{API: d})
			c := request(t, "GET", "http://gw/api/x?n=3")
			var r Result
			if err := p.Inbound(c, &r); err != nil {
				t.Fatalf("Inbound: %v", err)
			}
			if v, _ := c.Variable("r"); v.String() != tc.want {
				t.Errorf("%s = %q, want %q", tc.attr, v.String(), tc.want)
			}
		})
	}
}

// TestErrorPositionsPointIntoTheFile checks file:line:col of load errors in a policy that
// starts on line 40 of a YAML file, for expressions written raw, entity-escaped, over several
// lines and after named-value substitution. The column must point at the offending text of
// the original file, not of the decoded expression.
func TestErrorPositionsPointIntoTheFile(t *testing.T) {
	const firstLine = 40
	cases := []struct {
		name  string
		line3 string // the document's third line; the error is at the first occurrence of at
		at    string
		rest  string // lines after the third one, before </inbound>
		msg   string
		line  int // line in the document (3 unless rest holds the error)
	}{
		{"raw quotes", `<set-variable name="x" value="@(context.Request.Headers.GetValueOrDefault("a").Lenght)" />`, "Lenght", "", `unknown member "Lenght"`, 3},
		{"entity-escaped quotes before the error", `<set-variable name="x" value="@(context.Request.Headers.GetValueOrDefault(&quot;a&quot;).Lenght)" />`, "Lenght", "", `unknown member "Lenght"`, 3},
		{"escaped less-than before the error", `<choose><when condition="@(1 &lt; 2 &amp;&amp; context.Request.Metod == &quot;GET&quot;)" /></choose>`, "Metod", "", `unknown member "Metod"`, 3},
		{"named value before the error", `<set-variable name="x" value="@("{{region}}" + context.Api.Nmae)" />`, "Nmae", "", `unknown member "Nmae"`, 3},
		{"type error", `<choose><when condition="@(context.Response.StatusCode == &quot;503&quot;)" /></choose>`, "== &quot;", "", `cannot compare int with string`, 3},
		{"unknown named value", `<set-variable name="x" value="@("{{nope}}")" />`, "{{nope}}", "", `unknown named value "{{nope}}"`, 3},
		{"unclosed expression", `<set-variable name="x" value="@(context.Request.Url.Query.GetValueOrDefault("userId","")" />`, "", "", "expression is not closed", 3},
		{"unknown element", `<set-bakend-service base-url="http://x/" />`, "<set-bakend-service", "", "unknown policy <set-bakend-service>", 3},
		{"unclosed element", `<set-header name="a"><value>1</valeu></set-header>`, "</valeu>", "", "malformed XML: element <value> closed by </valeu> (<value> is opened at line 42, column 26)", 3},
		{"bad attribute value", `<set-header name="a" exists-action="replace"><value>1</value></set-header>`, "replace", "", `exists-action "replace"`, 3},
		{"error on the 2nd line of a multi-line attribute", `<set-variable name="x" value="@(`, "Qurey", "\n      context.Request.Url.Qurey.GetValueOrDefault(\"a\"))\" />", `unknown member "Qurey"`, 4},
		{"error in a multi-line block after escaped text", `<set-variable name="x" value="@{ var a = &quot;&lt;&quot;;`, "zz", "\n  return a + &quot;&quot; + zz; }\" />", `unknown name "zz"`, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := "<policies>\n  <inbound>\n    " + tc.line3 + tc.rest + "\n  </inbound>\n</policies>\n"
			_, err := Parse(Source{File: "sfgate.yaml", Line: firstLine, Text: []byte(text)}, NamedValues{"region": "eu"})
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse = %v, want a *policy.Error", err)
			}
			if !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("message %q does not contain %q", pe.Msg, tc.msg)
			}
			lines := strings.Split(text, "\n")
			wantLine := firstLine + tc.line - 1
			if pe.File != "sfgate.yaml" || pe.Line != wantLine {
				t.Fatalf("error at %s:%d:%d, want sfgate.yaml:%d (%v)", pe.File, pe.Line, pe.Col, wantLine, err)
			}
			src := lines[tc.line-1]
			wantCol := strings.Index(src, tc.at) + 1
			if tc.at == "" { // the missing bracket: the end of the expression, before the closing quote
				wantCol = strings.Index(src, `" />`) + 1
			}
			if pe.Col != wantCol {
				got := ""
				if pe.Col >= 1 && pe.Col <= len(src) {
					got = src[pe.Col-1:]
				}
				t.Errorf("column %d (at %q), want %d (at %q): %v", pe.Col, got, wantCol, src[max(wantCol-1, 0):], err)
			}
			if !strings.HasPrefix(err.Error(), "sfgate.yaml:") {
				t.Errorf("Error() = %q, want file:line:col first", err)
			}
		})
	}
}
