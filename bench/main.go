package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// options are the command-line flags.
type options struct {
	out         string
	smoke       bool
	sections    map[string]bool
	layouts     []e2eLayout
	reps        int
	duration    time.Duration
	warmup      time.Duration
	pause       time.Duration
	conns       []int
	gomaxprocs1 bool
	baseline    string // git revision whose sfgate the end-to-end section also runs
	echo        bool
	benchCount  int
	benchtime   string
	hitOps      int
	missOps     int
	moves       int
	scaleSizes  []int
	scaleKeys   int
	instrOps    int
	profile     time.Duration
	verbose     bool

	peerRounds   int           // peers section: interleaved rounds
	peerDuration time.Duration // peers section: each closed- and open-loop run
	peerConns    int           // peers section: client connections of each run
	idleConns    int           // peers section: idle keep-alive connections of the memory measurement
}

// harness is one run: options, the module root, a scratch directory and the sfgate binary.
type harness struct {
	opts      options
	root      string
	dir       string
	sfgateBin string
	sfgateErr error // why there is no sfgate binary

	baselineBin string // sfgate built at -baseline, if asked for
	baselineErr error
}

const allSections = "resolve,instructions,e2e,peers,profile,failover,scale"

func main() {
	serveChild()
	if err := run(os.Args[1:]); errors.Is(err, flag.ErrHelp) {
		return
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// serveChild runs the child-process modes and exits: `-serve-fakesf ADDR` (serveFakesf), `-serve-echo ADDR`
// (serveEcho) and `-serve-fasthttp-proxy LISTEN=UPSTREAM,...` (serveFasthttpProxy).
func serveChild() {
	if len(os.Args) != 3 {
		return
	}
	serve := map[string]func(string) error{"-serve-fakesf": serveFakesf, "-serve-echo": serveEcho,
		"-serve-fasthttp-proxy": serveFasthttpProxy}[os.Args[1]]
	if serve == nil {
		return
	}
	if err := serve(os.Args[2]); err != nil {
		fmt.Fprintf(os.Stderr, "bench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveUntilSignal serves servers[i] on addrs[i] until SIGTERM or an interrupt, then shuts them all down; a
// server that stops on its own ends the child with its error.
func serveUntilSignal(addrs []string, servers []*fasthttp.Server) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		ln, err := net.Listen("tcp", addrs[i])
		if err != nil {
			return err
		}
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		for _, srv := range servers {
			srv.Shutdown()
		}
		return nil
	}
}

func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: go run ./bench [flags]

Builds sfgate, starts fakesf (and nginx), measures resolution latency, end-to-end overhead against a fakesf
replica and nginx with wrk, failover time and cache scale, and prints one Markdown report (-out FILE writes it).`)
		fs.PrintDefaults()
	}
	var o options
	var sections, layouts, conns, sizes string
	fs.StringVar(&o.out, "out", "", "write the report to this file (e.g. bench/RESULTS.md) as well as stdout")
	fs.BoolVar(&o.smoke, "smoke", false, "run every section for about a second with tiny counts (CI; no thresholds)")
	fs.StringVar(&sections, "sections", allSections, "sections to run, comma-separated")
	fs.StringVar(&layouts, "layouts", "unpinned,pinned", "end-to-end CPU layouts: unpinned (all share the CPUs) and/or pinned (wrk on CPU 0, servers on CPU 1)")
	fs.IntVar(&o.reps, "reps", 3, "end-to-end repetitions (targets interleaved within each)")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "wrk duration per run (whole seconds)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "wrk warm-up per target (at the largest -conns) before the repetitions (0 = none)")
	fs.DurationVar(&o.pause, "pause", 500*time.Millisecond, "pause between wrk runs")
	fs.StringVar(&conns, "conns", "8,64", "wrk connection counts")
	fs.BoolVar(&o.echo, "echo", true, "end to end: also measure against a 100-byte fasthttp echo backend")
	fs.BoolVar(&o.gomaxprocs1, "gomaxprocs1", true, "unpinned layout: also run sfgate with GOMAXPROCS=1")
	fs.StringVar(&o.baseline, "baseline", "", "end to end: also run sfgate built at this git revision (rows \"sfgate@REV\"), to measure a change against it in the same run")
	fs.IntVar(&o.benchCount, "count", 5, "go test -count for the resolver benchmarks")
	fs.StringVar(&o.benchtime, "benchtime", "1s", "go test -benchtime for the resolver benchmarks")
	fs.IntVar(&o.hitOps, "hits", 2_000_000, "cache hits per timing loop")
	fs.IntVar(&o.missOps, "misses", 300, "misses and complaints per timing loop")
	fs.IntVar(&o.moves, "moves", 3, "failover: primary moves")
	fs.StringVar(&sizes, "scale", "1,1000,100000", "scale: partition counts to cache")
	fs.IntVar(&o.scaleKeys, "keys", 1_000_000, "scale: distinct keys resolved on the 4-partition service")
	fs.IntVar(&o.instrOps, "instructions", 2000, "instructions section: iterations of the shorter callgrind run (the longer runs 6×)")
	fs.DurationVar(&o.profile, "profile", 8*time.Second, "profile section: sample sfgate under wrk -c64 for this long (whole seconds)")
	fs.IntVar(&o.peerRounds, "peer-rounds", 5, "peers: interleaved rounds of the closed- and open-loop runs")
	fs.DurationVar(&o.peerDuration, "peer-duration", 4*time.Second, "peers: duration of each closed-loop (wrk) and open-loop run (whole seconds)")
	fs.IntVar(&o.peerConns, "peer-conns", 32, "peers: client connections of each run (wrk -t1 -cN; the open-loop generator's connections)")
	fs.IntVar(&o.idleConns, "idle-conns", 10000, "peers: idle keep-alive client connections held while each proxy's RSS is read")
	fs.BoolVar(&o.verbose, "v", true, "log progress to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q (flags only; see -h)", fs.Args())
	}
	if o.smoke {
		// Tiny counts for every flag the command line did not set.
		smoke := map[string]func(){
			"reps": func() { o.reps = 1 }, "duration": func() { o.duration = time.Second },
			"warmup": func() { o.warmup = 0 }, "pause": func() { o.pause = 0 },
			"count": func() { o.benchCount = 1 }, "benchtime": func() { o.benchtime = "100x" },
			"hits": func() { o.hitOps = 20_000 }, "misses": func() { o.missOps = 10 }, "moves": func() { o.moves = 1 },
			"keys": func() { o.scaleKeys = 10_000 }, "profile": func() { o.profile = time.Second },
			"scale": func() { sizes = "1,100" }, "layouts": func() { layouts = "unpinned" },
			"gomaxprocs1": func() { o.gomaxprocs1 = false }, "instructions": func() { o.instrOps = 100 },
			"peer-rounds": func() { o.peerRounds = 1 }, "peer-duration": func() { o.peerDuration = time.Second },
			"idle-conns": func() { o.idleConns = 1000 },
		}
		for name, set := range smoke {
			if !flagSet(fs, name) {
				set()
			}
		}
	}
	o.sections = map[string]bool{}
	for _, s := range strings.Split(sections, ",") {
		s = strings.TrimSpace(s)
		if !strings.Contains(","+allSections+",", ","+s+",") {
			return o, fmt.Errorf("-sections: unknown section %q (known: %s)", s, allSections)
		}
		o.sections[s] = true
	}
	for _, l := range strings.Split(layouts, ",") {
		switch strings.TrimSpace(l) {
		case "unpinned":
			o.layouts = append(o.layouts, unpinned)
		case "pinned":
			o.layouts = append(o.layouts, pinned)
		default:
			return o, fmt.Errorf("-layouts: unknown layout %q (unpinned, pinned)", l)
		}
	}
	var err error
	if o.conns, err = intList("conns", conns); err != nil {
		return o, err
	}
	if o.scaleSizes, err = intList("scale", sizes); err != nil {
		return o, err
	}
	if o.reps < 1 || o.duration < time.Second || o.benchCount < 1 || o.hitOps < 1 || o.missOps < 1 || o.moves < 1 || o.scaleKeys < 1 || o.instrOps < 1 ||
		o.peerRounds < 1 || o.peerDuration < time.Second || o.peerConns < 1 || o.idleConns < 1 {
		return o, fmt.Errorf("-reps, -count, -hits, -misses, -moves, -keys, -instructions, -peer-rounds, -peer-conns and -idle-conns must be at least 1, -duration and -peer-duration at least 1s")
	}
	return o, nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func intList(name, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-%s: %q is not a positive integer", name, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(args []string) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &harness{opts: o}
	if h.root, err = moduleRoot(); err != nil {
		return err
	}
	if h.dir, err = os.MkdirTemp("", "sfgate-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(h.dir)
	rep, err := h.runAll(ctx, args)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	rep.markdown(&buf)
	if err := appendTuningLog(&buf, h.root); err != nil {
		return err
	}
	os.Stdout.Write(buf.Bytes())
	if o.out != "" {
		if err := os.WriteFile(o.out, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", o.out, err)
		}
		h.logf("wrote %s", o.out)
	}
	return nil
}

// runAll runs the selected sections in order and collects the report. A section that cannot run (missing
// tool, sfgate not building) becomes a note, never a failure of the whole run.
func (h *harness) runAll(ctx context.Context, args []string) (*report, error) {
	start := time.Now()
	rep := &report{Machine: machineFacts(h.root), Args: args}
	needSfgate := h.opts.sections["e2e"] || h.opts.sections["peers"] || h.opts.sections["failover"] || h.opts.sections["profile"]
	if needSfgate {
		h.logf("building sfgate")
		h.sfgateBin, h.sfgateErr = buildSfgate(ctx, h.root, h.dir)
	}
	if h.opts.baseline != "" && h.opts.sections["e2e"] {
		h.logf("building sfgate at %s", h.opts.baseline)
		h.baselineBin, h.baselineErr = buildBaseline(ctx, h.root, h.dir, h.opts.baseline)
	}
	if h.opts.sections["resolve"] {
		tables, sum := h.resolveSection(ctx)
		rep.Sections = append(rep.Sections, tables...)
		rep.Summary = append(rep.Summary, sum...)
	}
	if h.opts.sections["instructions"] {
		t, sum := h.instructionsSection(ctx)
		rep.Sections = append(rep.Sections, t)
		rep.Summary = append(rep.Summary, sum...)
	}
	if h.opts.sections["e2e"] {
		t, sum := h.e2eSection(ctx)
		rep.Sections = append(rep.Sections, t)
		rep.Summary = append(rep.Summary, sum...)
	}
	if h.opts.sections["peers"] {
		h.logf("peers")
		tables, sum := h.peersSection(ctx)
		rep.Sections = append(rep.Sections, tables...)
		rep.Summary = append(rep.Summary, sum...)
	}
	if h.opts.sections["profile"] && h.opts.profile > 0 {
		h.logf("profiling sfgate")
		rep.Sections = append(rep.Sections, h.profileSfgate(ctx))
	}
	if h.opts.sections["failover"] {
		h.logf("failover")
		t, sum := h.failover(ctx)
		rep.Sections = append(rep.Sections, t)
		rep.Summary = append(rep.Summary, sum...)
	}
	if h.opts.sections["scale"] {
		h.logf("scale")
		tables, sum := h.scale(ctx)
		rep.Sections = append(rep.Sections, tables...)
		rep.Summary = append(rep.Summary, sum...)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep.Elapsed = time.Since(start)
	rep.LoadEnd = loadAverage()
	return rep, nil
}

func (h *harness) logf(format string, args ...any) {
	if h.opts.verbose {
		fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

// moduleRoot is the directory of the go.mod this program belongs to (go run ./bench from anywhere inside it).
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run inside the sfgate module (go env GOMOD is empty)")
	}
	return filepath.Dir(mod), nil
}

// tuningLogFile is the hand-kept log of the performance changes (what each bought, measured when it was made,
// with its commands). The report ends with it, so that bench/RESULTS.md keeps it when a run rewrites the file.
const tuningLogFile = "bench/TUNING.md"

// appendTuningLog appends tuningLogFile of the repository at root to buf; a missing file adds nothing.
func appendTuningLog(buf *bytes.Buffer, root string) error {
	b, err := os.ReadFile(filepath.Join(root, tuningLogFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	buf.WriteString("\n")
	buf.Write(b)
	return nil
}
