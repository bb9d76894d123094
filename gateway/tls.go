package gateway

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/certfile"
)

// endpointTLS makes the TLS client configuration of each endpoint of one backend. The name a certificate
// must carry is tls.serverName or else the endpoint's host, which the check needs even when the host is an IP
// address: Go sends no SNI for an IP, so the connection state holds no name to compare.
type endpointTLS struct {
	base       *tls.Config
	serverName string                                          // tls.serverName; "" → the endpoint's host
	verify     func(cs tls.ConnectionState, name string) error // nil: Go's standard verification
}

// forHost returns the configuration for connections to host (an IP address or DNS name, without port). A nil
// endpointTLS gives nil: Go's defaults, the name taken from the address.
func (e *endpointTLS) forHost(host string) *tls.Config {
	if e == nil {
		return nil
	}
	cfg := e.base.Clone()
	name := e.serverName
	if name == "" {
		name = host
	}
	cfg.ServerName = name // SNI when it is a DNS name, and the name Go's standard verification checks
	if e.verify != nil {
		verify := e.verify
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return verify(cs, name) }
	}
	return cfg
}

// backendTLS builds the TLS client configuration of a backend's endpoints (nil: Go's defaults).
func backendTLS(c *config.Config, bc *config.Backend) (*endpointTLS, error) {
	t := bc.TLS
	var certFiles *config.CertificateFiles
	if bc.Credentials != nil {
		certFiles = bc.Credentials.ClientCertificate
	}
	if t == nil && certFiles == nil {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	e := &endpointTLS{base: cfg}
	if certFiles != nil {
		cert, err := tls.LoadX509KeyPair(c.Path(certFiles.CertFile), c.Path(certFiles.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("credentials.clientCertificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if t == nil {
		return e, nil
	}
	e.serverName = t.ServerName
	if t.CAFile != "" {
		pool, err := certfile.LoadCAs(c.Path(t.CAFile))
		if err != nil {
			return nil, fmt.Errorf("tls.caFile: %w", err)
		}
		cfg.RootCAs = pool
	}
	chain := t.ValidateCertificateChain == nil || *t.ValidateCertificateChain
	checkName := t.ValidateCertificateName == nil || *t.ValidateCertificateName
	thumbs := map[string]bool{}
	for _, tp := range t.ServerCertificateThumbprints {
		thumbs[strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(tp))] = true
	}
	if chain && checkName && len(thumbs) == 0 {
		return e, nil
	}
	// Custom verification: Go's is all or nothing, so it is switched off and redone here piecewise.
	cfg.InsecureSkipVerify = true
	roots := cfg.RootCAs
	e.verify = func(cs tls.ConnectionState, name string) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("backend presented no certificate")
		}
		leaf := cs.PeerCertificates[0]
		if len(thumbs) > 0 {
			s1 := sha1.Sum(leaf.Raw)
			s256 := sha256.Sum256(leaf.Raw)
			if !thumbs[hex.EncodeToString(s1[:])] && !thumbs[hex.EncodeToString(s256[:])] {
				return fmt.Errorf("backend certificate (SHA-1 %X) is not in tls.serverCertificateThumbprints", s1)
			}
			return nil
		}
		if chain {
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
				return fmt.Errorf("backend certificate chain: %w", err)
			}
		}
		if checkName {
			if err := leaf.VerifyHostname(name); err != nil { // an IP address is checked against the IP SANs
				return fmt.Errorf("backend certificate name: %w", err)
			}
		}
		return nil
	}
	return e, nil
}
