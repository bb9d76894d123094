package resolver

import (
	"crypto/x509"
	"net/http"
)

// VerifyServer exposes the server certificate rules of a for tests.
func VerifyServer(a *Auth, certs []*x509.Certificate) error {
	v, err := newServerVerifier(a)
	if err != nil {
		return err
	}
	return v.verify(certs)
}

// TransportFor exposes the management HTTP transport built from a for tests.
func TransportFor(a *Auth) (*http.Transport, error) {
	cfg, err := a.tlsConfig()
	if err != nil {
		return nil, err
	}
	return newTransport(cfg).Transport.(*http.Transport), nil
}
