package expr

import (
	"encoding/asn1"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/internal/testcert"
)

// context.Request.Certificate shows the client's certificate as .NET's X509Certificate2 does, and is null
// without one (so ?. and ?? work).
func TestRequestCertificate(t *testing.T) {
	ca := testcert.CA(t, "Test CA")
	client := ca.Issue(t, "client.example")
	eval := func(c *Context, src string) string {
		t.Helper()
		v, err := mustCompile(t, src, TypeAny).Eval(c)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return string(c.Text(v))
	}
	ticks := func(unixNano int64) string { return strconv.FormatInt(unixNano/100+ticksAtUnixEpoch, 10) }

	c := newTestContext(t, "GET", "http://contoso.com/api/partners/15")
	c.Certificate = client.Leaf
	for src, want := range map[string]string{
		`@(context.Request.Certificate.Subject)`:         "CN=client.example",
		`@(context.Request.Certificate.Issuer)`:          "CN=Test CA",
		`@(context.Request.Certificate.Thumbprint)`:      client.Thumbprint(),
		`@(context.Request.Certificate.SerialNumber)`:    serialHex(client.Leaf.Raw),
		`@(context.Request.Certificate.NotBefore.Ticks)`: ticks(client.Leaf.NotBefore.UnixNano()),
		`@(context.Request.Certificate.NotAfter.Ticks)`:  ticks(client.Leaf.NotAfter.UnixNano()),
		`@(context.Request.Certificate != null)`:         "True",
	} {
		if got := eval(c, src); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}

	none := newTestContext(t, "GET", "http://contoso.com/api/partners/15")
	for src, want := range map[string]string{
		`@(context.Request.Certificate == null)`:               "True",
		`@(context.Request.Certificate?.Subject ?? "none")`:    "none",
		`@(context.Request.Certificate?.Thumbprint ?? "none")`: "none",
	} {
		if got := eval(none, src); got != want {
			t.Errorf("without a certificate: %s = %q, want %q", src, got, want)
		}
	}
	if _, err := mustCompile(t, `@(context.Request.Certificate.Subject)`, TypeAny).Eval(none); err == nil ||
		!strings.Contains(err.Error(), "NullReferenceException") {
		t.Errorf("Subject of a null certificate: err = %v, want a NullReferenceException", err)
	}
	_, err := Compile(`@(context.Request.Certificate.PublicKey)`, Pos{File: "x.xml", Line: 1, Col: 1}, TypeAny)
	if err == nil || !strings.Contains(err.Error(), "Subject, Issuer, Thumbprint") {
		t.Errorf("unknown member: %v", err)
	}
}

// serialHex reads the serial number's content octets out of the certificate's DER encoding (TBSCertificate:
// optional [0] version, then the serial INTEGER), independently of the code under test.
func serialHex(der []byte) string {
	var cert struct {
		TBS asn1.RawValue
	}
	if _, err := asn1.Unmarshal(der, &cert); err != nil {
		panic(err)
	}
	var tbs struct {
		Version asn1.RawValue `asn1:"optional,explicit,tag:0"`
		Serial  asn1.RawValue
	}
	if _, err := asn1.Unmarshal(cert.TBS.FullBytes, &tbs); err != nil {
		panic(err)
	}
	return strings.ToUpper(hex.EncodeToString(tbs.Serial.Bytes))
}
