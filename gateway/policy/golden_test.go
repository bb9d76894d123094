package policy

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected errors of examples/policies/invalid")

// TestExamplesCompile loads every example policy under examples/policies/ as an API-scope
// document under the default global policy.
func TestExamplesCompile(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("found %d example policies, want the full set", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			d, err := Parse(readExample(t, name), NamedValues{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Compile(Chain{API: d}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestInvalidExamples checks that every policy under examples/policies/invalid/ is rejected
// with exactly the error text stored next to it in NAME.xml.err.
func TestInvalidExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "invalid", "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no invalid examples")
	}
	for _, f := range files {
		name := filepath.Join("invalid", filepath.Base(f))
		t.Run(name, func(t *testing.T) {
			d, err := Parse(readExample(t, name), NamedValues{})
			if err == nil {
				_, err = Compile(Chain{API: d})
			}
			if err == nil {
				t.Fatal("loaded; an invalid example must be rejected")
			}
			golden := f + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run go test -run TestInvalidExamples -update to create it)", rerr)
			}
			if got := err.Error(); got != strings.TrimSpace(string(want)) {
				t.Errorf("error text changed:\n got %s\nwant %s", got, strings.TrimSpace(string(want)))
			}
		})
	}
}
