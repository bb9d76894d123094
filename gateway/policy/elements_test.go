package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/expr"
	"github.com/valyala/fasthttp"
)

// TestEveryPolicyWithEveryAttribute loads one document that uses every supported policy with
// every attribute it accepts (expressions where APIM allows them) and runs all four sections.
func TestEveryPolicyWithEveryAttribute(t *testing.T) {
	text := `<policies>
  <inbound>
    <base />
    <set-variable id="v1" name="tenant" value="@(context.Request.Headers.GetValueOrDefault("X-Tenant", "eu"))" />
    <set-variable name="literal" value="{{region}}" />
    <set-header name="X-Region" exists-action="override"><value>{{region}}</value></set-header>
    <set-header name="@("X-" + "Dyn")" exists-action="@(context.Request.Headers.ContainsKey("X-Dyn") ? "append" : "override")"><value>1</value><value>@(2)</value></set-header>
    <set-query-parameter name="api-version" exists-action="@("delete")" />
    <set-query-parameter name="page" exists-action="skip"><value>1</value></set-query-parameter>
    <set-query-parameter name="tag" exists-action="append"><value>@((string)context.Variables["tenant"])</value></set-query-parameter>
    <rewrite-uri template="/v2/orders/{id}" copy-unmatched-params="@(true)" />
    <choose>
      <when condition="@(context.Variables.GetValueOrDefault<string>("tenant") == "none")">
        <return-response>
          <set-status code="@(404)" reason="@("No " + "tenant")" />
          <set-header name="X-Why" exists-action="override"><value>tenant</value></set-header>
          <set-body>@("{}")</set-body>
        </return-response>
      </when>
      <when condition="false"><set-backend-service base-url="http://never/" /></when>
      <otherwise>
        <set-backend-service backend-id="@("orders-" + (string)context.Variables["tenant"])"
            sf-partition-key="@(context.Request.MatchedParameters["id"])"
            sf-replica-type="@("secondary")"
            sf-listener-name="Web"
            sf-service-instance-name="@("fabric:/Shop/Orders-" + (string)context.Variables["tenant"])"
            sf-resolve-condition="@(context.LastError?.Reason == "BackendConnectionFailure" || context.Response?.StatusCode == 503)" />
      </otherwise>
    </choose>
  </inbound>
  <backend>
    <retry condition="@(context.Response.StatusCode >= 500)" count="@(2)" interval="0" max-interval="0" delta="0" first-fast-retry="@(true)">
      <forward-request timeout="@(30)" buffer-request-body="true" buffer-response="false" follow-redirects="false" fail-on-error-status-code="false" />
    </retry>
  </backend>
  <outbound>
    <set-header name="X-Served-By" exists-action="override"><value>@(context.Api.Name)</value></set-header>
  </outbound>
  <on-error>
    <return-response><set-status code="502" /></return-response>
  </on-error>
</policies>`
	d, err := Parse(Source{File: "all.xml", Line: 1, Text: []byte(text)}, NamedValues{"region": "westeurope"})
	if err != nil {
		t.Fatal(err)
	}
	p := mustCompile(t, Chain{API: d})
	c := request(t, "GET", "http://gw/api/orders/7?api-version=1&page=3&tag=x", "X-Tenant", "us", "X-Dyn", "0")
	c.Operation.URLTemplate = "/orders/{id}"
	c.MatchedParameters = append(c.MatchedParameters, expr.Param{Name: "id", Value: []byte("7")})
	var r Result
	if err := p.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	tg := r.Target
	for name, got := range map[string]string{
		"backend-id": string(tg.BackendID), "sf-partition-key": string(tg.PartitionKey), "sf-replica-type": string(tg.ReplicaType),
		"sf-listener-name": string(tg.ListenerName), "sf-service-instance-name": string(tg.ServiceInstanceName),
		"X-Region": string(c.Request.Header.Peek("X-Region")), "X-Dyn": string(c.Request.Header.Peek("X-Dyn")),
		"path": string(c.PathAfterSuffix()), "query": string(c.RawQuery()),
	} {
		want := map[string]string{"backend-id": "orders-us", "sf-partition-key": "7", "sf-replica-type": "secondary",
			"sf-listener-name": "Web", "sf-service-instance-name": "fabric:/Shop/Orders-us", "X-Region": "westeurope",
			"X-Dyn": "0,1,2", "path": "/v2/orders/7", "query": "page=3&tag=x&tag=us"}[name]
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !tg.Set || tg.BaseURL != nil || !tg.HasPartitionKey || !tg.HasResolveCondition() {
		t.Errorf("target %+v", tg)
	}
	if v, _ := c.Variable("literal"); v.String() != "westeurope" {
		t.Errorf("named value in a literal: %q", v.String())
	}
	f := &fakeForwarder{status: 503}
	if err := p.Backend(t.Context(), c, &r, f); err != nil {
		t.Fatal(err)
	}
	if f.calls != 3 || f.timeouts[0] != 30*time.Second {
		t.Errorf("retry: %d calls (want count+1 = 3), timeout %v", f.calls, f.timeouts)
	}
	var resp fasthttp.Response
	c.Response = &expr.Response{StatusCode: 200, Header: &resp.Header}
	if err := p.Outbound(c, &r); err != nil || string(resp.Header.Peek("X-Served-By")) != "partners" {
		t.Errorf("outbound: %v %q", err, resp.Header.Peek("X-Served-By"))
	}
	c.LastError = &expr.LastError{Reason: expr.ReasonBackendConnectionFailure}
	if err := p.OnError(c, &r); err != nil || r.Return.StatusCode != 502 {
		t.Errorf("on-error: %v %d", err, r.Return.StatusCode)
	}
	// the tenant "none" takes the return-response branch
	c = request(t, "GET", "http://gw/api/orders/7", "X-Tenant", "none")
	r.Reset()
	if err := p.Inbound(c, &r); err != nil {
		t.Fatal(err)
	}
	if rr := r.Return; !rr.Set || rr.StatusCode != 404 || string(rr.Reason) != "No tenant" || string(rr.Body) != "{}" || len(rr.Headers) != 1 {
		t.Errorf("return-response %+v", rr)
	}
}

// TestBadAttributeValues checks that each bad value is a load error at the value's position.
func TestBadAttributeValues(t *testing.T) {
	cases := []struct {
		name string
		line string // the document's third line (inside <inbound> or <backend>)
		sec  string
		at   string // the error's column is at the first occurrence of this text in line
		msg  string
	}{
		{"unknown exists-action", `<set-header name="a" exists-action="replace"><value>1</value></set-header>`, "inbound", "replace", `exists-action "replace" is not one of override, skip, append, delete`},
		{"unknown exists-action on a query parameter", `<set-query-parameter name="a" exists-action="remove"><value>1</value></set-query-parameter>`, "inbound", "remove", `exists-action "remove"`},
		{"non-integer retry count", `<retry condition="true" count="two" interval="1"><forward-request /></retry>`, "backend", "two", `retry count: "two" is not an integer from 1 to 50`},
		{"retry count zero", `<retry condition="true" count="0" interval="1"><forward-request /></retry>`, "backend", `0"`, `"0" is not an integer from 1 to 50`},
		{"negative interval", `<retry condition="true" count="1" interval="-1"><forward-request /></retry>`, "backend", "-1", `retry interval: "-1" is not an integer`},
		{"fractional delta", `<retry condition="true" count="1" interval="1" delta="1.5"><forward-request /></retry>`, "backend", "1.5", `retry delta: "1.5" is not an integer`},
		{"bad max-interval", `<retry condition="true" count="1" interval="1" max-interval="x"><forward-request /></retry>`, "backend", `x"`, `retry max-interval: "x"`},
		{"bad first-fast-retry", `<retry condition="true" count="1" interval="1" first-fast-retry="maybe"><forward-request /></retry>`, "backend", "maybe", `"maybe" is not a bool`},
		{"retry condition of the wrong type", `<retry condition="@(1)" count="1" interval="1"><forward-request /></retry>`, "backend", "@(1)", "expression has type int, but this position needs bool"},
		{"retry without count", `<retry condition="true" interval="1"><forward-request /></retry>`, "backend", "<retry", `<retry> needs the attribute "count"`},
		{"count expression of the wrong type", `<retry condition="true" count="@(&quot;2&quot;)" interval="1"><forward-request /></retry>`, "backend", "@(", "retry count: expression has type string, expected int"},
		{"return-response status without code", `<return-response><set-status reason="Nope" /></return-response>`, "inbound", "<set-status", `<set-status> needs the attribute "code"`},
		{"return-response status not a number", `<return-response><set-status code="forbidden" /></return-response>`, "inbound", "forbidden", `set-status code: "forbidden" is not an integer from 100 to 599`},
		{"two set-status", `<return-response><set-status code="200" /><set-status code="201" /></return-response>`, "inbound", `<set-status code="201"`, "more than one <set-status>"},
		{"unknown child of return-response", `<return-response><set-code code="200" /></return-response>`, "inbound", "<set-code", "may contain set-status, set-header and set-body, found <set-code>"},
		{"forward-request timeout zero", `<forward-request timeout="0" />`, "backend", `0"`, `forward-request timeout: "0" is not an integer from 1 to 3600`},
		{"forward-request buffer not a bool", `<forward-request buffer-request-body="yes" />`, "backend", "yes", `"yes" is not a bool`},
		{"forward-request fail-on-error-status-code", `<forward-request fail-on-error-status-code="true" />`, "backend", "fail-on-error-status-code", `fail-on-error-status-code="true" is not supported by sfgate`},
		{"forward-request unknown attribute", `<forward-request timout="10" />`, "backend", "timout", `unknown attribute "timout" on <forward-request>`},
		{"rewrite-uri copy-unmatched-params", `<rewrite-uri template="/a" copy-unmatched-params="nope" />`, "inbound", "nope", `"nope" is not a bool`},
		{"rewrite-uri without template", `<rewrite-uri copy-unmatched-params="true" />`, "inbound", "<rewrite-uri", `needs the attribute "template"`},
		{"set-variable without value", `<set-variable name="a" />`, "inbound", "<set-variable", `<set-variable> needs the attribute "value"`},
		{"set-header without name", `<set-header exists-action="delete" />`, "inbound", "<set-header", `<set-header> needs the attribute "name"`},
		{"set-header with a child other than value", `<set-header name="a"><val>1</val></set-header>`, "inbound", "<val>", "may contain only <value> elements, found <val>"},
		{"sf-replica-type", `<set-backend-service backend-id="b" sf-replica-type="master" />`, "inbound", "master", `sf-replica-type "master" is not a replica type`},
		{"unknown element inside choose", `<choose><when condition="true"><set-bakend-service base-url="http://x/" /></when></choose>`, "inbound", "<set-bakend-service", "unknown policy <set-bakend-service>"},
		{"unknown element inside retry", `<retry condition="true" count="1" interval="0"><forward-requests /></retry>`, "backend", "<forward-requests", "unknown policy <forward-requests>"},
		{"otherwise with a condition", `<choose><when condition="true" /><otherwise condition="true" /></choose>`, "inbound", "condition=\"true\" /></choose>", `unknown attribute "condition" on <otherwise>`},
		{"duplicate attribute", `<set-variable name="x" value="@(1)" value="@(2)" />`, "inbound", `value="@(2)"`, `attribute "value" appears twice on <set-variable>`},
		{"unknown named value", `<set-backend-service base-url="http://{{host}}/" />`, "inbound", "{{host}}", `unknown named value "{{host}}"`},
		{"unknown named value inside an expression", `<set-variable name="n" value="@(int.Parse("{{count}}"))" />`, "inbound", "{{count}}", `unknown named value "{{count}}"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := "<policies>\n<" + tc.sec + ">\n    " + tc.line + "\n</" + tc.sec + ">\n</policies>"
			_, err := Parse(Source{File: "bad.xml", Line: 1, Text: []byte(text)}, NamedValues{"region": "eu"})
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse = %v, want a *policy.Error", err)
			}
			if !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("message %q does not contain %q", pe.Msg, tc.msg)
			}
			line := "    " + tc.line
			if want := strings.Index(line, tc.at) + 1; pe.File != "bad.xml" || pe.Line != 3 || pe.Col != want {
				t.Errorf("error at %s:%d:%d, want bad.xml:3:%d (at %q): %v", pe.File, pe.Line, pe.Col, want, tc.at, err)
			}
		})
	}
}

// TestMissingSectionsInherit merges global, API and operation scopes where the middle scope
// leaves sections out: each missing section behaves like <base/> alone.
func TestMissingSectionsInherit(t *testing.T) {
	global := mustParse(t, "global.xml", doc(`<inbound>`+trace("global")+`</inbound>`, `<outbound>`+trace("global-out")+`</outbound>`))
	api := mustParse(t, "api.xml", doc(`<backend><base /></backend>`)) // no inbound, no outbound
	op := mustParse(t, "op.xml", doc(`<inbound>`+trace("op1")+`<base />`+trace("op2")+`</inbound>`))
	p := mustCompile(t, Chain{Global: global, API: api, Operation: op})
	if got := order(t, p, inbound); got != "op1;global;op2;" {
		t.Errorf("inbound = %q, want the global inbound at the operation's <base/>", got)
	}
	if got := order(t, p, outbound); got != "global-out;" {
		t.Errorf("outbound = %q, want the global outbound inherited through two scopes", got)
	}
	if !p.Forwards() {
		t.Error("the API's backend <base/> must keep the default forward-request")
	}
	// an operation section without <base/> drops the API's and the global's
	opOwn := mustParse(t, "op.xml", doc(`<outbound>`+trace("op-out")+`</outbound>`))
	if got := order(t, mustCompile(t, Chain{Global: global, API: api, Operation: opOwn}), outbound); got != "op-out;" {
		t.Errorf("outbound without <base/> = %q", got)
	}
}
