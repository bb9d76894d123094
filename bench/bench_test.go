package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as the fakesf child process, as the bench binary does.
func TestMain(m *testing.M) {
	serveChild()
	os.Exit(m.Run())
}

// smokeEnv turns on TestSmokeRunsEverySection.
const smokeEnv = "SFGATE_BENCH_SMOKE"

// TestSmokeRunsEverySection runs the whole harness in -smoke mode (about a second per measurement, no
// thresholds) and checks that every section reports rows, or explains with a note why it could not. It also
// compares the working tree with sfgate built at HEAD (-baseline), as a developer measuring a change would.
// It is a benchmark run, not a unit test (minutes, servers, wrk, nginx, valgrind), so it runs only with
// SFGATE_BENCH_SMOKE=1: CI's bench smoke step (.ci/run). The report goes to the test log (go test -v).
func TestSmokeRunsEverySection(t *testing.T) {
	if os.Getenv(smokeEnv) != "1" {
		t.Skipf("a benchmark run, not a unit test: set %s=1 to run it (CI's bench smoke step does)", smokeEnv)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-smoke", "-v=false"}
	wants := []string{"## Machine", "| CPUs (nproc) |", "## Results", "```sh"}
	if exec.Command("git", "-C", root, "rev-parse", "--verify", "HEAD").Run() == nil {
		args = append(args, "-baseline", "HEAD")
		wants = append(wants, "sfgate ÷ sfgate@HEAD")
	} else {
		t.Log("not a git checkout: -baseline is not exercised")
	}
	o, err := parseOptions(args)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{opts: o, dir: t.TempDir(), root: root}
	rep, err := h.runAll(t.Context(), args)
	if err != nil {
		t.Fatal(err)
	}
	// Where valgrind can run a Go program, every instruction count must come out (a note alone would hide
	// a failure); where it cannot, the section's note says why.
	valgrindErr := probeValgrind(t.Context(), t.TempDir())
	titles := map[string]bool{}
	for _, s := range rep.Sections {
		titles[s.Title] = true
		if len(s.Rows) == 0 && len(s.Notes) == 0 {
			t.Errorf("section %q has neither rows nor a note", s.Title)
		}
		if strings.HasPrefix(s.Title, "Instructions per proxied GET") && valgrindErr == nil && len(s.Rows) != len(instructionBenchmarks) {
			t.Errorf("instructions section: %d rows, want %d; notes: %q", len(s.Rows), len(instructionBenchmarks), s.Notes)
		}
		if strings.HasPrefix(s.Title, "Peers: ") {
			checkPeerRows(t, s)
		}
	}
	if valgrindErr != nil {
		t.Logf("instructions section skipped: %v", valgrindErr)
	}
	for _, want := range []string{"Resolution latency: resolver benchmarks", "Resolution latency: percentiles",
		"Instructions per proxied GET", "End to end on loopback", "Peers: equal work, closed loop", "Peers: open loop",
		"Peers: memory with", "Where sfgate spends", "Failover", "Scale: resolver memory", "Scale: naming calls"} {
		found := false
		for title := range titles {
			found = found || strings.HasPrefix(title, want)
		}
		if !found {
			t.Errorf("no section %q in %v", want, titles)
		}
	}
	var buf bytes.Buffer
	rep.markdown(&buf)
	t.Logf("report:\n%s", buf.String())
	for _, want := range wants {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// checkPeerRows checks that every proxy of a peers table has its rows (both rates in the open-loop table) or
// a note that says why it was skipped ("Caddy: skipped: caddy not installed ..."), or that the whole table
// was skipped with a reason.
func checkPeerRows(t *testing.T, s *table) {
	t.Helper()
	for _, n := range s.Notes {
		if strings.HasPrefix(n, "skipped: ") && len(n) > len("skipped: ") {
			return
		}
	}
	col, want := 0, 1
	if strings.HasPrefix(s.Title, "Peers: open loop") {
		col, want = 1, 2
	}
	for _, name := range peerNames {
		rows := 0
		for _, r := range s.Rows {
			if r[col] == name {
				rows++
			}
		}
		skipped := false
		for _, n := range s.Notes {
			skipped = skipped || (strings.HasPrefix(n, name+": skipped: ") && len(n) > len(name+": skipped: "))
		}
		if rows != want && !skipped {
			t.Errorf("%q: %s has %d rows, want %d, and no note saying why it was skipped; notes: %q", s.Title, name, rows, want, s.Notes)
		}
	}
}

// TestNamingCallsPerPartition checks the scale section's counting: distinct keys over a 4-partition service
// cost one ResolvePartition per partition.
func TestNamingCallsPerPartition(t *testing.T) {
	h := &harness{opts: options{scaleKeys: 5000}}
	tb := &table{}
	if err := h.namingCallsRow(t.Context(), tb); err != nil {
		t.Fatal(err)
	}
	if len(tb.Rows) != 1 || tb.Rows[0][2] != "4" {
		t.Fatalf("rows %v: want 4 ResolvePartition calls for %d partitions", tb.Rows, benchPartitions)
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"go", "test", "-run", "^$", "-bench", "Resolve|Reresolve", "it's", "http://a/b?c=1"})
	want := `go test -run '^$' -bench 'Resolve|Reresolve' 'it'\''s' 'http://a/b?c=1'`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestSpread(t *testing.T) {
	s := spreadOf([]float64{3, 1, 2, 10})
	if s.Med != 2.5 || s.Min != 1 || s.Max != 10 || s.N != 4 {
		t.Fatalf("got %+v", s)
	}
	if got := s.format("%.1f"); got != "2.5 (1.0–10.0)" {
		t.Fatalf("format: %q", got)
	}
	if got := (spread{}).format("%.1f"); got != "—" {
		t.Fatalf("empty format: %q", got)
	}
}
