package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/sfgate/sfgate/gateway/expr"
)

// sign makes a token with claims, signed by key with method, with kid in the header when not empty.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jwtRefusal runs the inbound section and returns the validate-jwt refusal reason ("" when the request passed).
func jwtRefusal(t *testing.T, p *Program, c *expr.Context) string {
	t.Helper()
	err := p.Inbound(c, &Result{})
	if err == nil {
		return ""
	}
	var le *LimitError
	if !errors.As(err, &le) || le.Source != "validate-jwt" {
		t.Fatalf("err = %v, want a validate-jwt refusal", err)
	}
	return le.Reason
}

// validate-jwt with keys in the policy: each way a token can be wrong gets APIM's reason; a good token passes,
// lands in output-token-variable-name, and its claims are readable from there.
func TestValidateJWTWithIssuerSigningKeys(t *testing.T) {
	rk := rsaKey(t)
	other := rsaKey(t)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ek.PublicKey)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	secret := []byte("0123456789abcdef0123456789abcdef")
	b64u := base64.RawURLEncoding.EncodeToString
	p := mustCompile(t, Chain{API: mustParse(t, "jwt.xml", doc(fmt.Sprintf(`<inbound>
<validate-jwt header-name="Authorization" require-scheme="Bearer" clock-skew="60" output-token-variable-name="jwt">
    <issuer-signing-keys>
        <key>%s</key>
        <key id="rsa-1" n="%s" e="%s" />
        <key>%s</key>
    </issuer-signing-keys>
    <audiences><audience>api://orders</audience><audience>api://shop</audience></audiences>
    <issuers><issuer>https://idp.example/</issuer></issuers>
    <required-claims>
        <claim name="scp" match="all" separator=" "><value>orders.read</value><value>orders.write</value></claim>
        <claim name="roles" match="any"><value>admin</value><value>clerk</value></claim>
        <claim name="tenant" />
    </required-claims>
</validate-jwt>
<set-variable name="tenant" value="@(((Jwt)context.Variables["jwt"]).Claims.GetValueOrDefault("tenant", ""))" />
</inbound>`, base64.StdEncoding.EncodeToString(secret), b64u(rk.N.Bytes()), b64u(big.NewInt(int64(rk.E)).Bytes()), ecPEM)))})
	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "https://idp.example/", "aud": []string{"api://orders"}, "exp": now.Add(time.Hour).Unix(),
			"nbf": now.Add(-time.Minute).Unix(), "scp": "orders.write profile orders.read", "roles": []string{"clerk"}, "tenant": "42"}
	}
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims { c := good(); edit(c); return c }
	cases := []struct {
		name, auth, reason string
	}{
		{"RSA by n and e", "Bearer " + sign(t, jwt.SigningMethodRS256, rk, "rsa-1", good()), ""},
		{"RSA, no kid", "Bearer " + sign(t, jwt.SigningMethodRS256, rk, "", good()), ""},
		{"HMAC", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, "", good()), ""},
		{"EC by PEM", "bearer " + sign(t, jwt.SigningMethodES256, ek, "", good()), ""},
		{"expired within the skew", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, "", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-30 * time.Second).Unix() })), ""},
		{"missing", "", "TokenNotPresent"},
		{"another scheme", "Basic " + sign(t, jwt.SigningMethodHS256, secret, "", good()), "TokenNotPresent"},
		{"malformed", "Bearer not-a-token", "TokenInvalid"},
		{"wrongly signed", "Bearer " + sign(t, jwt.SigningMethodRS256, other, "", good()), "TokenSignatureInvalid"},
		{"unknown kid", "Bearer " + sign(t, jwt.SigningMethodRS256, rk, "rsa-9", good()), "TokenSignatureKeyNotFound"},
		{"unsigned", "Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", good()), "TokenSignatureKeyNotFound"},
		{"expired", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, "", with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })), "TokenExpired"},
		{"no exp", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, "", with(func(c jwt.MapClaims) { delete(c, "exp") })), "TokenExpirationMissing"},
		{"not yet valid", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, "", with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), "TokenNotYetValid"},
		{"wrong audience", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, "", with(func(c jwt.MapClaims) { c["aud"] = "api://other" })), "TokenAudienceNotAllowed"},
		{"wrong issuer", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, "", with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example/" })), "TokenIssuerNotAllowed"},
		{"claim missing", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, "", with(func(c jwt.MapClaims) { delete(c, "tenant") })), "TokenClaimNotFound"},
		{"all: one scope short", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, "", with(func(c jwt.MapClaims) { c["scp"] = "orders.read" })), "TokenClaimValueNotAllowed"},
		{"any: no role", "Bearer " + sign(t, jwt.SigningMethodHS256, secret, "", with(func(c jwt.MapClaims) { c["roles"] = []string{"guest"} })), "TokenClaimValueNotAllowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var ctx *expr.Context
			if c.auth == "" {
				ctx = request(t, "GET", "http://gw/api/x")
			} else {
				ctx = request(t, "GET", "http://gw/api/x", "Authorization", c.auth)
			}
			if got := jwtRefusal(t, p, ctx); got != c.reason {
				t.Fatalf("reason %q, want %q", got, c.reason)
			}
			if c.reason == "" {
				if v, _ := ctx.Variable("tenant"); string(v.B) != "42" {
					t.Errorf("tenant from output-token-variable-name = %q, want 42", v.B)
				}
			}
		})
	}

	// The status and message of a refusal: the policy's when given, else 401 and APIM's message for the reason.
	err := p.Inbound(request(t, "GET", "http://gw/api/x"), &Result{})
	var le *LimitError
	if !errors.As(err, &le) || le.Status != 401 || le.Message != "JWT not present." {
		t.Errorf("default refusal: %+v", le)
	}
	q := mustCompile(t, Chain{API: mustParse(t, "q.xml", doc(fmt.Sprintf(`<inbound>
<validate-jwt query-parameter-name="access_token" failed-validation-httpcode="403" failed-validation-error-message="Unauthorized. Access token is missing or invalid." require-expiration-time="false">
    <issuer-signing-keys><key>%s</key></issuer-signing-keys>
</validate-jwt>
</inbound>`, base64.StdEncoding.EncodeToString(secret))))})
	err = q.Inbound(request(t, "GET", "http://gw/api/x?access_token="+sign(t, jwt.SigningMethodHS256, []byte("another secret of 32 bytes......"), "", jwt.MapClaims{"a": 1})), &Result{})
	if !errors.As(err, &le) || le.Status != 403 || le.Message != "Unauthorized. Access token is missing or invalid." || le.Reason != "TokenSignatureInvalid" {
		t.Errorf("policy's status and message: %+v", le)
	}
	if err := q.Inbound(request(t, "GET", "http://gw/api/x?access_token="+sign(t, jwt.SigningMethodHS256, secret, "", jwt.MapClaims{"a": 1})), &Result{}); err != nil {
		t.Errorf("a token without exp when require-expiration-time is false: %v", err)
	}
}

// openIDProvider serves an OpenID configuration and its JWKS on loopback; its keys can be rolled over and it can
// be switched off.
type openIDProvider struct {
	url  string
	mu   sync.Mutex
	keys []jose.JSONWebKey
	down bool
	hits int
}

func startOpenIDProvider(t *testing.T) *openIDProvider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &openIDProvider{url: "http://" + ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.hits++
		p.mu.Unlock()
		if p.isDown() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"issuer": p.url + "/", "jwks_uri": "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: p.keys})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *openIDProvider) publish(kid string, key *rsa.PrivateKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}}
}

func (p *openIDProvider) setDown(down bool) { p.mu.Lock(); p.down = down; p.mu.Unlock() }
func (p *openIDProvider) isDown() bool      { p.mu.Lock(); defer p.mu.Unlock(); return p.down }
func (p *openIDProvider) fetches() int      { p.mu.Lock(); defer p.mu.Unlock(); return p.hits } // discovery requests

// With <openid-config>, the keys are fetched once and cached; a token signed with a key published later (a
// rollover) is accepted without a reload; the issuer comes from the configuration; when the provider is down the
// keys fetched last stay in use; unknown key IDs refresh at most jwksMissRefreshes times a minute.
func TestValidateJWTWithOpenIDConfig(t *testing.T) {
	idp := startOpenIDProvider(t)
	k1, k2 := rsaKey(t), rsaKey(t)
	idp.publish("k1", k1)
	p := mustCompile(t, Chain{API: mustParse(t, "oidc.xml", doc(`<inbound>
<validate-jwt header-name="Authorization"><openid-config url="`+idp.url+`/.well-known/openid-configuration" /></validate-jwt>
</inbound>`))})
	claims := func(iss string) jwt.MapClaims {
		return jwt.MapClaims{"iss": iss, "exp": time.Now().Add(time.Hour).Unix()}
	}
	check := func(name, token, want string) {
		t.Helper()
		if got := jwtRefusal(t, p, request(t, "GET", "http://gw/api/x", "Authorization", "Bearer "+token)); got != want {
			t.Errorf("%s: reason %q, want %q", name, got, want)
		}
	}
	check("k1", sign(t, jwt.SigningMethodRS256, k1, "k1", claims(idp.url+"/")), "")
	check("k1 again", sign(t, jwt.SigningMethodRS256, k1, "k1", claims(idp.url+"/")), "")
	if n := idp.fetches(); n != 1 {
		t.Errorf("JWKS fetched %d times for two tokens, want once", n)
	}
	check("issuer not the provider's", sign(t, jwt.SigningMethodRS256, k1, "k1", claims("https://evil.example/")), "TokenIssuerNotAllowed")

	idp.publish("k2", k2) // rollover
	check("k2 after the rollover", sign(t, jwt.SigningMethodRS256, k2, "k2", claims(idp.url+"/")), "")
	check("k1 after the rollover", sign(t, jwt.SigningMethodRS256, k1, "k1", claims(idp.url+"/")), "TokenSignatureKeyNotFound")

	idp.setDown(true)
	check("k2 with the provider down", sign(t, jwt.SigningMethodRS256, k2, "k2", claims(idp.url+"/")), "")
	before := idp.fetches()
	for i := range 2 * jwksMissRefreshes {
		check("made-up kid", sign(t, jwt.SigningMethodRS256, k2, fmt.Sprintf("made-up-%d", i), claims(idp.url+"/")), "TokenSignatureKeyNotFound")
	}
	if n := idp.fetches() - before; n > jwksMissRefreshes {
		t.Errorf("%d tokens with made-up key IDs asked the provider %d times, want at most %d", 2*jwksMissRefreshes, n, jwksMissRefreshes)
	}
}

func TestValidateJWTLoadErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{`<validate-jwt><issuer-signing-keys><key>MDEyMzQ1Njc4OWFiY2RlZg==</key></issuer-signing-keys></validate-jwt>`, "exactly one of header-name, query-parameter-name and token-value"},
		{`<validate-jwt header-name="Authorization" />`, "needs signing keys"},
		{`<validate-jwt header-name="Authorization"><issuer-signing-keys><key>short</key></issuer-signing-keys></validate-jwt>`, "is not a base64 symmetric key"},
		{`<validate-jwt header-name="Authorization"><issuer-signing-keys><key certificate-id="c" /></issuer-signing-keys></validate-jwt>`, "certificate-id refers to an APIM certificate"},
		{`<validate-jwt header-name="Authorization"><openid-config url="ftp://x" /></validate-jwt>`, "is not an absolute https:// URL"},
		{`<validate-jwt header-name="Authorization" clock-skew="-1"><openid-config url="https://x/" /></validate-jwt>`, "clock-skew"},
		{`<validate-jwt header-name="Authorization"><openid-config url="https://x/" /><decryption-keys /></validate-jwt>`, "not supported by sfgate"},
		{`<validate-jwt header-name="Authorization"><openid-config url="https://x/" /><required-claims><claim name="a" match="most" /></required-claims></validate-jwt>`, "is not all or any"},
	} {
		_, err := Parse(Source{File: "p.xml", Line: 1, Text: []byte(doc("<inbound>" + c.text + "</inbound>"))}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.text, err, c.want)
		}
	}
}

// Whatever token a client sends, validate-jwt answers with one of its reasons (or lets a valid one through) and
// never panics or fails the gateway.
func FuzzValidateJWT(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	f.Add(sign(f, jwt.SigningMethodHS256, secret, "", jwt.MapClaims{"aud": "a", "exp": 4102444800, "tenant": "1"}))
	f.Add(sign(f, jwt.SigningMethodHS256, secret, "k", jwt.MapClaims{"aud": []any{1, "a"}, "exp": "soon"}))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("")
	p := mustCompile(f, Chain{API: mustParse(f, "fuzz.xml", doc(`<inbound>
<validate-jwt token-value="@(context.Request.Headers.GetValueOrDefault("X-Token",""))">
    <issuer-signing-keys><key>`+base64.StdEncoding.EncodeToString(secret)+`</key></issuer-signing-keys>
    <audiences><audience>a</audience></audiences>
    <required-claims><claim name="tenant" match="any" separator=","><value>1</value></claim></required-claims>
</validate-jwt>
</inbound>`))})
	f.Fuzz(func(t *testing.T, token string) {
		if strings.ContainsAny(token, "\r\n") {
			return // not a header value
		}
		err := p.Inbound(request(t, "GET", "http://gw/api/x", "X-Token", token), &Result{})
		var le *LimitError
		if err != nil && (!errors.As(err, &le) || jwtMessages[le.Reason] == "") {
			t.Fatalf("token %q: %v", token, err)
		}
	})
}

// A provider that cannot be reached before any key was fetched fails the request as the gateway's error (500 with
// the cause in the log), not as the client's token's fault.
func TestValidateJWTProviderUnreachableAtFirstUse(t *testing.T) {
	idp := startOpenIDProvider(t)
	idp.setDown(true)
	p := mustCompile(t, Chain{API: mustParse(t, "down.xml", doc(`<inbound>
<validate-jwt header-name="Authorization"><openid-config url="`+idp.url+`/.well-known/openid-configuration" /></validate-jwt>
</inbound>`))})
	k := rsaKey(t)
	err := p.Inbound(request(t, "GET", "http://gw/api/x", "Authorization", "Bearer "+sign(t, jwt.SigningMethodRS256, k, "k1", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()})), &Result{})
	var le *LimitError
	if err == nil || errors.As(err, &le) || !strings.Contains(err.Error(), "503") {
		t.Errorf("err = %v, want the gateway's error naming the provider's answer", err)
	}
}

// The keys of an OpenID provider are fetched again once they are older than jwksMaxAge (not before); when the
// provider is down then, the last good keys stay in use, and the failed fetch is not tried again within
// fetchRetryAfter, so requests past the hour do not each wait for it. The clock is the cache's, turned by hand.
func TestOpenIDKeysFetchedAgainAfterMaxAge(t *testing.T) {
	idp := startOpenIDProvider(t)
	idp.publish("k1", rsaKey(t))
	o, err := newOpenIDKeys(idp.url + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	o.now = func() time.Time { return clock }
	step := func(name string, advance time.Duration, wantKey string, wantFetches int) {
		t.Helper()
		clock = clock.Add(advance)
		keys, err := o.keys(false)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(keys) != 1 || keys[0].id != wantKey {
			t.Errorf("%s: keys %v, want %s", name, keys, wantKey)
		}
		if n := idp.fetches(); n != wantFetches {
			t.Errorf("%s: %d fetches, want %d", name, n, wantFetches)
		}
	}
	step("first use", 0, "k1", 1)
	idp.publish("k2", rsaKey(t))
	step("an hour old", jwksMaxAge, "k1", 1)
	step("older than an hour", time.Second, "k2", 2)
	step("fresh again", time.Minute, "k2", 2)

	idp.setDown(true)
	step("older than an hour, provider down", jwksMaxAge, "k2", 3)
	step("right after the failure", fetchRetryAfter-time.Second, "k2", 3)
	step("after fetchRetryAfter, still down", time.Second, "k2", 4)
	idp.setDown(false)
	idp.publish("k3", rsaKey(t))
	step("after fetchRetryAfter, back", fetchRetryAfter, "k3", 5)
	step("fresh", time.Minute, "k3", 5)
}

// A provider that is down before any keys were fetched is asked again only after fetchRetryAfter: the requests in
// between get the same error without a fetch each, so a flood of tokens cannot hammer a provider that is down.
func TestOpenIDKeysFirstFetchFailureSpaced(t *testing.T) {
	idp := startOpenIDProvider(t)
	idp.publish("k1", rsaKey(t))
	idp.setDown(true)
	o, err := newOpenIDKeys(idp.url + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	o.now = func() time.Time { return clock }
	for i := range 3 {
		if _, err := o.keys(false); err == nil {
			t.Fatalf("call %d: keys from a provider that is down", i)
		}
	}
	if n := idp.fetches(); n != 1 {
		t.Errorf("%d fetches for 3 requests within fetchRetryAfter, want 1", n)
	}
	idp.setDown(false)
	clock = clock.Add(fetchRetryAfter)
	if keys, err := o.keys(false); err != nil || len(keys) != 1 || idp.fetches() != 2 {
		t.Errorf("after fetchRetryAfter: %v %v after %d fetches, want k1 after 2", keys, err, idp.fetches())
	}
}

// require-signed-tokens="false" accepts an unsigned (alg: none) token, whose claims are still checked; by
// default such a token is refused, as one signed with no known key.
func TestValidateJWTUnsignedTokens(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	policy := func(attrs string) *Program {
		return mustCompile(t, Chain{API: mustParse(t, "unsigned.xml", doc(`<inbound>
<validate-jwt header-name="Authorization" `+attrs+`>
    <issuer-signing-keys><key>`+base64.StdEncoding.EncodeToString(secret)+`</key></issuer-signing-keys>
    <audiences><audience>api://orders</audience></audiences>
</validate-jwt>
</inbound>`))})
	}
	strict, lenient := policy(""), policy(`require-signed-tokens="false"`)
	exp := time.Now().Add(time.Hour).Unix()
	unsigned := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", jwt.MapClaims{"aud": "api://orders", "exp": exp})
	if head, err := base64.RawURLEncoding.DecodeString(strings.Split(unsigned, ".")[0]); err != nil || !strings.Contains(string(head), `"alg":"none"`) || !strings.HasSuffix(unsigned, ".") {
		t.Fatalf("not an unsigned token: %s", unsigned)
	}
	for _, c := range []struct {
		name   string
		p      *Program
		token  string
		reason string
	}{
		{"unsigned, by default", strict, unsigned, "TokenSignatureKeyNotFound"},
		{"unsigned, require-signed-tokens false", lenient, unsigned, ""},
		{"unsigned, expired", lenient, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", jwt.MapClaims{"aud": "api://orders", "exp": time.Now().Add(-time.Hour).Unix()}), "TokenExpired"},
		{"unsigned, wrong audience", lenient, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", jwt.MapClaims{"aud": "api://other", "exp": exp}), "TokenAudienceNotAllowed"},
		{"signed with another key", lenient, sign(t, jwt.SigningMethodHS256, []byte("another secret of 32 bytes......"), "", jwt.MapClaims{"aud": "api://orders", "exp": exp}), "TokenSignatureInvalid"},
		{"signed", lenient, sign(t, jwt.SigningMethodHS256, secret, "", jwt.MapClaims{"aud": "api://orders", "exp": exp}), ""},
	} {
		if got := jwtRefusal(t, c.p, request(t, "GET", "http://gw/api/x", "Authorization", "Bearer "+c.token)); got != c.reason {
			t.Errorf("%s: reason %q, want %q", c.name, got, c.reason)
		}
	}
}

// token-value takes the token from an expression (here a header without a scheme, trimmed); an empty value is
// TokenNotPresent.
func TestValidateJWTTokenValue(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	p := mustCompile(t, Chain{API: mustParse(t, "tv.xml", doc(`<inbound>
<validate-jwt token-value="@(context.Request.Headers.GetValueOrDefault(&quot;X-Token&quot;, &quot;&quot;))" output-token-variable-name="jwt">
    <issuer-signing-keys><key>`+base64.StdEncoding.EncodeToString(secret)+`</key></issuer-signing-keys>
</validate-jwt>
<set-variable name="sub" value="@(((Jwt)context.Variables["jwt"]).Subject)" />
</inbound>`))})
	good := sign(t, jwt.SigningMethodHS256, secret, "", jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	for _, c := range []struct {
		name, header, reason string
	}{
		{"the token", good, ""},
		{"with spaces around it", "  " + good + " ", ""},
		{"none", "", "TokenNotPresent"},
		{"with a scheme: not a token", "Bearer " + good, "TokenInvalid"},
		{"wrongly signed", sign(t, jwt.SigningMethodHS256, []byte("another secret of 32 bytes......"), "", jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}), "TokenSignatureInvalid"},
	} {
		ctx := request(t, "GET", "http://gw/api/x")
		if c.header != "" {
			ctx = request(t, "GET", "http://gw/api/x", "X-Token", c.header)
		}
		if got := jwtRefusal(t, p, ctx); got != c.reason {
			t.Errorf("%s: reason %q, want %q", c.name, got, c.reason)
			continue
		}
		if c.reason == "" {
			if v, _ := ctx.Variable("sub"); string(v.B) != "alice" {
				t.Errorf("%s: sub = %q, want alice", c.name, v.B)
			}
		}
	}
}
