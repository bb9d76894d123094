package expr

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
)

// AsJwt() and the Jwt type of APIM expressions. A Jwt value is the token's text (String kind, static type
// TypeJwt): AsJwt checks that it parses as a JWT and its members decode the claims when asked. Nothing here
// verifies a signature: that is validate-jwt's job (package policy); AsJwt, as in APIM, only reads.

// DecodeJWT splits a compact JWT ("header.payload.signature") and decodes its header and claims. ok is false when
// the text is not a JWT (wrong number of parts, bad base64url, not JSON objects). Numbers stay json.Number.
func DecodeJWT(token []byte) (header, claims map[string]any, ok bool) {
	parts := bytes.Split(bytes.TrimSpace(token), []byte("."))
	if len(parts) != 3 {
		return nil, nil, false
	}
	decode := func(seg []byte) (map[string]any, bool) {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(string(seg), "="))
		if err != nil {
			return nil, false
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var m map[string]any
		if d.Decode(&m) != nil || m == nil || d.More() {
			return nil, false
		}
		return m, true
	}
	if header, ok = decode(parts[0]); !ok {
		return nil, nil, false
	}
	if claims, ok = decode(parts[1]); !ok {
		return nil, nil, false
	}
	return header, claims, true
}

// ClaimStrings is a claim as APIM's Jwt.Claims shows it: a string[] (a JSON array is its elements, anything else
// one string; numbers as written, booleans True/False, objects as JSON).
func ClaimStrings(v any) []string {
	if list, ok := v.([]any); ok {
		out := make([]string, 0, len(list))
		for _, e := range list {
			out = append(out, claimString(e))
		}
		return out
	}
	return []string{claimString(v)}
}

func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// asJwt compiles string.AsJwt(): the token as a Jwt, or null when the string is not a JWT. A leading "Bearer "
// is skipped, so that an Authorization header's value converts as it is.
func (cp *compiler) asJwt(n *node, args []evalFn) (memberFn, Type, error) {
	if len(args) != 0 {
		return nil, 0, cp.badArgs(n.x, "AsJwt", "AsJwt()")
	}
	return func(_ *Context, r Value) (Value, error) {
		token := bytes.TrimSpace(r.B)
		if len(token) > 7 && bytes.EqualFold(token[:7], []byte("Bearer ")) { // an Authorization header's value
			token = bytes.TrimSpace(token[7:])
		}
		if _, _, ok := DecodeJWT(token); !ok {
			return Value{}, nil
		}
		return Value{Kind: String, B: token}, nil
	}, TypeJwt, nil
}

// claimsOf decodes the claims of a Jwt value (checked by AsJwt or validate-jwt).
func claimsOf(v Value) map[string]any {
	_, claims, _ := DecodeJWT(v.B)
	return claims
}

// jwtMember compiles the members of Jwt: Claims, Subject, Issuer, Id, Audiences, ExpirationTime, NotBefore,
// IssuedAt, Algorithm, Type.
func (cp *compiler) jwtMember(n *node) (memberFn, Type, error) {
	stringClaim := func(name string, header bool) memberFn {
		return func(c *Context, r Value) (Value, error) {
			h, claims, _ := DecodeJWT(r.B)
			if header {
				claims = h
			}
			v, ok := claims[name]
			if !ok {
				return Value{}, nil
			}
			return c.arenaString(claimString(v)), nil
		}
	}
	timeClaim := func(name string) memberFn {
		return func(_ *Context, r Value) (Value, error) {
			num, ok := claimsOf(r)[name].(json.Number)
			if !ok {
				return Value{}, nil
			}
			f, err := strconv.ParseFloat(num.String(), 64)
			if err != nil {
				return Value{}, nil
			}
			return Value{Kind: Long, I: int64(f * 1e9)}, nil
		}
	}
	switch n.name {
	case "Claims":
		return func(_ *Context, r Value) (Value, error) { return r, nil }, TypeJwtClaims, nil
	case "Subject":
		return stringClaim("sub", false), TypeString, nil
	case "Issuer":
		return stringClaim("iss", false), TypeString, nil
	case "Id":
		return stringClaim("jti", false), TypeString, nil
	case "Algorithm":
		return stringClaim("alg", true), TypeString, nil
	case "Type":
		return stringClaim("typ", true), TypeString, nil
	case "Audiences":
		return func(_ *Context, r Value) (Value, error) {
			v, ok := claimsOf(r)["aud"]
			if !ok {
				return Value{Kind: Strings}, nil
			}
			return stringsValue(ClaimStrings(v)), nil
		}, TypeStrings, nil
	case "ExpirationTime":
		return timeClaim("exp"), TypeDateTime, nil
	case "NotBefore":
		return timeClaim("nbf"), TypeDateTime, nil
	case "IssuedAt":
		return timeClaim("iat"), TypeDateTime, nil
	}
	return nil, 0, cp.unknownMember(n, TypeJwt, "Claims, Subject, Issuer, Id, Audiences, ExpirationTime, NotBefore, IssuedAt, Algorithm, Type")
}

func stringsValue(list []string) Value {
	v := Value{Kind: Strings, List: make([][]byte, len(list))}
	for i, s := range list {
		v.List[i] = []byte(s)
	}
	return v
}

// claimsMethod compiles Jwt.Claims.GetValueOrDefault(name[, default]) (the claim's values joined by commas, as
// APIM joins a string[]) and ContainsKey(name).
func (cp *compiler) claimsMethod(n *node, args []evalFn, types []Type) (memberFn, Type, error) {
	switch n.x.name {
	case "GetValueOrDefault":
		if len(args) < 1 || len(args) > 2 || types[0] != TypeString || (len(args) == 2 && types[1] != TypeString && types[1] != TypeNull) {
			return nil, 0, cp.badArgs(n.x, "GetValueOrDefault", "GetValueOrDefault(string name) or GetValueOrDefault(string name, string default)")
		}
		name, def := args[0], evalFn(nil)
		if len(args) == 2 {
			def = args[1]
		}
		return func(c *Context, r Value) (Value, error) {
			k, err := name(c)
			if err != nil {
				return k, err
			}
			if v, ok := claimsOf(r)[string(k.B)]; ok {
				return c.arenaString(strings.Join(ClaimStrings(v), ",")), nil
			}
			if def == nil {
				return Value{}, nil
			}
			return def(c)
		}, TypeString, nil
	case "ContainsKey":
		if len(args) != 1 || types[0] != TypeString {
			return nil, 0, cp.badArgs(n.x, "ContainsKey", "ContainsKey(string name)")
		}
		return func(c *Context, r Value) (Value, error) {
			k, err := args[0](c)
			if err != nil {
				return k, err
			}
			_, ok := claimsOf(r)[string(k.B)]
			return BoolValue(ok), nil
		}, TypeBool, nil
	}
	return nil, 0, cp.errAt(n.x.pos, "unknown method \""+n.x.name+"\" of Jwt.Claims", "GetValueOrDefault(name[, default]) or ContainsKey(name)")
}
