package expr

import (
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
)

// certificateMember compiles a member of context.Request.Certificate, the client's TLS certificate as .NET's
// X509Certificate2 shows it: Subject and Issuer as distinguished names, most specific part first
// ("CN=client, O=Contoso"), Thumbprint as the upper-case hex SHA-1 of the certificate, SerialNumber as upper-case
// hex of its bytes, NotBefore and NotAfter as DateTime.
func (cp *compiler) certificateMember(n *node) (memberFn, Type, error) {
	switch n.name {
	case "Subject":
		return func(c *Context, _ Value) (Value, error) {
			return c.arenaString(DistinguishedName(c.Certificate.Subject)), nil
		}, TypeString, nil
	case "Issuer":
		return func(c *Context, _ Value) (Value, error) {
			return c.arenaString(DistinguishedName(c.Certificate.Issuer)), nil
		}, TypeString, nil
	case "Thumbprint":
		return func(c *Context, _ Value) (Value, error) {
			return c.arenaString(Thumbprint(c.Certificate)), nil
		}, TypeString, nil
	case "SerialNumber":
		return func(c *Context, _ Value) (Value, error) {
			return c.arenaString(serialNumber(c.Certificate.SerialNumber)), nil
		}, TypeString, nil
	case "NotBefore":
		return func(c *Context, _ Value) (Value, error) {
			return Value{Kind: Long, I: c.Certificate.NotBefore.UnixNano()}, nil
		}, TypeDateTime, nil
	case "NotAfter":
		return func(c *Context, _ Value) (Value, error) {
			return Value{Kind: Long, I: c.Certificate.NotAfter.UnixNano()}, nil
		}, TypeDateTime, nil
	}
	return nil, 0, cp.unknownMember(n, TypeCertificate, "Subject, Issuer, Thumbprint, SerialNumber, NotBefore, NotAfter")
}

// Thumbprint is the certificate's thumbprint as .NET shows it: the upper-case hex SHA-1 of its DER bytes.
func Thumbprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// serialNumber is the serial as .NET shows it: upper-case hex of its DER content octets (whole bytes, with the
// leading zero byte DER adds when the high bit is set).
func serialNumber(n *big.Int) string {
	b := n.Bytes()
	if len(b) == 0 || b[0]&0x80 != 0 {
		b = append([]byte{0}, b...)
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// DistinguishedName formats a name as .NET does: its relative names most specific first, joined by ", ".
func DistinguishedName(name pkix.Name) string {
	seq := name.ToRDNSequence()
	parts := make([]string, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		parts = append(parts, pkix.RDNSequence{seq[i]}.String())
	}
	return strings.Join(parts, ", ")
}

// arenaString copies s into the context's arena and returns it as a string value valid until Reset.
func (c *Context) arenaString(s string) Value {
	start := len(c.arena)
	c.arena = append(c.arena, s...)
	return str(c.arena[start:len(c.arena):len(c.arena)])
}
