package main

import (
	"testing"
)

// TestParsePerfReport parses `perf report --stdio -g none --sort symbol` output captured on this machine
// (perf 6.x), without and with --children.
func TestParsePerfReport(t *testing.T) {
	self := parsePerfReport(readSample(t, "perf_self.txt"))
	if len(self) != 9 {
		t.Fatalf("self: %d lines, want 9: %+v", len(self), self)
	}
	if want := (perfLine{Self: 20.22, Symbol: "__strcmp_evex"}); self[0] != want {
		t.Fatalf("self[0] = %+v, want %+v", self[0], want)
	}
	children := parsePerfReport(readSample(t, "perf_children.txt"))
	if len(children) != 9 {
		t.Fatalf("children: %d lines, want 9", len(children))
	}
	if want := (perfLine{Children: 15.73, Self: 15.73, Symbol: "__strcmp_evex"}); children[1] != want {
		t.Fatalf("children[1] = %+v, want %+v", children[1], want)
	}
	k := parsePerfReport([]byte("    18.70%  [k] finish_task_switch.isra.0  -  -\n     4.0%  [.] gateway.(*Gateway).serveHTTP-fm\n"))
	if len(k) != 2 || !k[0].Kernel || k[0].Symbol != "finish_task_switch.isra.0" || k[1].Symbol != "gateway.(*Gateway).serveHTTP-fm" {
		t.Fatalf("got %+v", k)
	}
}

func FuzzParsePerfReport(f *testing.F) {
	f.Add(readSample(f, "perf_self.txt"))
	f.Add(readSample(f, "perf_children.txt"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, l := range parsePerfReport(b) {
			if l.Self < 0 || l.Self > 100 || l.Children < 0 || l.Children > 100 || l.Symbol == "" {
				t.Fatalf("impossible line %+v from %q", l, b)
			}
		}
	})
}
