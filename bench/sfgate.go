package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sfgateConfig is the gateway configuration of the sfgate rows (bench/sfgate.yaml).
//
//go:embed sfgate.yaml
var sfgateConfig string

// buildSfgate builds ./cmd/sfgate of the module at root into dir.
func buildSfgate(ctx context.Context, root, dir string) (string, error) {
	return buildSfgateAs(ctx, root, filepath.Join(dir, "sfgate"))
}

// buildSfgateAs builds ./cmd/sfgate of the module at root as bin.
func buildSfgateAs(ctx context.Context, root, bin string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sfgate")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -o %s ./cmd/sfgate: %w\n%.3000s", bin, err, out)
	}
	return bin, nil
}

// sfgateProc is a running gateway.
type sfgateProc struct {
	*proc
	addr, admin string
	config      string // path of the config file it runs
}

// startSfgate writes bench/sfgate.yaml with free ports, the cluster and echo URLs and gomaxprocs (0 = Go's default)
// into dir and runs `sfgate run --config FILE`, pinned to cpus when set.
func startSfgate(ctx context.Context, bin, dir, clusterURL, echoURL string, gomaxprocs int, cpus string) (*sfgateProc, error) {
	if echoURL == "" {
		echoURL = "http://127.0.0.1:9/" // the echo API is not used in this run
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	text := os.Expand(sfgateConfig, func(name string) string {
		switch name {
		case "LISTEN":
			return addr
		case "ADMIN":
			return admin
		case "CLUSTER":
			return clusterURL
		case "ECHO":
			return echoURL
		case "GOMAXPROCS":
			return strconv.Itoa(gomaxprocs)
		}
		return "$" + name
	})
	conf := filepath.Join(dir, fmt.Sprintf("sfgate-%s.yaml", strings.ReplaceAll(addr, ":", "-")))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc("sfgate", cpus, nil, bin, "run", "--config", conf)
	if err != nil {
		return nil, err
	}
	g := &sfgateProc{proc: p, addr: addr, admin: admin, config: conf}
	if err := waitHTTP(ctx, p, "http://"+admin+"/readyz", 20*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return g, nil
}

// url is the client URL of a request routed by partition key.
func (g *sfgateProc) url(key string) string {
	return "http://" + g.addr + "/shop/orders?customer=" + key
}

// buildBaseline builds ./cmd/sfgate at the git revision ref of the repository at root (a temporary git
// worktree in dir), so that a change can be compared with it in the same run (-baseline).
func buildBaseline(ctx context.Context, root, dir, ref string) (string, error) {
	tree := filepath.Join(dir, "baseline-tree")
	add := exec.CommandContext(ctx, "git", "-C", root, "worktree", "add", "--detach", tree, ref)
	if out, err := add.CombinedOutput(); err != nil {
		return "", fmt.Errorf("git worktree add %s %s: %w\n%s", tree, ref, err, out)
	}
	defer exec.Command("git", "-C", root, "worktree", "remove", "--force", tree).Run()
	return buildSfgateAs(ctx, tree, filepath.Join(dir, "sfgate-baseline"))
}
