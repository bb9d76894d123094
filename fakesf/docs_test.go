package fakesf

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestUnservedCallsDocumented keeps docs/fakesf.md's "SF calls fakesf does not serve" table true: every operation
// of the swagger is either served by a route or matched by one of the table's patterns, and no served route is
// matched by a pattern.
func TestUnservedCallsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/fakesf.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(string(doc), "## SF calls fakesf does not serve")
	if !found {
		t.Fatal(`docs/fakesf.md has no "## SF calls fakesf does not serve" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var patterns []*regexp.Regexp
	var sources []string
	for _, m := range regexp.MustCompile("`((?:\\*|GET|POST|PUT|DELETE) [^`]+)`").FindAllStringSubmatch(section, -1) {
		method, path, _ := strings.Cut(m[1], " ")
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(method), `\*`, `[A-Z]+`) + " " + strings.ReplaceAll(regexp.QuoteMeta(path), `\*`, `.*`) + "$"
		patterns = append(patterns, regexp.MustCompile(re))
		sources = append(sources, m[1])
	}
	if len(patterns) < 10 {
		t.Fatalf("found only %d patterns in the section", len(patterns))
	}
	matching := func(op string) []string {
		var out []string
		for i, p := range patterns {
			if p.MatchString(op) {
				out = append(out, sources[i])
			}
		}
		return out
	}
	served := map[string]bool{}
	for _, r := range routes {
		op := r.method + " " + swaggerTemplate(r)
		served[op], served[op+"/"] = true, true
		if m := matching(op); len(m) > 0 {
			t.Errorf("%s is served but docs/fakesf.md lists it as not served (%v)", op, m)
		}
	}
	sw := loadSwagger(t)
	unserved := 0
	for path, ops := range sw.paths {
		for method := range ops {
			op := strings.ToUpper(method) + " " + path
			if served[op] {
				continue
			}
			unserved++
			if len(matching(op)) == 0 {
				t.Errorf("%s is neither served nor listed in docs/fakesf.md's table of calls fakesf does not serve", op)
			}
		}
	}
	t.Logf("%d routes served, %d swagger operations not served, %d patterns", len(routes), unserved, len(patterns))
}

// TestDocumentedTopologyStarts: the topology example of docs/fakesf.md (every service shape) parses and runs, and
// its Int64Range services split as the text says.
func TestDocumentedTopologyStarts(t *testing.T) {
	doc, err := os.ReadFile("../docs/fakesf.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "## Topology YAML")
	_, block, found := strings.Cut(section, "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	if !found || block == "" {
		t.Fatal("no yaml block under ## Topology YAML in docs/fakesf.md")
	}
	topo, err := ParseTopology([]byte(block))
	if err != nil {
		t.Fatalf("the documented topology: %v", err)
	}
	h := newHarness(t, topo)
	walkAll(h)
	search := h.parts("fabric:/Shop/Search")
	if len(search) != 2 || search[0].HighKey != -1 || search[1].LowKey != 0 {
		t.Errorf("full-range split %+v", search)
	}
	if web := h.parts("fabric:/Shop/Web")[0]; len(web.Replicas) != len(topo.Nodes) || len(web.Replicas[0].Endpoints) != 2 {
		t.Errorf("instances: -1 with two listeners: %+v", web.Replicas)
	}
}
