package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/gateway/expr"
)

// The two examples of the APIM documentation for set-backend-service, verbatim (the second misses a ')';
// examples/policies/ holds both, and the second corrected).
const docsVersionRouting = `<policies>
<inbound>
<choose>
<when condition="@(context.Request.Url.Query.GetValueOrDefault("version") == "2013-05")">
<set-backend-service base-url="http://contoso.com/api/8.2/" />
</when>
<when condition="@(context.Request.Url.Query.GetValueOrDefault("version") == "2014-03")">
<set-backend-service base-url="http://contoso.com/api/9.1/" />
</when>
</choose>
<base />
</inbound>
<outbound>
<base />
</outbound>
</policies>`

const docsServiceFabric = `<policies>
<inbound>
<set-backend-service backend-id="my-sf-service" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("userId","")" sf-replica-type="primary" />
</inbound>
<outbound>
<base />
</outbound>
</policies>`

func TestAPIMDocsVersionRouting(t *testing.T) {
	p := mustCompile(t, Chain{API: mustParse(t, "api.xml", docsVersionRouting)})
	cases := []struct {
		name, uri, want string
	}{
		{"version 2013-05 goes to 8.2",
			"https://contoso.azure-api.net/api/partners/15?version=2013-05&subscription-key=abcdef",
			"http://contoso.com/api/8.2/partners/15?version=2013-05&subscription-key=abcdef"},
		{"version 2014-03 goes to 9.1",
			"https://contoso.azure-api.net/api/partners/15?version=2014-03&subscription-key=abcdef",
			"http://contoso.com/api/9.1/partners/15?version=2014-03&subscription-key=abcdef"},
		{"no version keeps the API's service URL",
			"https://contoso.azure-api.net/api/partners/15?subscription-key=abcdef",
			"http://contoso.com/api/10.4/partners/15?subscription-key=abcdef"},
		{"another version keeps the API's service URL",
			"https://contoso.azure-api.net/api/partners/15?version=2013-15&subscription-key=abcdef",
			"http://contoso.com/api/10.4/partners/15?version=2013-15&subscription-key=abcdef"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := request(t, "GET", tc.uri)
			var r Result
			if err := p.Inbound(c, &r); err != nil {
				t.Fatal(err)
			}
			if got := forwardURL(c, &r); got != tc.want {
				t.Errorf("forward URL = %s, want %s", got, tc.want)
			}
			if !p.Forwards() {
				t.Error("the default global backend section must forward the request")
			}
		})
	}
}

func TestAPIMDocsServiceFabricAsPublishedIsRejected(t *testing.T) {
	_, err := Parse(Source{File: "sf.xml", Line: 1, Text: []byte(docsServiceFabric)}, nil)
	if err == nil {
		t.Fatal("the published example misses a ')' and must not load")
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not a *policy.Error", err)
	}
	var ce *expr.CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v does not wrap an *expr.CompileError", err)
	}
	if pe.File != "sf.xml" || pe.Line != 3 {
		t.Errorf("position = %s:%d:%d, want sf.xml:3", pe.File, pe.Line, pe.Col)
	}
	for _, want := range []string{"sf-partition-key", `missing ")"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	t.Log(err)
}

func TestAPIMDocsServiceFabricCorrectedRoutesByUserID(t *testing.T) {
	fixed := strings.Replace(docsServiceFabric, `GetValueOrDefault("userId","")"`, `GetValueOrDefault("userId",""))"`, 1)
	p := mustCompile(t, Chain{API: mustParse(t, "sf.xml", fixed)})
	for _, tc := range []struct{ uri, key string }{
		{"https://contoso.azure-api.net/api/users/x?userId=4711", "4711"},
		{"https://contoso.azure-api.net/api/users/x?userId=alice&other=1", "alice"},
		{"https://contoso.azure-api.net/api/users/x", ""},
	} {
		c := request(t, "GET", tc.uri)
		var r Result
		if err := p.Inbound(c, &r); err != nil {
			t.Fatal(err)
		}
		tg := r.Target
		if !tg.Set || string(tg.BackendID) != "my-sf-service" || tg.BaseURL != nil {
			t.Fatalf("target = %+v, want backend-id my-sf-service", tg)
		}
		if !tg.HasPartitionKey || string(tg.PartitionKey) != tc.key {
			t.Errorf("%s: partition key = %q (has %v), want %q", tc.uri, tg.PartitionKey, tg.HasPartitionKey, tc.key)
		}
		if string(tg.ReplicaType) != "primary" || tg.ListenerName != nil || tg.ServiceInstanceName != nil {
			t.Errorf("replica %q listener %q service %q", tg.ReplicaType, tg.ListenerName, tg.ServiceInstanceName)
		}
		if tg.HasResolveCondition() {
			t.Error("no sf-resolve-condition was given")
		}
	}
}
