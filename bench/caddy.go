package main

import (
	"context"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// caddyVersionWanted is the Caddy release the peers section is written for (its Caddyfile syntax).
const caddyVersionWanted = "v2.11.9"

// caddyInstall says how to get Caddy.
const caddyInstall = "go install github.com/caddyserver/caddy/v2/cmd/caddy@" + caddyVersionWanted

// caddyPeerConf is Caddy doing what sfgate does for the peers section's request (bench/peers.go): the API path
// /shop stripped and the replica's base path put in front, reverse_proxy to the primary (which adds
// X-Forwarded-For, -Proto and -Host itself), plus X-Forwarded-Prefix and a UUID X-Request-Id. No admin
// endpoint, no automatic HTTPS, no access log, no saved config; GOMAXPROCS=1 comes from the environment.
const caddyPeerConf = `{
	admin off
	auto_https off
	persist_config off
}
http://%[1]s {
	handle_path /shop/* {
		rewrite * %[3]s{uri}
		reverse_proxy %[2]s {
			header_up X-Forwarded-Prefix /shop
			header_up X-Request-Id {http.request.uuid}
		}
	}
}
`

// caddyPath finds caddy on PATH or where go install puts it ($GOBIN, $GOPATH/bin).
func caddyPath() (string, error) {
	if p, err := exec.LookPath("caddy"); err == nil {
		return p, nil
	}
	for _, v := range []string{"GOBIN", "GOPATH"} {
		out, err := exec.Command("go", "env", v).Output()
		dir := strings.TrimSpace(string(out))
		if err != nil || dir == "" {
			continue
		}
		if v == "GOPATH" {
			dir = filepath.Join(filepath.SplitList(dir)[0], "bin")
		}
		if p := filepath.Join(dir, "caddy"); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("caddy %w (install: %s)", errMissingTool, caddyInstall)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// caddyVersion is the module version the caddy binary was built from (its Go build information: `caddy
// version` says "unknown" for a binary from go install), or why there is none.
func caddyVersion() string {
	p, err := caddyPath()
	if err != nil {
		return err.Error()
	}
	bi, err := buildinfo.ReadFile(p)
	if err != nil {
		return fmt.Sprintf("Caddy (version unknown: %v)", err)
	}
	return "Caddy " + bi.Main.Version + " (" + bi.GoVersion + ")"
}

// startCaddyPeer runs `caddy run` with GOMAXPROCS=1 as the peers section's proxy in front of replica (the
// primary's base URL). Caddy's data and config directories are kept inside dir.
func startCaddyPeer(ctx context.Context, dir, replica string) (*proc, string, error) {
	path, err := caddyPath()
	if err != nil {
		return nil, "", err
	}
	u, addr, err := peerListen(replica)
	if err != nil {
		return nil, "", err
	}
	home := filepath.Join(dir, "caddy")
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, "", err
	}
	conf := filepath.Join(home, "Caddyfile")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(caddyPeerConf, addr, u.Host, u.Path)), 0o644); err != nil {
		return nil, "", err
	}
	env := []string{"GOMAXPROCS=1", "HOME=" + home, "XDG_DATA_HOME=" + home, "XDG_CONFIG_HOME=" + home}
	p, err := startProc("caddy", "", env, path, "run", "--config", conf, "--adapter", "caddyfile")
	if err != nil {
		return nil, "", err
	}
	if err := waitListening(ctx, p, []string{addr}, 20*time.Second); err != nil {
		return nil, "", err
	}
	return p, addr, nil
}
