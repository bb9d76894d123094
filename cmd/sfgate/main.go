// Command sfgate is the Service Fabric API gateway.
//
//	sfgate [run] --config FILE       serve (run is the default when the first argument is a flag)
//	sfgate validate --config FILE    load and compile a configuration; print every error with file:line
//	sfgate demo                      embedded fake cluster + gateway + curl lines to try
//	sfgate resolve --cluster URL …   resolve one service partition (like sfctl service resolve)
//	sfgate import --arm FILE …       a configuration from an API Management ARM template
//	sfgate version                   module version, VCS revision and Go version (also --version)
//	sfgate help [command]            the commands (also no argument, -h, --help), or one command's flags
//
// It only turns flags into options and wires packages together; the gateway package does the work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/sfgate/sfgate/gateway"
	"github.com/sfgate/sfgate/gateway/config"
	"github.com/sfgate/sfgate/internal/buildinfo"
)

// command is one subcommand: its name, its arguments and one line about it for "sfgate help".
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands lists every subcommand in the order "sfgate help" shows them (set in init: the commands' flag
// sets read it for their -h).
var commands []command

func init() {
	commands = []command{
		{"run", "--config FILE", "serve client requests (the default: \"sfgate --config FILE\" is \"sfgate run --config FILE\")", runServe},
		{"validate", "--config FILE", "load and compile a configuration; exit 1 listing every error with file:line", runValidate},
		{"demo", "", "start a fake Service Fabric cluster and a gateway in front of it, print curl lines to try", runDemo},
		{"resolve", "--cluster URL fabric:/App/Svc", "resolve one service partition through the cluster's naming service", runResolve},
		{"import", "--arm template.json [--parameters params.json] [-o sfgate.yaml]", "write a configuration from an API Management ARM template; list what it could not carry over", runImport},
		{"version", "", "print the module version, VCS revision and Go version of this binary", runVersion},
		{"help", "[command]", "list the commands, or show the flags of one", runHelp},
	}
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "usage: sfgate <command> [flags]\n\nCommands:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, "\nRun \"sfgate <command> -h\" for the flags of a command.\n")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line; it returns the process exit status (0 ok, 1 failure, 2 bad usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stdout)
		return 0
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printUsage(stdout)
		return 0
	case "-version", "--version":
		return runVersion(ctx, args[1:], stdout, stderr)
	}
	if strings.HasPrefix(args[0], "-") {
		return runServe(ctx, args, stdout, stderr) // "sfgate --config FILE" is "sfgate run --config FILE"
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "sfgate: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

// runHelp implements "sfgate help [command]".
func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		return 0
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "sfgate help: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return 2
	}
	return c.run(ctx, []string{"-h"}, stdout, stderr)
}

// runVersion implements "sfgate version" and "sfgate --version".
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fmt.Fprintln(stdout, "sfgate", buildinfo.Read())
	return 0
}

// newFlagSet returns the flag set of a subcommand; its -h prints the command's line from the table and the
// flags.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sfgate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		c := lookup(name)
		fmt.Fprintf(stderr, "usage: sfgate %s\n\n%s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprint(stderr, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses a subcommand's flags and accepts no positional arguments. When ok is false the command
// returns code: 0 after -h, 2 after a bad flag or argument.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		hint := ""
		if fs.Lookup("config") != nil {
			hint = fmt.Sprintf(" (name the configuration file with --config, e.g. sfgate %s --config %s)", fs.Name(), fs.Arg(0))
		}
		fmt.Fprintf(fs.Output(), "%s: unexpected arguments %q%s\n", fs.Name(), fs.Args(), hint)
		return 2, false
	}
	return 0, true
}

func configFlag(name string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := newFlagSet(name, stderr)
	path := fs.String("config", "sfgate.yaml", "configuration file (YAML)")
	return fs, path
}

// runValidate loads and compiles a configuration and prints every problem, one per line, as file:line:col.
func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs, path := configFlag("validate", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cfg, err := config.Load(*path)
	if err == nil {
		err = gateway.Validate(cfg)
	}
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	rp := ""
	if cfg.ReverseProxy != nil {
		rp = ", reverse proxy on " + cfg.ReverseProxy.Path
	}
	fmt.Fprintf(stdout, "%s: OK (%d APIs, %d backends%s)\n", *path, len(cfg.APIs), len(cfg.Backends), rp)
	return 0
}

func printConfigError(w io.Writer, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e.Error())
		}
		fmt.Fprintf(w, "%d error(s)\n", len(errs))
		return
	}
	fmt.Fprintln(w, err)
}

// runServe serves with the configuration file until ctx ends (SIGINT, SIGTERM); SIGHUP reloads the file.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, path := configFlag("run", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	loader := new(config.Loader) // kept for reloads: its Key Vault client remembers the last good values
	cfg, err := loader.Load(ctx, *path)
	if err != nil {
		printConfigError(stderr, err)
		if errors.Is(err, os.ErrNotExist) {
			fmt.Fprintln(stderr, "(give a configuration with --config FILE, or try `sfgate demo`)")
		}
		return 1
	}
	done := make(chan struct{})
	defer close(done)
	ctl := control{reload: notifyChan(done, syscall.SIGHUP), hurry: secondSignal(done), loader: loader}
	if err := serve(ctx, cfg, ctl, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "sfgate:", err)
		return 1
	}
	return 0
}

// notifyChan returns a channel that receives a value for each of the signals (bursts coalesce) until done
// closes.
func notifyChan(done <-chan struct{}, sigs ...os.Signal) <-chan struct{} {
	in := make(chan os.Signal, 1)
	signal.Notify(in, sigs...)
	out := make(chan struct{}, 1)
	go func() {
		defer signal.Stop(in)
		for {
			select {
			case <-in:
				select {
				case out <- struct{}{}:
				default:
				}
			case <-done:
				return
			}
		}
	}()
	return out
}

// secondSignal returns a channel closed on the second SIGINT or SIGTERM before done closes (the first
// starts the drain, through main's context).
func secondSignal(done <-chan struct{}) <-chan struct{} {
	stops := notifyChan(done, os.Interrupt, syscall.SIGTERM)
	second := make(chan struct{})
	go func() {
		for range 2 {
			select {
			case <-stops:
			case <-done:
				return
			}
		}
		close(second)
	}()
	return second
}

// control is what, besides the end of the context (which drains and stops), acts on a running gateway.
type control struct {
	reload   <-chan struct{}  // re-read the configuration file (SIGHUP); nil: never
	refresh  <-chan time.Time // fetch the Key Vault named values again; nil: every keyVaultRefresh of the configuration
	hurry    <-chan struct{}  // closed: end the drain delay at once (a second SIGINT/SIGTERM); nil: never
	onListen listening        // told the bound addresses (tests and demo); nil: nobody
	loader   *config.Loader   // loaded the file and loads it on reload (Key Vault's last good values kept); serve sets its Log; nil: a new one
}

// listening is told the bound addresses once the gateway accepts connections ("" for a listener that is off).
type listening func(gatewayAddr, adminAddr, healthAddr string)

// serve runs a gateway for cfg until ctx ends, then drains (cfg.DrainDelay: /readyz answers 503 while the
// listener still accepts), closes the listener and lets in-flight requests finish within cfg.ShutdownTimeout.
// Each value on ctl.reload re-reads cfg.File; a bad file is logged and the running configuration kept. Each
// value on ctl.refresh fetches the Key Vault named values again and, when one changed, reloads the gateway with them.
func serve(ctx context.Context, cfg *config.Config, ctl control, stdout, stderr io.Writer) error {
	logger, logSettings := newLogger(cfg.Log, stderr)
	if cfg.GOMAXPROCS > 0 {
		runtime.GOMAXPROCS(cfg.GOMAXPROCS)
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: logger})
	if err != nil {
		printConfigError(stderr, err)
		return errors.New("configuration rejected")
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		g.Shutdown(context.Background())
		return fmt.Errorf("listen: %w", err)
	}
	errc := make(chan error, 3)
	go func() { errc <- g.Serve(ln) }()
	side := []struct {
		name, addr string
		serve      func(net.Listener) error
		bound      string
	}{{"admin", cfg.Admin, g.ServeAdmin, ""}, {"health", cfg.Health, g.ServeHealth, ""}}
	for i := range side {
		if side[i].addr == "" {
			continue
		}
		l, err := net.Listen("tcp", side[i].addr)
		if err != nil {
			g.Shutdown(context.Background())
			return fmt.Errorf("%s listen: %w", side[i].name, err)
		}
		side[i].bound = l.Addr().String()
		serveSide := side[i].serve
		go func() { errc <- serveSide(l) }()
	}
	adminAddr, healthAddr := side[0].bound, side[1].bound
	logger.Info("sfgate listening", "addr", ln.Addr().String(), "admin", adminAddr, "health", healthAddr, "config", cfg.File,
		"version", buildinfo.Read().String())
	if ctl.onListen != nil {
		ctl.onListen(ln.Addr().String(), adminAddr, healthAddr)
	}
	loader := ctl.loader
	if loader == nil {
		loader = new(config.Loader)
	}
	loader.Log = logger
	current := cfg // the last configuration that loaded: its log, drainDelay and shutdownTimeout apply
	refresh, every := ctl.refresh, func(time.Duration) {}
	if refresh == nil {
		tick := time.NewTicker(config.DefaultKeyVaultRefresh)
		defer tick.Stop()
		refresh = tick.C
		every = func(d time.Duration) {
			if d > 0 {
				tick.Reset(d)
			}
		}
		every(cfg.KeyVaultRefresh)
	}
	for {
		select {
		case <-ctx.Done():
			return drain(g, current, ctl.hurry, logger)
		case <-refresh:
			next, changed := loader.RefreshKeyVault(ctx, current)
			if next == nil {
				continue
			}
			if err := g.Reload(next); err != nil { // the same path as SIGHUP: compile with the new values, then swap
				logger.Error("Key Vault values changed but the configuration with them was rejected; the running one stays",
					"namedValues", changed, "error", err.Error())
				continue
			}
			logger.Info("Key Vault named values refreshed", "namedValues", changed)
			current = next
		case err := <-errc:
			if err != nil {
				g.Shutdown(context.Background())
				return err
			}
		case <-ctl.reload:
			next, err := loader.Load(ctx, cfg.File)
			if err == nil {
				err = g.Reload(next)
			}
			if err != nil {
				logger.Error("reload rejected; the running configuration stays", "file", cfg.File, "error", err.Error())
				continue
			}
			every(next.KeyVaultRefresh)
			logSettings.apply(next.Log)
			logger.Info("log settings applied", "level", logSettings.level.Level().String(), "format", logSettings.format(),
				"access", next.Log.AccessLog())
			current = next
			if restart := restartOnly(cfg, next); len(restart) > 0 {
				logger.Warn("these changes take effect after a restart", "fields", strings.Join(restart, ", "))
			}
		}
	}
}

// restartOnly names the settings that differ between the configuration the process started with (cfg) and
// next and that a reload does not apply (the other limits do: config.Limits.RestartOnly).
func restartOnly(cfg, next *config.Config) []string {
	var out []string
	for _, f := range []struct {
		name    string
		changed bool
	}{
		{"listen", next.Listen != cfg.Listen}, {"admin", next.Admin != cfg.Admin},
		{"health", next.Health != cfg.Health}, {"gomaxprocs", next.GOMAXPROCS != cfg.GOMAXPROCS},
	} {
		if f.changed {
			out = append(out, f.name)
		}
	}
	return append(out, cfg.Limits.RestartOnly(next.Limits)...)
}

// drain stops g gracefully: /readyz turns 503 at once, the listener keeps accepting for cfg.DrainDelay (or
// until hurry closes), then closes, and requests in flight get cfg.ShutdownTimeout to finish.
func drain(g *gateway.Gateway, cfg *config.Config, hurry <-chan struct{}, logger *slog.Logger) error {
	g.Drain()
	var delay time.Duration
	if cfg.DrainDelay != nil {
		delay = *cfg.DrainDelay
	}
	if delay > 0 {
		logger.Info("draining: /readyz answers 503, still accepting connections", "drainDelay", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-hurry:
			t.Stop()
			logger.Info("second stop signal: ending the drain delay")
		}
	}
	logger.Info("shutting down: listener closed, waiting for in-flight requests", "shutdownTimeout", cfg.ShutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		logger.Warn("stopped before every in-flight request finished", "error", err)
		return fmt.Errorf("shutdown: requests still in flight after shutdownTimeout %s: %w", cfg.ShutdownTimeout, err)
	}
	logger.Info("stopped")
	return nil
}
