package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/valyala/fasthttp"
)

// trace appends a marker to the variable "order" so tests can see which statements ran and in
// which order.
func trace(mark string) string {
	return `<set-variable name="order" value="@(context.Variables.GetValueOrDefault&lt;string&gt;(&quot;order&quot;, &quot;&quot;) + &quot;` + mark + `;&quot;)" />`
}

func order(t *testing.T, p *Program, sec sectionKind) string {
	t.Helper()
	c := request(t, "GET", "http://gw/api/partners/1")
	var r Result
	rn := runner{c: c, r: &r, sec: sec, f: &fakeForwarder{}}
	if err := finish(rn.exec(p.sections[sec])); err != nil {
		t.Fatal(err)
	}
	v, _ := c.Variable("order")
	return v.String()
}

func doc(sections ...string) string {
	return "<policies>\n" + strings.Join(sections, "\n") + "\n</policies>"
}

func TestMergeAtBase(t *testing.T) {
	global := mustParse(t, "global.xml", doc(`<inbound>`+trace("global")+`<base/></inbound>`))
	api := mustParse(t, "api.xml", doc(`<inbound>`+trace("api1")+`<base />`+trace("api2")+`</inbound>`))
	op := mustParse(t, "op.xml", doc(`<inbound>`+trace("op1")+`<base />`+trace("op2")+`</inbound>`))
	if got := order(t, mustCompile(t, Chain{Global: global, API: api, Operation: op}), inbound); got != "op1;api1;global;api2;op2;" {
		t.Errorf("order = %q", got)
	}
	product := mustParse(t, "product.xml", doc(`<inbound><base/>`+trace("product")+`</inbound>`))
	if got := order(t, mustCompile(t, Chain{Global: global, Product: product, API: api}), inbound); got != "api1;global;product;api2;" {
		t.Errorf("with product: order = %q", got)
	}
	// a missing section inherits; a section without <base/> drops its parents
	opNoInbound := mustParse(t, "op.xml", doc(`<outbound><base/></outbound>`))
	if got := order(t, mustCompile(t, Chain{Global: global, API: api, Operation: opNoInbound}), inbound); got != "api1;global;api2;" {
		t.Errorf("inherited: order = %q", got)
	}
	opNoBase := mustParse(t, "op.xml", doc(`<inbound>`+trace("only")+`</inbound>`))
	if got := order(t, mustCompile(t, Chain{Global: global, API: api, Operation: opNoBase}), inbound); got != "only;" {
		t.Errorf("no base: order = %q", got)
	}
}

func TestDefaultGlobalPolicy(t *testing.T) {
	api := mustParse(t, "api.xml", doc(`<inbound><base /></inbound>`, `<backend><base /></backend>`, `<outbound><base /></outbound>`, `<on-error><base /></on-error>`))
	p := mustCompile(t, Chain{API: api})
	if !p.Forwards() {
		t.Fatal("an API whose sections say only <base/> must be forwarded")
	}
	f := &fakeForwarder{}
	c := request(t, "GET", "http://gw/api/x")
	var r Result
	if err := p.Backend(t.Context(), c, &r, f); err != nil {
		t.Fatal(err)
	}
	if f.calls != 1 || f.timeouts[0] != 300*time.Second {
		t.Errorf("forward calls %d timeouts %v, want 1 call with APIM's 300 s default", f.calls, f.timeouts)
	}
	noForward := mustParse(t, "api.xml", doc(`<backend></backend>`))
	if mustCompile(t, Chain{API: noForward}).Forwards() {
		t.Error("a backend section without <base/> or forward-request does not forward")
	}
	if err := p.Backend(t.Context(), c, &r, nil); !errors.Is(err, ErrNoForwarder) {
		t.Errorf("Backend without forwarder: %v", err)
	}
}

func TestBackendIDCannotBeOverriddenByBaseURL(t *testing.T) {
	global := mustParse(t, "global.xml", doc(`<inbound>
    <set-backend-service backend-id="sf-cluster" />
</inbound>`))
	after := mustParse(t, "api.xml", doc(`<inbound>
    <base />
    <choose><when condition="true">
        <set-backend-service base-url="http://other/" />
    </when></choose>
</inbound>`))
	_, err := Compile(Chain{Global: global, API: after})
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("Compile = %v, want a *policy.Error", err)
	}
	if pe.File != "api.xml" || pe.Line != 5 {
		t.Errorf("error at %s:%d, want api.xml:5", pe.File, pe.Line)
	}
	if !strings.Contains(pe.Msg, "global.xml:3:5") || !strings.Contains(pe.Msg, "backend-id") {
		t.Errorf("error %q must name the inherited backend-id's place", pe.Msg)
	}
	crossSection := mustParse(t, "api.xml", doc(`<inbound><base /></inbound>`, `<backend>
    <set-backend-service base-url="http://other/" />
    <base />
</backend>`))
	if _, err := Compile(Chain{Global: global, API: crossSection}); err == nil || !strings.HasPrefix(err.Error(), "api.xml:4:5: ") || !strings.Contains(err.Error(), "global.xml:3:5") {
		t.Errorf("base-url in backend after an inherited inbound backend-id: %v", err)
	}
	ownID := mustParse(t, "api.xml", doc(`<inbound><base /><set-backend-service backend-id="mine" /></inbound>`, `<backend>
    <retry condition="true" count="1" interval="0"><set-backend-service base-url="http://other/" /><forward-request /></retry>
</backend>`))
	if _, err := Compile(Chain{Global: global, API: ownID}); err != nil {
		t.Errorf("the scope replaced the inherited backend-id itself: %v", err)
	}
	before := mustParse(t, "api.xml", doc(`<inbound><set-backend-service base-url="http://other/" /><base /></inbound>`))
	if _, err := Compile(Chain{Global: global, API: before}); err != nil {
		t.Errorf("base-url before <base/> does not override: %v", err)
	}
	byID := mustParse(t, "api.xml", doc(`<inbound><base /><set-backend-service backend-id="other" /></inbound>`))
	p := mustCompile(t, Chain{Global: global, API: byID})
	c := request(t, "GET", "http://gw/api/x")
	var r Result
	if err := p.Inbound(c, &r); err != nil || string(r.Target.BackendID) != "other" {
		t.Errorf("backend-id override: %v %q", err, r.Target.BackendID)
	}
}

func TestNamedValues(t *testing.T) {
	named := NamedValues{"backend-host": "orders.internal", "Weight": "30", "tenant-header": "X-Tenant"}
	d, err := Parse(Source{File: "nv.xml", Line: 1, Text: []byte(doc(`<inbound>
<set-variable name="w" value="@(int.Parse(&quot;{{Weight}}&quot;) + {{Weight}})" />
<set-header name="{{tenant-header}}" exists-action="override"><value>{{backend-host}}</value></set-header>
<set-backend-service base-url="http://{{backend-host}}:8080/" />
</inbound>`))}, named)
	if err != nil {
		t.Fatal(err)
	}
	p := mustCompile(t, Chain{API: d})
	c := request(t, "GET", "http://gw/api/x")
	var r Result
	if err := p.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Variable("w"); v.String() != "60" {
		t.Errorf("w = %q", v.String())
	}
	if got := string(c.Request.Header.Peek("X-Tenant")); got != "orders.internal" {
		t.Errorf("header = %q", got)
	}
	if string(r.Target.BaseURL) != "http://orders.internal:8080/" {
		t.Errorf("base-url = %q", r.Target.BaseURL)
	}
	_, err = Parse(Source{File: "nv.xml", Line: 10, Text: []byte(doc(`<inbound>
<set-backend-service base-url="http://{{missing}}/" />
</inbound>`))}, named)
	if err == nil || !strings.HasPrefix(err.Error(), "nv.xml:12:39: unknown named value \"{{missing}}\"") {
		t.Errorf("unknown named value: %v", err)
	}
	if err != nil && !strings.Contains(err.Error(), "backend-host") {
		t.Errorf("the error should list the defined names: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"unknown element", doc("<inbound>\n  <set-bakend-service base-url=\"http://x/\" />\n</inbound>"), `x.xml:3:3: unknown policy <set-bakend-service>`},
		{"unsupported APIM policy", doc("<inbound>\n<cache-lookup vary-by-developer=\"false\" vary-by-developer-groups=\"false\" />\n</inbound>"), `x.xml:3:1: policy <cache-lookup> is not supported by sfgate`},
		{"unknown section", doc("<inbond/>"), `x.xml:2:1: unknown section <inbond>`},
		{"duplicate section", doc("<inbound/>\n<inbound/>"), `x.xml:3:1: duplicate section <inbound>`},
		{"wrong root", "<policy/>", `x.xml:1:1: the root element must be <policies>`},
		{"both base-url and backend-id", doc(`<inbound><set-backend-service base-url="http://x/" backend-id="b" /></inbound>`), `exactly one of "base-url" and "backend-id"`},
		{"empty base-url", doc(`<inbound><set-backend-service base-url="" /></inbound>`), "base-url is empty"},
		{"neither", doc(`<inbound><set-backend-service sf-partition-key="1" /></inbound>`), `exactly one of "base-url" and "backend-id"`},
		{"sf attribute with base-url", doc(`<inbound><set-backend-service base-url="http://x/" sf-partition-key="1" /></inbound>`), `"sf-partition-key" applies to Service Fabric backends`},
		{"bad replica type", doc(`<inbound><set-backend-service backend-id="b" sf-replica-type="primery" /></inbound>`), `sf-replica-type "primery" is not a replica type`},
		{"literal resolve condition", doc(`<inbound><set-backend-service backend-id="b" sf-resolve-condition="true" /></inbound>`), "sf-resolve-condition must be an expression"},
		{"unknown attribute", doc(`<inbound><set-header name="a" exist-action="skip"><value>1</value></set-header></inbound>`), `unknown attribute "exist-action" on <set-header>`},
		{"bad exists-action", doc(`<inbound><set-header name="a" exists-action="replace"><value>1</value></set-header></inbound>`), `exists-action "replace" is not one of override, skip, append, delete`},
		{"fixed header", doc(`<inbound><set-header name="Content-Length" exists-action="delete" /></inbound>`), "cannot change the Content-Length header"},
		{"query without value", doc(`<inbound><set-query-parameter name="a" /></inbound>`), "needs at least one <value>"},
		{"forward in inbound", doc(`<inbound><forward-request /></inbound>`), "<forward-request> is not allowed in <inbound> (allowed in: backend)"},
		{"retry in inbound", doc(`<inbound><retry condition="true" count="2" interval="1" /></inbound>`), "<retry> is not allowed in <inbound> (allowed in: backend)"},
		{"rewrite in backend", doc(`<backend><rewrite-uri template="/x" /></backend>`), "<rewrite-uri> is not allowed in <backend>"},
		{"set-backend-service in outbound", doc(`<outbound><set-backend-service base-url="http://x/" /></outbound>`), "not allowed in <outbound>"},
		{"base nested", doc(`<inbound><choose><when condition="true"><base /></when></choose></inbound>`), "<base/> must be a direct child of a section"},
		{"two bases", doc(`<inbound><base /><base /></inbound>`), "<base/> appears more than once"},
		{"when after otherwise", doc(`<inbound><choose><otherwise /><when condition="true" /></choose></inbound>`), "<when> after <otherwise>"},
		{"choose without when", doc(`<inbound><choose></choose></inbound>`), "<choose> needs at least one <when>"},
		{"when without condition", doc(`<inbound><choose><when /></choose></inbound>`), `<when> needs the attribute "condition"`},
		{"bad bool", doc(`<inbound><choose><when condition="yes" /></choose></inbound>`), `"yes" is not a bool`},
		{"string condition", doc(`<inbound><choose><when condition="@(context.Request.Method)" /></choose></inbound>`), "expression has type string, but this position needs bool"},
		{"retry count", doc(`<backend><retry condition="true" count="99" interval="1"><forward-request /></retry></backend>`), `"99" is not an integer from 1 to 50`},
		{"timeout", doc(`<backend><forward-request timeout="soon" /></backend>`), `timeout: "soon" is not an integer`},
		{"follow redirects", doc(`<backend><forward-request follow-redirects="true" /></backend>`), `follow-redirects="true" is not supported`},
		{"set-variable expression name", doc(`<inbound><set-variable name="@(&quot;x&quot;)" value="1" /></inbound>`), "name must be a non-empty literal"},
		{"text in section", doc(`<inbound>hello</inbound>`), "unexpected text in <inbound>"},
		{"malformed XML", doc(`<inbound><set-header name="a"></inbound>`), "malformed XML"},
		{"unclosed", "<policies><inbound>", "malformed XML"},
		{"empty", "", "empty policy document"},
		{"unknown member", doc("<inbound>\n<set-variable name=\"a\" value=\"@(context.Request.Url.Hots)\" />\n</inbound>"), `x.xml:3:53: set-variable value: unknown member "Hots" of IUrl (expected one of: Scheme, Host, Port, Path, Query, QueryString)`},
		{"type error", doc("<inbound>\n<choose><when condition=\"@(context.Response.StatusCode == &quot;503&quot;)\" /></choose>\n</inbound>"), `x.xml:3:56: when condition: cannot compare int with string using "=="`},
		{"return-response variable", doc(`<inbound><return-response response-variable-name="r" /></inbound>`), "response-variable-name is not supported"},
		{"status out of range", doc(`<inbound><return-response><set-status code="700" /></return-response></inbound>`), `"700" is not an integer from 100 to 599`},
	}
	for _, tc := range cases {
		_, err := Parse(Source{File: "x.xml", Line: 1, Text: []byte(tc.text)}, nil)
		if err == nil {
			t.Errorf("%s: loaded, want error %q", tc.name, tc.want)
			continue
		}
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("%s: %T is not a *policy.Error", tc.name, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, err, tc.want)
		}
	}
}

func TestRawAndEscapedFormsAreEquivalent(t *testing.T) {
	forms := []string{
		// raw quotes, '<' and '&&' inside attributes, as APIM writes them
		`<when condition="@(context.Request.Url.Query.GetValueOrDefault("n", "0") != "5" && int.Parse(context.Request.Url.Query.GetValueOrDefault("n", "0")) < 10)">`,
		// entity-escaped, valid XML
		`<when condition="@(context.Request.Url.Query.GetValueOrDefault(&quot;n&quot;, &quot;0&quot;) != &quot;5&quot; &amp;&amp; int.Parse(context.Request.Url.Query.GetValueOrDefault(&quot;n&quot;, &quot;0&quot;)) &lt; 10)">`,
		// single-quoted attribute
		`<when condition='@(context.Request.Url.Query.GetValueOrDefault("n", "0") != "5" &amp;&amp; int.Parse(context.Request.Url.Query.GetValueOrDefault("n", "0")) &lt; 10)'>`,
		// mixed
		`<when condition="@(context.Request.Url.Query.GetValueOrDefault(&quot;n&quot;, "0") != "5" && int.Parse(context.Request.Url.Query.GetValueOrDefault("n", &quot;0&quot;)) &lt; 10)">`,
	}
	for _, when := range forms {
		text := doc(`<inbound><choose>` + when + `<set-backend-service base-url="http://small/" /></when>
<otherwise><set-backend-service base-url="http://other/" /></otherwise></choose></inbound>`)
		p := mustCompile(t, Chain{API: mustParse(t, "f.xml", text)})
		for n, want := range map[string]string{"3": "http://small/", "5": "http://other/", "12": "http://other/"} {
			c := request(t, "GET", "http://gw/api/x?n="+n)
			var r Result
			if err := p.Inbound(c, &r); err != nil {
				t.Fatal(err)
			}
			if string(r.Target.BaseURL) != want {
				t.Errorf("%s with n=%s: %s, want %s", when, n, r.Target.BaseURL, want)
			}
		}
	}
}

func TestExpressionsInElementText(t *testing.T) {
	text := doc(`<inbound>
<set-header name="X-Target" exists-action="override">
    <value>@(context.Variables.GetValueOrDefault<string>("target", "none"))</value>
</set-header>
<set-header name="X-Block" exists-action="override">
    <value>@{
        var n = context.Request.Url.Query.GetValueOrDefault("n", "0");
        if (int.Parse(n) < 10 && n != "") { return "small<" + n + ">"; }
        return "big";
    }</value>
</set-header>
<!-- a comment with @( and " -->
<set-header name="X-Literal" exists-action="override"><value><![CDATA[a<b&c]]></value></set-header>
<set-header name="X-Trimmed" exists-action="override">
    <value>
        text/plain
    </value>
</set-header>
</inbound>`)
	p := mustCompile(t, Chain{API: mustParse(t, "t.xml", text)})
	c := request(t, "GET", "http://gw/api/x?n=3")
	var r Result
	if err := p.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"X-Target": "none", "X-Block": "small<3>", "X-Literal": "a<b&c", "X-Trimmed": "text/plain"} {
		if got := string(c.Request.Header.Peek(name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestErrorPositionsInInlinePolicies(t *testing.T) {
	// an inline policy starting on line 20 of a YAML file; the bad member is on its third line
	text := "<policies>\n  <inbound>\n    <set-variable name=\"x\" value=\"@(context.Request.Headers.GetValueOrDefault(&quot;a&quot;).Lenght)\" />\n  </inbound>\n</policies>"
	_, err := Parse(Source{File: "sfgate.yaml", Line: 20, Text: []byte(text)}, nil)
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v", err)
	}
	if pe.File != "sfgate.yaml" || pe.Line != 22 {
		t.Errorf("position %s:%d:%d, want sfgate.yaml:22", pe.File, pe.Line, pe.Col)
	}
	// a multi-line expression: the error is on the line where the problem is
	text = "<policies>\n<inbound>\n<set-variable name=\"x\" value=\"@{\n  var a = 1;\n  return a + zz;\n}\" />\n</inbound>\n</policies>"
	_, err = Parse(Source{File: "m.xml", Line: 1, Text: []byte(text)}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "m.xml:5:14: ") {
		t.Errorf("multi-line expression error: %v", err)
	}
}

func TestSetHeaderAndQuery(t *testing.T) {
	text := doc(`<inbound>
<set-header name="X-Over" exists-action="override"><value>new</value></set-header>
<set-header name="X-Skip" exists-action="skip"><value>new</value></set-header>
<set-header name="X-Skip-Absent" exists-action="skip"><value>added</value></set-header>
<set-header name="X-Append" exists-action="append"><value>two</value></set-header>
<set-header name="X-Delete" exists-action="delete" />
<set-header name="X-Multi"><value>a</value><value>b</value></set-header>
<set-header name="@(&quot;X-&quot; + &quot;Dynamic&quot;)" exists-action="@(&quot;override&quot;)"><value>@(context.Request.Method)</value></set-header>
<set-query-parameter name="version" exists-action="delete" />
<set-query-parameter name="page" exists-action="override"><value>2</value></set-query-parameter>
<set-query-parameter name="keep" exists-action="skip"><value>ignored</value></set-query-parameter>
<set-query-parameter name="tag" exists-action="append"><value>c</value><value>d e</value></set-query-parameter>
</inbound>`, `<outbound>
<set-header name="X-Powered-By" exists-action="delete" />
<set-header name="X-Served" exists-action="override"><value>sfgate</value></set-header>
</outbound>`)
	p := mustCompile(t, Chain{API: mustParse(t, "h.xml", text)})
	c := request(t, "GET", "http://gw/api/items?version=1&page=1&keep=mine&tag=a%2Fb",
		"X-Over", "old", "X-Skip", "old", "X-Append", "one", "X-Delete", "gone")
	var r Result
	if err := p.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	h := &c.Request.Header
	for name, want := range map[string][]string{
		"X-Over": {"new"}, "X-Skip": {"old"}, "X-Skip-Absent": {"added"}, "X-Append": {"one,two"},
		"X-Delete": nil, "X-Multi": {"a,b"}, "X-Dynamic": {"GET"},
	} {
		var got []string
		for _, v := range h.PeekAll(name) {
			got = append(got, string(v))
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if got, want := forwardURL(c, &r), "http://contoso.com/api/10.4/items?keep=mine&tag=a%2Fb&page=2&tag=c&tag=d+e"; got != want {
		t.Errorf("forward URL = %s, want %s", got, want)
	}
	var resp fasthttp.Response
	resp.Header.Set("X-Powered-By", "ASP.NET")
	c.Response = &expr.Response{StatusCode: 200, Header: &resp.Header}
	if err := p.Outbound(c, &r); err != nil {
		t.Fatal(err)
	}
	if resp.Header.Peek("X-Powered-By") != nil || string(resp.Header.Peek("X-Served")) != "sfgate" {
		t.Errorf("response headers: %s", resp.Header.String())
	}
	c.Response = nil
	if err := p.Outbound(c, &r); err == nil {
		t.Error("outbound set-header without a response must fail")
	}
}

func TestUnchangedQueryIsForwardedVerbatim(t *testing.T) {
	p := mustCompile(t, Chain{API: mustParse(t, "a.xml", doc(`<inbound><base /></inbound>`))})
	c := request(t, "GET", "http://gw/api/a%2Fb/%7Ex?q=%C3%A9&x=a+b&flag&y=%2F")
	var r Result
	if err := p.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	if got, want := forwardURL(c, &r), "http://contoso.com/api/10.4/a%2Fb/%7Ex?q=%C3%A9&x=a+b&flag&y=%2F"; got != want {
		t.Errorf("forward URL = %s, want %s", got, want)
	}
}

func TestRewriteURI(t *testing.T) {
	cases := []struct {
		template, copy, opTemplate, uri, want string
	}{
		{"/put", "", "/get?a={b}", "http://gw/api/get?a=b&c=d", "http://contoso.com/api/10.4/put?c=d"},
		{"/put", `copy-unmatched-params="false"`, "/get?a={b}", "http://gw/api/get?a=b&c=d", "http://contoso.com/api/10.4/put"},
		{"/v2/partners/{id}?expand={id}", "", "/partners/{id}", "http://gw/api/partners/15?x=1", "http://contoso.com/api/10.4/v2/partners/15?expand=15&x=1"},
		{"/put", "", "/get", "http://gw/api/get?tag=a&tag=b&x=1", "http://contoso.com/api/10.4/put?tag=a&tag=b&x=1"},
		{"/put?x=2", "", "/get", "http://gw/api/get?x=1&tag=a&tag=b", "http://contoso.com/api/10.4/put?x=2&tag=a&tag=b"},
		{`@("/users/" + context.Request.MatchedParameters["id"].ToUpper())`, "", "/u/{id}", "http://gw/api/u/ab", "http://contoso.com/api/10.4/users/AB"},
	}
	for _, tc := range cases {
		text := doc(`<inbound><rewrite-uri template="` + strings.ReplaceAll(tc.template, `"`, "&quot;") + `" ` + tc.copy + ` /></inbound>`)
		p := mustCompile(t, Chain{API: mustParse(t, "r.xml", text)})
		c := request(t, "GET", tc.uri)
		c.Operation.URLTemplate = tc.opTemplate
		id := "15"
		if strings.Contains(tc.uri, "/u/") {
			id = "ab"
		}
		c.MatchedParameters = append(c.MatchedParameters, expr.Param{Name: "id", Value: []byte(id)})
		var r Result
		if err := p.Inbound(c, &r); err != nil {
			t.Fatal(err)
		}
		if got := forwardURL(c, &r); got != tc.want {
			t.Errorf("rewrite %s: %s, want %s", tc.template, got, tc.want)
		}
	}
}

func TestReturnResponseStopsThePipeline(t *testing.T) {
	text := doc(`<inbound>
<return-response>
    <set-status code="403" reason="Forbidden" />
    <set-header name="Content-Type" exists-action="override"><value>application/json</value></set-header>
    <set-header name="X-Id" exists-action="override"><value>@(context.RequestId.ToString())</value></set-header>
    <set-body>@("{\"path\":\"" + context.Request.OriginalUrl.Path + "\"}")</set-body>
</return-response>
<set-variable name="after" value="ran" />
</inbound>`)
	p := mustCompile(t, Chain{API: mustParse(t, "rr.xml", text)})
	c := request(t, "GET", "http://gw/api/secret")
	var r Result
	if err := p.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	rr := r.Return
	if !rr.Set || rr.StatusCode != 403 || string(rr.Reason) != "Forbidden" || string(rr.Body) != `{"path":"/api/secret"}` {
		t.Errorf("return = %+v body %s", rr, rr.Body)
	}
	if len(rr.Headers) != 2 || string(rr.Headers[0].Name) != "Content-Type" || string(rr.Headers[1].Value) != "00000000-0000-0000-0000-000000000001" {
		t.Errorf("headers = %q", rr.Headers)
	}
	if _, ran := c.Variable("after"); ran {
		t.Error("statements after return-response must not run")
	}
	r.Reset()
	if r.Return.Set || r.Target.Set || len(r.Return.Headers) != 0 {
		t.Errorf("Reset left %+v", r)
	}
}

func TestSetVariableLiteralIsString(t *testing.T) {
	p := mustCompile(t, Chain{API: mustParse(t, "v.xml", doc(`<inbound>
<set-variable name="max" value="-1" />
<set-variable name="n" value="@(int.Parse((string)context.Variables[&quot;max&quot;]) * 2)" />
</inbound>`))})
	c := request(t, "GET", "http://gw/api/x")
	var r Result
	if err := p.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Variable("max"); v.Kind != expr.String || v.String() != "-1" {
		t.Errorf("max = %v %q", v.Kind, v.String())
	}
	if v, _ := c.Variable("n"); v.Kind != expr.Int || v.I != -2 {
		t.Errorf("n = %v %d", v.Kind, v.I)
	}
}

// fakeForwarder answers forward-request with scripted outcomes.
type fakeForwarder struct {
	outcomes []error // per call; nil = success with status
	status   int
	calls    int
	timeouts []time.Duration
	targets  []string
}

type connErr struct{}

func (connErr) Error() string { return "dial tcp: connection refused" }
func (connErr) LastError() expr.LastError {
	return expr.LastError{Source: "forward-request", Reason: expr.ReasonBackendConnectionFailure, Message: "dial tcp: connection refused"}
}

func (f *fakeForwarder) Forward(_ context.Context, c *expr.Context, r *Result, timeout time.Duration) error {
	f.calls++
	f.timeouts = append(f.timeouts, timeout)
	f.targets = append(f.targets, string(r.Target.BaseURL))
	var err error
	if f.calls <= len(f.outcomes) {
		err = f.outcomes[f.calls-1]
	}
	if err != nil {
		c.Response = nil
		return err
	}
	status := f.status
	if status == 0 {
		status = 200
	}
	c.Response = &expr.Response{StatusCode: status}
	return nil
}

func TestRetryAroundForwardRequest(t *testing.T) {
	p := mustCompile(t, Chain{API: mustParse(t, "retry.xml", doc(`<inbound><set-backend-service base-url="http://east/" /></inbound>`, `<backend>
<retry condition="@(context.LastError?.Reason == &quot;BackendConnectionFailure&quot; || context.Response.StatusCode >= 500)" count="3" interval="0">
    <choose><when condition="@(context.LastError != null)"><set-backend-service base-url="http://west/" /></when></choose>
    <forward-request timeout="20" />
</retry>
</backend>`))})
	cases := []struct {
		name     string
		outcomes []error
		status   int
		calls    int
		err      bool
	}{
		{"success first time", nil, 200, 1, false},
		{"two connection failures then success", []error{connErr{}, connErr{}}, 200, 3, false},
		{"always failing: count+1 attempts, then the error", []error{connErr{}, connErr{}, connErr{}, connErr{}, connErr{}}, 200, 4, true},
		{"5xx retried, last response kept", nil, 503, 4, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := request(t, "GET", "http://gw/api/x")
			var r Result
			if err := p.Inbound(c, &r); err != nil {
				t.Fatal(err)
			}
			f := &fakeForwarder{outcomes: tc.outcomes, status: tc.status}
			err := p.Backend(t.Context(), c, &r, f)
			if (err != nil) != tc.err {
				t.Fatalf("Backend error = %v, want error %v", err, tc.err)
			}
			if f.calls != tc.calls {
				t.Errorf("calls = %d, want %d", f.calls, tc.calls)
			}
			if f.timeouts[0] != 20*time.Second {
				t.Errorf("timeout %v", f.timeouts[0])
			}
			if len(tc.outcomes) > 0 && (f.targets[0] != "http://east/" || f.targets[1] != "http://west/") {
				t.Errorf("targets %v: the retry must fail over to west", f.targets)
			}
			if !tc.err && c.LastError != nil {
				t.Errorf("LastError after a successful attempt = %+v", c.LastError)
			}
		})
	}
}

func TestRetryWaitSchedule(t *testing.T) {
	if d := retryWait(1, 2, 0, 0, false); d != 2*time.Second {
		t.Errorf("fixed: %v", d)
	}
	if d := retryWait(3, 2, 1, 0, false); d != 4*time.Second {
		t.Errorf("linear: %v", d)
	}
	if d := retryWait(1, 2, 1, 0, true); d != 0 {
		t.Errorf("first fast: %v", d)
	}
	for n := int64(1); n < 10; n++ {
		d := retryWait(n, 1, 10, 100, false)
		lo := time.Duration(float64(time.Second) * min(100, 1+float64(int64(1)<<n-1)*8))
		hi := time.Duration(float64(time.Second) * min(100, 1+float64(int64(1)<<n-1)*12))
		if d < lo || d > hi {
			t.Errorf("exponential retry %d: %v not in [%v, %v]", n, d, lo, hi)
		}
	}
}

func TestRetryWaitHonoursContext(t *testing.T) {
	p := mustCompile(t, Chain{API: mustParse(t, "retry.xml", doc(`<backend>
<retry condition="true" count="5" interval="3600"><forward-request /></retry>
</backend>`))})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	c := request(t, "GET", "http://gw/api/x")
	var r Result
	f := &fakeForwarder{}
	err := p.Backend(ctx, c, &r, f)
	if !errors.Is(err, context.Canceled) || f.calls != 1 {
		t.Errorf("err = %v after %d calls, want context.Canceled after 1", err, f.calls)
	}
}

func TestExpressionFailureBecomesRequestError(t *testing.T) {
	p := mustCompile(t, Chain{API: mustParse(t, "hash.xml", string(readExample(t, "sf-route-by-hashed-key.xml").Text))})
	c := request(t, "GET", "http://gw/api/customers/abc/orders")
	c.MatchedParameters = append(c.MatchedParameters, expr.Param{Name: "customerId", Value: []byte("abc")})
	var r Result
	err := p.Inbound(c, &r)
	var ee *expr.EvalError
	if !errors.As(err, &ee) {
		t.Fatalf("Inbound = %v, want an *expr.EvalError", err)
	}
	if ee.Reason() != expr.ReasonExpressionValueEvaluationFailure || !strings.Contains(ee.Msg, `"abc"`) {
		t.Errorf("error = %+v", ee)
	}
	c.LastError = expr.AsLastError(err)
	if err := p.OnError(c, &r); err != nil {
		t.Fatal(err)
	}
	if !r.Return.Set || r.Return.StatusCode != 400 || string(r.Return.Body) != "customer id 'abc' is not a number" {
		t.Errorf("on-error response = %d %q", r.Return.StatusCode, r.Return.Body)
	}
	// a good id routes to partition key id % 4
	c = request(t, "GET", "http://gw/api/customers/4711/orders")
	c.MatchedParameters = append(c.MatchedParameters, expr.Param{Name: "customerId", Value: []byte("4711")})
	r.Reset()
	if err := p.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	if string(r.Target.PartitionKey) != "3" || string(r.Target.ServiceInstanceName) != "fabric:/Shop/Orders" {
		t.Errorf("key %q service %q", r.Target.PartitionKey, r.Target.ServiceInstanceName)
	}
}

func TestResolveConditionReverseProxyRecipe(t *testing.T) {
	p := mustCompile(t, Chain{API: mustParse(t, "rp.xml", string(readExample(t, "sf-resolve-condition-reverse-proxy.xml").Text))})
	c := request(t, "GET", "http://gw/api/orders/1", "X-Customer", "42")
	var r Result
	if err := p.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	tg := &r.Target
	if !tg.HasResolveCondition() || string(tg.PartitionKey) != "42" {
		t.Fatalf("target %+v", tg)
	}
	cases := []struct {
		name   string
		status int
		header bool
		err    bool
		want   bool
	}{
		{"connection failure", 0, false, true, true},
		{"503", 503, false, false, true},
		{"410", 410, false, false, true},
		{"404 from a moved replica", 404, false, false, true},
		{"404 the service means", 404, true, false, false},
		{"200", 200, false, false, false},
		{"500", 500, false, false, false},
	}
	for _, tc := range cases {
		var resp fasthttp.Response
		if tc.header {
			resp.Header.Set("X-ServiceFabric", "ResourceNotFound")
		}
		c.Response = &expr.Response{StatusCode: tc.status, Header: &resp.Header}
		c.LastError = nil
		if tc.err {
			c.LastError = &expr.LastError{Source: "forward-request", Reason: expr.ReasonBackendConnectionFailure}
		}
		got, err := tg.ResolveCondition(c)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	var none Target
	c.LastError = &expr.LastError{Reason: expr.ReasonBackendConnectionFailure}
	if ok, _ := none.ResolveCondition(c); !ok {
		t.Error("without a condition a connection failure re-resolves")
	}
	c.LastError = nil
	if ok, _ := none.ResolveCondition(c); ok {
		t.Error("without a condition a response does not re-resolve")
	}
}

func TestTargetSurvivesRequestEdits(t *testing.T) {
	// the key is read from a header that a later policy overwrites: the target keeps the value
	p := mustCompile(t, Chain{API: mustParse(t, "k.xml", doc(`<inbound>
<set-backend-service backend-id="b" sf-partition-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Key&quot;, &quot;&quot;))" />
<set-header name="X-Key" exists-action="override"><value>overwritten-with-a-longer-value</value></set-header>
</inbound>`))})
	c := request(t, "GET", "http://gw/api/x", "X-Key", "alice")
	var r Result
	if err := p.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	if string(r.Target.PartitionKey) != "alice" {
		t.Errorf("partition key = %q", r.Target.PartitionKey)
	}
}

func TestDeclarationBOMAndCRLF(t *testing.T) {
	text := "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<policies>\r\n<inbound>\r\n<set-backend-service base-url=\"@(context.Request.Headers.GetValueOrDefault(\"X-Host\", \"http://a/\"))\" />\r\n</inbound>\r\n</policies>\r\n"
	p := mustCompile(t, Chain{API: mustParse(t, "bom.xml", text)})
	c := request(t, "GET", "http://gw/api/x", "X-Host", "http://b/")
	var r Result
	if err := p.Inbound(c, &r); err != nil || string(r.Target.BaseURL) != "http://b/" {
		t.Errorf("%v %q", err, r.Target.BaseURL)
	}
	_, err := Parse(Source{File: "crlf.xml", Line: 1, Text: []byte("<policies>\r\n<inbound>\r\n  <nope />\r\n</inbound>\r\n</policies>")}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "crlf.xml:3:3: unknown policy <nope>") {
		t.Errorf("CRLF positions: %v", err)
	}
}

func TestProgramString(t *testing.T) {
	p := mustCompile(t, Chain{API: mustParse(t, "api.xml", docsVersionRouting)})
	got := p.String()
	for _, want := range []string{"inbound: choose@api.xml:3:1 set-backend-service@api.xml:5:1 set-backend-service@api.xml:8:1\n",
		"backend: forward-request@<default global policy>:3:11\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("String() = %q, missing %q", got, want)
		}
	}
}

// context.Request.OriginalUrl is the URL the client called whatever the query and URI policies change,
// whether it is first read before or after they run; a skip that changes nothing leaves the query verbatim.
func TestOriginalURLSurvivesQueryEdits(t *testing.T) {
	const called = "http://gw/api/items/7?version=1&page=1&x=a+b"
	text := doc(`<inbound>
<set-query-parameter name="version" exists-action="delete" />
<set-variable name="version" value="@(context.Request.OriginalUrl.Query.GetValueOrDefault(&quot;version&quot;, &quot;gone&quot;))" />
<set-variable name="early" value="@(context.Request.OriginalUrl.ToString())" />
<set-query-parameter name="page" exists-action="override"><value>@(context.Request.OriginalUrl.Query.GetValueOrDefault("page") + "0")</value></set-query-parameter>
<set-query-parameter name="tag" exists-action="append"><value>c</value></set-query-parameter>
<rewrite-uri template="/v2/items" />
<set-variable name="late" value="@(context.Request.OriginalUrl.ToString())" />
</inbound>`)
	p := mustCompile(t, Chain{API: mustParse(t, "o.xml", text)})
	c := request(t, "GET", called)
	var r Result
	if err := p.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Variable("version"); v.String() != "1" {
		t.Errorf("OriginalUrl.Query[version] after the parameter was deleted = %q, want 1", v.String())
	}
	for _, name := range []string{"early", "late"} {
		if v, _ := c.Variable(name); v.String() != called {
			t.Errorf("OriginalUrl read %s = %q, want %q", name, v.String(), called)
		}
	}
	if got, want := forwardURL(c, &r), "http://contoso.com/api/10.4/v2/items?x=a+b&page=10&tag=c"; got != want {
		t.Errorf("forward URL = %s, want %s", got, want)
	}

	skip := mustCompile(t, Chain{API: mustParse(t, "s.xml", doc(`<inbound>
<set-query-parameter name="x" exists-action="skip"><value>ignored</value></set-query-parameter>
</inbound>`))})
	c = request(t, "GET", "http://gw/api/items?x=a+b&y=%7e")
	r = Result{}
	if err := skip.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	if got, want := forwardURL(c, &r), "http://contoso.com/api/10.4/items?x=a+b&y=%7e"; got != want {
		t.Errorf("skip that found the parameter: forward URL = %s, want %s (verbatim)", got, want)
	}
}
