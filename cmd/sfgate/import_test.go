package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	testTemplate   = "../../gateway/config/armimport/testdata/apim-template.json"
	testParameters = "../../gateway/config/armimport/testdata/params.json"
)

// import writes a configuration that validate accepts once the secrets' environment variables are set, and lists
// what it could not carry over.
func TestImportRoundTrip(t *testing.T) {
	out := filepath.Join(t.TempDir(), "imported.yaml")
	code, stdout, stderr := runCmd(t, "import", "--arm", testTemplate, "--parameters", testParameters, "-o", out)
	if code != 0 || stdout != "" {
		t.Fatalf("import: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"proxy: not carried over", "2 APIs, 4 backends", "SFGATE_NV_PARTNER_KEY"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	data, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(data), "# Set these environment variables before running it: SFGATE_NV_PARTNER_KEY SFGATE_NV_VAULT_TOKEN") {
		t.Fatalf("output: %v\n%s", err, data)
	}
	t.Setenv("SFGATE_NV_PARTNER_KEY", "partner-key")
	t.Setenv("SFGATE_NV_VAULT_TOKEN", "vault-token")
	if code, out, errOut := runCmd(t, "validate", "--config", out); code != 0 {
		t.Errorf("validate the import: exit %d\n%s%s", code, out, errOut)
	}
}

// Without the parameters the template needs, the import says which value is missing, where, and that the
// result does not load yet.
func TestImportReportsWhatItCannotCarry(t *testing.T) {
	code, stdout, stderr := runCmd(t, "import", "--arm", testTemplate)
	if code != 1 || !strings.Contains(stdout, "apis:") {
		t.Fatalf("exit %d, stdout:\n%s", code, stdout)
	}
	for _, want := range []string{
		"parameters('cluster_endpoint') has no value",
		"$.resources[4].properties.properties.serviceFabricCluster.managementEndpoints",
		"the configuration does not load yet",
		"managementEndpoints: required",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code, _, stderr := runCmd(t, "import"); code != 2 || !strings.Contains(stderr, "--arm FILE") {
		t.Errorf("no --arm: exit %d %s", code, stderr)
	}
}
