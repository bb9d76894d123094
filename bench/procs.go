package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a server process the harness started (optionally under taskset). It is stopped by its PID.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error // Wait's result, valid after done
}

// startProc starts args (prefixed with `taskset -c cpus` when cpus is set) with extra environment variables.
// taskset execs the program, so the PID is the server's own.
func startProc(name, cpus string, env []string, args ...string) (*proc, error) {
	if cpus != "" {
		args = append([]string{"taskset", "-c", cpus}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{name: name, cmd: cmd, out: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, strings.Join(args, " "), err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the process ID.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports an early exit with the process's last output.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.out.String())
	default:
		return nil
	}
}

// stop sends SIGTERM, waits up to 10 s, then SIGKILL.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tree is the process and its direct children (nginx's workers): their PIDs, read from /proc.
func (p *proc) tree() []int {
	pid := p.pid()
	pids := []int{pid}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		if kids, err := parseChildren(b); err == nil {
			pids = append(pids, kids...)
		}
	}
	return pids
}

// cpuTime is the user+system CPU time of the process and of its direct children, from /proc/<pid>/stat
// (a process that is gone counts 0). Resolution: one clock tick (10 ms).
func (p *proc) cpuTime() time.Duration {
	var total time.Duration
	for _, pid := range p.tree() {
		if s, err := readProcStat(pid); err == nil {
			total += s.CPU()
		}
	}
	return total
}

// rss is the resident set size of the process and of its direct children, in bytes (pages they share, such
// as nginx's master's and worker's code, count once per process).
func (p *proc) rss() (int64, error) {
	var total int64
	for _, pid := range p.tree() {
		s, err := readProcStat(pid)
		if err != nil {
			return 0, err
		}
		total += s.RSS()
	}
	return total, nil
}

// waitHTTP polls url until it answers with a status below 500, the process exits, or timeout passes.
func waitHTTP(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if err := p.exited(); err != nil {
			return err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer %s within %v (last: %v)\n%s", p.name, url, timeout, last, p.out.String())
		case <-tick.C:
		}
	}
}

// get sends one GET and returns the status and (up to 64 MiB of) the body.
func get(ctx context.Context, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, body, err
}

// waitListening waits until every address answers HTTP on "/" (any status: the upstream behind a proxy may
// well answer 404) and stops p when one does not within timeout.
func waitListening(ctx context.Context, p *proc, addrs []string, timeout time.Duration) error {
	for _, addr := range addrs {
		if err := waitHTTP(ctx, p, "http://"+addr+"/", timeout); err != nil {
			p.stop()
			return err
		}
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// errMissingTool marks a row skipped because a program is not installed.
var errMissingTool = errors.New("not installed")

// lookTool finds a program or explains how to install it.
func lookTool(name, install string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s %w (install: %s)", name, errMissingTool, install)
	}
	return path, nil
}

// toolVersion is the first line of what `name flag` prints, or why the tool is missing.
func toolVersion(name, install, flag string) string {
	path, err := lookTool(name, install)
	if err != nil {
		return err.Error()
	}
	out, _ := exec.Command(path, flag).CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
