package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sfgate/sfgate/internal/buildinfo"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestValidateGoodConfigs(t *testing.T) {
	t.Setenv("SFGATE_ADMIN_TOKEN", "example-admin-token") // examples/internet-facing.yaml reads it
	examples, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, path := range append(examples, "demo.yaml") {
		code, out, errOut := runCmd(t, "validate", "--config", path)
		if code != 0 || !strings.Contains(out, "OK") {
			t.Errorf("validate %s: exit %d\n%s%s", path, code, out, errOut)
		}
	}
}

func TestValidateBadConfig(t *testing.T) {
	dir := t.TempDir()
	bad := `listen: 127.0.0.1:8080
backends:
  orders:
    url: fabric:/Shop/Orders
    serviceFabricCluster:
      managementEndpoints: [http://127.0.0.1:19080]
      maxPartitionResolutionRetries: 50
apis:
  - name: shop
    path: shop
    policies: |
      <policies>
        <inbound>
          <set-backend-service backend-id="ordres" sf-partition-key="@(context.Request.Url.Query.GetValueOrDefault("customer","")" />
        </inbound>
      </policies>
    operations:
      - {name: x, method: GET, urlTemplate: "/orders/{id}/{id}"}
      - {name: y, method: GET, urlTemplat: /y}
`
	path := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, "validate", "--config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	// Structural errors are found first, each with file:line:col.
	for _, want := range []string{
		path + `:7:7: backends.orders.serviceFabricCluster.maxPartitionResolutionRetries: 50 is outside 0..10`,
		path + `:19:32: apis[0].operations[1]: unknown field "urlTemplat"; did you mean "urlTemplate"?`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing %q in:\n%s", want, errOut)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if !regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:\d+(:\d+)?: |^\d+ error\(s\)$`).MatchString(line) {
			t.Errorf("error line without file:line: %q", line)
		}
	}

	// With the structure fixed, policy and template errors are reported against the lines of the inline XML.
	fixed := strings.Replace(strings.Replace(bad, "maxPartitionResolutionRetries: 50", "maxPartitionResolutionRetries: 5", 1), "urlTemplat:", "urlTemplate:", 1)
	if err := os.WriteFile(path, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCmd(t, "validate", "--config", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{path + ":14:", path + ":18:"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("missing an error at %s in:\n%s", want, errOut)
		}
	}
}

func TestValidateMissingFile(t *testing.T) {
	code, _, errOut := runCmd(t, "validate", "--config", filepath.Join(t.TempDir(), "none.yaml"))
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, errOut := runCmd(t, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The demo starts a fake cluster and a gateway, prints curl lines, and the first of them routes by partition.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	stdout := &syncBuffer{}
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--fakesf", "127.0.0.1:0"}, stdout, stderr)
	}()
	curl := regexp.MustCompile(`curl -s '(http://[^']+/orders/api/orders\?customer=42)'`)
	deadline := time.Now().Add(30 * time.Second)
	var m []string
	for m == nil && time.Now().Before(deadline) {
		select {
		case code := <-done:
			t.Fatalf("demo exited early with %d\n%s\n%s", code, stdout.String(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		m = curl.FindStringSubmatch(stdout.String())
	}
	if m == nil {
		t.Fatalf("demo printed no curl line:\n%s\n%s", stdout.String(), stderr.String())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var answer struct{ Service, PartitionID, Role, Node string }
	if resp.StatusCode != 200 || json.Unmarshal(body, &answer) != nil || answer.Service != "fabric:/Shop/Orders" || answer.Role != "primary" {
		t.Fatalf("demo curl: %d %s", resp.StatusCode, body)
	}
	// The printed failover lines work: move the primary, ask again, another node answers.
	move := regexp.MustCompile(`curl -s -X POST '([^']+)'`).FindStringSubmatch(stdout.String())
	if move == nil {
		t.Fatalf("no failover line in:\n%s", stdout.String())
	}
	mresp, err := http.Post(move[1], "", nil)
	if err != nil {
		t.Fatal(err)
	}
	mresp.Body.Close()
	if mresp.StatusCode != 200 {
		t.Fatalf("MovePrimaryReplica: %d", mresp.StatusCode)
	}
	resp, err = http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var after struct{ Role, Node string }
	if resp.StatusCode != 200 || json.Unmarshal(body, &after) != nil || after.Role != "primary" || after.Node == answer.Node {
		t.Errorf("after the move: %d %s (before: node %s)", resp.StatusCode, body, answer.Node)
	}
	for _, want := range []string{"MovePrimaryReplica", "/debug/resolve", "customer=900", "X-Listener: Admin"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo exit %d\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop after cancel")
	}
}

// `sfgate --config FILE` (run is the default command) serves; SIGHUP reloads the file, keeping the running
// configuration when the new one is bad; cancelling stops it.
func TestRunAndReloadOnSIGHUP(t *testing.T) {
	backend := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	})}
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go backend.Serve(bl)
	defer backend.Close()

	dir := t.TempDir()
	path := filepath.Join(dir, "sfgate.yaml")
	write := func(text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := func(base string) string {
		return "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\ndrainDelay: 0s\napis:\n  - {name: a, path: a, serviceUrl: \"http://" + bl.Addr().String() + base + "\"}\n"
	}
	write(conf("/one/"))
	ctx, cancel := context.WithCancel(t.Context())
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"--config", path}, io.Discard, stderr) }()
	addrRe := regexp.MustCompile(`msg="sfgate listening" addr=(\S+)`)
	var addr string
	waitOutput(t, done, stderr, func(s string) bool {
		if m := addrRe.FindStringSubmatch(s); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	get := func() string {
		resp, err := http.Get("http://" + addr + "/a/x")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get(); got != "/one/x" {
		t.Fatalf("before reload: %q", got)
	}
	write("apis: [{name: a, path: a, serviceUrl: nope}]\n")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitOutput(t, done, stderr, func(s string) bool { return strings.Contains(s, "reload rejected") })
	if got := get(); got != "/one/x" {
		t.Errorf("after a bad reload: %q", got)
	}
	write(conf("/two/"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitOutput(t, done, stderr, func(s string) bool { return strings.Contains(s, "configuration reloaded") })
	if got := get(); got != "/two/x" {
		t.Errorf("after a good reload: %q", got)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
}

// waitOutput waits until cond holds for the command's output so far, failing if the command exits first
// (its result, put back on done, is an exit status or an error).
func waitOutput[T any](t *testing.T, done chan T, out *syncBuffer, cond func(string) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond(out.String()) {
		select {
		case res := <-done:
			done <- res
			t.Fatalf("command exited with %v:\n%s", res, out.String())
		case <-deadline:
			t.Fatalf("timed out; output:\n%s", out.String())
		case <-tick.C:
		}
	}
}

// No argument, -h, --help and help list every command with its line and exit 0; so does every command's -h.
func TestHelpListsEveryCommand(t *testing.T) {
	for _, args := range [][]string{nil, {"-h"}, {"--help"}, {"help"}} {
		code, out, errOut := runCmd(t, args...)
		if code != 0 {
			t.Errorf("sfgate %q: exit %d: %s", args, code, errOut)
		}
		for _, c := range commands {
			if !regexp.MustCompile(`(?m)^  ` + c.name + `\b.*\s{2}` + regexp.QuoteMeta(c.summary) + `$`).MatchString(out) {
				t.Errorf("sfgate %q: no line for %q in:\n%s", args, c.name, out)
			}
		}
	}
	for _, c := range commands {
		code, out, errOut := runCmd(t, c.name, "-h")
		if code != 0 || !strings.Contains(out+errOut, "usage: sfgate "+c.name) && c.name != "help" {
			t.Errorf("sfgate %s -h: exit %d\n%s%s", c.name, code, out, errOut)
		}
		if code, _, errOut := runCmd(t, "help", c.name); code != 0 {
			t.Errorf("sfgate help %s: exit %d: %s", c.name, code, errOut)
		}
	}
	if code, _, errOut := runCmd(t, "run", "--bogus"); code != 2 || !strings.Contains(errOut, "-bogus") {
		t.Errorf("a bad flag: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "validate", "x.yaml"); code != 2 || !strings.Contains(errOut, "sfgate validate --config x.yaml") {
		t.Errorf("a file named without --config: exit %d, no hint: %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, "validate", "--config", "x.yaml", "extra"); code != 2 || !strings.Contains(errOut, "unexpected arguments") {
		t.Errorf("a stray argument: exit %d: %s", code, errOut)
	}
}

// version and --version print the module, the revision and the Go version from the binary's build info.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		code, out, errOut := runCmd(t, arg)
		if code != 0 || out != "sfgate "+buildinfo.Read().String()+"\n" || !strings.Contains(out, runtime.Version()) {
			t.Errorf("sfgate %s: exit %d %q %s", arg, code, out, errOut)
		}
	}
}
