package policy

import (
	"bytes"
	"crypto/x509"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/sfgate/sfgate/gateway/expr"
)

// checkHeaderStmt is APIM's check-header: the request must carry the header and, when values are listed, every
// line of it must be one of them.
type checkHeaderStmt struct {
	name       value
	nameStr    string // the literal name, "" when an expression gives it
	status     intValue
	message    value
	ignoreCase boolValue
	values     []value
}

func (b *builder) checkHeader(el *element) (*checkHeaderStmt, error) {
	if err := b.checkAttrs(el, "name", "failed-check-httpcode", "failed-check-error-message", "ignore-case"); err != nil {
		return nil, err
	}
	if err := b.require(el, "name", "failed-check-httpcode", "failed-check-error-message", "ignore-case"); err != nil {
		return nil, err
	}
	if err := b.noText(el); err != nil {
		return nil, err
	}
	s := &checkHeaderStmt{}
	var err error
	if s.name, err = b.attrValue(el, "name", expr.TypeAny); err != nil {
		return nil, err
	}
	if s.name.e == nil {
		s.nameStr = strings.TrimSpace(string(s.name.lit))
		if s.nameStr == "" {
			return nil, b.errorf(attr(el, "name").valOff, "<check-header> name is empty")
		}
	}
	if s.status, err = b.intAttr(el, "failed-check-httpcode", 100, 599); err != nil {
		return nil, err
	}
	if s.message, err = b.attrValue(el, "failed-check-error-message", expr.TypeAny); err != nil {
		return nil, err
	}
	if s.ignoreCase, err = b.boolAttr(el, "ignore-case"); err != nil {
		return nil, err
	}
	for _, ch := range el.children {
		if ch.name != "value" {
			return nil, b.errorf(ch.off, "<check-header> may contain only <value> elements, found <"+ch.name+">")
		}
		if err := b.checkAttrs(ch); err != nil {
			return nil, err
		}
		v, err := b.textContent(ch, "check-header value")
		if err != nil {
			return nil, err
		}
		s.values = append(s.values, v)
	}
	return s, nil
}

func (rn *runner) checkHeader(s *checkHeaderStmt) error {
	name := s.nameStr
	if name == "" {
		n, err := s.name.bytes(rn.c)
		if err != nil {
			return err
		}
		name = string(n)
	}
	lines := rn.c.Request.Header.PeekAll(name)
	reason := ""
	if len(lines) == 0 {
		reason = "HeaderNotFound"
	} else if len(s.values) > 0 {
		ignoreCase, err := s.ignoreCase.eval(rn.c, false)
		if err != nil {
			return err
		}
		for _, line := range lines {
			ok, err := rn.headerValueAllowed(s, bytes.TrimSpace(line), ignoreCase)
			if err != nil {
				return err
			}
			if !ok {
				reason = "HeaderValueNotAllowed"
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	status, err := s.status.eval(rn.c, 0)
	if err != nil {
		return err
	}
	msg, err := s.message.bytes(rn.c)
	if err != nil {
		return err
	}
	return &LimitError{Status: int(status), Message: string(msg), Source: "check-header", Reason: reason}
}

func (rn *runner) headerValueAllowed(s *checkHeaderStmt, line []byte, ignoreCase bool) (bool, error) {
	for i := range s.values {
		want, err := s.values[i].bytes(rn.c)
		if err != nil {
			return false, err
		}
		if bytes.Equal(line, want) || ignoreCase && bytes.EqualFold(line, want) {
			return true, nil
		}
	}
	return false, nil
}

// ipFilterStmt is APIM's ip-filter: allow only, or forbid, the listed addresses and ranges. The caller is
// context.Request.IpAddress (the client a trusted proxy names, or the peer).
type ipFilterStmt struct {
	allow  bool
	ranges []AddressRange
}

// AddressRange is an inclusive range of IP addresses of one family; a single address has From == To.
type AddressRange struct {
	From, To netip.Addr
}

// Contains reports whether a is in the range (an IPv4 address never matches an IPv6 range).
func (r AddressRange) Contains(a netip.Addr) bool {
	return a.BitLen() == r.From.BitLen() && r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0
}

// ParseAddress parses an ip-filter address: IPv4 or IPv6, without a zone; an IPv4-mapped IPv6 address is
// taken as the IPv4 address.
func ParseAddress(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, errors.New(strconv.Quote(s) + " is not an IPv4 or IPv6 address")
	}
	if a.Zone() != "" {
		return netip.Addr{}, errors.New(strconv.Quote(s) + " has a zone; give the address alone")
	}
	return a.Unmap(), nil
}

// ParseAddressRange parses an ip-filter address-range: two addresses of one family, from no greater than to.
func ParseAddressRange(from, to string) (AddressRange, error) {
	f, err := ParseAddress(from)
	if err != nil {
		return AddressRange{}, errors.New("from: " + err.Error())
	}
	t, err := ParseAddress(to)
	if err != nil {
		return AddressRange{}, errors.New("to: " + err.Error())
	}
	if f.BitLen() != t.BitLen() {
		return AddressRange{}, errors.New("from and to must both be IPv4 or both IPv6")
	}
	if f.Compare(t) > 0 {
		return AddressRange{}, errors.New("from " + f.String() + " is above to " + t.String())
	}
	return AddressRange{From: f, To: t}, nil
}

func (b *builder) ipFilter(el *element) (*ipFilterStmt, error) {
	if err := b.checkAttrs(el, "action"); err != nil {
		return nil, err
	}
	if err := b.require(el, "action"); err != nil {
		return nil, err
	}
	if err := b.noText(el); err != nil {
		return nil, err
	}
	s := &ipFilterStmt{}
	a := attr(el, "action")
	switch strings.TrimSpace(a.value) {
	case "allow":
		s.allow = true
	case "forbid":
	default:
		return nil, b.errorf(a.valOff, "<ip-filter> action: "+strconv.Quote(a.value)+" is not allow or forbid")
	}
	for _, ch := range el.children {
		switch ch.name {
		case "address":
			if err := b.checkAttrs(ch); err != nil {
				return nil, err
			}
			if len(ch.children) > 0 {
				return nil, b.errorf(ch.children[0].off, "<address> holds an IP address, found <"+ch.children[0].name+">")
			}
			text, _, err := b.loc.substitute(ch.text, ch.textOff, b.named)
			if err != nil {
				return nil, err
			}
			ip, err := ParseAddress(text)
			if err != nil {
				return nil, b.errorf(ch.textOff, "<ip-filter> address: "+err.Error())
			}
			s.ranges = append(s.ranges, AddressRange{From: ip, To: ip})
		case "address-range":
			if err := b.checkAttrs(ch, "from", "to"); err != nil {
				return nil, err
			}
			if err := b.require(ch, "from", "to"); err != nil {
				return nil, err
			}
			if err := b.noChildren(ch); err != nil {
				return nil, err
			}
			from, _, err := b.loc.substitute(attr(ch, "from").value, attr(ch, "from").valOff, b.named)
			if err != nil {
				return nil, err
			}
			to, _, err := b.loc.substitute(attr(ch, "to").value, attr(ch, "to").valOff, b.named)
			if err != nil {
				return nil, err
			}
			r, err := ParseAddressRange(from, to)
			if err != nil {
				return nil, b.errorf(ch.off, "<ip-filter> address-range: "+err.Error())
			}
			s.ranges = append(s.ranges, r)
		default:
			return nil, b.errorf(ch.off, "<ip-filter> may contain <address> and <address-range>, found <"+ch.name+">")
		}
	}
	if len(s.ranges) == 0 {
		return nil, b.errorf(el.off, "<ip-filter> needs at least one <address> or <address-range>")
	}
	return s, nil
}

func (rn *runner) ipFilter(s *ipFilterStmt) error {
	ip := rn.c.IPAddress
	var caller netip.Addr
	if len(ip) > 0 && bytes.IndexByte(ip, '%') < 0 {
		// The view is not retained: netip keeps only the numbers of an address without a zone.
		caller, _ = netip.ParseAddr(unsafe.String(unsafe.SliceData(ip), len(ip)))
		caller = caller.Unmap()
	}
	listed := false
	for _, r := range s.ranges {
		if caller.IsValid() && r.Contains(caller) {
			listed = true
			break
		}
	}
	switch {
	case listed == s.allow:
		return nil
	case s.allow:
		return &LimitError{Status: 403, Message: "Forbidden", Source: "ip-filter", Reason: "CallerIpNotAllowed"}
	}
	return &LimitError{Status: 403, Message: "Forbidden", Source: "ip-filter", Reason: "CallerIpBlocked"}
}

// validateCertStmt is APIM's validate-client-certificate: the client's TLS certificate (context.Request.Certificate)
// must be present, within its validity, not revoked when asked (crls, crl.go), and match one of the identities
// when any are listed. The chain was verified by the TLS listener against tls.clientCaFile when the client
// connected (without a verified chain no certificate reaches the policies), which is what validate-trust asks
// for; the handshake also refused a certificate outside its validity, so the policy's own check of it only
// catches one that expired while its connection was kept alive.
type validateCertStmt struct {
	ignoreError bool
	crls        *crlCache // validate-revocation="true" (the default); nil when false
	identities  []certIdentity
	byIssuer    bool // an identity names issuer-thumbprint: the issuer's thumbprint is worked out per request
}

// certIdentity is one <identity>: every attribute given must match.
type certIdentity struct {
	thumbprint, serial, commonName, subject, dnsName, issuerSubject, issuerThumbprint string
}

func (b *builder) validateClientCertificate(el *element) (*validateCertStmt, error) {
	if err := b.checkAttrs(el, "validate-revocation", "validate-trust", "validate-not-before", "validate-not-after", "ignore-error"); err != nil {
		return nil, err
	}
	if err := b.noText(el); err != nil {
		return nil, err
	}
	s := &validateCertStmt{}
	var err error
	if revocation, err := b.literalBool(el, "validate-revocation", true); err != nil {
		return nil, err
	} else if revocation {
		s.crls = processCRLs
	}
	if trust, err := b.literalBool(el, "validate-trust", true); err != nil {
		return nil, err
	} else if !trust {
		return nil, b.errorf(attr(el, "validate-trust").valOff, "<validate-client-certificate> validate-trust=\"false\" is not supported: the TLS listener admits only certificates that chain to tls.clientCaFile")
	}
	// The listener's handshake (VerifyClientCertIfGiven, RequireAndVerifyClientCert) refuses a certificate outside
	// its validity with a TLS alert, so "false" could never let one through: say so rather than ignore it.
	for _, name := range []string{"validate-not-before", "validate-not-after"} {
		if check, err := b.literalBool(el, name, true); err != nil {
			return nil, err
		} else if !check {
			return nil, b.errorf(attr(el, name).valOff, "<validate-client-certificate> "+name+"=\"false\" is not supported: the TLS listener refuses an expired or not yet valid client certificate in the handshake (the client gets a TLS alert), so it never reaches the policy")
		}
	}
	if s.ignoreError, err = b.literalBool(el, "ignore-error", false); err != nil {
		return nil, err
	}
	if !s.ignoreError {
		b.certChecks = append(b.certChecks, b.loc.pos(el.off))
	}
	for _, ch := range el.children {
		if ch.name != "identities" {
			return nil, b.errorf(ch.off, "<validate-client-certificate> may contain only <identities>, found <"+ch.name+">")
		}
		for _, id := range ch.children {
			if id.name != "identity" {
				return nil, b.errorf(id.off, "<identities> may contain only <identity> elements, found <"+id.name+">")
			}
			if a := attr(id, "issuer-certificate-id"); a != nil {
				return nil, b.errorf(a.off, "<identity> issuer-certificate-id names an APIM certificate resource, which sfgate does not have; give issuer-thumbprint or issuer-subject")
			}
			if err := b.checkAttrs(id, "thumbprint", "serial-number", "common-name", "subject", "dns-name", "issuer-subject", "issuer-thumbprint"); err != nil {
				return nil, err
			}
			get := func(name string) string {
				if a := attr(id, name); a != nil {
					return strings.TrimSpace(a.value)
				}
				return ""
			}
			ci := certIdentity{thumbprint: strings.ToUpper(get("thumbprint")), serial: strings.ToUpper(get("serial-number")),
				commonName: get("common-name"), subject: get("subject"), dnsName: get("dns-name"),
				issuerSubject: get("issuer-subject"), issuerThumbprint: strings.ToUpper(get("issuer-thumbprint"))}
			if ci == (certIdentity{}) {
				return nil, b.errorf(id.off, "<identity> needs at least one attribute to match")
			}
			ci.serial = trimSerial(ci.serial)
			s.byIssuer = s.byIssuer || ci.issuerThumbprint != ""
			s.identities = append(s.identities, ci)
		}
	}
	return s, nil
}

func (rn *runner) validateClientCertificate(s *validateCertStmt) error {
	reason := ""
	cert := rn.c.Certificate
	switch now := time.Now(); {
	case cert == nil:
		reason = "ClientCertificateNotPresent"
	case now.Before(cert.NotBefore): // the listener checked it at the handshake; a kept-alive connection outlives it
		reason = "ClientCertificateNotYetValid"
	case now.After(cert.NotAfter):
		reason = "ClientCertificateExpired"
	case len(s.identities) > 0 && !s.matchesAny(cert, rn.c.CertificateChain):
		reason = "ClientCertificateIdentityNotAllowed"
	}
	var cause error
	if reason == "" && s.crls != nil && !s.ignoreError { // ignore-error: nothing to refuse, no list to fetch
		switch cause = s.crls.checkChain(rn.context(), rn.c.CertificateChain); {
		case errors.Is(cause, errRevoked):
			reason = "ClientCertificateRevoked"
		case cause != nil:
			reason = "ClientCertificateRevocationUnknown"
		}
	}
	if reason == "" || s.ignoreError {
		return nil
	}
	return &LimitError{Status: 401, Message: "Invalid client certificate", Source: "validate-client-certificate", Reason: reason, Cause: cause}
}

func (s *validateCertStmt) matchesAny(cert *x509.Certificate, chain []*x509.Certificate) bool {
	have := certIdentity{ // the certificate's side of each attribute, worked out once for all identities
		thumbprint:    expr.Thumbprint(cert),
		serial:        trimSerial(cert.SerialNumber.Text(16)),
		commonName:    cert.Subject.CommonName,
		subject:       expr.DistinguishedName(cert.Subject),
		issuerSubject: expr.DistinguishedName(cert.Issuer),
	}
	if s.byIssuer && len(chain) > 1 {
		have.issuerThumbprint = expr.Thumbprint(chain[1])
	}
	for _, id := range s.identities {
		if id.matches(&have, cert.DNSNames) {
			return true
		}
	}
	return false
}

// trimSerial is an upper-case hex serial number without leading zeros ("0A1B" is 0xA1B).
func trimSerial(s string) string { return strings.TrimLeft(strings.ToUpper(s), "0") }

// matches reports whether every attribute id gives equals have's (the serial given already trimmed).
func (id certIdentity) matches(have *certIdentity, dnsNames []string) bool {
	checks := [...]struct{ want, have string }{
		{id.thumbprint, have.thumbprint},
		{id.serial, have.serial},
		{id.commonName, have.commonName},
		{id.subject, have.subject},
		{id.issuerSubject, have.issuerSubject},
		{id.issuerThumbprint, have.issuerThumbprint},
	}
	for _, c := range checks {
		if c.want != "" && c.want != c.have {
			return false
		}
	}
	return id.dnsName == "" || slices.Contains(dnsNames, id.dnsName)
}
