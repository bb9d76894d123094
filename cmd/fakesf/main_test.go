package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// runMainEnv makes the test binary run fakesf's main instead of the tests (TestMain), so that the tests
// below start the real command as a separate process without building it first.
const runMainEnv = "FAKESF_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakesfCommand is the fakesf command with args, run as its own process (this test binary in main mode).
func fakesfCommand(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	topo := filepath.Join(t.TempDir(), "topo.yaml")
	if err := os.WriteFile(topo, []byte(`
nodes: [{name: n0, ip: 127.0.0.2}, {name: n1, ip: 127.0.0.3}]
applications:
  - name: fabric:/App
    services:
      - {name: fabric:/App/Svc, kind: Stateful, scheme: Named, names: [a, b], replicas: 2}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := fakesfCommand(t, "--listen", "127.0.0.1:0", "--topology", topo, "--stale-naming")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	var mgmt string
	replicas := 0
	for sc.Scan() {
		line := sc.Text()
		if u, ok := strings.CutPrefix(line, "management: "); ok {
			mgmt = u
		}
		if strings.HasPrefix(line, "replica: ") {
			replicas++
		}
		if line == "ready" {
			break
		}
	}
	if mgmt == "" || strings.HasSuffix(mgmt, ":0") || replicas != 4 {
		t.Fatalf("management URL %q, %d replica lines", mgmt, replicas)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(mgmt + "/Services/App~Svc/$/ResolvePartition?api-version=6.0&PartitionKeyType=3&PartitionKeyValue=b")
	if err != nil {
		t.Fatal(err)
	}
	var rsp struct {
		Name                 string
		PartitionInformation struct{ Name string }
	}
	err = json.NewDecoder(resp.Body).Decode(&rsp)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || rsp.Name != "fabric:/App/Svc" || rsp.PartitionInformation.Name != "b" {
		t.Fatalf("resolve via the binary: %d %+v %v", resp.StatusCode, rsp, err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() { // drain until the process closes stdout
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

func TestBinaryRejectsBadTopology(t *testing.T) {
	topo := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(topo, []byte("nodes:\n  - name: n0\n    colour: red\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := fakesfCommand(t, "--listen", "127.0.0.1:0", "--topology", topo).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "line 3") || !strings.Contains(string(out), `nodes[0].colour`) {
		t.Errorf("error lacks line and field: %s", out)
	}
	out, err = fakesfCommand(t, "--bogus").CombinedOutput()
	if err == nil {
		t.Errorf("unknown flag accepted: %s", out)
	}
}

// --version prints the module, the revision and the Go version from the binary's build info; -h is not an
// error.
func TestVersionAndHelpFlags(t *testing.T) {
	var out, errOut strings.Builder
	if err := run(t.Context(), []string{"--version"}, &out, &errOut); err != nil {
		t.Fatalf("--version: %v %s", err, errOut.String())
	}
	if got := out.String(); !strings.HasPrefix(got, "fakesf github.com/sfgate/sfgate ") || !strings.Contains(got, runtime.Version()) {
		t.Errorf("--version printed %q", got)
	}
	if err := run(t.Context(), []string{"-h"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut.String(), "-version") {
		t.Errorf("-h: %v, usage %q", err, errOut.String())
	}
}
