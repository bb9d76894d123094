package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// examples/shop.yaml (kept here without its comments, so that positions stay put) loads exactly as written.
func TestLoadShopExample(t *testing.T) {
	cfg, err := Load("testdata/shop.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.Admin != "127.0.0.1:9901" {
		t.Errorf("listen/admin = %q/%q", cfg.Listen, cfg.Admin)
	}
	if cfg.Values()["orders-replica"] != "primary" {
		t.Errorf("namedValues = %v", cfg.NamedValues)
	}
	b := cfg.Backends["orders"]
	if b == nil || b.ID != "orders" || b.URL != "fabric:/Shop/Orders" {
		t.Fatalf("backend orders = %+v", b)
	}
	sf := b.ServiceFabricCluster
	if sf == nil || len(sf.ManagementEndpoints) != 1 || sf.ManagementEndpoints[0] != "http://127.0.0.1:19080" || *sf.MaxPartitionResolutionRetries != 5 {
		t.Fatalf("serviceFabricCluster = %+v", sf)
	}
	if len(cfg.APIs) != 1 {
		t.Fatalf("apis = %d", len(cfg.APIs))
	}
	api := cfg.APIs[0]
	if api.Name != "shop" || api.Path != "shop" || api.ServiceURL != "http://127.0.0.1:9000/" {
		t.Errorf("api = %+v", api)
	}
	if api.Policies == nil || !strings.Contains(api.Policies.XML, `sf-replica-type="{{orders-replica}}"`) {
		t.Fatalf("api policies = %+v", api.Policies)
	}
	// The inline XML starts on the line after "policies: |" (line 15), so its first line is line 16.
	if api.Policies.File != "" || api.Policies.Origin.Line != 16 || api.Policies.Origin.File != "testdata/shop.yaml" {
		t.Errorf("inline policy origin = %+v file %q", api.Policies.Origin, api.Policies.File)
	}
	if len(api.Operations) != 1 || api.Operations[0].Method != "GET" || api.Operations[0].URLTemplate != "/orders/{id}" || api.Operations[0].Name != "get-order" {
		t.Errorf("operations = %+v", api.Operations[0])
	}
	g := cfg.Policies
	if g == nil || g.File != filepath.Join("testdata", "policies", "global.xml") || !strings.Contains(g.XML, "<forward-request />") || g.Origin.Line != 1 {
		t.Errorf("global policy = %+v", g)
	}
	if cfg.Limits.RequestTimeout != DefaultRequestTimeout || b.Timeout != DefaultBackendTimeout {
		t.Errorf("defaults not applied: %+v %v", cfg.Limits, b.Timeout)
	}
}

func TestLoadReportsEveryErrorWithPosition(t *testing.T) {
	_, err := Load("testdata/bad.yaml")
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Load error %T %v, want Errors", err, err)
	}
	want := []string{
		`testdata/bad.yaml:1:1: listen: "127.0.0.1" is not host:port`,
		`testdata/bad.yaml:6:29: backends.orders.serviceFabricCluster.managementEndpoints[0]: "ftp://x" is not an absolute http:// or https:// URL`,
		`testdata/bad.yaml:7:7: backends.orders.serviceFabricCluster.maxPartitionResolutionRetries: 11 is outside 0..10`,
		`testdata/bad.yaml:8:7: backends.orders.serviceFabricCluster: unknown field "colour" (allowed: azureActiveDirectory, callTimeout, clientCertificate,`,
		`testdata/bad.yaml:10:5: backends.web.url: "not a url" is not an absolute http:// or https:// URL`,
		`testdata/bad.yaml:16:9: apis[0].operations[0].urlTemplate: "orders/{id}" must start with /`,
		`testdata/bad.yaml:17:5: apis[1].name: API name "shop" already used`,
		`testdata/bad.yaml:18:5: apis[1].path: path "/shop/" is already used by API "shop"`,
		`testdata/bad.yaml:19:15: apis[1].policies: cannot read policy file testdata/policies/missing.xml`,
		`testdata/bad.yaml:21:19: limits.requestTimeout: "30" is not a duration`,
	}
	text := err.Error()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("missing error %q in:\n%s", w, text)
		}
	}
}

func TestParseShapes(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"syntax", "apis: [\n", "x.yaml:1: YAML syntax: did not find expected node content"},
		{"empty", "", "x.yaml:1: the configuration is empty"},
		{"list where mapping", "apis: {a: 1}\n", `x.yaml:1:7: apis: expected a list, found a mapping`},
		{"duplicate field", "listen: a:1\nlisten: b:2\napis: [{name: a}]\n", "x.yaml:2:1: listen: field given twice"},
		{"int", "apis: [{name: a}]\nlimits: {maxBodyBytes: ten}\n", `x.yaml:2:24: limits.maxBodyBytes: "ten" is not an integer`},
		{"bool", "apis: [{name: a, preserveHost: yes please}]\n", `x.yaml:1:32: apis[0].preserveHost: "yes please" is not true or false`},
		{"no apis", "listen: :1\n", "apis: no APIs"},
		{"sf url", "apis: [{name: a}]\nbackends: {b: {url: http://x/, serviceFabricCluster: {managementEndpoints: [http://h:19080]}}}\n", `backends.b.url: a Service Fabric backend's url is the default service name`},
		{"named value", "apis: [{name: a}]\nnamedValues: {'bad name': x, ok: ''}\n", "namedValues.bad name: a named value's name"},
		{"empty policy", "apis: [{name: a, policies: ''}]\n", "apis[0].policies: empty"},
		{"aad", "apis: [{name: a}]\nbackends: {b: {url: 'fabric:/A/B', serviceFabricCluster: {managementEndpoints: [https://h:19080], azureActiveDirectory: {clientSecret: s}}}}\n", "clusterApplication: required"},
		{"aad secret", "apis: [{name: a}]\nbackends: {b: {url: 'fabric:/A/B', serviceFabricCluster: {managementEndpoints: [https://h:19080], azureActiveDirectory: {clusterApplication: x, clientSecret: s}}}}\n", "needs tenantId, clientId and clientSecret"},
		{"apim thumbprint", "apis: [{name: a}]\nbackends: {b: {url: 'fabric:/A/B', serviceFabricCluster: {managementEndpoints: [https://h:19080], clientCertificatethumbprint: AB}}}\n", `"clientCertificatethumbprint" is an APIM field sfgate does not support: a certificate store is not read; give clientCertificate: {certFile, keyFile} (PEM)`},
		{"apim proxy", "apis: [{name: a}]\nbackends: {b: {url: 'http://h/', proxy: {url: 'http://p/'}}}\n", `x.yaml:2:34: backends.b: "proxy" is an APIM field sfgate does not support: outbound HTTP proxies are not supported`},
		{"thumbprint", "apis: [{name: a}]\nbackends: {b: {url: 'fabric:/A/B', serviceFabricCluster: {managementEndpoints: [https://h:19080], serverCertificateThumbprints: [abc]}}}\n", `"abc" is not a SHA-1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestParseInlineFlowPolicyOrigin(t *testing.T) {
	cfg, err := Parse([]byte("apis:\n  - name: a\n    policies: '<policies/>'\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.APIs[0].Policies.Origin; o.Line != 3 || o.File != "x.yaml" {
		t.Errorf("origin = %+v, want x.yaml line 3", o)
	}
}

func TestDurationsAndDefaults(t *testing.T) {
	cfg, err := Parse([]byte("apis: [{name: a}]\nlimits: {readTimeout: 1500ms}\nbackends: {h: {url: 'http://x/', timeout: 2m}}\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.ReadTimeout != 1500*time.Millisecond || cfg.Backends["h"].Timeout != 2*time.Minute {
		t.Errorf("durations: %v %v", cfg.Limits.ReadTimeout, cfg.Backends["h"].Timeout)
	}
	if cfg.Listen != DefaultListen || cfg.Limits.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Errorf("defaults: %q %d", cfg.Listen, cfg.Limits.MaxBodyBytes)
	}
}

// drainDelay defaults to 5s and may be 0; log.access defaults to on; health is an address like admin; the
// admin and health listeners are off by default (docs/configuration.md says "(off)").
func TestDrainDelayAccessLogAndHealth(t *testing.T) {
	cfg, err := Parse([]byte("apis: [{name: a}]\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if *cfg.DrainDelay != DefaultDrainDelay || !cfg.Log.AccessLog() || cfg.Health != "" || cfg.Admin != "" {
		t.Errorf("defaults: drainDelay %v, access %v, health %q, admin %q", *cfg.DrainDelay, cfg.Log.AccessLog(), cfg.Health, cfg.Admin)
	}
	cfg, err = Parse([]byte("apis: [{name: a}]\ndrainDelay: 0s\nlog: {access: false}\nhealth: 0.0.0.0:9902\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if *cfg.DrainDelay != 0 || cfg.Log.AccessLog() || cfg.Health != "0.0.0.0:9902" {
		t.Errorf("set: drainDelay %v, access %v, health %q", *cfg.DrainDelay, cfg.Log.AccessLog(), cfg.Health)
	}
	_, err = Parse([]byte("apis: [{name: a}]\ndrainDelay: -1s\nlog: {access: maybe}\nhealth: nowhere\n"), "x.yaml")
	for _, want := range []string{"x.yaml:2:13: drainDelay:", "x.yaml:3:15: log.access:", "x.yaml:4:1: health:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error at %s, got %v", want, err)
		}
	}
}

// The naming bounds of a cluster: defaults, values, and bad values reported at their file:line.
func TestNamingBounds(t *testing.T) {
	const head = "apis: [{name: a}]\nbackends:\n  b:\n    url: 'fabric:/A/B'\n    serviceFabricCluster:\n      managementEndpoints: [http://h:19080]\n"
	cfg, err := Parse([]byte(head), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sf := cfg.Backends["b"].ServiceFabricCluster
	if sf.ResolveTimeout != DefaultResolveTimeout || sf.CallTimeout != DefaultNamingCallTimeout || sf.MaxCallAttempts != nil {
		t.Errorf("defaults: resolveTimeout %v callTimeout %v maxCallAttempts %v; want %v %v nil",
			sf.ResolveTimeout, sf.CallTimeout, sf.MaxCallAttempts, DefaultResolveTimeout, DefaultNamingCallTimeout)
	}
	cfg, err = Parse([]byte(head+"      resolveTimeout: 1500ms\n      callTimeout: 300ms\n      maxCallAttempts: 4\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sf = cfg.Backends["b"].ServiceFabricCluster
	if sf.ResolveTimeout != 1500*time.Millisecond || sf.CallTimeout != 300*time.Millisecond || *sf.MaxCallAttempts != 4 {
		t.Errorf("values: %v %v %d", sf.ResolveTimeout, sf.CallTimeout, *sf.MaxCallAttempts)
	}
	for _, c := range []struct{ name, yaml, want string }{
		{"call above resolve", "      resolveTimeout: 3s\n      callTimeout: 4s\n",
			"x.yaml:8:7: backends.b.serviceFabricCluster.callTimeout: callTimeout 4s is longer than resolveTimeout 3s"},
		{"resolve below default call", "      resolveTimeout: 1s\n",
			"x.yaml:7:7: backends.b.serviceFabricCluster.resolveTimeout: callTimeout 2s is longer than resolveTimeout 1s"},
		{"attempts zero", "      maxCallAttempts: 0\n", "x.yaml:7:7: backends.b.serviceFabricCluster.maxCallAttempts: 0 is outside 1..100"},
		{"attempts too many", "      maxCallAttempts: 1000\n", "x.yaml:7:7: backends.b.serviceFabricCluster.maxCallAttempts: 1000 is outside 1..100"},
		{"negative", "      resolveTimeout: -5s\n", `x.yaml:7:23: backends.b.serviceFabricCluster.resolveTimeout: "-5s" is not a duration`},
		{"no unit", "      callTimeout: 2\n", `x.yaml:7:20: backends.b.serviceFabricCluster.callTimeout: "2" is not a duration`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(head+c.yaml), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/shop.yaml", "testdata/bad.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("apis: [{name: a, operations: [{method: GET, urlTemplate: /x}]}]\n"))
	f.Add([]byte("a: &x {b: *x}\n"))
	f.Add([]byte("apis: [{name: a}]\nnamedValues: {k: {keyVault: {secretIdentifier: 'https://v.vault.azure.net/secrets/k'}}}\n"))
	ld := offlineLoader()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ld.Parse(context.Background(), data, "fuzz.yaml")
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned cfg=%v err=%v", cfg != nil, err)
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty error text")
		}
	})
}

// The client listener's tls: section: values as written, and bad values reported at their file:line.
func TestListenerTLS(t *testing.T) {
	cfg, err := Parse([]byte(`apis: [{name: a}]
tls:
  certificates:
    - {certFile: a.pem, keyFile: a-key.pem}
    - {certFile: b.pem, keyFile: b-key.pem}
  minVersion: "1.3"
  clientCertificate: required
  clientCaFile: clients-ca.pem
`), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tl := cfg.TLS
	if tl == nil || len(tl.Certificates) != 2 || tl.Certificates[1].KeyFile != "b-key.pem" || tl.MinVersion != "1.3" ||
		tl.ClientCertificate != "required" || tl.ClientCAFile != "clients-ca.pem" {
		t.Fatalf("tls = %+v", tl)
	}
	for _, c := range []struct{ name, yaml, want string }{
		{"no certificates", "tls: {minVersion: \"1.2\"}\n", "x.yaml:2:1: tls.certificates: required"},
		{"no key", "tls:\n  certificates: [{certFile: a.pem}]\n", "x.yaml:3:18: tls.certificates[0]: needs certFile and keyFile"},
		{"version", "tls:\n  certificates: [{certFile: a, keyFile: b}]\n  minVersion: \"1.1\"\n", `x.yaml:4:3: tls.minVersion: "1.1" is not "1.2" or "1.3"`},
		{"unquoted version", "tls:\n  certificates: [{certFile: a, keyFile: b}]\n  minVersion: 1.0\n", `tls.minVersion: "1.0" is not "1.2" or "1.3"`},
		{"client mode", "tls:\n  certificates: [{certFile: a, keyFile: b}]\n  clientCertificate: always\n", `x.yaml:4:3: tls.clientCertificate: "always" is not one of none, optional, required`},
		{"no client CA", "tls:\n  certificates: [{certFile: a, keyFile: b}]\n  clientCertificate: optional\n", "x.yaml:2:1: tls.clientCaFile: required with clientCertificate: optional"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte("apis: [{name: a}]\n"+c.yaml), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// trustedProxies takes networks and single addresses; anything else is an error at its place.
func TestTrustedProxies(t *testing.T) {
	cfg, err := Parse([]byte("apis: [{name: a}]\ntrustedProxies: [10.0.0.0/8, 127.0.0.1, 'fd00::/8', '::ffff:192.168.0.0/112']\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range cfg.TrustedProxies {
		p, err := ParsePrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.String())
	}
	if want := "10.0.0.0/8 127.0.0.1/32 fd00::/8 192.168.0.0/16"; strings.Join(got, " ") != want {
		t.Errorf("prefixes %v, want %s", got, want)
	}
	_, err = Parse([]byte("apis: [{name: a}]\ntrustedProxies:\n  - 10.0.0.0/33\n  - proxy.example\n"), "x.yaml")
	for _, want := range []string{`x.yaml:3:5: trustedProxies[0]: "10.0.0.0/33" is not a network`, `x.yaml:4:5: trustedProxies[1]: "proxy.example"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want an error containing %q, got %v", want, err)
		}
	}
}

// Named values: a plain string stays plain; {value}, {env} and {file} give the text, marked secret or not; a
// missing variable or file, two sources, an empty value or a secret too short to mask are errors at their place
// that never show a value. (Key Vault references load: keyvault_test.go.)
func TestNamedValueForms(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "orders-key"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SFGATE_TEST_NV", "from-env")
	cfg, err := Parse([]byte(`apis: [{name: a}]
namedValues:
  plain: value
  api-key: {value: "s3cret", secret: true}
  admin-token: {env: SFGATE_TEST_NV, secret: true}
  orders-key: {file: orders-key, secret: true}
  open: {env: SFGATE_TEST_NV}
  flag: {value: "on"}
`), filepath.Join(dir, "x.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"plain": "value", "api-key": "s3cret", "admin-token": "from-env", "orders-key": "from-file", "open": "from-env", "flag": "on"}
	if got := cfg.Values(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Values() = %v, want %v", got, want)
	}
	for name, secret := range map[string]bool{"plain": false, "api-key": true, "admin-token": true, "orders-key": true, "open": false} {
		if cfg.NamedValues[name].Secret != secret {
			t.Errorf("%s: secret = %v, want %v", name, cfg.NamedValues[name].Secret, secret)
		}
	}
	for _, c := range []struct{ name, yaml, want string }{
		{"unset variable", "  k: {env: SFGATE_TEST_UNSET_NV}\n", "x.yaml:3:3: namedValues.k: the environment variable SFGATE_TEST_UNSET_NV is not set"},
		{"missing file", "  k: {file: nowhere, secret: true}\n", "namedValues.k: cannot read nowhere: no such file or directory"},
		{"two sources", "  k: {value: a, env: SFGATE_TEST_NV}\n", "x.yaml:3:3: namedValues.k: give one of value, env, file and keyVault"},
		{"empty", "  k: {value: '', secret: true}\n", "x.yaml:3:3: namedValues.k: a named value may not be empty"},
		{"short secret", "  k: {value: MRK, secret: true}\n", "x.yaml:3:3: namedValues.k: a secret named value must be at least 4 bytes long"},
		{"short secret from the environment", "  k: {env: SFGATE_TEST_SHORT_NV, secret: true}\n", "x.yaml:3:3: namedValues.k: a secret named value must be at least 4 bytes long"},
		{"list", "  k: [a]\n", "x.yaml:3:6: namedValues.k: expected a string, or a mapping"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("SFGATE_TEST_SHORT_NV", "MRK")
			_, err := Parse([]byte("apis: [{name: a}]\nnamedValues:\n"+c.yaml), "x.yaml")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "MRK") {
				t.Fatalf("Parse error = %v: it shows the value", err)
			}
		})
	}
}

// adminAuth needs a token, and the named values it references must exist.
func TestAdminAuth(t *testing.T) {
	cfg, err := Parse([]byte("apis: [{name: a}]\nnamedValues: {admin-token: {value: t0ken, secret: true}}\nadminAuth: {bearerToken: '{{admin-token}}'}\nadminPprof: true\n"), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AdminAuth.BearerToken != "{{admin-token}}" || !cfg.AdminPprof {
		t.Errorf("adminAuth %+v, adminPprof %v", cfg.AdminAuth, cfg.AdminPprof)
	}
	for yaml, want := range map[string]string{
		"adminAuth: {}\n": "x.yaml:2:1: adminAuth.bearerToken: required",
		"adminAuth: {bearerToken: '{{missing}}'}\n": "x.yaml:2:13: adminAuth.bearerToken: unknown named value {{missing}}",
		"adminAuth: {bearerToken: abc}\n":           "x.yaml:2:13: adminAuth.bearerToken: a token shorter than 4 bytes",
	} {
		if _, err := Parse([]byte("apis: [{name: a}]\n"+yaml), "x.yaml"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", yaml, err, want)
		}
	}
}
