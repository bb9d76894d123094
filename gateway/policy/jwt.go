package policy

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sfgate/sfgate/gateway/expr"
)

// validateJWTStmt is APIM's validate-jwt: the token from a header, a query parameter or an expression must be a
// JWT signed by one of the keys (issuer-signing-keys, or those an OpenID provider publishes), within its
// lifetime, for one of the audiences, from one of the issuers and with the required claims. Signature and
// lifetime checks are golang-jwt's; key sets published as JWKS are read with go-jose (jwks.go).
type validateJWTStmt struct {
	header, query string // where the token is; exactly one of header, query and token is set
	token         value
	scheme        string // require-scheme: the header must be "<scheme> <token>"
	status        intValue
	message       value
	requireSigned bool
	parser        *jwt.Parser // clock-skew and require-expiration-time
	outputVar     string
	keys          []jwtKey
	providers     []*openIDKeys
	audiences     []string
	issuers       []string
	claims        []requiredClaim
}

// jwtKey is one signing key: []byte (HMAC), *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey; id is its key
// ID ("kid"), "" when unknown.
type jwtKey struct {
	id  string
	key any
}

type requiredClaim struct {
	name      string
	matchAll  bool
	separator string
	values    []string
}

// APIM's reasons for a token validate-jwt refuses, and the messages the client gets without
// failed-validation-error-message.
var jwtMessages = map[string]string{
	"TokenNotPresent":           "JWT not present.",
	"TokenInvalid":              "JWT is not well formed.",
	"TokenSignatureInvalid":     "JWT signature validation failed.",
	"TokenSignatureKeyNotFound": "JWT signature validation failed: no signing key matches the token.",
	"TokenExpired":              "Lifetime validation failed. The token is expired.",
	"TokenNotYetValid":          "Lifetime validation failed. The token is not yet valid.",
	"TokenExpirationMissing":    "Lifetime validation failed. The token is missing an Expiration Time.",
	"TokenAudienceNotAllowed":   "Audience validation failed.",
	"TokenIssuerNotAllowed":     "Issuer validation failed.",
	"TokenClaimNotFound":        "JWT is missing a required claim.",
	"TokenClaimValueNotAllowed": "A claim of the JWT has a value that is not allowed.",
}

func (b *builder) validateJWT(el *element) (*validateJWTStmt, error) {
	if err := b.checkAttrs(el, "header-name", "query-parameter-name", "token-value", "failed-validation-httpcode",
		"failed-validation-error-message", "require-expiration-time", "require-scheme", "require-signed-tokens",
		"clock-skew", "output-token-variable-name"); err != nil {
		return nil, err
	}
	if err := b.noText(el); err != nil {
		return nil, err
	}
	s := &validateJWTStmt{}
	sources := 0
	if a := attr(el, "header-name"); a != nil {
		s.header, sources = strings.TrimSpace(a.value), sources+1
	}
	if a := attr(el, "query-parameter-name"); a != nil {
		s.query, sources = strings.TrimSpace(a.value), sources+1
	}
	var err error
	if s.token, err = b.attrValue(el, "token-value", expr.TypeAny); err != nil {
		return nil, err
	}
	if s.token.set {
		sources++
	}
	if sources != 1 || (attr(el, "header-name") != nil && s.header == "") || (attr(el, "query-parameter-name") != nil && s.query == "") {
		return nil, b.errorf(el.off, "<validate-jwt> needs exactly one of header-name, query-parameter-name and token-value")
	}
	if a := attr(el, "require-scheme"); a != nil {
		if s.header == "" {
			return nil, b.errorf(a.off, "<validate-jwt> require-scheme applies to a token in a header (header-name)")
		}
		s.scheme = strings.TrimSpace(a.value)
	}
	if s.status, err = b.intAttr(el, "failed-validation-httpcode", 100, 599); err != nil {
		return nil, err
	}
	if s.message, err = b.attrValue(el, "failed-validation-error-message", expr.TypeAny); err != nil {
		return nil, err
	}
	requireExp, err := b.literalBool(el, "require-expiration-time", true)
	if err != nil {
		return nil, err
	}
	if s.requireSigned, err = b.literalBool(el, "require-signed-tokens", true); err != nil {
		return nil, err
	}
	opts := []jwt.ParserOption{jwt.WithJSONNumber()}
	if a := attr(el, "clock-skew"); a != nil {
		n, err := strconv.Atoi(strings.TrimSpace(a.value))
		if err != nil || n < 0 || n > 86400 {
			return nil, b.errorf(a.valOff, "<validate-jwt> clock-skew: "+strconv.Quote(a.value)+" is not a number of seconds from 0 to 86400")
		}
		opts = append(opts, jwt.WithLeeway(time.Duration(n)*time.Second))
	}
	if requireExp {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	s.parser = jwt.NewParser(opts...) // safe for concurrent use: Parse changes nothing in it
	if a := attr(el, "output-token-variable-name"); a != nil {
		if s.outputVar = strings.TrimSpace(a.value); s.outputVar == "" {
			return nil, b.errorf(a.valOff, "<validate-jwt> output-token-variable-name is empty")
		}
	}
	for _, ch := range el.children {
		switch ch.name {
		case "openid-config":
			if err := b.checkAttrs(ch, "url"); err != nil {
				return nil, err
			}
			if err := b.require(ch, "url"); err != nil {
				return nil, err
			}
			u, _, err := b.loc.substitute(attr(ch, "url").value, attr(ch, "url").valOff, b.named)
			if err != nil {
				return nil, err
			}
			p, err := newOpenIDKeys(strings.TrimSpace(u))
			if err != nil {
				return nil, b.errorf(attr(ch, "url").valOff, "<openid-config> url: "+err.Error())
			}
			s.providers = append(s.providers, p)
		case "issuer-signing-keys":
			for _, k := range ch.children {
				key, err := b.signingKey(k)
				if err != nil {
					return nil, err
				}
				s.keys = append(s.keys, key)
			}
		case "audiences", "issuers":
			for _, v := range ch.children {
				want := strings.TrimSuffix(ch.name, "s")
				if v.name != want {
					return nil, b.errorf(v.off, "<"+ch.name+"> may contain only <"+want+"> elements, found <"+v.name+">")
				}
				text, err := b.literalText(v)
				if err != nil {
					return nil, err
				}
				if ch.name == "audiences" {
					s.audiences = append(s.audiences, text)
				} else {
					s.issuers = append(s.issuers, text)
				}
			}
		case "required-claims":
			for _, c := range ch.children {
				rc, err := b.requiredClaim(c)
				if err != nil {
					return nil, err
				}
				s.claims = append(s.claims, rc)
			}
		case "decryption-keys":
			return nil, b.errorf(ch.off, "<validate-jwt> <decryption-keys> (encrypted tokens) is not supported by sfgate")
		default:
			return nil, b.errorf(ch.off, "<validate-jwt> may contain openid-config, issuer-signing-keys, audiences, issuers and required-claims, found <"+ch.name+">")
		}
	}
	if len(s.keys) == 0 && len(s.providers) == 0 && s.requireSigned {
		return nil, b.errorf(el.off, "<validate-jwt> needs signing keys: <issuer-signing-keys> or <openid-config url=\"...\"/>")
	}
	return s, nil
}

// literalText is the text of an element that holds a literal (named values substituted).
func (b *builder) literalText(el *element) (string, error) {
	if err := b.checkAttrs(el); err != nil {
		return "", err
	}
	if len(el.children) > 0 {
		return "", b.errorf(el.children[0].off, "<"+el.name+"> holds text, found <"+el.children[0].name+">")
	}
	text, _, err := b.loc.substitute(el.text, el.textOff, b.named)
	if err != nil {
		return "", err
	}
	if text = strings.TrimSpace(text); text == "" {
		return "", b.errorf(el.off, "<"+el.name+"> is empty")
	}
	return text, nil
}

// signingKey reads an issuer-signing-keys <key>: a base64 symmetric key, a PEM public key or certificate (RSA,
// EC or Ed25519), or an RSA key as its modulus and exponent (n, e: base64url, as in a JWK). The optional id is
// its key ID.
func (b *builder) signingKey(el *element) (jwtKey, error) {
	if el.name != "key" {
		return jwtKey{}, b.errorf(el.off, "<issuer-signing-keys> may contain only <key> elements, found <"+el.name+">")
	}
	if a := attr(el, "certificate-id"); a != nil {
		return jwtKey{}, b.errorf(a.off, "<key> certificate-id refers to an APIM certificate resource; give the key as PEM text or n and e")
	}
	if err := b.checkAttrs(el, "n", "e"); err != nil {
		return jwtKey{}, err
	}
	k := jwtKey{}
	if a := attr(el, "id"); a != nil {
		k.id = a.value
	}
	if n, e := attr(el, "n"), attr(el, "e"); n != nil || e != nil {
		if n == nil || e == nil {
			return jwtKey{}, b.errorf(el.off, "<key> needs both n and e for an RSA key")
		}
		nb, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(n.value), "="))
		eb, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(e.value), "="))
		if err1 != nil || err2 != nil || len(nb) < 128 || len(eb) == 0 || len(eb) > 4 {
			return jwtKey{}, b.errorf(el.off, "<key> n and e are not a base64url RSA modulus (2048 bits or more) and exponent")
		}
		k.key = &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: int(new(big.Int).SetBytes(eb).Int64())}
		return k, nil
	}
	text, err := b.literalText(el)
	if err != nil {
		return jwtKey{}, err
	}
	if strings.HasPrefix(text, "-----BEGIN") {
		block, _ := pem.Decode([]byte(text))
		if block == nil {
			return jwtKey{}, b.errorf(el.textOff, "<key> holds PEM text that does not decode")
		}
		var pub any
		if block.Type == "CERTIFICATE" {
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		} else {
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		}
		if err != nil {
			return jwtKey{}, b.errorf(el.textOff, "<key> PEM "+block.Type+": "+err.Error())
		}
		switch pub.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return jwtKey{}, b.errorf(el.textOff, "<key> PEM holds a key of a kind JWTs are not signed with")
		}
		k.key = pub
		return k, nil
	}
	secret, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(secret) < 16 {
		return jwtKey{}, b.errorf(el.textOff, "<key> is not a base64 symmetric key of 16 bytes or more (nor PEM, nor n and e)")
	}
	k.key = secret
	return k, nil
}

func (b *builder) requiredClaim(el *element) (requiredClaim, error) {
	if el.name != "claim" {
		return requiredClaim{}, b.errorf(el.off, "<required-claims> may contain only <claim> elements, found <"+el.name+">")
	}
	if err := b.checkAttrs(el, "name", "match", "separator"); err != nil {
		return requiredClaim{}, err
	}
	if err := b.require(el, "name"); err != nil {
		return requiredClaim{}, err
	}
	rc := requiredClaim{name: strings.TrimSpace(attr(el, "name").value), matchAll: true}
	if a := attr(el, "match"); a != nil {
		switch strings.TrimSpace(a.value) {
		case "all":
		case "any":
			rc.matchAll = false
		default:
			return requiredClaim{}, b.errorf(a.valOff, "<claim> match: "+strconv.Quote(a.value)+" is not all or any")
		}
	}
	if a := attr(el, "separator"); a != nil {
		rc.separator = a.value
	}
	for _, v := range el.children {
		if v.name != "value" {
			return requiredClaim{}, b.errorf(v.off, "<claim> may contain only <value> elements, found <"+v.name+">")
		}
		text, err := b.literalText(v)
		if err != nil {
			return requiredClaim{}, err
		}
		rc.values = append(rc.values, text)
	}
	return rc, nil
}

// errKeyNotFound: no configured or published key matches the token (kid and algorithm).
var errKeyNotFound = errors.New("no signing key matches the token")

func (rn *runner) validateJWT(s *validateJWTStmt) error {
	token, err := s.tokenOf(rn.c)
	if err != nil {
		return err
	}
	reason := ""
	if token == "" {
		reason = "TokenNotPresent"
	} else {
		reason, err = s.check(token)
		if err != nil {
			return err
		}
	}
	if reason == "" {
		if s.outputVar != "" {
			rn.c.SetVariable(s.outputVar, expr.Value{Kind: expr.String, B: rn.c.KeepBytes([]byte(token))})
		}
		return nil
	}
	status, err := s.status.eval(rn.c, 401)
	if err != nil {
		return err
	}
	msg := jwtMessages[reason]
	if s.message.set {
		m, err := s.message.bytes(rn.c)
		if err != nil {
			return err
		}
		msg = string(m)
	}
	return &LimitError{Status: int(status), Message: msg, Source: "validate-jwt", Reason: reason}
}

// tokenOf finds the token: "" when absent or (with require-scheme) not sent with that scheme.
func (s *validateJWTStmt) tokenOf(c *expr.Context) (string, error) {
	switch {
	case s.header != "":
		v := strings.TrimSpace(string(c.Request.Header.Peek(s.header)))
		scheme, rest, found := strings.Cut(v, " ")
		switch {
		case s.scheme != "":
			if !found || !strings.EqualFold(scheme, s.scheme) {
				return "", nil
			}
			return strings.TrimSpace(rest), nil
		case found: // "Bearer <token>" without require-scheme: the scheme is not part of the token
			return strings.TrimSpace(rest), nil
		}
		return v, nil
	case s.query != "":
		return string(c.Request.URI().QueryArgs().Peek(s.query)), nil
	}
	t, err := s.token.bytes(c)
	return strings.TrimSpace(string(t)), err
}

// check validates a token and returns the APIM reason it fails for, "" when it is good. An error is a failure of
// the gateway (no key set could be fetched), not of the token.
func (s *validateJWTStmt) check(token string) (string, error) {
	var fetchErr error
	parse := func(refresh bool) (*jwt.Token, error) {
		return s.parser.Parse(token, func(t *jwt.Token) (any, error) {
			if t.Method.Alg() == "none" {
				if s.requireSigned {
					return nil, errKeyNotFound
				}
				return jwt.UnsafeAllowNoneSignatureType, nil
			}
			kid, _ := t.Header["kid"].(string)
			keys := matchingKeys(s.keys, t.Method, kid)
			for _, p := range s.providers {
				published, err := p.keys(refresh)
				if err != nil {
					fetchErr = err
				}
				keys = append(keys, matchingKeys(published, t.Method, kid)...)
			}
			if len(keys) == 0 {
				return nil, errKeyNotFound
			}
			return jwt.VerificationKeySet{Keys: keys}, nil
		})
	}
	t, err := parse(false)
	if errors.Is(err, errKeyNotFound) && len(s.providers) > 0 {
		t, err = parse(true) // a key rollover: ask the providers again (rate-limited in openIDKeys)
	}
	switch {
	case err == nil:
	case errors.Is(err, errKeyNotFound):
		if fetchErr != nil {
			return "", fetchErr
		}
		return "TokenSignatureKeyNotFound", nil
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "TokenInvalid", nil
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return "TokenSignatureInvalid", nil
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "TokenExpirationMissing", nil
	case errors.Is(err, jwt.ErrTokenExpired):
		return "TokenExpired", nil
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "TokenNotYetValid", nil
	default:
		return "TokenInvalid", nil
	}
	claims, _ := t.Claims.(jwt.MapClaims)
	if len(s.audiences) > 0 && !anyOf(expr.ClaimStrings(claims["aud"]), s.audiences) {
		return "TokenAudienceNotAllowed", nil
	}
	issuers := s.issuers
	if len(issuers) == 0 {
		for _, p := range s.providers {
			if iss := p.issuer(); iss != "" {
				issuers = append(issuers, iss)
			}
		}
	}
	if len(issuers) > 0 && !anyOf(expr.ClaimStrings(claims["iss"]), issuers) {
		return "TokenIssuerNotAllowed", nil
	}
	for _, rc := range s.claims {
		v, ok := claims[rc.name]
		if !ok {
			return "TokenClaimNotFound", nil
		}
		if !rc.matches(v) {
			return "TokenClaimValueNotAllowed", nil
		}
	}
	return "", nil
}

// matchingKeys are the keys that can verify a token signed with method and key ID kid (any ID when either is
// unknown).
func matchingKeys(keys []jwtKey, method jwt.SigningMethod, kid string) []jwt.VerificationKey {
	var out []jwt.VerificationKey
	for _, k := range keys {
		if kid != "" && k.id != "" && k.id != kid {
			continue
		}
		ok := false
		switch method.(type) {
		case *jwt.SigningMethodHMAC:
			_, ok = k.key.([]byte)
		case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
			_, ok = k.key.(*rsa.PublicKey)
		case *jwt.SigningMethodECDSA:
			_, ok = k.key.(*ecdsa.PublicKey)
		case *jwt.SigningMethodEd25519:
			_, ok = k.key.(ed25519.PublicKey)
		}
		if ok {
			out = append(out, k.key)
		}
	}
	return out
}

func anyOf(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

// matches reports whether a claim holds the values the policy requires: all of them (match="all") or one.
func (rc requiredClaim) matches(v any) bool {
	if len(rc.values) == 0 {
		return true
	}
	var have []string
	for _, s := range expr.ClaimStrings(v) {
		if rc.separator != "" {
			have = append(have, strings.Split(s, rc.separator)...)
		} else {
			have = append(have, s)
		}
	}
	for _, want := range rc.values {
		found := slices.Contains(have, want)
		if rc.matchAll && !found {
			return false
		}
		if !rc.matchAll && found {
			return true
		}
	}
	return rc.matchAll
}
