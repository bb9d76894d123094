package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/sfgate/sfgate/fakesf"
)

// benchService is the service every end-to-end and failover figure uses: Int64Range over [0, 999999] in
// benchPartitions uniform partitions, 3 replicas each, one listener.
const (
	benchService    = "fabric:/Bench/Orders"
	benchPartitions = 4
	benchHighKey    = 999_999
	benchKey        = "7" // the fixed partition key of the load (partition 0)
)

// benchTopology is five nodes on 127.0.0.2..6 with fabric:/Bench/Orders, plus extra services (for the scale
// section) each with `partitions` single-replica partitions.
func benchTopology(extra ...fakesf.Service) fakesf.Topology {
	t := fakesf.Topology{}
	for i := range 5 {
		t.Nodes = append(t.Nodes, fakesf.Node{Name: fmt.Sprintf("_Node_%d", i), IP: fmt.Sprintf("127.0.0.%d", i+2)})
	}
	app := fakesf.Application{Name: "fabric:/Bench", Services: []fakesf.Service{{
		Name: benchService, Kind: fakesf.Stateful, Scheme: fakesf.Int64Range,
		Partitions: benchPartitions, LowKey: 0, HighKey: benchHighKey, Replicas: 3, HasPersistedState: true,
	}}}
	app.Services = append(app.Services, extra...)
	t.Applications = []fakesf.Application{app}
	return t
}

// scaleService is a service of n single-replica Int64Range partitions, keys [0, n-1] (one key per partition).
func scaleService(n int) fakesf.Service {
	return fakesf.Service{Name: "fabric:/Bench/Scale" + strconv.Itoa(n), Kind: fakesf.Stateful,
		Scheme: fakesf.Int64Range, Partitions: n, LowKey: 0, HighKey: int64(n - 1), Replicas: 1}
}

// serveFakesf is the child-process mode (-serve-fakesf ADDR): fakesf with benchTopology on ADDR until SIGTERM.
// The end-to-end section runs fakesf in its own process so that it can be pinned like the other servers.
func serveFakesf(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	c, err := fakesf.Start(ctx, benchTopology(), fakesf.WithListenAddr(addr))
	if err != nil {
		return err
	}
	fmt.Println("fakesf", c.URL())
	<-ctx.Done()
	return c.Close()
}

// fakesfState is the part of GET /_fake/state the harness reads.
type fakesfState struct {
	Services []struct {
		Name       string                  `json:"name"`
		Partitions []fakesf.PartitionState `json:"partitions"`
	} `json:"services"`
}

// fakesfProc is fakesf running as a child process.
type fakesfProc struct {
	*proc
	url string
}

// startFakesfProc re-executes this program in -serve-fakesf mode, pinned to cpus when set.
func startFakesfProc(ctx context.Context, cpus string) (*fakesfProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startProc("fakesf", cpus, nil, self, "-serve-fakesf", addr)
	if err != nil {
		return nil, err
	}
	f := &fakesfProc{proc: p, url: "http://" + addr}
	if err := waitHTTP(ctx, p, f.url+"/$/GetClusterVersion?api-version=6.4", 20*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return f, nil
}

// partitions reads the current state of benchService's partitions.
func (f *fakesfProc) partitions(ctx context.Context) ([]fakesf.PartitionState, error) {
	return fetchPartitions(ctx, f.url, benchService)
}

// fetchPartitions reads one service's partitions from fakesf's /_fake/state.
func fetchPartitions(ctx context.Context, base, service string) ([]fakesf.PartitionState, error) {
	status, body, err := get(ctx, base+"/_fake/state")
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("status %d: %.300s", status, body)
	}
	if err != nil {
		return nil, fmt.Errorf("fakesf state: %w", err)
	}
	var st fakesfState
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("fakesf state: %w", err)
	}
	for _, s := range st.Services {
		if s.Name == service {
			return s.Partitions, nil
		}
	}
	return nil, fmt.Errorf("fakesf state has no service %s", service)
}

// primaryURL is the URL of the primary of the partition that holds key 0 (benchKey's partition).
func primaryURL(parts []fakesf.PartitionState) (string, error) {
	if len(parts) == 0 {
		return "", fmt.Errorf("no partitions")
	}
	r, ok := parts[0].Primary()
	if !ok {
		return "", fmt.Errorf("partition %s has no primary", parts[0].ID)
	}
	u, ok := r.Endpoints[""]
	if !ok {
		return "", fmt.Errorf("primary %d of partition %s has no open listener", r.ID, parts[0].ID)
	}
	return u, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
