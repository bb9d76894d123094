package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// haproxyPeerConf is haproxy doing what sfgate does for the peers section's request (bench/peers.go): one
// thread, keep-alive on both sides, the API path /shop replaced by the replica's base path, and the five
// headers sfgate adds (X-Request-Id a UUID, as sfgate's). maxconn admits the idle connections of the RSS
// measurement. haproxy wants 2 × maxconn file descriptors (a backend connection for every client one) and by
// default refuses to start below that; "no strict-limits" lets it start with a warning under a hard limit of
// 20,000, which the idle connections (one descriptor each, few backend connections) stay well within.
const haproxyPeerConf = `global
    nbthread 1
    maxconn %[4]d
    no strict-limits
defaults
    mode http
    timeout connect 5s
    timeout client 90s
    timeout server 60s
    timeout http-keep-alive 90s
    option http-keep-alive
    http-reuse always
frontend fe
    bind %[1]s
    http-request set-header X-Forwarded-For %%[src]
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Host %%[req.hdr(host)]
    http-request set-header X-Forwarded-Prefix /shop
    http-request set-header X-Request-Id %%[uuid]
    http-request replace-path ^/shop(/.*)$ %[3]s\1
    default_backend primary
backend primary
    server primary %[2]s maxconn 1000
`

// haproxyVersion is "HAProxy <version>" from `haproxy -v`, or why there is none.
func haproxyVersion() string {
	return parseHaproxyVersion(toolVersion("haproxy", "apt-get install haproxy", "-v"))
}

// parseHaproxyVersion shortens haproxy -v's first line, "HAProxy version 2.6.12-1+deb12u4 2026/10/17 -
// https://haproxy.org/", to "HAProxy 2.6.12-1+deb12u4"; any other line is returned as it is.
func parseHaproxyVersion(line string) string {
	f := strings.Fields(line)
	if len(f) >= 3 && f[0] == "HAProxy" && f[1] == "version" {
		return "HAProxy " + f[2]
	}
	return line
}

// startHaproxyPeer runs haproxy in the foreground (-db: one process) as the peers section's proxy in front of
// replica (the primary's base URL), able to hold maxConns client connections.
func startHaproxyPeer(ctx context.Context, dir, replica string, maxConns int) (*proc, string, error) {
	path, err := lookTool("haproxy", "apt-get install haproxy")
	if err != nil {
		return nil, "", err
	}
	u, addr, err := peerListen(replica)
	if err != nil {
		return nil, "", err
	}
	conf := filepath.Join(dir, "haproxy.cfg")
	text := fmt.Sprintf(haproxyPeerConf, addr, u.Host, u.Path, maxConns)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, "", err
	}
	p, err := startProc("haproxy", "", nil, path, "-db", "-f", conf)
	if err != nil {
		return nil, "", err
	}
	if err := waitListening(ctx, p, []string{addr}, 10*time.Second); err != nil {
		return nil, "", err
	}
	return p, addr, nil
}
