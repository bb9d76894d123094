package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sfgate/sfgate/fakesf"
	"github.com/sfgate/sfgate/internal/fakesftest"
)

// largeStreamsEnv runs TestTwoGiBStreams (it moves 8 GiB through loopback: about 30 s).
const largeStreamsEnv = "SFGATE_LARGE_STREAMS"

// TestTwoGiBStreams (SFGATE_LARGE_STREAMS=1): through each of streamTargets (a policy route and the reverse
// proxy), a 2 GiB upload and a 2 GiB download each grow the resident memory of the process by less than 64 MiB
// at their peak. The peak (VmHWM) is reset to the current resident memory before each transfer
// (/proc/self/clear_refs), so a higher peak earlier in the test process cannot hide growth. The process holds
// the gateway, the fakesf replica and the client, so the figure bounds the gateway's own growth. It logs the
// figures docs/operations.md quotes (go test -v).
func TestTwoGiBStreams(t *testing.T) {
	if os.Getenv(largeStreamsEnv) != "1" {
		t.Skip("moves 8 GiB: set " + largeStreamsEnv + "=1 to run it")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("skipped, because the peak resident memory is read from /proc/self/status (Linux): ", err)
	}
	if err := resetPeakRSS(); err != nil {
		t.Skip("skipped, because the peak resident memory cannot be reset (writing 5 to /proc/self/clear_refs, Linux 4.0 or later): ", err)
	}
	c := fakesftest.Start(t)
	g := startGateway(t, streamBothConfig, c)
	const size, limit = 2 << 30, 64 << 20
	for _, tc := range streamTargets {
		streamDownload(t, g.addr, tc.target, 1<<20) // connections, pools and buffers in place
		up := measurePeak(t, func() {
			rr, sent := streamUpload(t, g.addr, tc.target, size)
			if rr.BodyLength != size || rr.BodySHA256 != sent {
				t.Errorf("%s upload: the replica read %d bytes (sha %s), %d sent (sha %s)", tc.mode, rr.BodyLength, rr.BodySHA256, size, sent)
			}
		})
		down := measurePeak(t, func() {
			if n, err := streamDownload(t, g.addr, tc.target, size); err != nil || n != size {
				t.Errorf("%s download: %d of %d bytes: %v", tc.mode, n, size, err)
			}
		})
		for _, m := range []struct {
			what string
			peak
		}{{"upload", up}, {"download", down}} {
			t.Logf("%s, 2 GiB %s: %.1f s, resident %.1f MiB → peak %.1f MiB (+%.1f MiB)", tc.mode, m.what, m.took.Seconds(),
				mib(m.before), mib(m.after), mib(m.after-m.before))
			if m.after-m.before >= limit {
				t.Errorf("%s, 2 GiB %s: the resident memory grew by %d MiB at its peak; want less than %d MiB", tc.mode, m.what,
					(m.after-m.before)>>20, limit>>20)
			}
		}
	}
}

// peak is what measurePeak measured: the resident memory when the peak was reset, the peak after, and the time.
type peak struct {
	before, after int64
	took          time.Duration
}

// measurePeak resets the process's peak resident memory, runs f, and returns the resident memory at the reset,
// the peak after f and f's time.
func measurePeak(t *testing.T, f func()) peak {
	t.Helper()
	if err := resetPeakRSS(); err != nil {
		t.Fatal(err)
	}
	p := peak{before: peakRSS(t)} // just reset: the resident memory now
	start := time.Now()
	f()
	p.took, p.after = time.Since(start), peakRSS(t)
	return p
}

// mib is n bytes in MiB.
func mib(n int64) float64 { return float64(n) / (1 << 20) }

// resetPeakRSS sets the process's peak resident memory (VmHWM) to its current resident memory (Linux: writing 5
// to /proc/self/clear_refs).
func resetPeakRSS() error {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS is the process's peak resident memory (VmHWM) in bytes.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// patternBuf is fakesf.BodyPattern repeated past 64 KiB: any window of it starting at offset%16 is the pattern
// at that offset.
var patternBuf = []byte(strings.Repeat(fakesf.BodyPattern, 64<<10/len(fakesf.BodyPattern)+1))

// streamUpload PUTs size bytes of fakesf.BodyPattern (Content-Length) to target, written as the gateway takes
// them, and returns the replica's echo and the SHA-256 (hex) of what was sent.
func streamUpload(t *testing.T, addr, target string, size int64) (fakesf.ReplicaResponse, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Minute))
	sent := make(chan string, 1)
	go func() {
		h := sha256.New()
		w := io.MultiWriter(conn, h)
		fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", target, size)
		for left := size; left > 0; {
			n := min(left, 64<<10)
			if _, err := w.Write(patternBuf[:n]); err != nil {
				break
			}
			left -= n
		}
		sent <- hex.EncodeToString(h.Sum(nil))
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, data)
	}
	var rr fakesf.ReplicaResponse
	if err := json.Unmarshal(data, &rr); err != nil {
		t.Fatalf("upload: %v: %s", err, data)
	}
	return rr, <-sent
}

// streamDownload GETs target asking the replica for size bytes of fakesf.BodyPattern, and reads and checks
// them as they arrive; it returns how many arrived, and an error at the first wrong byte.
func streamDownload(t *testing.T, addr, target string, size int64) (int64, error) {
	t.Helper()
	resp, _ := openStream(t, addr, target, fmt.Sprintf("%s: %d\r\n", fakesf.HeaderBodyBytes, size))
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		data, _ := io.ReadAll(resp.Body)
		t.Fatalf("download: %d %s", resp.StatusCode, data)
	}
	buf := make([]byte, 64<<10)
	var got int64
	for {
		n, err := resp.Body.Read(buf)
		if off := int(got % int64(len(fakesf.BodyPattern))); !bytes.Equal(buf[:n], patternBuf[off:off+n]) {
			return got, fmt.Errorf("the body differs from the pattern within bytes %d..%d", got, got+int64(n))
		}
		got += int64(n)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
}
