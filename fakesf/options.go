package fakesf

import (
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// Option configures Start.
type Option func(*config)

type config struct {
	listen         string
	clusterVersion string
	runtimeMajor   int
	runtimeMinor   int
	tlsCert        *tls.Certificate
	thumbprints    map[string]bool // upper-case SHA-1 hex
	commonNames    map[string]bool // lower case
	bearer         func(token string) error
	aad            *AADMetadata
	naming         NamingCache
	observer       func(ReplicaEvent)
	mgmtObserver   func(ManagementEvent)
	err            error
}

func defaultConfig() config {
	return config{listen: "127.0.0.1:0", clusterVersion: "8.2.1571.9590", runtimeMajor: 8, runtimeMinor: 2}
}

func (c *config) check() error {
	if c.err != nil {
		return c.err
	}
	if (len(c.thumbprints) > 0 || len(c.commonNames) > 0) && c.tlsCert == nil {
		return errors.New("fakesf: WithClientCertThumbprints and WithClientCertCommonNames need WithTLS (client certificates travel in the TLS handshake)")
	}
	return nil
}

// WithListenAddr sets the management listener address (default "127.0.0.1:0", a free port).
func WithListenAddr(addr string) Option {
	return func(c *config) { c.listen = addr }
}

// WithClusterVersion sets the simulated runtime version returned by GetClusterVersion (default "8.2.1571.9590").
// Its major.minor is the highest api-version the cluster accepts.
func WithClusterVersion(version string) Option {
	return func(c *config) {
		parts := strings.Split(version, ".")
		if len(parts) < 2 {
			c.err = fmt.Errorf("fakesf: cluster version %q: want major.minor[.build.revision]", version)
			return
		}
		major, err1 := strconv.Atoi(parts[0])
		minor, err2 := strconv.Atoi(parts[1])
		if err1 != nil || err2 != nil || major < 6 {
			c.err = fmt.Errorf("fakesf: cluster version %q: want numeric major.minor, at least 6.4", version)
			return
		}
		c.clusterVersion, c.runtimeMajor, c.runtimeMinor = version, major, minor
	}
}

// WithTLS serves the management API over HTTPS with cert as the server certificate.
func WithTLS(cert tls.Certificate) Option {
	return func(c *config) { c.tlsCert = &cert }
}

// WithClientCertThumbprints requires a client certificate whose SHA-1 thumbprint (40 hex digits, any case, as SF
// configures them) is in the list; other requests get 403 with an empty body, as SF's gateway answers. With
// WithBearerToken too, either credential is enough (SF checks the bearer token first). Needs WithTLS.
func WithClientCertThumbprints(thumbprints ...string) Option {
	return func(c *config) {
		m, err := parseThumbprints(thumbprints)
		if err != nil {
			c.err = err
			return
		}
		if c.thumbprints == nil {
			c.thumbprints = map[string]bool{}
		}
		maps.Copy(c.thumbprints, m)
	}
}

// parseThumbprints reads SHA-1 thumbprints as SF configures them (40 hex digits, any case, spaces ignored).
func parseThumbprints(thumbprints []string) (map[string]bool, error) {
	m := map[string]bool{}
	for _, t := range thumbprints {
		t = strings.ToUpper(strings.ReplaceAll(t, " ", ""))
		if b, err := hex.DecodeString(t); err != nil || len(b) != 20 {
			return nil, fmt.Errorf("fakesf: client certificate thumbprint %q is not 40 hex digits", t)
		}
		m[t] = true
	}
	return m, nil
}

// WithClientCertCommonNames accepts a client certificate whose subject common name is one of names (compared
// without regard to case) and which is within its validity period, as an SF cluster's ClientCertificateCommonNames
// does; the certificate's chain is not checked. It combines with WithClientCertThumbprints (either match is
// enough) and WithBearerToken. Needs WithTLS.
func WithClientCertCommonNames(names ...string) Option {
	return func(c *config) {
		if c.commonNames == nil {
			c.commonNames = map[string]bool{}
		}
		for _, n := range names {
			if strings.TrimSpace(n) == "" {
				c.err = errors.New("fakesf: an empty client certificate common name")
				return
			}
			c.commonNames[strings.ToLower(n)] = true
		}
	}
}

// WithBearerToken requires "Authorization: Bearer <token>" accepted by validate (nil error); other requests get
// 403 with an empty body. GET /$/GetAadMetadata stays anonymous. See ExpectAudience for a ready-made check.
func WithBearerToken(validate func(token string) error) Option {
	return func(c *config) { c.bearer = validate }
}

// AADMetadata is what GET /$/GetAadMetadata returns for an Azure AD cluster (SF's AadMetadata fields).
type AADMetadata struct {
	Authority, Client, Cluster, Login, Redirect, Tenant string
}

// WithAADMetadata makes GET /$/GetAadMetadata answer {"type":"aad","metadata":{...}} (default: {}).
func WithAADMetadata(m AADMetadata) Option {
	return func(c *config) { c.aad = &m }
}

// WithNamingCache sets the initial naming-gateway cache behaviour (see Cluster.SetNamingCache).
func WithNamingCache(n NamingCache) Option {
	return func(c *config) { c.naming = n }
}
