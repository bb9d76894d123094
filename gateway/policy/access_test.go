package policy

import (
	"crypto/x509"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/internal/testcert"
)

// check-header refuses a request without the header (HeaderNotFound) or with a line not listed
// (HeaderValueNotAllowed), with the configured status and message; ignore-case decides how values compare.
func TestCheckHeader(t *testing.T) {
	p := mustCompile(t, Chain{API: mustParse(t, "ch.xml", doc(`<inbound>
<check-header name="X-Tenant" failed-check-httpcode="401" failed-check-error-message="@("tenant " + context.Api.Name)" ignore-case="true">
    <value>contoso</value>
    <value>fabrikam</value>
</check-header>
<check-header name="X-Api-Version" failed-check-httpcode="400" failed-check-error-message="version header missing" ignore-case="false" />
<set-variable name="after" value="ran" />
</inbound>`))})
	for _, c := range []struct {
		name    string
		headers []string
		reason  string
		status  int
		message string
	}{
		{"allowed", []string{"X-Tenant", "contoso", "X-Api-Version", "2"}, "", 0, ""},
		{"allowed ignoring case", []string{"X-Tenant", "FabriKam", "X-Api-Version", "2"}, "", 0, ""},
		{"allowed around spaces", []string{"X-Tenant", " contoso\t", "X-Api-Version", "2"}, "", 0, ""},
		{"missing", []string{"X-Api-Version", "2"}, "HeaderNotFound", 401, "tenant partners"},
		{"not listed", []string{"X-Tenant", "northwind", "X-Api-Version", "2"}, "HeaderValueNotAllowed", 401, "tenant partners"},
		{"a second line not listed", []string{"X-Tenant", "contoso", "X-Tenant", "northwind", "X-Api-Version", "2"}, "HeaderValueNotAllowed", 401, "tenant partners"},
		{"second check, any value", []string{"X-Tenant", "contoso"}, "HeaderNotFound", 400, "version header missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := request(t, "GET", "http://gw/api/x", c.headers...)
			var r Result
			err := p.Inbound(ctx, &r)
			if c.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, ran := ctx.Variable("after"); !ran {
					t.Error("the policies after a passed check did not run")
				}
				return
			}
			var ref *LimitError
			if !errors.As(err, &ref) || ref.Reason != c.reason || ref.Status != c.status || ref.Message != c.message || ref.Source != "check-header" {
				t.Fatalf("err = %v, want a check-header refusal %s %d %q", err, c.reason, c.status, c.message)
			}
			if le := ref.LastError(); le.Source != "check-header" || le.Reason != c.reason {
				t.Errorf("LastError = %+v", le)
			}
			if _, ran := ctx.Variable("after"); ran {
				t.Error("policies after a refusal ran")
			}
		})
	}
	p = mustCompile(t, Chain{API: mustParse(t, "cs.xml", doc(`<inbound>
<check-header name="X-Tenant" failed-check-httpcode="403" failed-check-error-message="no" ignore-case="false"><value>contoso</value></check-header>
</inbound>`))})
	if err := p.Inbound(request(t, "GET", "http://gw/api/x", "X-Tenant", "Contoso"), &Result{}); err == nil {
		t.Error("ignore-case=false accepted a value differing in case")
	}
}

// ip-filter allow admits only the listed addresses and ranges, forbid refuses them; the caller is
// context.Request.IpAddress; a refusal is 403 CallerIpNotAllowed.
func TestIPFilter(t *testing.T) {
	allow := mustCompile(t, Chain{API: mustParse(t, "allow.xml", doc(`<inbound>
<ip-filter action="allow">
    <address>13.66.201.169</address>
    <address-range from="13.66.140.128" to="13.66.140.143" />
    <address-range from="2001:db8::" to="2001:db8::ffff" />
</ip-filter>
</inbound>`))})
	forbid := mustCompile(t, Chain{API: mustParse(t, "forbid.xml", doc(`<inbound>
<ip-filter action="forbid"><address-range from="10.0.0.0" to="10.255.255.255" /></ip-filter>
</inbound>`))})
	for _, c := range []struct {
		ip            string
		allowed, free bool // by allow, by forbid
	}{
		{"13.66.201.169", true, true},
		{"13.66.140.128", true, true},
		{"13.66.140.143", true, true},
		{"13.66.140.144", false, true},
		{"2001:db8::1234", true, true},
		{"2001:db8::1:0", false, true},
		{"10.1.2.3", false, false},
		{"::ffff:10.1.2.3", false, false}, // IPv4-mapped: the IPv4 address
		{"", false, true},
	} {
		for _, pc := range []struct {
			name string
			p    *Program
			want bool
		}{{"allow", allow, c.allowed}, {"forbid", forbid, c.free}} {
			ctx := request(t, "GET", "http://gw/api/x")
			ctx.IPAddress = []byte(c.ip)
			err := pc.p.Inbound(ctx, &Result{})
			var ref *LimitError
			switch {
			case pc.want && err != nil:
				t.Errorf("%s: %q refused: %v", pc.name, c.ip, err)
			case !pc.want && (!errors.As(err, &ref) || ref.Status != 403 || ref.Reason != map[bool]string{true: "CallerIpNotAllowed", false: "CallerIpBlocked"}[pc.p == allow] || ref.Source != "ip-filter"):
				t.Errorf("%s: %q: err = %v, want 403 CallerIpNotAllowed (allow) or CallerIpBlocked (forbid)", pc.name, c.ip, err)
			}
		}
	}
}

func TestAccessControlLoadErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{`<ip-filter action="deny"><address>1.2.3.4</address></ip-filter>`, `<ip-filter> action: "deny" is not allow or forbid`},
		{`<ip-filter action="allow"><address>1.2.3</address></ip-filter>`, `"1.2.3" is not an IPv4 or IPv6 address`},
		{`<ip-filter action="allow"><address-range from="10.0.0.9" to="10.0.0.1" /></ip-filter>`, "from 10.0.0.9 is above to 10.0.0.1"},
		{`<ip-filter action="allow"><address-range from="10.0.0.1" to="::1" /></ip-filter>`, "both be IPv4 or both IPv6"},
		{`<ip-filter action="allow"></ip-filter>`, "needs at least one <address> or <address-range>"},
		{`<ip-filter action="allow"><host>x</host></ip-filter>`, "may contain <address> and <address-range>, found <host>"},
		{`<check-header name="X" failed-check-httpcode="401" ignore-case="true" />`, `needs the attribute "failed-check-error-message"`},
		{`<check-header name="X" failed-check-httpcode="99" failed-check-error-message="m" ignore-case="true" />`, "is not an integer from 100 to 599"},
		{`<check-header name="X" failed-check-httpcode="401" failed-check-error-message="m" ignore-case="yes" />`, "is not a bool"},
		{`<check-header name="X" failed-check-httpcode="401" failed-check-error-message="m" ignore-case="true"><v>a</v></check-header>`, "only <value> elements"},
	} {
		_, err := Parse(Source{File: "p.xml", Line: 1, Text: []byte(doc("<inbound>" + c.text + "</inbound>"))}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.text, err, c.want)
		}
	}
	_, err := Parse(Source{File: "p.xml", Line: 1, Text: []byte(doc(`<outbound><ip-filter action="allow"><address>1.2.3.4</address></ip-filter></outbound>`))}, nil)
	if err == nil || !strings.Contains(err.Error(), "not allowed in <outbound>") {
		t.Errorf("ip-filter in outbound: %v", err)
	}
}

// Whatever the text, an address range parses to one family with from <= to, or is an error; never a panic.
func FuzzParseAddressRange(f *testing.F) {
	for _, s := range [][2]string{{"10.0.0.0", "10.255.255.255"}, {"2001:db8::", "2001:db8::ffff"}, {"::ffff:1.2.3.4", "1.2.3.5"},
		{"fe80::1%eth0", "fe80::2"}, {" 1.2.3.4 ", "1.2.3.4"}, {"1.2.3.4", "::1"}, {"", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, from, to string) {
		r, err := ParseAddressRange(from, to)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if !r.From.IsValid() || r.From.BitLen() != r.To.BitLen() || r.From.Compare(r.To) > 0 || r.From.Zone() != "" || r.From.Is4In6() {
			t.Fatalf("ParseAddressRange(%q, %q) = %v", from, to, r)
		}
		if !r.Contains(r.From) || !r.Contains(r.To) {
			t.Fatalf("%v does not contain its ends", r)
		}
		if r.From.Is4() && r.Contains(netip.IPv6Unspecified()) {
			t.Fatalf("IPv4 range %v contains an IPv6 address", r)
		}
	})
}

// validate-client-certificate refuses a request without a certificate, with one out of its validity, or with one
// matching none of the identities (its issuer's subject or thumbprint included); ignore-error lets them through;
// unsupported checks are load errors.
func TestValidateClientCertificate(t *testing.T) {
	ca := testcert.CA(t, "Client CA")
	client := ca.Issue(t, "client.example")
	p := mustCompile(t, Chain{API: mustParse(t, "vc.xml", doc(`<inbound>
<validate-client-certificate validate-revocation="false" validate-trust="true" validate-not-before="true" validate-not-after="true" ignore-error="false">
    <identities>
        <identity thumbprint="`+strings.ToLower(client.Thumbprint())+`" />
        <identity common-name="partner.example" issuer-subject="CN=Client CA" />
        <identity common-name="pinned.example" issuer-thumbprint="`+ca.Thumbprint()+`" />
    </identities>
</validate-client-certificate>
</inbound>`))})
	run := func(cert *x509.Certificate) string {
		c := request(t, "GET", "http://gw/api/x")
		c.Certificate = cert
		if cert != nil {
			c.CertificateChain = []*x509.Certificate{cert, ca.Leaf}
		}
		err := p.Inbound(c, &Result{})
		if err == nil {
			return ""
		}
		var le *LimitError
		if !errors.As(err, &le) || le.Status != 401 || le.Source != "validate-client-certificate" {
			t.Fatalf("err = %v", err)
		}
		return le.Reason
	}
	// The listener refuses these at the handshake; the policy sees them only when the certificate's validity ends
	// while its connection is kept alive.
	expired := *client.Leaf
	expired.NotAfter = time.Now().Add(-time.Minute)
	notYet := *client.Leaf
	notYet.NotBefore = time.Now().Add(time.Hour)
	for name, c := range map[string]struct {
		cert *x509.Certificate
		want string
	}{
		"by thumbprint":             {client.Leaf, ""},
		"by common name and issuer": {ca.Issue(t, "partner.example").Leaf, ""},
		"none":                      {nil, "ClientCertificateNotPresent"},
		"expired":                   {&expired, "ClientCertificateExpired"},
		"not yet valid":             {&notYet, "ClientCertificateNotYetValid"},
		"another identity":          {ca.Issue(t, "other.example").Leaf, "ClientCertificateIdentityNotAllowed"},
		"right name, wrong issuer":  {testcert.CA(t, "Other CA").Issue(t, "partner.example").Leaf, "ClientCertificateIdentityNotAllowed"},
		"issuer by thumbprint":      {ca.Issue(t, "pinned.example").Leaf, ""},
	} {
		if got := run(c.cert); got != c.want {
			t.Errorf("%s: reason %q, want %q", name, got, c.want)
		}
	}
	lenient := mustCompile(t, Chain{API: mustParse(t, "vc2.xml", doc(`<inbound><validate-client-certificate validate-revocation="false" ignore-error="true" /></inbound>`))})
	if err := lenient.Inbound(request(t, "GET", "http://gw/api/x"), &Result{}); err != nil {
		t.Errorf("ignore-error: %v", err)
	}
	for text, want := range map[string]string{
		`<validate-client-certificate validate-revocation="maybe" />`:                                                                                             `validate-revocation`,
		`<validate-client-certificate validate-revocation="false" validate-trust="false" />`:                                                                      `validate-trust="false" is not supported`,
		`<validate-client-certificate validate-revocation="false" validate-not-before="false" />`:                                                                 `validate-not-before="false" is not supported: the TLS listener refuses an expired or not yet valid client certificate in the handshake`,
		`<validate-client-certificate validate-revocation="false" validate-not-after="false" />`:                                                                  `validate-not-after="false" is not supported: the TLS listener refuses`,
		`<validate-client-certificate validate-revocation="false"><identities><identity /></identities></validate-client-certificate>`:                            "needs at least one attribute",
		`<validate-client-certificate validate-revocation="false"><identities><identity issuer-certificate-id="ca" /></identities></validate-client-certificate>`: "issuer-certificate-id names an APIM certificate resource",
	} {
		_, err := Parse(Source{File: "p.xml", Line: 1, Text: []byte(doc("<inbound>" + text + "</inbound>"))}, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", text, err, want)
		}
	}
}
