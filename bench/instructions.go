package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// instructionBenchmarks are the gateway benchmarks the instructions section counts, in report order: a
// proxied GET with no proxy, through the bare fasthttp proxy, and through sfgate (plain and Service Fabric).
var instructionBenchmarks = []struct {
	name, what string
	likeBare   bool // the same request target as ProxyBareFasthttp, so the two proxies' own work compares
}{
	{"BackendDirect", "no proxy: one HostClient.Do to the backend", false},
	{"ProxyBareFasthttp", "bare fasthttp proxy handler (package bareproxy)", false},
	{"ProxyBaseURL", "sfgate, APIM set-backend-service example: base-url chosen on a query value", false},
	{"ProxyServiceFabric", "sfgate, APIM set-backend-service Service Fabric example: partition key from the query, resolve condition", true},
}

// instructionsSection counts the user-space instructions one proxied GET executes, with valgrind's callgrind,
// in the gateway package's benchmarks (handler called directly, fasthttp backend on loopback in the same
// process). Instruction counts do not drift with the machine's load as wrk's timings do, so they show a
// change of a few percent in the gateway's own work that the end-to-end ratios cannot resolve.
func (h *harness) instructionsSection(ctx context.Context) (*table, []string) {
	t := &table{Title: "Instructions per proxied GET (valgrind callgrind, user space, gateway benchmarks)",
		Header: []string{"benchmark", "what", "instructions per request", "proxy's own (over direct)", "own × bare fasthttp proxy's"}}
	if err := probeValgrind(ctx, h.dir); err != nil {
		t.note("skipped: %v", err)
		return t, nil
	}
	bin := filepath.Join(h.dir, "gateway.test")
	build := []string{"go", "test", "-c", "-o", bin, "./gateway/"}
	t.Commands = append(t.Commands, shellJoin(build))
	cmd := exec.CommandContext(ctx, build[0], build[1:]...)
	cmd.Dir = h.root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.note("skipped: %s: %v: %.1000s", shellJoin(build), err, out)
		return t, nil
	}
	lo, hi := h.opts.instrOps, 6*h.opts.instrOps
	perOp := map[string]float64{}
	for _, b := range instructionBenchmarks {
		h.logf("instructions: %s", b.name)
		var total [2]int64
		for i, n := range []int{lo, hi} {
			outFile := filepath.Join(h.dir, fmt.Sprintf("callgrind.%s.%d", b.name, n))
			args := callgrindArgs(outFile, bin, b.name, n)
			if i == 1 {
				t.Commands = append(t.Commands, "GODEBUG="+callgrindGODEBUG()+" "+shellJoin(append([]string{"valgrind"}, args...))+fmt.Sprintf("   # and %dx", lo))
			}
			var err error
			if total[i], err = runCallgrind(ctx, args, outFile, b.name, n); err != nil {
				t.note("%s: %v", b.name, err)
				break
			}
		}
		if total[1] <= total[0] {
			if total[1] > 0 {
				t.note("%s: %d iterations counted %d instructions, %d iterations %d: no per-request figure", b.name, lo, total[0], hi, total[1])
			}
			continue
		}
		perOp[b.name] = float64(total[1]-total[0]) / float64(hi-lo)
	}
	direct, bare := perOp["BackendDirect"], perOp["ProxyBareFasthttp"]
	var sum []string
	for _, b := range instructionBenchmarks {
		v, ok := perOp[b.name]
		if !ok {
			continue
		}
		over, ratio := "—", "—"
		if direct > 0 && b.name != "BackendDirect" {
			over = fmt.Sprintf("%.0f", v-direct)
			if b.likeBare && bare > direct {
				ratio = fmt.Sprintf("%.2f", (v-direct)/(bare-direct))
			}
		}
		t.add(b.name, b.what, fmt.Sprintf("%.0f", v), over, ratio)
		if b.name == "ProxyServiceFabric" && bare > direct && direct > 0 {
			sum = append(sum, fmt.Sprintf("instructions per proxied GET (callgrind, user space): sfgate with a Service Fabric policy %.0f, "+
				"bare fasthttp proxy %.0f, no proxy %.0f; sfgate's own work is %.0f instructions, **%.2f×** the bare proxy's %.0f",
				v, bare, direct, v-direct, (v-direct)/(bare-direct), bare-direct))
		}
	}
	t.note("Each benchmark runs under `valgrind --tool=callgrind` twice, for %d and %d iterations (`-test.benchtime Nx`, GOMAXPROCS=1); "+
		"instructions per request = the difference of the two totals ÷ %d, so start-up and warm-up cancel out. The count covers the whole "+
		"process in user space: the gateway, the fasthttp backend it calls on loopback (which also parses the headers the gateway adds) "+
		"and the Go runtime; the kernel's share (the socket calls) is not counted. The proxy's own work is what it executes "+
		"beyond one HostClient.Do and the backend's answer (the direct row), the backend's parsing of any header the proxy adds included; "+
		"the last column compares it with the bare proxy's for the same request target (ProxyBaseURL's differs). Per-request counts "+
		"repeat to about 0.2%% between runs (a few dozen instructions), so a change of 1%% shows; they are not times: a cache miss "+
		"and an add count alike.", lo, hi, hi-lo)
	return t, sum
}

// callgrindArgs are valgrind's arguments to run benchmark name of the gateway test binary n times.
func callgrindArgs(outFile, testBin, name string, n int) []string {
	return []string{"--tool=callgrind", "--callgrind-out-file=" + outFile, testBin, "-test.run", "^$",
		"-test.bench", "^Benchmark" + name + "$", "-test.benchtime", strconv.Itoa(n) + "x", "-test.cpu", "1"}
}

// callgrindGODEBUG is what the Go programs run under valgrind get in GODEBUG. asyncpreemptoff=1: no
// preemption signals, because callgrind can abort on Go's SIGURG (threads.c "sigNum == ...current_state.sig"),
// and without them the counts repeat more closely. On amd64 also cpu.rdtscp=off: the runtime reads the time
// stamp counter with LFENCE+RDTSC instead of RDTSCP, because valgrind's CPU model can announce RDTSCP to the
// program while its decoder rejects the instruction on a host CPU without it (valgrind 3.19: "vex
// amd64->IR: unhandled instruction bytes: 0xF 0x1 0xF9" in runtime.cputicks). Other architectures have no
// such option (the runtime would warn about it).
func callgrindGODEBUG() string {
	if runtime.GOARCH == "amd64" {
		return "asyncpreemptoff=1,cpu.rdtscp=off"
	}
	return "asyncpreemptoff=1"
}

// callgrindEnv is the environment of a program run under callgrind: ours, with callgrindGODEBUG added.
func callgrindEnv() []string {
	godebug := callgrindGODEBUG()
	if v := os.Getenv("GODEBUG"); v != "" {
		godebug = v + "," + godebug
	}
	return append(os.Environ(), "GODEBUG="+godebug)
}

// valgrindProbeProgram blocks on a channel with block profiling on, which makes the runtime read the CPU's
// time stamp counter (runtime.cputicks): the instruction valgrind is most likely to be unable to decode.
const valgrindProbeProgram = `package main

import "runtime"

func main() {
	runtime.SetBlockProfileRate(1)
	ch := make(chan int, 1)
	ch <- 1
	<-ch
}
`

// probeValgrind checks that valgrind is installed and can run a Go program on this machine, by building a
// tiny one in dir and running it under callgrind as the section runs the benchmarks. Its error says why not:
// not installed, or valgrind's own words on why the program died.
func probeValgrind(ctx context.Context, dir string) error {
	if _, err := lookTool("valgrind", "apt-get install valgrind"); err != nil {
		return err
	}
	src := filepath.Join(dir, "valgrindprobe")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(valgrindProbeProgram), 0o644); err != nil {
		return err
	}
	bin := filepath.Join(src, "probe")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "main.go")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("cannot build the valgrind probe program: %v: %.500s", err, out)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "valgrind", "--tool=callgrind", "--callgrind-out-file="+bin+".callgrind", bin)
	cmd.Env = callgrindEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("valgrind cannot run a Go program on this machine (%s, GODEBUG=%s): %v: %s",
			toolVersion("valgrind", "", "--version"), callgrindGODEBUG(), err, valgrindFailure(out))
	}
	return nil
}

// valgrindFailure picks the line of valgrind's output that says why the program died: an instruction its
// decoder does not handle, a failed assertion, or the fatal signal; else the last non-empty line.
func valgrindFailure(out []byte) string {
	last := ""
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		for _, sign := range []string{"unhandled instruction bytes", "Assertion", "Process terminating"} {
			if strings.Contains(line, sign) {
				return line
			}
		}
		last = line
	}
	if last == "" {
		return "no output"
	}
	return last
}

// runCallgrind runs valgrind with args (callgrindArgs for benchmark name, n iterations, writing outFile),
// checks that the benchmark ran n times and returns the instruction total of outFile.
func runCallgrind(ctx context.Context, args []string, outFile, name string, n int) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "valgrind", args...)
	cmd.Env = callgrindEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("valgrind: %v: %s", err, valgrindFailure(out))
	}
	ran := false
	lines, _ := parseGoBench(out)
	for _, l := range lines {
		ran = ran || l.Name == name && l.N == int64(n)
	}
	if !ran {
		return 0, fmt.Errorf("no \"Benchmark%s %d\" line in the output (not a benchmark of ./gateway/?): %.1000s", name, n, out)
	}
	data, err := os.ReadFile(outFile)
	if err != nil {
		return 0, err
	}
	defer os.Remove(outFile)
	return callgrindTotal(data)
}

// ErrCallgrindOutput is wrapped by every callgrindTotal error.
var ErrCallgrindOutput = errors.New("unexpected callgrind output")

// callgrindTotal reads the instruction total of a callgrind output file: its "totals:" line (or, failing
// that, "summary:"), after checking that the first event recorded is Ir (instructions read).
func callgrindTotal(data []byte) (int64, error) {
	var totals, summary string
	events := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, ":"); ok {
			switch k {
			case "events":
				events = strings.TrimSpace(v)
			case "totals":
				totals = strings.TrimSpace(v)
			case "summary":
				summary = strings.TrimSpace(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrCallgrindOutput, err)
	}
	if first, _, _ := strings.Cut(events, " "); first != "Ir" {
		return 0, fmt.Errorf("%w: events %q, want Ir first (run with --tool=callgrind and no --collect options)", ErrCallgrindOutput, events)
	}
	v := totals
	if v == "" {
		v = summary
	}
	first, _, _ := strings.Cut(v, " ")
	n, err := strconv.ParseInt(first, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: no positive totals: or summary: line (totals %q, summary %q)", ErrCallgrindOutput, totals, summary)
	}
	return n, nil
}
