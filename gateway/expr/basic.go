package expr

import (
	"bytes"
	"encoding/base64"
)

// asBasic compiles string.AsBasic(): an Authorization header's "Basic <base64 of user:password>" value as
// BasicAuthCredentials (UserId, Password), or null when it is not one. The value is the decoded "user:password".
func (cp *compiler) asBasic(n *node, args []evalFn) (memberFn, Type, error) {
	if len(args) != 0 {
		return nil, 0, cp.badArgs(n.x, "AsBasic", "AsBasic()")
	}
	return func(c *Context, r Value) (Value, error) {
		v := bytes.TrimSpace(r.B)
		if len(v) < 6 || !bytes.EqualFold(v[:6], []byte("Basic ")) {
			return Value{}, nil
		}
		enc := bytes.TrimSpace(v[6:])
		dst := c.alloc(base64.StdEncoding.DecodedLen(len(enc)))
		m, err := base64.StdEncoding.Decode(dst, enc)
		if err != nil || bytes.IndexByte(dst[:m], ':') < 0 {
			return Value{}, nil
		}
		return Value{Kind: String, B: dst[:m:m]}, nil
	}, TypeBasic, nil
}

// basicMember compiles BasicAuthCredentials.UserId (before the first ':') and Password (after it).
func (cp *compiler) basicMember(n *node) (memberFn, Type, error) {
	switch n.name {
	case "UserId":
		return func(_ *Context, r Value) (Value, error) {
			user, _, _ := bytes.Cut(r.B, []byte(":"))
			return str(user), nil
		}, TypeString, nil
	case "Password":
		return func(_ *Context, r Value) (Value, error) {
			_, pass, _ := bytes.Cut(r.B, []byte(":"))
			return str(pass), nil
		}, TypeString, nil
	}
	return nil, 0, cp.unknownMember(n, TypeBasic, "UserId, Password")
}
