package armimport

// The configuration import writes, in the field order of docs/configuration.md. Empty fields are left out.

type outConfig struct {
	NamedValues map[string]any         `yaml:"namedValues,omitempty"` // string, or {env, secret}
	Policies    string                 `yaml:"policies,omitempty"`
	Backends    map[string]*outBackend `yaml:"backends,omitempty"`
	APIs        []*outAPI              `yaml:"apis"`
}

type outBackend struct {
	Type                 string          `yaml:"type,omitempty"`
	URL                  string          `yaml:"url,omitempty"`
	Protocol             string          `yaml:"protocol,omitempty"`
	Title                string          `yaml:"title,omitempty"`
	Description          string          `yaml:"description,omitempty"`
	Credentials          *outCredentials `yaml:"credentials,omitempty"`
	TLS                  *outTLS         `yaml:"tls,omitempty"`
	CircuitBreaker       *outBreaker     `yaml:"circuitBreaker,omitempty"`
	ServiceFabricCluster *outCluster     `yaml:"serviceFabricCluster,omitempty"`
	Pool                 *outPool        `yaml:"pool,omitempty"`
}

type outPool struct {
	Services []outMember `yaml:"services"`
}

type outMember struct {
	ID       string `yaml:"id"`
	Priority *int   `yaml:"priority,omitempty"`
	Weight   *int   `yaml:"weight,omitempty"`
}

type outCredentials struct {
	Header        map[string][]string `yaml:"header,omitempty"`
	Query         map[string][]string `yaml:"query,omitempty"`
	Authorization *outAuthorization   `yaml:"authorization,omitempty"`
}

type outAuthorization struct {
	Scheme    string `yaml:"scheme"`
	Parameter string `yaml:"parameter"`
}

type outTLS struct {
	ValidateCertificateChain *bool `yaml:"validateCertificateChain,omitempty"`
	ValidateCertificateName  *bool `yaml:"validateCertificateName,omitempty"`
}

type outBreaker struct {
	Rules []*outRule `yaml:"rules"`
}

type outRule struct {
	Name             string     `yaml:"name,omitempty"`
	FailureCondition outFailure `yaml:"failureCondition"`
	TripDuration     string     `yaml:"tripDuration,omitempty"`
	AcceptRetryAfter *bool      `yaml:"acceptRetryAfter,omitempty"`
}

type outFailure struct {
	Count            *int       `yaml:"count,omitempty"`
	Percentage       *int       `yaml:"percentage,omitempty"`
	Interval         string     `yaml:"interval,omitempty"`
	StatusCodeRanges []outRange `yaml:"statusCodeRanges,omitempty"`
	ErrorReasons     []string   `yaml:"errorReasons,omitempty"`
}

type outRange struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

type outCluster struct {
	ManagementEndpoints           []string      `yaml:"managementEndpoints"`
	MaxPartitionResolutionRetries *int          `yaml:"maxPartitionResolutionRetries,omitempty"`
	ServerCertificateThumbprints  []string      `yaml:"serverCertificateThumbprints,omitempty"`
	ServerX509Names               []outX509Name `yaml:"serverX509Names,omitempty"`
}

type outX509Name struct {
	Name                        string `yaml:"name"`
	IssuerCertificateThumbprint string `yaml:"issuerCertificateThumbprint,omitempty"`
}

type outAPI struct {
	Name       string          `yaml:"name"`
	Path       string          `yaml:"path"`
	ServiceURL string          `yaml:"serviceUrl,omitempty"`
	Policies   string          `yaml:"policies,omitempty"`
	Operations []*outOperation `yaml:"operations,omitempty"`
}

type outOperation struct {
	Name        string `yaml:"name"`
	Method      string `yaml:"method"`
	URLTemplate string `yaml:"urlTemplate"`
	Policies    string `yaml:"policies,omitempty"`
}
