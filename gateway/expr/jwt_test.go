package expr

import (
	"encoding/base64"
	"strings"
	"testing"
)

// testJWT builds a compact JWT with the given claims JSON (the signature is not checked by AsJwt).
func testJWT(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte("signature"))
}

// AsJwt reads a token (an Authorization header's value as it is), null for anything else, and the Jwt members
// show its claims as APIM does; the partition key of the example comes from a claim.
func TestAsJwt(t *testing.T) {
	token := testJWT(`{"sub":"alice","iss":"https://idp.example/","aud":["api://orders","api://other"],"jti":"j-1","exp":1893456000,"tenant":"42","roles":["reader","writer"],"n":7,"ok":true}`)
	c := newTestContext(t, "GET", "http://contoso.com/api/partners/15", "Authorization", "Bearer "+token, "X-Bad", "Bearer not.a.jwt")
	for src, want := range map[string]string{
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Claims.GetValueOrDefault("tenant",""))`:   "42",
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Subject)`:                                  "alice",
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Issuer)`:                                   "https://idp.example/",
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Id)`:                                       "j-1",
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Audiences.Length)`:                         "2",
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Audiences[1])`:                             "api://other",
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().ExpirationTime.Value.Year)`:                "2030",
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Claims.GetValueOrDefault("roles"))`:        "reader,writer",
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Claims.GetValueOrDefault("n"))`:            "7",
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Claims.GetValueOrDefault("ok"))`:           "True",
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Claims.ContainsKey("tenant"))`:             "True",
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Claims.GetValueOrDefault("none","d"))`:     "d",
		`@(context.Request.Headers.GetValueOrDefault("X-Bad","").AsJwt() == null)`:                                          "True",
		`@(context.Request.Headers.GetValueOrDefault("X-Bad","").AsJwt()?.Claims.GetValueOrDefault("tenant","") ?? "none")`: "none",
		`@("abc".AsJwt() == null)`: "True",
	} {
		e, err := Compile(src, Pos{File: "x.xml", Line: 1, Col: 1}, TypeAny)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		v, err := e.Eval(c)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got := string(c.Text(v)); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
	if _, err := Compile(`@("x".AsJwt().Secret)`, Pos{File: "x.xml", Line: 1, Col: 1}, TypeAny); err == nil || !strings.Contains(err.Error(), "Claims, Subject") {
		t.Errorf("unknown Jwt member: %v", err)
	}
}

// Whatever the text, DecodeJWT answers without panicking, and AsJwt agrees with it.
func FuzzDecodeJWT(f *testing.F) {
	f.Add(testJWT(`{"sub":"a"}`))
	f.Add("a.b.c")
	f.Add("eyJ9.e30.")
	f.Add(testJWT(`{"aud":[1,{"x":null},true]}`))
	f.Fuzz(func(t *testing.T, s string) {
		_, claims, ok := DecodeJWT([]byte(s))
		if ok != (claims != nil) {
			t.Fatalf("ok %v with claims %v", ok, claims)
		}
		for _, v := range claims {
			ClaimStrings(v)
		}
	})
}

// AsBasic reads a Basic Authorization value as APIM's BasicAuthCredentials; anything else is null.
func TestAsBasic(t *testing.T) {
	c := newTestContext(t, "GET", "http://contoso.com/api/partners/15",
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:pa:ss")), "X-Bearer", "Bearer abc", "X-Bad", "Basic !!!")
	for src, want := range map[string]string{
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsBasic().UserId)`:    "alice",
		`@(context.Request.Headers.GetValueOrDefault("Authorization","").AsBasic().Password)`:  "pa:ss",
		`@(context.Request.Headers.GetValueOrDefault("X-Bearer","").AsBasic() == null)`:        "True",
		`@(context.Request.Headers.GetValueOrDefault("X-Bad","").AsBasic()?.UserId ?? "none")`: "none",
	} {
		v, err := mustCompile(t, src, TypeAny).Eval(c)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got := string(c.Text(v)); got != want {
			t.Errorf("%s = %q, want %q", src, got, want)
		}
	}
}
