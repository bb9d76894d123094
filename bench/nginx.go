package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// nginxConf is nginx as a plain reverse proxy with upstream keep-alive, no access
// log, run in the foreground with its own prefix and temp directories. One server block (and port) per backend.
const nginxConf = `daemon off;
master_process on;
worker_processes %s;
worker_rlimit_nofile %[4]d;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections %[4]d; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  client_body_temp_path %[2]s/client_body;
  proxy_temp_path %[2]s/proxy;
  fastcgi_temp_path %[2]s/fastcgi;
  uwsgi_temp_path %[2]s/uwsgi;
  scgi_temp_path %[2]s/scgi;
%[3]s}
`

// nginxServer is one upstream and the server block in front of it.
const nginxServer = `  upstream backend%[1]d { server %[2]s; keepalive 128; keepalive_requests 1000000; }
  server {
    listen %[3]s reuseport;
    location / {
      proxy_pass http://backend%[1]d;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
`

// nginxPeerServer is nginx doing what sfgate does for the peers section's request (bench/peers.go): strip the
// API path /shop, send the rest to the partition's primary (the replica's base path prepended) over a
// keep-alive upstream, and add the five headers sfgate adds. $request_id is 32 random hex digits (sfgate's ID
// is a 36-character UUID).
const nginxPeerServer = `  upstream primary { server %[1]s; keepalive 128; keepalive_requests 1000000; }
  server {
    listen %[3]s reuseport;
    location /shop/ {
      proxy_pass http://primary%[2]s/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Prefix /shop;
      proxy_set_header X-Request-Id $request_id;
    }
  }
`

// nginxVersion is `nginx -v`'s answer, or why there is none.
func nginxVersion() string { return toolVersion("nginx", "apt-get install nginx-light", "-v") }

// startNginx writes the config into dir/nginx and starts nginx with one listener per backend base URL, pinned to
// cpus when set (then with one worker, since "auto" still starts one per online CPU under taskset). addrs[i]
// proxies to backends[i].
func startNginx(ctx context.Context, dir string, backends []string, cpus string) (p *proc, addrs []string, err error) {
	var servers strings.Builder
	for i, b := range backends {
		u, err := url.Parse(b)
		if err != nil {
			return nil, nil, fmt.Errorf("backend URL %q: %w", b, err)
		}
		addr, err := freeAddr()
		if err != nil {
			return nil, nil, err
		}
		addrs = append(addrs, addr)
		fmt.Fprintf(&servers, nginxServer, i, u.Host, addr)
	}
	workers := "auto"
	if cpus != "" {
		workers = "1"
	}
	p, err = runNginx(ctx, filepath.Join(dir, "nginx"), workers, servers.String(), addrs, cpus)
	return p, addrs, err
}

// startNginxPeer starts nginx with one worker as the peers section's proxy in front of replica (the primary's
// base URL, http://host:port/path).
func startNginxPeer(ctx context.Context, dir, replica string) (*proc, string, error) {
	u, addr, err := peerListen(replica)
	if err != nil {
		return nil, "", err
	}
	p, err := runNginx(ctx, filepath.Join(dir, "nginx-peer"), "1", fmt.Sprintf(nginxPeerServer, u.Host, u.Path, addr), []string{addr}, "")
	return p, addr, err
}

// runNginx writes nginx.conf with the given server blocks into prefix and runs nginx there until it answers
// on every address. Its file limit follows the harness's (raiseFileLimit), so it can hold the idle
// connections of the peers section.
func runNginx(ctx context.Context, prefix, workers, servers string, addrs []string, cpus string) (*proc, error) {
	path, err := lookTool("nginx", "apt-get install nginx-light")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, workers, prefix, servers, fileLimit())), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc("nginx", cpus, nil, path, "-p", prefix, "-e", filepath.Join(prefix, "error.log"), "-c", conf)
	if err != nil {
		return nil, err
	}
	if err := waitListening(ctx, p, addrs, 10*time.Second); err != nil {
		return nil, err
	}
	return p, nil
}
