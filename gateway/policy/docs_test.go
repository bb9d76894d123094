package policy

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsUnsupportedPoliciesAreRefused reads the policies docs/policies.md names as not supported ("Not
// supported", "the policies outside the list above (for example ...)") and checks each is a load error that says
// so, and none is one sfgate runs.
func TestDocsUnsupportedPoliciesAreRefused(t *testing.T) {
	data, err := os.ReadFile("../../docs/policies.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(data)), " ")
	m := regexp.MustCompile(`the policies outside the list above \(for example ([^)]*)\)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal(`docs/policies.md has no "the policies outside the list above (for example ...)"`)
	}
	names := regexp.MustCompile("`([a-z-]+)`").FindAllStringSubmatch(m[1], -1)
	if len(names) == 0 {
		t.Fatalf("no policy names in %q", m[1])
	}
	for _, n := range names {
		name := n[1]
		_, err := Parse(Source{File: "p.xml", Line: 1, Text: []byte(doc("<inbound><" + name + " /></inbound>"))}, nil)
		if err == nil || !strings.Contains(err.Error(), "policy <"+name+"> is not supported by sfgate") {
			t.Errorf("docs/policies.md lists <%s> as not supported, but loading it gives %v", name, err)
		}
	}
}
