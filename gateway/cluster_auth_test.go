package gateway

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/fakesftest"
	"github.com/sfgate/sfgate/internal/testcert"
)

// securedOrdersConfig routes /q/x?customer=N to fabric:/Shop/Orders (Int64Range 0..1023 in 4 partitions of
// 256) on a secured cluster; fill in the client certificate and key files and the server thumbprints.
const securedOrdersConfig = `
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster:
      managementEndpoints: [CLUSTER_URL]
      clientCertificate: {certFile: %q, keyFile: %q}
      serverCertificateThumbprints: [%s]
apis:
  - name: q
    path: q
    policies: |
      <policies><inbound><base />
        <set-backend-service backend-id="orders" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("customer",""))" />
      </inbound></policies>
`

// A secured cluster: the gateway presents its client certificate (clientCertificate PEM files) and accepts
// the cluster by thumbprint (serverCertificateThumbprints); a wrong client certificate is refused by SF.
func TestSecuredClusterClientCertificate(t *testing.T) {
	t.Parallel()
	server := testcert.SelfSigned(t, "cluster")
	client := testcert.SelfSigned(t, "gateway")
	certFile, keyFile := client.WritePEM(t)
	otherCert, otherKey := testcert.SelfSigned(t, "stranger").WritePEM(t)
	c := fakesftest.Start(t, fakesf.WithTLS(server.TLS), fakesf.WithClientCertThumbprints(client.Thumbprint()))
	if !strings.HasPrefix(c.URL(), "https://") {
		t.Fatalf("fake cluster URL %s", c.URL())
	}
	serverThumb := server.Thumbprint()
	g := startGateway(t, fmt.Sprintf(securedOrdersConfig, certFile, keyFile, serverThumb), c)
	rr := replicaAnswer(t, do(t, g.addr, "GET", "/q/x?customer=7", nil, ""))
	if rr.Service != "fabric:/Shop/Orders" || rr.Role != "primary" {
		t.Errorf("served by %+v", rr)
	}

	stranger := startGateway(t, fmt.Sprintf(securedOrdersConfig, otherCert, otherKey, serverThumb), c)
	r := do(t, stranger.addr, "GET", "/q/x?customer=7", nil, "")
	if e := decodeError(t, r); r.status != 502 || e.Error.Code != CodeClusterUnauthorized {
		t.Errorf("unknown client certificate: %d %s", r.status, r.body)
	}
}

// Azure AD settings map onto resolver.Options (the token flow itself is tested in package resolver).
func TestResolverOptionsMapping(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`
backends:
  a:
    url: fabric:/A/B
    serviceFabricCluster:
      managementEndpoints: [https://c1:19080, https://c2:19080]
      serverX509Names: [{name: cluster.example, issuerCertificateThumbprint: "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"}]
      azureActiveDirectory:
        clusterApplication: 11111111-2222-3333-4444-555555555555
        tenantId: tenant
        clientId: client
        clientSecret: "{{secret}}"
namedValues: {secret: hunter2}
apis:
  - {name: x, path: x, serviceUrl: "http://127.0.0.1:3/"}
`), "aad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	opts, key, err := resolverOptions(cfg, cfg.Backends["a"].ServiceFabricCluster)
	if err != nil {
		t.Fatal(err)
	}
	a := opts.Auth
	if len(opts.ManagementEndpoints) != 2 || a.Credential == nil || a.ClusterAppID != "11111111-2222-3333-4444-555555555555" ||
		len(a.ServerX509Names) != 1 || a.ServerX509Names[0].Name != "cluster.example" || len(a.ServerX509Names[0].IssuerThumbprints) != 1 {
		t.Errorf("options = %+v", opts)
	}
	if strings.Contains(key, "hunter2") {
		t.Errorf("the cluster key holds the secret: %s", key)
	}
}
