// Package testcert makes real X.509 certificates for tests: a certificate authority, certificates it
// issues (optionally naming a CRL), its revocation lists, and self-signed certificates, each for a DNS name
// and 127.0.0.1 and usable for both server and client authentication. The tests of fakesf (a cluster that serves TLS and checks client certificates),
// resolver (which verifies a cluster and presents a client certificate), gateway and cmd/sfgate use it, so
// one place decides how a test certificate looks. It imports nothing of this module.
package testcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Cert is a generated certificate with its private key.
type Cert struct {
	// Leaf is the parsed certificate.
	Leaf *x509.Certificate
	// TLS holds the chain (the certificate, then its issuer's when issued by a CA) and the key, for
	// tls.Config.Certificates or fakesf.WithTLS.
	TLS tls.Certificate
}

// SelfSigned returns a certificate for name (common name and DNS name) and 127.0.0.1, signed by itself, as
// Service Fabric clusters and their clients often use.
func SelfSigned(tb testing.TB, name string) *Cert {
	tb.Helper()
	return newCert(tb, name, nil, false)
}

// SelfSignedFor returns a self-signed certificate whose subject alternative names are exactly hosts (DNS
// names and IP addresses; the common name is the first), for tests of name checks that must fail on
// 127.0.0.1.
func SelfSignedFor(tb testing.TB, hosts ...string) *Cert {
	tb.Helper()
	return newCertFor(tb, hosts, nil)
}

// CA returns a self-signed certificate authority named name, able to issue certificates (Issue).
func CA(tb testing.TB, name string) *Cert {
	tb.Helper()
	return newCert(tb, name, nil, true)
}

// Issue returns a certificate for name (common name and DNS name) and 127.0.0.1 signed by ca.
func (ca *Cert) Issue(tb testing.TB, name string) *Cert {
	tb.Helper()
	return newCert(tb, name, ca, false)
}

// IssueWithCRL is Issue for a certificate whose CRL distribution point is crlURL, where ca's CRL (CRL) is to be
// served.
func (ca *Cert) IssueWithCRL(tb testing.TB, name, crlURL string) *Cert {
	tb.Helper()
	return build(tb, name, ca, false, func(tmpl *x509.Certificate) {
		tmpl.DNSNames = []string{name}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.CRLDistributionPoints = []string{crlURL}
	})
}

// CRL returns a certificate revocation list (DER) signed by ca that revokes the given certificates and is valid
// until nextUpdate.
func (ca *Cert) CRL(tb testing.TB, nextUpdate time.Time, revoked ...*Cert) []byte {
	tb.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(time.Now().UnixNano()), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: nextUpdate}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: c.Leaf.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Leaf, ca.TLS.PrivateKey.(crypto.Signer))
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// IssueFor returns a certificate signed by ca whose subject alternative names are exactly hosts (DNS names
// and IP addresses; the common name is the first).
func (ca *Cert) IssueFor(tb testing.TB, hosts ...string) *Cert {
	tb.Helper()
	return newCertFor(tb, hosts, ca)
}

// newCertFor is newCert with the names given: each host is an IP address or a DNS name.
func newCertFor(tb testing.TB, hosts []string, issuer *Cert) *Cert {
	tb.Helper()
	if len(hosts) == 0 {
		tb.Fatal("testcert: no host names")
	}
	return build(tb, hosts[0], issuer, false, func(tmpl *x509.Certificate) {
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
	})
}

func newCert(tb testing.TB, name string, issuer *Cert, isCA bool) *Cert {
	tb.Helper()
	return build(tb, name, issuer, isCA, func(tmpl *x509.Certificate) {
		if !isCA {
			tmpl.DNSNames = []string{name}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
	})
}

// build makes a certificate named name, signed by issuer (nil: by itself); names sets its alternative names.
func build(tb testing.TB, name string, issuer *Cert, isCA bool, names func(*x509.Certificate)) *Cert {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	names(tmpl)
	parent, signer := tmpl, any(key)
	if issuer != nil {
		parent, signer = issuer.Leaf, issuer.TLS.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	chain := [][]byte{der}
	if issuer != nil {
		chain = append(chain, issuer.Leaf.Raw)
	}
	return &Cert{Leaf: leaf, TLS: tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}}
}

// WritePEM writes the certificate and its PKCS #8 key as PEM files into a new temporary directory of the
// test and returns their paths.
func (c *Cert) WritePEM(tb testing.TB) (certFile, keyFile string) {
	tb.Helper()
	dir := tb.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c.WritePEMTo(tb, certFile, keyFile)
	return certFile, keyFile
}

// WritePEMTo writes the certificate and its PKCS #8 key as PEM to certFile and keyFile, overwriting them in
// place (not by rename), the way an operator's cp replaces a certificate; the key is written first.
func (c *Cert) WritePEMTo(tb testing.TB, certFile, keyFile string) {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.TLS.PrivateKey)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Raw}), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// Thumbprint is the certificate's SHA-1 thumbprint in upper-case hex, as Service Fabric settings write it.
// It is computed here, not by the code under test, so tests can check that code against it.
func (c *Cert) Thumbprint() string {
	sum := sha1.Sum(c.Leaf.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}
