package armimport

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/config"
)

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// The test template (every backend kind, named values plain, secret and in Key Vault, APIs with operations,
// policies at every scope) imports into a configuration that loads, with what could not be carried over named
// by JSON path.
func TestImportTemplate(t *testing.T) {
	res, err := Import(readTestdata(t, "apim-template.json"), readTestdata(t, "params.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(res.ValidationYAML, "imported.yaml")
	if err != nil {
		t.Fatalf("the import does not load: %v\n%s", err, res.ValidationYAML)
	}
	orders := cfg.Backends["orders"]
	if orders == nil || orders.URL != "fabric:/Shop/Orders" || orders.ServiceFabricCluster == nil ||
		strings.Join(orders.ServiceFabricCluster.ManagementEndpoints, ",") != "https://cluster.contoso.example:19080" ||
		*orders.ServiceFabricCluster.MaxPartitionResolutionRetries != 5 || len(orders.ServiceFabricCluster.ServerX509Names) != 1 {
		t.Errorf("orders: %+v", orders)
	}
	if cb := orders.CircuitBreaker; cb == nil || cb.Rule().TripDuration != 30*time.Second || !cb.Rule().AcceptRetryAfter ||
		strings.Join(cb.Rule().FailureCondition.ErrorReasons, ",") != "Timeout" || cb.Rule().FailureCondition.Count != 5 {
		t.Errorf("orders circuit breaker: %+v", cb)
	}
	west := cfg.Backends["orders-west"]
	if west == nil || west.URL != "http://10.0.0.4:8080/" || west.Credentials.Header["x-api-key"][0] != "{{partner-key}}" ||
		west.Credentials.Authorization.Scheme != "Bearer" || *west.TLS.ValidateCertificateName {
		t.Errorf("orders-west: %+v", west)
	}
	pool := cfg.Backends["orders-pool"]
	if pool == nil || !pool.IsPool() || len(pool.Pool.Services) != 3 {
		t.Fatalf("orders-pool: %+v", pool)
	}
	var members []string
	for _, m := range pool.Pool.Services {
		members = append(members, m.BackendID())
	}
	if strings.Join(members, ",") != "orders-west,orders,orders-dr" || pool.Pool.Services[2].Priority != 2 || pool.Pool.Services[0].MemberWeight() != 3 {
		t.Errorf("pool members %v", members)
	}
	if nv := cfg.NamedValues["orders-replica"]; nv == nil || nv.Value != "primary" {
		t.Errorf("orders-replica: %+v", nv)
	}
	if !strings.Contains(string(res.YAML), "env: SFGATE_NV_PARTNER_KEY") || !strings.Contains(string(res.YAML), "env: SFGATE_NV_VAULT_TOKEN") {
		t.Errorf("secret named values are not env references:\n%s", res.YAML)
	}
	if cfg.Policies == nil || !strings.Contains(cfg.Policies.XML, "X-Gateway") {
		t.Error("global policy missing")
	}
	if len(cfg.APIs) != 2 || cfg.APIs[0].Name != "regional" || cfg.APIs[1].Name != "shop" {
		t.Fatalf("apis: %+v", cfg.APIs)
	}
	shop := cfg.APIs[1]
	if shop.Path != "shop" || shop.ServiceURL != "http://10.0.0.9:8080/" || !strings.Contains(shop.Policies.XML, `backend-id="orders"`) || len(shop.Operations) != 2 {
		t.Fatalf("shop: %+v", shop)
	}
	if op := shop.Operations[0]; op.Name != "get-order" || op.Method != "GET" || op.URLTemplate != "/orders/{id}" || !strings.Contains(op.Policies.XML, "rate-limit-by-key") {
		t.Errorf("get-order: %+v", op)
	}
	if op := shop.Operations[1]; op.URLTemplate != "/orders" {
		t.Errorf("list-orders: %+v", op)
	}
	warnings := strings.Join(res.Warnings, "\n")
	for _, want := range []string{
		`$.resources[2].properties: a secret named value "partner-key" becomes {env: SFGATE_NV_PARTNER_KEY}`,
		`$.resources[3].properties: a Key Vault named value "vault-token" becomes {env: SFGATE_NV_VAULT_TOKEN}: set that environment variable to its value, or have sfgate read the vault: write {keyVault: {secretIdentifier: "https://contoso.vault.azure.net/secrets/token"}} instead`,
		`$.resources[4].properties.properties.serviceFabricCluster.clientCertificatethumbprint: not carried over: a certificate store is not read`,
		`$.resources[4].properties.circuitBreaker.rules[0].failureCondition.errorReasons[0]: "Server errors" is left out`,
		`$.resources[5].properties.credentials.certificateIds: not carried over`,
		`$.resources[5].properties.proxy: not carried over: outbound HTTP proxies are not supported`,
		`$.resources[6].properties.description: not carried over: the template function resourceGroup() cannot be evaluated`,
		`$.resources[6].properties.resourceId: not carried over: not needed`,
		`$.resources[12].properties.urlTemplate: the query part "?customer={customer}" is left out`,
		`$.resources[15]: resource type Microsoft.ApiManagement/service/products is not carried over`,
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q; they are:\n%s", want, warnings)
		}
	}
}

// Without the parameters file the cluster endpoint has no value: the warning names the parameter and the path,
// and the configuration then lacks the endpoint (config says so when it loads).
func TestImportMissingParameter(t *testing.T) {
	res, err := Import(readTestdata(t, "apim-template.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(res.Warnings, "\n"); !strings.Contains(w, `$.resources[4].properties.properties.serviceFabricCluster.managementEndpoints: not carried over: parameters('cluster_endpoint') has no value`) {
		t.Errorf("warnings:\n%s", w)
	}
	if _, err := config.Parse(res.ValidationYAML, "imported.yaml"); err == nil || !strings.Contains(err.Error(), "managementEndpoints: required") {
		t.Errorf("load: %v", err)
	}
}

func TestImportRejectsNonTemplates(t *testing.T) {
	for _, in := range []string{"", "[]", "{", `{"resources": 3}`, `{"parameters": {}}`} {
		if _, err := Import([]byte(in), nil); err == nil {
			t.Errorf("Import(%q) succeeded", in)
		}
	}
}

// ARM expressions: the functions an export writes evaluate; others are reported.
func TestEvaluator(t *testing.T) {
	ev := &evaluator{params: map[string]any{"svc": "contoso", "o": map[string]any{"a": []any{"x", "y"}}},
		variables: map[string]any{"v": "[concat(parameters('svc'), '-v')]", "loop": "[variables('loop')]"}, evaluating: map[string]bool{}}
	for in, want := range map[string]string{
		"plain":                             "plain",
		"[[literal]":                        "[literal]",
		"[parameters('svc')]":               "contoso",
		"[concat(parameters('svc'), '/x')]": "contoso/x",
		"[variables('v')]":                  "contoso-v",
		"[format('{0}/{1}', 'a', 7)]":       "a/7",
		"[toUpper('it''s')]":                "IT'S",
		"[parameters('o').a[1]]":            "y",
		"[resourceId('Microsoft.ApiManagement/service/backends', parameters('svc'), 'b')]": "/providers/Microsoft.ApiManagement/service/contoso/backends/b",
	} {
		got, err := ev.str(in)
		if err != nil || text(got) != want {
			t.Errorf("%s = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"[uniqueString('a')]", "[variables('loop')]", "[concat('a']", "[parameters('none')]", "[resourceId('Microsoft.X/y', 'a', 'b')]", "['a' 'b']"} {
		if got, err := ev.str(in); err == nil {
			t.Errorf("%s = %v, want an error", in, got)
		}
	}
}

func FuzzImport(f *testing.F) {
	f.Add(readTestdata(f, "apim-template.json"))
	f.Add([]byte(`{"resources":[{"type":"Microsoft.ApiManagement/service/backends","name":"[concat('a', '/b')]","properties":{"url":"[format('{0}', 1)]"}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Import(data, nil)
		if err == nil && res.YAML == nil {
			t.Fatal("no YAML and no error")
		}
	})
}
