package main

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/sfgate/sfgate/fakesf"
)

// security holds the secured-mode flags: HTTPS with a given or generated certificate, client certificates
// accepted by thumbprint or common name, bearer tokens signed by a given key.
type security struct {
	tls                bool
	certFile, keyFile  string
	certOut            string
	thumbprints, names listFlag
	bearerKey          string
	audience, tenant   string
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for part := range strings.SplitSeq(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

func securityFlags(fs *flag.FlagSet) *security {
	s := &security{}
	fs.BoolVar(&s.tls, "tls", false, "serve the management API over HTTPS with a generated self-signed certificate (its SHA-1 thumbprint is printed)")
	fs.StringVar(&s.certFile, "tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; needs --tls-key")
	fs.StringVar(&s.keyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&s.certOut, "tls-cert-out", "", "write the server certificate (PEM) to this file, for clients that verify against a CA file (curl --cacert, sfctl --ca)")
	fs.Var(&s.thumbprints, "client-cert-thumbprint", "accept client certificates with this SHA-1 thumbprint (repeatable or comma-separated; implies HTTPS)")
	fs.Var(&s.names, "client-cert-common-name", "accept valid client certificates with this subject common name (repeatable or comma-separated; implies HTTPS)")
	fs.StringVar(&s.bearerKey, "bearer-key", "", "accept bearer tokens signed by this key: PEM public key or certificate file (implies HTTPS)")
	fs.StringVar(&s.audience, "bearer-audience", "", "with --bearer-key: the aud tokens must carry (the cluster application ID)")
	fs.StringVar(&s.tenant, "bearer-tenant", "", "with --bearer-key: the Azure AD tenant whose v1 issuer tokens must carry (empty: any issuer)")
	return s
}

// options turns the flags into fakesf options, printing the server certificate's thumbprint to out when HTTPS is
// on; listen is the management address, whose host a generated certificate also names.
func (s *security) options(listen string, out io.Writer) ([]fakesf.Option, error) {
	var opts []fakesf.Option
	if (s.certFile == "") != (s.keyFile == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	if s.bearerKey == "" && (s.audience != "" || s.tenant != "") {
		return nil, errors.New("--bearer-audience and --bearer-tenant need --bearer-key")
	}
	if s.bearerKey != "" && s.audience == "" {
		return nil, errors.New("--bearer-key needs --bearer-audience (the cluster application ID tokens are issued for)")
	}
	secured := len(s.thumbprints) > 0 || len(s.names) > 0 || s.bearerKey != ""
	if !s.tls && s.certFile == "" && !secured {
		if s.certOut != "" {
			return nil, errors.New("--tls-cert-out needs HTTPS (--tls, --tls-cert or a client-credential flag)")
		}
		return nil, nil
	}
	var cert tls.Certificate
	var err error
	if s.certFile != "" {
		if cert, err = tls.LoadX509KeyPair(s.certFile, s.keyFile); err != nil {
			return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", s.certFile, s.keyFile, err)
		}
	} else {
		names := []string{"localhost", "127.0.0.1"}
		if host, _, err := net.SplitHostPort(listen); err == nil && host != "" && host != "0.0.0.0" && host != "::" && host != "127.0.0.1" {
			names = append(names, host)
		}
		if h, err := os.Hostname(); err == nil && h != "" {
			names = append(names, h)
		}
		if cert, err = fakesf.GenerateCertificate(names...); err != nil {
			return nil, fmt.Errorf("generate a server certificate: %w", err)
		}
	}
	fmt.Fprintf(out, "server certificate thumbprint: %s\n", fakesf.Thumbprint(cert.Certificate[0]))
	if err := s.writeCertOut(cert); err != nil {
		return nil, err
	}
	opts = append(opts, fakesf.WithTLS(cert))
	if len(s.thumbprints) > 0 {
		opts = append(opts, fakesf.WithClientCertThumbprints(s.thumbprints...))
	}
	if len(s.names) > 0 {
		opts = append(opts, fakesf.WithClientCertCommonNames(s.names...))
	}
	if s.bearerKey != "" {
		data, err := os.ReadFile(s.bearerKey)
		if err != nil {
			return nil, fmt.Errorf("--bearer-key: %w", err)
		}
		key, err := fakesf.ParsePublicKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("--bearer-key %s: %w", s.bearerKey, err)
		}
		opts = append(opts, fakesf.WithBearerToken(fakesf.SignedBy(key, s.audience, s.tenant)))
	}
	return opts, nil
}

// reloadServerCertificate reads --tls-cert and --tls-key again and makes the cluster serve them (SIGHUP); it
// returns the new thumbprint. On an error the previous certificate stays.
func (s *security) reloadServerCertificate(c *fakesf.Cluster) (string, error) {
	if s.certFile == "" {
		return "", errors.New("nothing to reload: the server certificate is read from files only with --tls-cert and --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return "", fmt.Errorf("--tls-cert %s, --tls-key %s: %w; the previous certificate stays", s.certFile, s.keyFile, err)
	}
	if err := c.SetServerCertificate(cert); err != nil {
		return "", err
	}
	return fakesf.Thumbprint(cert.Certificate[0]), s.writeCertOut(cert)
}

// writeCertOut writes the server certificate to --tls-cert-out, when given.
func (s *security) writeCertOut(cert tls.Certificate) error {
	if s.certOut == "" {
		return nil
	}
	if err := os.WriteFile(s.certOut, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		return fmt.Errorf("--tls-cert-out: %w", err)
	}
	return nil
}
